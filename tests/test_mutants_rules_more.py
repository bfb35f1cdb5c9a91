"""Declared-state and render rules that the mutation run (docs/mutation.md) showed could change
with no test failing: each case pins exactly what the user reads (check, outcome, path, message,
fix, file).

The render rules run ``docker compose config`` on the rendered files; a Compose that hangs or
prints something other than JSON cannot be had from the shipped binary, so those cases put a small
shell script in its place (in tmp_path) and run the rules with the process-wide caches emptied.

Host-free: a declared world in tmp_path, rules run in-process.
"""

from __future__ import annotations

import dataclasses
import datetime
import re
from pathlib import Path

import pytest

from mooring.checks.findings import Outcome
from mooring.checks.registry import run_rules
from mooring.checks.rules import render
from mooring.checks.rules.backups import next_run_text
from mooring.declare.compose import CHECKER_TIMEOUT_ENV
from mooring.declare.render import render_stack
from tests.conftest import stand_in_on_path
from tests.declared_world import model_for
from tests.test_compose_files import compose_world
from tests.test_mutants_model_compose import shop, use_files  # noqa: F401 (shop: the fixture)
from tests.test_mutants_render_rules import sandbox  # noqa: F401 - the fixture: rendered, checkers' caches emptied
from tests.test_mutants_static import DECLARED_RULES, apply


def said(findings):
    return [(f.check, f.outcome, f.path, f.message, f.fix) for f in findings]




@pytest.fixture
def fake_compose(tmp_path, monkeypatch):
    """Put a shell script with ``body`` where the Compose v2 binary is looked up."""

    def install(body: str) -> str:
        path = tmp_path / "docker-compose"
        path.write_text(f"#!/bin/sh\n{body}\n")
        path.chmod(0o755)
        monkeypatch.setattr(render, "_compose_binary", lambda: str(path))
        return str(path)

    return install


COMPOSE_RULES = ["render.compose_config", "render.env_roundtrip"]


# --- render.compose_config / render.env_roundtrip: a Compose that misbehaves -------------------------

def test_a_compose_that_hangs_is_stopped_and_named(sandbox, fake_compose, monkeypatch):
    model, rendered = sandbox
    fake_compose("exec sleep 30")
    monkeypatch.setenv(CHECKER_TIMEOUT_ENV, "0.1")
    found = run_rules(model, model.stack, rendered, names=COMPOSE_RULES)
    assert said(found) == [
        ("render.compose_config", Outcome.ERROR, "stack.services", "docker compose config did not finish within 0.1 s",
         f"the machine may be overloaded or the tool stuck: run it again, or allow more time ({CHECKER_TIMEOUT_ENV}=SECONDS)"),
        ("render.env_roundtrip", Outcome.SKIPPED, "", "docker compose config failed (see render.compose_config)", ""),
    ]


def test_a_compose_that_prints_no_json_fails_the_services(sandbox, fake_compose):
    """An exit code 0 with output that is not JSON (e.g. YAML from a Compose that ignores --format)."""
    model, rendered = sandbox
    fake_compose('printf "services:\\n  api: {}\\n"')
    found = run_rules(model, model.stack, rendered, names=COMPOSE_RULES)
    assert said(found) == [
        ("render.compose_config", Outcome.FAILED, "stack.services",
         "docker compose config: unparsable output of docker compose config",
         "fix the declared services (or templates/compose.yml.j2)"),
        ("render.env_roundtrip", Outcome.SKIPPED, "", "docker compose config failed (see render.compose_config)", ""),
    ]
    assert found[0].file == "templates/compose.yml.j2"


# --- render.env_roundtrip: what compose reads back, with the shipped Compose ------------------------

def with_file(rendered, path: str, content: str):
    """``rendered`` with the file at ``path`` replaced by ``content``."""
    files = [dataclasses.replace(f, content=content) if f.path == path else f for f in rendered.files]
    return dataclasses.replace(rendered, files=files)


def roundtrip(model, rendered):
    return said(run_rules(model, model.stack, rendered, names=["render.env_roundtrip"]))


def test_a_secret_with_dollar_signs_roundtrips(world, monkeypatch):
    """Compose prints a literal $ of a value as $$: the value read back is the declared one."""
    monkeypatch.setattr(render, "_COMPOSE_CACHE", {})
    world.set_secret("staging", "JWT_SECRET", "Stag9$Jwt3$$Secret7${X}4Y$")
    model = model_for("staging")
    assert model.stack.env["JWT_SECRET"].value == "Stag9$Jwt3$$Secret7${X}4Y$"
    assert roundtrip(model, render_stack(model)) == [("render.env_roundtrip", Outcome.PASSED, "", "ok", "")]


