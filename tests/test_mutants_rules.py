"""Static rules that mutation testing showed could be switched off with no test failing
(docs/mutation.md): each case here makes one rule fire, and pins what it reports.

Host-free: a declared world in tmp_path, rules run in-process; the render rules run the real
``sh -n``, shellcheck and the shipped Compose v2 binary on rendered files changed in memory.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
import re
import shutil

import pytest

from mooring.checks.findings import Finding, Outcome
from mooring.checks.registry import run_rules
from mooring.checks.preflight import check_model
from mooring.declare.render import render_stack
from tests.declared_world import model_for, set_path


def edit(world, layer: str, **paths) -> None:
    data = world.read(layer)
    for dotted, value in paths.items():
        set_path(data, dotted.replace("__", "."), value)
    world.write(layer, data)


def only(findings: list[Finding], check: str) -> list[tuple[Outcome, str, str]]:
    """(outcome, path, message) of one check's findings."""
    return [(f.outcome, f.path, f.message) for f in findings if f.check == check]


def with_file(rendered, path: str, content: str):
    """``rendered`` with the file at ``path`` replaced by ``content``."""
    files = [dataclasses.replace(f, content=content) if f.path == path else f for f in rendered.files]
    return dataclasses.replace(rendered, files=files)


# --- proxy.http_port ------------------------------------------------------------------------------

def test_a_proxy_without_a_published_port_cannot_be_reached(world):
    edit(world, "staging.yml", stack__services__nginx__ports=[])
    model = model_for("staging")
    assert model.stack.http_port is None
    assert only(check_model(model), "proxy.http_port") == [
        (Outcome.FAILED, "stack.services.nginx.ports", "the proxy publishes no host port, so the stack cannot be reached")]


def test_host_probes_without_a_proxy_name_the_proxy_key(world):
    """No proxy service at all, but host probes that need the published port."""
    edit(world, "staging.yml", stack__services__nginx__enabled=False)
    findings = run_rules(model := model_for("staging"), model.stack, names=["proxy.http_port"])
    assert model.stack.proxy.service is None and model.stack.health
    assert only(findings, "proxy.http_port") == [
        (Outcome.FAILED, "stack.proxy.service", "the proxy publishes no host port, so the stack cannot be reached")]
    assert findings[0].fix == 'publish it, e.g. ports: ["80:80"]'


def test_no_proxy_and_no_host_probe_needs_no_port(world):
    edit(world, "staging.yml", stack__services__nginx__enabled=False, stack__health=[], stack__smoke=[])
    model = model_for("staging")
    assert only(run_rules(model, model.stack, names=["proxy.http_port"]), "proxy.http_port") == [
        (Outcome.PASSED, "", "ok")]


def test_probes_with_their_own_port_need_no_proxy_port(world):
    edit(world, "staging.yml", stack__services__nginx__enabled=False,
         stack__health=[{"name": "live", "path": "/live", "port": 8000}], stack__smoke=[])
    model = model_for("staging")
    assert only(run_rules(model, model.stack, names=["proxy.http_port"]), "proxy.http_port") == [
        (Outcome.PASSED, "", "ok")]


# --- services.roles -------------------------------------------------------------------------------

def test_a_second_service_with_a_unique_role_is_a_warning(world):
    edit(world, "staging.yml", stack__services__cache={"role": "redis", "image": "redis:7"})
    findings = check_model(model_for("staging"))
    assert only(findings, "services.roles") == [
        (Outcome.WARNING, "stack.services.cache.role", "2 services have role redis; checks and templates use redis")]
    [finding] = [f for f in findings if f.check == "services.roles"]
    assert finding.fix == "give the others role: other"


def test_many_workers_and_apps_are_fine(world):
    edit(world, "staging.yml", stack__services__worker={"role": "app", "image": "registry.example.com/solacore/api:1.4.2"})
    assert only(check_model(model_for("staging")), "services.roles") == [(Outcome.PASSED, "", "ok")]


# --- health.declared ------------------------------------------------------------------------------

def test_no_health_probe_is_a_warning(world):
    edit(world, "staging.yml", stack__health=[])
    assert only(check_model(model_for("staging")), "health.declared") == [
        (Outcome.WARNING, "stack.health", "no health probe is declared: a deploy cannot verify itself")]