def test_a_key_the_compose_file_does_not_pass_is_reported(world, monkeypatch):
    """The rendered compose file drops one environment entry: compose reads back nothing for it."""
    monkeypatch.setattr(render, "_COMPOSE_CACHE", {})
    model = model_for("staging")
    rendered = render_stack(model)
    compose = rendered.file(model.stack.compose_file)
    changed, count = re.subn(r'(?m)^      APP_VERSION: "\$\{APP_VERSION\}"\n', "", compose.content)
    assert count == 1
    assert roundtrip(model, with_file(rendered, compose.path, changed)) == [
        ("render.env_roundtrip", Outcome.FAILED, "stack.env.APP_VERSION",
         "compose reads back a different value for APP_VERSION in service api",
         "report this as a mooring bug (the .env quoting is wrong)")]


def test_a_service_compose_leaves_out_is_reported_for_each_key(world, monkeypatch):
    """A service compose does not run (an inactive profile): none of its keys reach it."""
    monkeypatch.setattr(render, "_COMPOSE_CACHE", {})
    model = model_for("staging")
    rendered = render_stack(model)
    compose = rendered.file(model.stack.compose_file)
    changed, count = re.subn(r'(?m)^  "db":\n', '  "db":\n    profiles: ["off"]\n', compose.content)
    changed, dropped = re.subn(r'(?m)^      "db":\n        condition: "service_healthy"\n', "", changed)
    assert (count, dropped) == (1, 1)
    assert roundtrip(model, with_file(rendered, compose.path, changed)) == [
        ("render.env_roundtrip", Outcome.FAILED, f"stack.env.{key}",
         f"compose reads back a different value for {key} in service db",
         "report this as a mooring bug (the .env quoting is wrong)")
        for key in ["POSTGRES_DB", "POSTGRES_USER", "POSTGRES_PASSWORD"]]


def test_a_key_missing_from_stack_env_does_not_hide_the_next_keys(world, monkeypatch):
    """api also receives a key stack.env does not declare (env.complete reports that): the keys after
    it are still compared."""
    monkeypatch.setattr(render, "_COMPOSE_CACHE", {})
    data = world.read("staging.yml")
    data["stack"]["services"]["api"]["env"] = ["NOT_DECLARED", "APP_VERSION"]
    world.write("staging.yml", data)
    model = model_for("staging")
    assert model.stack.services["api"].env_keys[:2] == ["NOT_DECLARED", "APP_VERSION"]
    assert "NOT_DECLARED" not in model.stack.env
    rendered = render_stack(model)
    env_file = rendered.file(model.stack.env_file)
    changed, count = re.subn(r"(?m)^APP_VERSION=.*$", "APP_VERSION=9.9.9", env_file.content)
    assert count == 1
    assert roundtrip(model, with_file(rendered, env_file.path, changed)) == [
        ("render.env_roundtrip", Outcome.FAILED, "stack.env.APP_VERSION",
         "compose reads back a different value for APP_VERSION in service api",
         "report this as a mooring bug (the .env quoting is wrong)")]


# --- render.shellcheck: a checker that hangs ------------------------------------------------------------

def test_a_hung_shellcheck_is_an_error_of_each_script(sandbox, tmp_path, monkeypatch):
    """The shellcheck found first on PATH never ends: each script gets an ERROR of render.shellcheck
    naming it, with the way to allow more time."""
    model, rendered = sandbox
    stand_in_on_path(tmp_path, monkeypatch, "shellcheck", "exec sleep 30")
    monkeypatch.setenv(CHECKER_TIMEOUT_ENV, "0.1")
    found = run_rules(model, model.stack, rendered, names=["render.shellcheck"])
    scripts = [script.path for script in rendered.scripts()]
    assert scripts
    assert said(found) == [
        ("render.shellcheck", Outcome.ERROR, "stack.backups", f"{path}: shellcheck did not finish within 0.1 s",
         f"the machine may be overloaded or the tool stuck: run it again, or allow more time ({CHECKER_TIMEOUT_ENV}=SECONDS)")
        for path in scripts]


# --- declared-state rules: the exact findings of every non-render rule, as tests/test_mutants_static.py ----