# --- production.no_generated_secrets --------------------------------------------------------------

def test_generated_secrets_in_production_fail_the_rule_itself(world):
    """The model refuses this first (tests/test_schema.py); the rule is the second line and must
    still fire when handed such a stack."""
    model = model_for("production")
    stack = dataclasses.replace(model.stack, secrets_generate_missing=True)
    assert only(run_rules(model, stack, names=["production.no_generated_secrets"]), "production.no_generated_secrets") == [
        (Outcome.FAILED, "stack.secrets_generate_missing", "secret generation is on in production")]


def test_generated_secrets_in_the_sandbox_are_fine(world):
    model = model_for("sandbox")
    stack = dataclasses.replace(model.stack, secrets_generate_missing=True)
    assert only(run_rules(model, stack, names=["production.no_generated_secrets"]), "production.no_generated_secrets") == [
        (Outcome.PASSED, "", "ok")]


# --- render rules -------------------------------------------------------------------------------

@pytest.fixture
def rendered_staging(world):
    model = model_for("staging")
    return model, render_stack(model)


def test_a_script_that_does_not_parse_fails_sh_n(rendered_staging):
    model, rendered = rendered_staging
    script = rendered.scripts()[0]
    broken = with_file(rendered, script.path, "#!/bin/sh\nif then fi (\n")
    [finding] = run_rules(model, model.stack, broken, names=["render.shell_syntax"])
    assert (finding.outcome, finding.path, finding.file) == (Outcome.FAILED, "stack.backups", f"templates/{script.template}")
    assert finding.message.startswith(f"{script.path}: sh -n: ")
    assert finding.fix == f"fix templates/{script.template}"


def test_every_shipped_script_parses(rendered_staging):
    model, rendered = rendered_staging
    assert len(rendered.scripts()) >= 2
    assert only(run_rules(model, model.stack, rendered, names=["render.shell_syntax"]), "render.shell_syntax") == [
        (Outcome.PASSED, "", "ok")]


def test_a_shellcheck_warning_fails_render_shellcheck(rendered_staging):
    """Needs shellcheck, which CI installs (bin/prepare-host): missing, this fails, never skips."""
    assert shutil.which("shellcheck"), ("shellcheck is not installed, so render.shellcheck cannot be tested: "
                                        "run bin/prepare-host (or apt-get install shellcheck)")
    model, rendered = rendered_staging
    script = rendered.scripts()[-1]
    warned = with_file(rendered, script.path, '#!/bin/sh\nset -eu\nrm -rf $1/*\n')  # parses; SC2086 unquoted
    [finding] = run_rules(model, model.stack, warned, names=["render.shellcheck"])
    assert (finding.outcome, finding.path, finding.file) == (Outcome.FAILED, "stack.backups", f"templates/{script.template}")
    assert finding.message.startswith(f"{script.path}: shellcheck: ") and "SC2086" in finding.message


def test_render_shellcheck_is_skipped_when_shellcheck_is_missing(rendered_staging, monkeypatch):
    model, rendered = rendered_staging
    monkeypatch.setattr(shutil, "which", lambda name, *a, **k: None)
    assert only(run_rules(model, model.stack, rendered, names=["render.shellcheck"]), "render.shellcheck") == [
        (Outcome.SKIPPED, "", "shellcheck is not installed (apt-get install shellcheck)")]


def test_an_env_file_compose_reads_differently_fails_the_roundtrip(rendered_staging):
    model, rendered = rendered_staging
    env_file = rendered.file(model.stack.env_file)
    changed, count = re.subn(r"(?m)^APP_VERSION=.*$", "APP_VERSION=9.9.9", env_file.content)
    assert count == 1
    findings = run_rules(model, model.stack, with_file(rendered, env_file.path, changed), names=["render.env_roundtrip"])
    assert only(findings, "render.env_roundtrip") == [
        (Outcome.FAILED, "stack.env.APP_VERSION", "compose reads back a different value for APP_VERSION in service api")]
    assert findings[0].fix == "report this as a mooring bug (the .env quoting is wrong)"


def test_the_rendered_env_file_roundtrips(rendered_staging):
    model, rendered = rendered_staging
    assert only(run_rules(model, model.stack, rendered, names=["render.env_roundtrip"]), "render.env_roundtrip") == [
        (Outcome.PASSED, "", "ok")]


# --- the registry (rules register while mooring.checks.rules is imported: test registration itself) ------

@pytest.fixture
def registry(monkeypatch):
    """A copy of the registry for this test (``rule`` looks RULES up when it registers)."""
    import mooring.checks.registry as static

    monkeypatch.setattr(static, "RULES", dict(static.RULES))
    return static


def test_registering_a_rule_records_its_first_doc_line(registry):
    def spoilt(ctx, name):
        """First line of the doc.

        More text that is not the summary.
        """
        return []

    assert registry.rule("x.render", needs="render")(spoilt) is spoilt
    assert registry.RULES["x.render"] == registry.Rule("x.render", spoilt, "render", "First line of the doc.")
    assert registry.get_rule("x.render").needs == "render"


def test_a_rule_without_a_doc_has_an_empty_summary(registry):
    def bare(ctx, name):
        return []

    registry.rule("x.bare")(bare)
    assert registry.RULES["x.bare"] == registry.Rule("x.bare", bare, "stack", "")


def test_registry_refusals_say_why(registry):
    with pytest.raises(ValueError) as info:
        registry.rule("x.net", needs="network")
    assert str(info.value) == "rule 'x.net': needs must be 'stack' or 'render', not 'network'"
    with pytest.raises(ValueError) as info:
        registry.rule("ports.unique")(lambda ctx, name: [])
    assert str(info.value) == "rule 'ports.unique' is already registered"
    assert "x.net" not in registry.RULES


# --- ports: which addresses overlap -----------------------------------------------------------------

@pytest.mark.parametrize("api,nginx,collide", [
    ("127.0.0.1:80:8000", "127.0.0.1:80:80", True),    # the same address
    ("0.0.0.0:80:8000", "127.0.0.1:80:80", True),      # every IPv4 address
    ("[::]:80:8000", "127.0.0.1:80:80", True),         # every address
    ("127.0.0.1:80:8000", "0.0.0.0:80:80", True),
    ("127.0.0.1:80:8000", "[::]:80:80", True),
    ("127.0.0.1:80:8000", "127.0.0.2:80:80", False),
    ("[::1]:80:8000", "127.0.0.1:80:80", False),
])
def test_published_addresses_overlap(world, api, nginx, collide):
    edit(world, "staging.yml", stack__services__api__ports=[api], stack__services__nginx__ports=[nginx])
    model = model_for("staging")
    [finding] = run_rules(model, model.stack, names=["ports.unique"])
    assert finding.outcome is (Outcome.FAILED if collide else Outcome.PASSED)


def test_a_generated_key_compose_reads_differently_names_its_own_key(rendered_staging):
    """DEV_ENDPOINTS_ENABLED comes from stack.endpoints.dev.enabled: the finding points there."""
    model, rendered = rendered_staging
    env_file = rendered.file(model.stack.env_file)
    changed, count = re.subn(r"(?m)^DEV_ENDPOINTS_ENABLED=.*$", "DEV_ENDPOINTS_ENABLED=false", env_file.content)
    assert count == 1 and model.stack.env["DEV_ENDPOINTS_ENABLED"].value == "true"
    findings = run_rules(model, model.stack, with_file(rendered, env_file.path, changed), names=["render.env_roundtrip"])
    assert only(findings, "render.env_roundtrip") == [
        (Outcome.FAILED, "stack.endpoints.dev.enabled",
         "compose reads back a different value for DEV_ENDPOINTS_ENABLED in service api")]


# --- mounts: one declared ownership key makes a mount managed -----------------------------------------

@pytest.mark.parametrize("declared", [{"group": "adm"}, {"owner": "root"}, {"mode": "0644"}])
def test_any_ownership_key_makes_a_system_path_mount_managed(world, declared):
    edit(world, "staging.yml", stack__services__api__volumes=[{"source": "/etc/app", "target": "/app", **declared}])
    model = model_for("staging")
    [finding] = run_rules(model, model.stack, names=["mounts.consistent"])
    assert (finding.outcome, finding.path) == (Outcome.FAILED, "stack.services.api.volumes.0.source")
    assert finding.message.startswith("/etc/app is inside /etc, a system path: with ")