def declared(world, environment: str, layer: str, settings: dict, secrets: dict | None = None, passed: str = ""):
    """Edit ``layer`` (dotted paths → values) and the environment's secrets, run every non-render rule:
    (check, outcome, path, message, fix, file name) of the findings that are not PASSED, and of the
    PASSED ones of the check ``passed``."""
    apply(world, {"layer": layer, "set": settings, "secrets": {environment: secrets or {}}})
    model = model_for(environment)
    return [(f.check, f.outcome.name, f.path, f.message, f.fix.replace(str(world.state), "$STATE"),
             Path(f.file).name if f.file else "")
            for f in run_rules(model, model.stack, names=DECLARED_RULES)
            if f.outcome is not Outcome.PASSED or f.check == passed]


def test_the_root_spelled_with_two_slashes_holds_the_stack_folder(world):
    """POSIX keeps a leading // as it is: it is still the root, which holds the stack folder."""
    found = declared(world, "staging", "staging.yml", {"stack.backups.directory": "//"})
    assert [f for f in found if f[0] == "backups.directory"] == [
        ("backups.directory", "FAILED", "stack.backups.directory",
         "backup folder // is the stack folder /srv/mooring/solacore or holds it (the deploy makes it root-only, mode 0700)",
         "use a dedicated folder, e.g. /var/backups/mooring/solacore", "staging.yml")]


@pytest.mark.parametrize("directory", ["/srv/mooringX", "/srv/mooring-backups", "/srv/mooring/solacoreX"])
def test_a_folder_named_like_the_stack_folders_parent_does_not_hold_it(world, directory):
    """Near misses of /srv/mooring (which holds /srv/mooring/solacore): only the name's start is shared."""
    assert declared(world, "staging", "staging.yml", {"stack.backups.directory": directory}) == []


def test_the_restore_drill_schedule_says_when_it_runs_next(world):
    found = declared(world, "staging", "staging.yml", {"stack.backups.verify_schedule": "30 3 * * sun"},
                     passed="backups.schedule")
    assert [f[:3] for f in found] == [("backups.schedule", "PASSED", "stack.backups.schedule"),
                                      ("backups.schedule", "PASSED", "stack.backups.verify_schedule")]
    backup, drill = found[0][3], found[1][3]
    assert re.fullmatch(r"backup 0 2 \* \* \*: next run \d{4}-\d\d-\d\d 02:00 UTC", backup), backup
    match = re.fullmatch(r"restore drill 30 3 \* \* sun: next run (\d{4}-\d\d-\d\d) 03:30 UTC", drill)
    assert match, drill
    assert datetime.date.fromisoformat(match.group(1)).weekday() == 6  # a Sunday
    assert found[1][4:] == ("", "staging.yml")


def test_a_line_break_after_the_secrets_is_found(world):
    """stack.env is sorted: the secrets, which the rule skips, come before TRUSTED_PROXIES."""
    found = declared(world, "staging", "staging.yml", {"stack.env.TRUSTED_PROXIES": "10.0.0.0/8\n172.16.0.0/12"})
    assert found == [
        ("env.line_breaks", "FAILED", "stack.env.TRUSTED_PROXIES",
         "the value contains a line break (a YAML `|` block keeps a trailing newline)",
         "use `>-`/`|-` or a one-line string; if the line breaks are wanted write {value: ..., multiline: true}",
         "staging.yml")]


def test_a_clear_secret_and_a_clear_url_password_are_both_found(world):
    """JWT_SECRET written in clear (stack.env is sorted: it comes before REDIS_URL) does not hide the
    password written in clear in REDIS_URL."""
    found = declared(world, "staging", "staging.yml", {
        "stack.env.JWT_SECRET": "Stag9Jwt3Secret7Value4Y",
        "stack.env.REDIS_URL": "redis://:hunter2@redis:6379/0"})
    assert [f for f in found if f[0] == "secrets.not_in_clear"] == [
        ("secrets.not_in_clear", "FAILED", "stack.env.JWT_SECRET", "JWT_SECRET looks like a secret but is written in clear",
         "write `JWT_SECRET: {secret: JWT_SECRET}` and provide it with MOORING_SECRET_JWT_SECRET or "
         "$STATE/secrets/staging.env", "staging.yml"),
        ("secrets.not_in_clear", "FAILED", "stack.env.REDIS_URL", "REDIS_URL carries a password in clear",
         "build the URL from a secret, e.g. postgresql://${POSTGRES_USER}:${POSTGRES_PASSWORD}@db:5432/${POSTGRES_DB}",
         "staging.yml")]