def test_a_system_path_mount_without_ownership_keys_is_left_alone(world):
    edit(world, "staging.yml", stack__services__api__volumes=[{"source": "/etc/app", "target": "/app"}])
    model = model_for("staging")
    assert only(run_rules(model, model.stack, names=["mounts.consistent"]), "mounts.consistent") == [(Outcome.PASSED, "", "ok")]


# --- tool output in messages ------------------------------------------------------------------------

@pytest.mark.parametrize("output,count,shown", [
    ("", 3, "(no output)"),
    ("  \n \n", 3, "(no output)"),
    ("one", 3, "one"),
    ("a\n\n b \nc", 3, "a | b | c"),
    ("a\nb\nc\nd", 3, "a | b | c (+1 more lines)"),
    ("a\nb\nc\nd\ne", 3, "a | b | c (+2 more lines)"),
    ("a\nb\nc", 1, "a (+2 more lines)"),
])
def test_tool_output_is_shown_as_its_first_lines(output, count, shown):
    from mooring.checks.rules.render import _first_lines

    assert _first_lines(output, count) == shown


# --- external checkers, without the process-wide caches ---------------------------------------------
# The render rules cache tool results per content for the whole process; a test that only reads the
# cache proves nothing about running the tools, so these start from empty caches.

@pytest.fixture
def no_tool_cache(monkeypatch):
    import mooring.checks.rules.render as static

    monkeypatch.setattr(static, "_TOOL_CACHE", {})
    monkeypatch.setattr(static, "_COMPOSE_CACHE", {})
    return static


def test_a_checker_runs_on_a_private_copy_of_the_text(no_tool_cache, tmp_path):
    seen = tmp_path / "seen"
    code, output = no_tool_cache._run_on_text(
        ["sh", "-c", f'printf %s "$0" > {seen}; echo "out $0"; cat "$0"; echo "err ${{0##*.}}" >&2; exit 3'],
        "hello\n", ".sh")
    assert (code, output) == (3, "out SCRIPT\nhello\nerr sh\n")
    name = seen.read_text()
    assert name.endswith(".sh") and not Path(name).exists()


def test_sh_n_runs_for_a_new_script(no_tool_cache, rendered_staging):
    model, rendered = rendered_staging
    script = rendered.scripts()[0]
    broken = with_file(rendered, script.path, "#!/bin/sh\nif then fi (\n")
    [finding] = run_rules(model, model.stack, broken, names=["render.shell_syntax"])
    assert finding.outcome is Outcome.FAILED and "SCRIPT" in finding.message and "/tmp" not in finding.message
    assert len(no_tool_cache._TOOL_CACHE) == len(rendered.scripts())


def test_warming_runs_every_checker_once_per_content(no_tool_cache, rendered_staging, monkeypatch):
    model, rendered = rendered_staging
    scripts = rendered.scripts()
    no_tool_cache.warm_tool_cache([(model.stack, rendered), (model.stack, rendered)], workers=2)
    tools = {tool for tool, _digest in no_tool_cache._TOOL_CACHE}
    assert tools == {"sh -n", "shellcheck"} if shutil.which("shellcheck") else {"sh -n"}
    assert len(no_tool_cache._TOOL_CACHE) == len(tools) * len({s.content for s in scripts})
    assert all(code == 0 for code, _output in no_tool_cache._TOOL_CACHE.values())
    [(code, output, config)] = no_tool_cache._COMPOSE_CACHE.values()
    assert code == 0 and set(config["services"]) == set(model.stack.services)
    calls = []
    monkeypatch.setattr(no_tool_cache, "_run_on_text", lambda *a: calls.append(a) or (0, ""))
    monkeypatch.setattr(no_tool_cache, "_run_compose_config", lambda *a: calls.append(a) or (1, "not cached", None))
    names = ["render.shell_syntax", "render.shellcheck", "render.compose_config", "render.env_roundtrip"]
    findings = run_rules(model, model.stack, rendered, names=names)
    assert calls == [], "after warming, the render rules only read the cache"
    assert [f.outcome for f in findings] == [Outcome.PASSED] * 4