def test_a_secret_in_a_value_that_is_not_a_url_may_hold_any_character(world):
    """A password with / and @ breaks DATABASE_URL, not a pgpass-style line that embeds it too."""
    found = declared(world, "staging", "staging.yml",
                     {"stack.env.PGPASS_LINE": "db:5432:*:solacore:${POSTGRES_PASSWORD}"},
                     {"POSTGRES_PASSWORD": "Stag1Pg5/Pass0@Word8Long"})
    assert [f for f in found if f[0] == "secrets.url_safe"] == [
        ("secrets.url_safe", "FAILED", "stack.env.DATABASE_URL",
         "secret POSTGRES_PASSWORD (in DATABASE_URL) has characters that break URLs (@ : / ? # % ...)",
         "use letters, digits and -._~ only (mooring generates such secrets)", "all.yml")]


# --- backups.schedule: the text of the next run ---------------------------------------------------------

def test_the_next_run_is_computed_on_the_hosts_clock():
    """01:30 UTC is 02:30 in Berlin: today's 02:00 run is over there, the next is tomorrow's."""
    now = datetime.datetime(2026, 12, 6, 1, 30, tzinfo=datetime.timezone.utc)
    assert next_run_text("0 2 * * *", "backup", "Europe/Berlin", now) == \
        "backup 0 2 * * *: next run 2026-12-07 02:00 Europe/Berlin"
    assert next_run_text("0 2 * * *", "backup", "UTC", now) == "backup 0 2 * * *: next run 2026-12-06 02:00 UTC"


def test_an_unknown_time_zone_is_read_as_utc_and_said_so():
    now = datetime.datetime(2026, 12, 6, 1, 30, tzinfo=datetime.timezone.utc)
    assert next_run_text("0 2 * * *", "backup", "Mars/Olympus", now) == "backup 0 2 * * *: next run 2026-12-06 02:00 UTC"


def test_a_schedule_that_never_runs_says_never():
    """The schema refuses such a schedule in a declared stack; the text still names it."""
    assert next_run_text("0 0 30 2 *", "restore drill", "Europe/Berlin") == \
        "restore drill 0 0 30 2 *: next run never Europe/Berlin"


# --- production.debug_off: every development-mode key and value ----------------------------------------

@pytest.mark.parametrize(("key", "value"), [("ENV", "dev"), ("APP_ENV", "development"), ("ENVIRONMENT", "debug"),
                                            ("NODE_ENV", "local"), ("FLASK_ENV", " Debug "), ("PYTHON_ENV", "DEV"),
                                            ("flask_env", "local")])
def test_a_development_mode_in_production_fails(world, key, value):
    found = declared(world, "production", "production.yml", {f"stack.env.{key}": value})
    assert [f for f in found if f[0] == "production.debug_off"] == [
        ("production.debug_off", "FAILED", f"stack.env.{key}", f"{key} names a development mode in production",
         f"set {key}: production", "production.yml")]


@pytest.mark.parametrize(("key", "value"), [("APP_ENV", "production"), ("APP_ENV", "staging"), ("DEV_ENV", "dev"),
                                            ("ENVIRONMENT", "devel")])
def test_a_production_mode_or_another_key_passes(world, key, value):
    found = declared(world, "production", "production.yml", {f"stack.env.{key}": value}, passed="production.debug_off")
    assert [f for f in found if f[0] == "production.debug_off"] == [
        ("production.debug_off", "PASSED", "", "ok", "", "")]


# --- production.images_pinned: a digest-pinned image does not end the search --------------------------

def test_an_unpinned_image_after_a_digest_pinned_one_fails(world):
    digest = "registry.example.com/solacore/api@sha256:" + "a" * 64
    found = declared(world, "production", "production.yml",
                     {"stack.services.api.image": digest, "stack.services.nginx.image": "nginx"})
    assert [f for f in found if f[0] == "production.images_pinned"] == [
        ("production.images_pinned", "FAILED", "stack.services.nginx.image", "image 'nginx' is not pinned to a version",
         "use an explicit tag, e.g. :1.4.2", "production.yml")]


# --- env.complete: the ${KEY} of the rendered compose file, comments left out ----------------------------

def test_a_compose_file_reference_is_a_use_and_a_commented_one_is_not(world):
    """A compose template that interpolates a key stack.env does not declare (in a live line) fails;
    the same reference in a comment line does not count."""
    model = model_for("staging")
    rendered = render_stack(model)
    compose = rendered.file(model.stack.compose_file)
    changed, count = re.subn(r'(?m)^(      APP_VERSION: "\$\{APP_VERSION\}"\n)',
                             r'\1      # OLD_FLAG: "${OLD_FLAG}"\n      EXTRA_FLAG: "${EXTRA_FLAG}"\n', compose.content)
    assert count == 1
    found = run_rules(model, model.stack, with_file(rendered, compose.path, changed), names=["env.complete"])
    assert said(found) == [
        ("env.complete", Outcome.FAILED, "stack.services", "EXTRA_FLAG is used by the compose file but stack.env does not declare it",
         "declare it in stack.env, e.g. `EXTRA_FLAG: ...`, or stop using it")]


def test_an_undeclared_key_names_every_service_that_uses_it(world):
    found = declared(world, "staging", "staging.yml", {"stack.services.api.env": ["APP_VERSION", "NOT_DECLARED"],
                                                       "stack.services.redis.env": ["NOT_DECLARED"]})
    assert [f for f in found if f[0] == "env.complete"] == [
        ("env.complete", "FAILED", "stack.services.api.env", "NOT_DECLARED is used by api, redis but stack.env does not declare it",
         "declare it in stack.env, e.g. `NOT_DECLARED: ...`, or stop using it", "staging.yml")]


# --- services.references in a stack taken from compose files (no stack.services in the layers) ----------

def test_a_probe_in_an_unknown_service_of_a_compose_stack_is_named(world):
    compose_world(world)
    data = world.read("staging.yml")
    data["stack"]["smoke"] = [{"name": "x", "path": "/x", "service": "nope", "port": 80}]
    world.write("staging.yml", data)
    model = model_for("staging")
    assert "services" not in model.data["stack"]
    found = run_rules(model, model.stack, names=["services.references"])
    assert said(found) == [("services.references", Outcome.FAILED, "stack.smoke.0.service",
                            "the probe runs in 'nope', which is not declared", "use one of: api, db, nginx, redis, worker")]
    assert Path(found[0].file).name == "staging.yml"


def test_a_self_dependency_hides_neither_the_next_targets_nor_a_cycle(world):
    """api depends on db, redis (all.yml), then on itself, an unknown service and nginx (which depends
    on api): each is reported, and so is the cycle through nginx."""
    found = declared(world, "staging", "staging.yml", {"stack.services.api.depends_on": {
        "api": "service_started", "nope": "service_started", "nginx": "service_started"}})
    assert [f for f in found if f[0] == "services.references"] == [
        ("services.references", "FAILED", "stack.services.api.depends_on.api", "a service cannot depend on itself",
         "remove it", "staging.yml"),
        ("services.references", "FAILED", "stack.services.api.depends_on.nope", "depends on 'nope', which is not declared",
         "use one of: api, db, redis, nginx", "staging.yml"),
        ("services.references", "FAILED", "stack.services.api.depends_on", "dependency cycle: api → nginx → api",
         "remove one of these depends_on entries", "all.yml")]


def test_a_probe_in_an_unknown_service_names_it_and_the_missing_port(world):
    """A probe in a service that is not declared has no port to ask: both are said."""
    found = declared(world, "staging", "staging.yml", {"stack.smoke": [{"name": "inside", "path": "/x", "service": "nope"}]})
    assert [f for f in found if f[0] == "services.references"] == [
        ("services.references", "FAILED", "stack.smoke.0.service", "the probe runs in 'nope', which is not declared",
         "use one of: api, db, redis, nginx", "staging.yml"),
        ("services.references", "FAILED", "stack.smoke.0.port", "probe inside runs inside nope but names no port",
         "set port: the container port to ask, e.g. 8000", "staging.yml")]


def test_waiting_for_a_compose_service_without_healthcheck_points_at_the_compose_file(world, shop):
    use_files(world, shop, {"override.yml": {"services": {"api": {"depends_on": {"redis": {"condition": "service_healthy"}}}}}})
    model = model_for("staging")
    found = run_rules(model, model.stack, names=["services.references"])
    assert said(found) == [
        ("services.references", Outcome.FAILED, "services.api.depends_on.redis",
         "waits for redis to be healthy, but redis has no healthcheck",
         "declare a healthcheck for redis in the compose file or use service_started")]
    assert found[0].file == "shop/docker-compose.yml"


# --- production.no_generated_secrets ---------------------------------------------------------------