def test_compose_reads_the_env_file_not_the_callers_environment(no_tool_cache, rendered_staging, monkeypatch):
    """A shell variable named like a stack key would win over .env in compose: the check runs clean."""
    model, rendered = rendered_staging
    monkeypatch.setenv("APP_VERSION", "9.9.9-from-the-shell")
    monkeypatch.setenv("PORT", "1")
    findings = run_rules(model, model.stack, rendered, names=["render.compose_config", "render.env_roundtrip"])
    assert [(f.check, f.outcome) for f in findings] == [("render.compose_config", Outcome.PASSED),
                                                       ("render.env_roundtrip", Outcome.PASSED)]
    [(code, _output, config)] = no_tool_cache._COMPOSE_CACHE.values()
    assert code == 0 and config["services"]["api"]["environment"]["APP_VERSION"] == model.stack.env["APP_VERSION"].value


def test_three_lines_of_tool_output_by_default():
    from mooring.checks.rules.render import _first_lines

    assert _first_lines("a\nb\nc\nd") == "a | b | c (+1 more lines)"


def test_a_compose_binary_that_cannot_run_is_no_binary(monkeypatch):
    import os

    from mooring.checks.rules.common import _compose_binary

    assert _compose_binary() is not None
    monkeypatch.setattr(os, "access", lambda path, mode: False)
    assert _compose_binary() is None


def test_compose_errors_name_the_stack_folder_not_a_temporary_one(no_tool_cache, rendered_staging):
    model, rendered = rendered_staging
    broken = with_file(rendered, model.stack.compose_file,
                       "services:\n  api:\n    image: x\n    extends: {file: other.yml, service: x}\n")
    assert only(run_rules(model, model.stack, broken, names=["render.compose_config"]), "render.compose_config") == [
        (Outcome.FAILED, "stack.services", "docker compose config: open STACK_DIR/other.yml: no such file or directory")]


@pytest.mark.parametrize("database", ["shopdb", "XXshop"])  # only the URL path's "/" is stripped
def test_a_secret_database_name_is_compared_on_its_real_value(world, database):
    """POSTGRES_DB as a secret: DATABASE_URL's path is masked, so the real values are compared."""
    edit(world, "staging.yml", stack__env__POSTGRES_DB={"secret": "POSTGRES_DB"}, stack__backups__databases=["solacore"])
    world.set_secret("staging", "POSTGRES_DB", database)
    model = model_for("staging")
    assert model.stack.env["DATABASE_URL"].masked.endswith("/***")
    assert only(run_rules(model, model.stack, names=["consistency.database_url"]), "consistency.database_url") == [
        (Outcome.PASSED, "", "ok")]


@pytest.mark.parametrize("test,expected", [
    (["CMD", "pg_isready", "-U", "${POSTGRES_USER}", "-d"],
     [(Outcome.FAILED, "stack.services.db.healthcheck.test",
       "the healthcheck has no -d: pg_isready then checks the user's name, not POSTGRES_DB")]),
    (["CMD-SHELL", "pg_isready -U ${POSTGRES_USER}", "-d ${POSTGRES_DB}"], [(Outcome.PASSED, "", "ok")]),
    (["CMD-SHELL", "pg_isready -U '${POSTGRES_USER}", "-d ${POSTGRES_DB}"],
     [(Outcome.FAILED, "stack.services.db.healthcheck.test",
       "the healthcheck uses -U \"'${POSTGRES_USER}\" but POSTGRES_USER is 'solacore'")]),
    # no CMD/CMD-SHELL word: the first item is a word of its own (here the -U flag)
    (["-U${POSTGRES_USER}", "-d", "${POSTGRES_DB}"], [(Outcome.PASSED, "", "ok")]),
])
def test_healthcheck_words_and_a_trailing_flag(world, test, expected):
    edit(world, "staging.yml", stack__services__db__healthcheck__test=test)
    model = model_for("staging")
    assert only(run_rules(model, model.stack, names=["consistency.db_healthcheck"]), "consistency.db_healthcheck") == expected


TAKE_OVER = ": with owner, group declared the deploy would take it over (chown/chmod/overwrite)"