def test_secret_generation_in_staging_warns_naming_the_secrets_file(world):
    found = declared(world, "staging", "staging.yml", {"stack.secrets_generate_missing": True})
    assert found == [
        ("production.no_generated_secrets", "WARNING", "stack.secrets_generate_missing",
         "secret generation is on in staging: missing secrets are made up on this controller only "
         f"(in {world.state}/secrets/staging.env), another controller would generate different ones",
         "provide the secrets (MOORING_SECRET_<NAME> or the secrets file) and remove secrets_generate_missing",
         "staging.yml")]


def test_secret_generation_in_production_fails_should_the_model_let_it_through(world):
    """The model refuses it in production first; the rule is the second line (a stack changed in memory)."""
    model = model_for("production")
    stack = dataclasses.replace(model.stack, secrets_generate_missing=True)
    assert said(run_rules(model, stack, names=["production.no_generated_secrets"])) == [
        ("production.no_generated_secrets", Outcome.FAILED, "stack.secrets_generate_missing",
         "secret generation is on in production", "remove secrets_generate_missing (sandbox only) and provide the secrets")]


# --- endpoints.delivered without an upstream; backups.databases in mixed case ---------------------------

def test_an_undelivered_toggle_without_an_upstream_names_the_usual_api_service(world):
    """No service has role app and no upstream is declared: the fix names the conventional `api`."""
    apply(world, {"layer": "all.yml", "delete": ["stack.proxy.upstream"]})
    found = declared(world, "staging", "staging.yml", {"stack.services.api.role": "worker",
                                                       "stack.services.api.env": ["APP_VERSION"]})
    assert [f for f in found if f[0] == "endpoints.delivered"][:1] == [
        ("endpoints.delivered", "FAILED", "stack.endpoints.dev",
         "no service receives DEV_ENDPOINTS_ENABLED, so this setting has no effect",
         "add DEV_ENDPOINTS_ENABLED to stack.services.api.env", "all.yml")]


def test_a_database_name_in_mixed_case_is_a_plain_name(world):
    found = declared(world, "staging", "staging.yml", {"stack.backups.databases": ["Solacore_Main"]},
                     passed="backups.databases")
    assert [f for f in found if f[0] == "backups.databases"] == [("backups.databases", "PASSED", "", "ok", "", "")]


# --- consistency.database_url / consistency.db_healthcheck -----------------------------------------------

DB_CHECKS = ("consistency.database_url", "consistency.db_healthcheck")


def test_a_database_named_with_a_leading_x_matches_the_url(world):
    """Only the URL path's slash is stripped from the database name."""
    found = declared(world, "staging", "staging.yml", {"stack.env.POSTGRES_DB": "Xenon"}, passed="consistency.database_url")
    assert [f for f in found if f[0] in DB_CHECKS] == [("consistency.database_url", "PASSED", "", "ok", "", "")]


def test_without_postgres_db_the_url_and_the_healthcheck_are_held_to_the_user(world):
    """No POSTGRES_DB: the image names the database after POSTGRES_USER, and the healthcheck's -d
    names a key that is not declared."""
    apply(world, {"layer": "all.yml", "delete": ["stack.env.POSTGRES_DB"], "set": {
        "stack.env.DATABASE_URL": "postgresql://${POSTGRES_USER}:${POSTGRES_PASSWORD}@db:5432/shop",
        "stack.services.db.healthcheck.test": ["CMD", "pg_isready", "-q", "-U", "${POSTGRES_USER}", "-d", "shop"]}})
    found = declared(world, "staging", "staging.yml", {})
    assert [f for f in found if f[0] in DB_CHECKS] == [
        ("consistency.database_url", "FAILED", "stack.env.DATABASE_URL",
         "DATABASE_URL: database 'shop' is not POSTGRES_USER 'solacore' "
         "(the image names the database after the user when POSTGRES_DB is not set)",
         "use ${POSTGRES_DB} in the URL", "all.yml"),
        ("consistency.db_healthcheck", "FAILED", "stack.services.db.healthcheck.test",
         "the healthcheck uses -d 'shop' but POSTGRES_DB is undeclared", 'use -d "${POSTGRES_DB}" so both always agree',
         "all.yml")]


def test_a_postgres_service_without_healthcheck_does_not_hide_the_next_one(world):
    apply(world, {"layer": "all.yml", "delete": ["stack.services.db.healthcheck"]})
    found = declared(world, "staging", "staging.yml", {"stack.services.db2": {
        "role": "postgres", "image": "postgres:15",
        "healthcheck": {"test": ["CMD", "pg_isready", "-U", "${POSTGRES_USER}", "-d", "other"]}}})
    assert [f for f in found if f[0] == "consistency.db_healthcheck"] == [
        ("consistency.db_healthcheck", "FAILED", "stack.services.db.healthcheck", "service db has no healthcheck",
         'add test: [CMD, pg_isready, -q, -U, "${POSTGRES_USER}", -d, "${POSTGRES_DB}"]', "all.yml"),
        ("consistency.db_healthcheck", "FAILED", "stack.services.db2.healthcheck.test",
         "the healthcheck uses -d 'other' but POSTGRES_DB is 'readme_to_recover'",
         'use -d "${POSTGRES_DB}" so both always agree', "staging.yml")]


# --- mounts.consistent: one host path, two ownerships ------------------------------------------------------

def test_a_host_path_mounted_with_two_ownerships_shows_both(world):
    found = declared(world, "staging", "staging.yml", {
        "stack.services.api.volumes": [{"source": "/srv/shared", "target": "/a", "owner": "1000", "mode": "0750"}],
        "stack.services.redis.volumes": [{"source": "/srv/shared", "target": "/b", "owner": "root", "group": "adm"}]})
    assert [f for f in found if f[0] == "mounts.consistent"] == [
        ("mounts.consistent", "FAILED", "stack.services.redis.volumes.0.source",
         "/srv/shared is declared 1000/1000/0750 (owner/group/mode) at stack.services.api.volumes.0 and root/adm/- here: "
         "the deploy would change it back and forth",
         "declare the same owner, group and mode on every mount of it (or on one only)", "staging.yml")]


@pytest.mark.parametrize("source", ["/srv/mooringX", "/srv/mooring-data"])
def test_a_sibling_named_like_the_stacks_parent_exposes_nothing(world, source):
    """Near misses of /srv/mooring (which holds the stack folder, so its .env): a bind mount of a
    folder whose name only starts the same is fine."""
    found = declared(world, "staging", "staging.yml", {"stack.services.api.volumes": [{"source": source, "target": "/data"}]},
                     passed="mounts.consistent")
    assert [f for f in found if f[0] == "mounts.consistent"] == [("mounts.consistent", "PASSED", "", "ok", "", "")]


def test_a_compose_healthcheck_naming_a_secret_user_is_read_as_written(world, shop):
    """The team's compose file writes ``-U ${POSTGRES_USER}`` and POSTGRES_USER is a secret: Compose's
    interpolated healthcheck holds the secret's value, the rule reads the words as written (no false
    alarm, no secret value in any finding)."""
    use_files(world, shop, {"override.yml": {"services": {"db": {"healthcheck": {
        "test": ["CMD", "pg_isready", "-q", "-U", "${POSTGRES_USER}", "-d", "${POSTGRES_DB}"]}}}}})
    user = "shop-owner-7f3a9c1d2e"
    apply(world, {"layer": "all.yml", "set": {"stack.env.POSTGRES_USER": {"secret": "POSTGRES_USER"}},
                  "secrets": {"staging": {"POSTGRES_USER": user}}})
    model = model_for("staging")
    found = run_rules(model, model.stack, names=["consistency.db_healthcheck"])
    assert said(found) == [("consistency.db_healthcheck", Outcome.PASSED, "", "ok", "")]
    assert user in str(model.stack.services_with_role("postgres")[0].healthcheck.test)  # Compose did fill it in
    assert not [f for f in found if user in repr(f)]


def test_a_compose_healthcheck_naming_the_wrong_database_is_read_as_written(world, shop):
    """A literal database name in the team's compose file is still held to POSTGRES_DB."""
    use_files(world, shop, {"override.yml": {"services": {"db": {"healthcheck": {
        "test": ["CMD-SHELL", "pg_isready -q -U $${POSTGRES_USER} -d solacore"]}}}}})
    model = model_for("staging")
    found = run_rules(model, model.stack, names=["consistency.db_healthcheck"])
    assert said(found) == [("consistency.db_healthcheck", Outcome.FAILED, "services.db.healthcheck.test",
                            "the healthcheck uses -d 'solacore' but POSTGRES_DB is 'readme_to_recover'",
                            'use -d "${POSTGRES_DB}" so both always agree')]