@pytest.mark.parametrize("source,reason", [
    ("/var/run/docker.sock", "/var/run/docker.sock is the docker socket (root on the host)"),
    ("/var/log", "/var/log is a system path"),
    ("/var/lib/docker/volumes", "/var/lib/docker/volumes is inside /var/lib/docker, a system path"),
    ("/usr/local/share/app", "/usr/local/share/app is inside /usr, a system path"),
    ("/home/deploy/.ssh", "/home/deploy/.ssh holds SSH keys (a .ssh folder)"),
    ("/home/deploy/.ssh/keys", "/home/deploy/.ssh/keys holds SSH keys (a .ssh folder)"),
    ("/etc/app", "/etc/app is inside /etc, a system path"),
    ("/etc/app/conf", None),  # only the direct children of /etc and /home
    ("/opt/app/data", None),
    ("/var/backups/mooring/solacore", "/var/backups/mooring/solacore is the stack's backup folder (root-only, 0700: every "
                                      "database dump)"),
    ("/var/backups/mooring/solacore/x", "/var/backups/mooring/solacore/x is inside the stack's backup folder "
                                        "/var/backups/mooring/solacore"),
    ("/var/backups/mooring", "/var/backups/mooring is bootstrap.backup_dir (every stack's database dumps)"),
    ("/var/backups/mooring/other", "/var/backups/mooring/other is inside bootstrap.backup_dir /var/backups/mooring"),
])
def test_why_a_managed_mount_source_is_protected(world, source, reason):
    edit(world, "staging.yml", stack__services__api__volumes=[{"source": source, "target": "/app", "owner": "root"}])
    model = model_for("staging")
    got = [(f.outcome, f.path, f.message) for f in run_rules(model, model.stack, names=["mounts.consistent"])]
    assert got == ([(Outcome.FAILED, "stack.services.api.volumes.0.source", reason + TAKE_OVER)] if reason
                   else [(Outcome.PASSED, "", "ok")])


def test_a_folder_holding_the_backup_folder_is_protected(world):
    edit(world, "staging.yml", stack__backups__directory="/data/backups/solacore",
         stack__services__api__volumes=[{"source": "/data/backups", "target": "/app", "owner": "root"}])
    model = model_for("staging")
    got = [(f.outcome, f.message) for f in run_rules(model, model.stack, names=["mounts.consistent"])]
    assert got == [(Outcome.FAILED, "/data/backups holds the stack's backup folder /data/backups/solacore" + TAKE_OVER)]


@pytest.mark.parametrize("source,message", [
    ("${STACK_DIR}/.env", "mounting /srv/mooring/solacore/.env exposes /srv/mooring/solacore/.env (every secret)"),
    ("${STACK_DIR}/.env.d", "/srv/mooring/solacore/.env.d is mooring's own (hidden files in the stack folder)"),
    ("${STACK_DIR}/bin/backup", "/srv/mooring/solacore/bin is mooring's own (the backup scripts folder (cron runs them "
                                "as root))"),
    ("${STACK_DIR}/compose.yml", "/srv/mooring/solacore/compose.yml is mooring's own (the compose file)"),
    ("${STACK_DIR}/releases", "/srv/mooring/solacore/releases is mooring's own (the release history)"),
    ("${STACK_DIR}/data/x", None),
    ("/srv/mooring", "mounting /srv/mooring exposes /srv/mooring/solacore/.env (every secret)"),
    ("/srv", "mounting /srv exposes /srv/mooring/solacore/.env (every secret)"),
    ("/srv/mooring/other", "/srv/mooring/other is under bootstrap.base_dir /srv/mooring but outside this stack's folder "
                           "(another stack's .env)"),
    ("/srv/mooringx", None),
])
def test_what_a_bind_mount_would_expose(world, source, message):
    edit(world, "staging.yml", stack__services__api__volumes=[{"source": source, "target": "/app"}])
    model = model_for("staging")
    got = [(f.outcome, f.path, f.message, f.fix) for f in run_rules(model, model.stack, names=["mounts.consistent"])]
    assert got == ([(Outcome.FAILED, "stack.services.api.volumes.0.source", message + ": refused for api",
                     "mount a dedicated subfolder, e.g. ${STACK_DIR}/nginx/conf.d")] if message
                   else [(Outcome.PASSED, "", "ok", "")])