def test_a_compose_healthcheck_written_as_one_string_is_a_shell_command(world, shop):
    """``test: pg_isready ...`` as one string is CMD-SHELL to Compose: its flags are read."""
    use_files(world, shop, {"override.yml": {"services": {"db": {"healthcheck": {
        "test": "pg_isready -q -U $${POSTGRES_USER} -d readme"}}}}})
    model = model_for("staging")
    found = run_rules(model, model.stack, names=["consistency.db_healthcheck"])
    assert said(found) == [("consistency.db_healthcheck", Outcome.FAILED, "services.db.healthcheck.test",
                            "the healthcheck uses -d 'readme' but POSTGRES_DB is 'readme_to_recover'",
                            'use -d "${POSTGRES_DB}" so both always agree')]


@pytest.mark.parametrize("written, shown", [("shop-owner-7f3a9c1d2e", "(hidden)"), ("postgres", "'postgres'")],
                         ids=["the-secret-itself", "another-user"])
def test_a_healthcheck_user_held_to_a_secret_shows_no_secret(world, written, shown):
    """POSTGRES_USER is a secret: a healthcheck that writes a user out is told to use the reference,
    and the message never carries the secret's value (it says the key is a secret, not undeclared)."""
    found = declared(world, "staging", "staging.yml", {
        "stack.env.POSTGRES_USER": {"secret": "POSTGRES_USER"},
        "stack.services.db.healthcheck.test": ["CMD", "pg_isready", "-q", "-U", written, "-d", "${POSTGRES_DB}"]},
        secrets={"POSTGRES_USER": "shop-owner-7f3a9c1d2e"})
    assert [f for f in found if f[0] == "consistency.db_healthcheck"] == [
        ("consistency.db_healthcheck", "FAILED", "stack.services.db.healthcheck.test",
         f"the healthcheck uses -U {shown} but POSTGRES_USER is a secret", 'use -U "${POSTGRES_USER}" so both always agree',
         "staging.yml")]
    assert not [f for f in found if "shop-owner-7f3a9c1d2e" in repr(f)]


@pytest.mark.parametrize("host_value, secret, shown", [
    ("h-s3cr3t", True, "'***'"),   # a secret holding another secret: the longer is masked first
    ("cache", False, "'cache'"),   # a plain value is shown as it is
], ids=["secret-host", "plain-host"])
def test_a_compose_database_url_host_is_masked_whole_or_not_at_all(world, shop, host_value, secret, shown):
    """The DATABASE_URL Compose hands the API names its host through ${DB_HOST}. Secret values are
    masked longest first, so no part of one shows even when a shorter secret sits inside it; a
    value that is no secret is shown."""
    use_files(world, shop, {"override.yml": {"services": {"api": {"environment": {
        "DATABASE_URL": "postgresql://${POSTGRES_USER}:${POSTGRES_PASSWORD}@${DB_HOST}:5432/${POSTGRES_DB}"}}}}})
    apply(world, {"layer": "all.yml",
                  "set": {"stack.env.DB_HOST": {"secret": "DB_HOST"} if secret else host_value},
                  "secrets": {"staging": {"POSTGRES_PASSWORD": "s3cr3t", **({"DB_HOST": host_value} if secret else {})}}})
    model = model_for("staging")
    found = run_rules(model, model.stack, names=["consistency.database_url"])
    assert said(found) == [("consistency.database_url", Outcome.FAILED, "services.api.environment.DATABASE_URL",
                            f"DATABASE_URL: host {shown} is not the database service 'db'",
                            "use @db:5432 (services reach each other by service name)")]


@pytest.mark.parametrize("allow_empty, expected", [(True, []), (False, [
    ("env.complete", "FAILED", "stack.env.OPTIONAL_TOKEN",
     "OPTIONAL_TOKEN is empty (secret OPTIONAL_TOKEN resolved to an empty string) but api needs it",
     'give it a value (an empty variable is as bad as a missing one), or, when api accepts it empty, '
     'declare `OPTIONAL_TOKEN: {value: "", allow_empty: true}`', "staging.yml")])])
def test_a_secret_declared_allow_empty_may_resolve_empty(world, allow_empty, expected):
    found = declared(world, "staging", "staging.yml", {
        "stack.env.OPTIONAL_TOKEN": {"secret": "OPTIONAL_TOKEN", **({"allow_empty": True} if allow_empty else {})},
        "stack.services.api.env": ["APP_VERSION", "OPTIONAL_TOKEN"]}, secrets={"OPTIONAL_TOKEN": ""})
    assert [f for f in found if f[0] == "env.complete"] == expected
