"""The static rule registry and individual rules (the corpus in bad_inputs/ covers the failures
end to end; these pin down the registry, outcomes, warnings and edge cases)."""

from __future__ import annotations

import pytest

import mooring.checks.registry as registry
from mooring.checks.rules import common
from mooring.checks.rules import render as render_rules
from mooring.declare.cron import cron_problem
from mooring.checks.findings import Outcome
from mooring.checks.registry import RULES, get_rule, registered_rules, rule, run_rules
from mooring.checks.rules.common import is_dev_default
from mooring.checks.preflight import check_model
from mooring.declare.render import render_stack
from tests.declared_world import HOSTS, model_for, set_path

REGISTERED = [
    "backups.databases", "backups.directory", "backups.schedule", "consistency.database_url", "consistency.db_env", "consistency.db_healthcheck",
    "consistency.redis_url", "cors.credentials", "endpoints.delivered", "env.complete", "env.line_breaks", "env.shell_collision",
    "health.declared", "migration.declared", "mounts.consistent", "mounts.read_only_sources", "ports.unique",
    "production.cors", "production.debug_off", "production.endpoints", "production.images_pinned",
    "production.no_generated_secrets", "production.secrets", "proxy.consistent", "proxy.http_port", "render.compose_config",
    "render.env_roundtrip", "render.shell_syntax", "render.shellcheck", "secrets.not_in_args", "secrets.not_in_clear",
    "secrets.url_safe",
    "services.references", "services.roles",
]




def outcomes(findings, check: str) -> list[Outcome]:
    return [f.outcome for f in findings if f.check == check]


def edit(world, layer: str, **paths) -> None:
    data = world.read(layer)
    for dotted, value in paths.items():
        set_path(data, dotted.replace("__", "."), value)
    world.write(layer, data)


# --- registry ------------------------------------------------------------------------------

def test_registered_rules_are_exactly_these():
    assert registered_rules() == REGISTERED
    assert all(RULES[name].doc for name in REGISTERED)


def test_a_duplicate_rule_is_refused():
    with pytest.raises(ValueError, match="already registered"):
        rule("ports.unique")(lambda ctx, name: [])


def test_an_unknown_rule_is_an_error_listing_the_known_ones():
    with pytest.raises(KeyError) as info:
        get_rule("ports.unqiue")
    assert info.value.args[0] == f"unknown rule 'ports.unqiue'; registered: {', '.join(registered_rules())}"
    assert "ports.unique, " in info.value.args[0]


def test_needs_is_validated():
    with pytest.raises(ValueError):
        rule("x.y", needs="network")


def test_reference_stack_passes_every_rule(world):
    for environment in HOSTS:
        findings = check_model(model_for(environment))
        bad = [str(f) for f in findings if f.outcome is not Outcome.PASSED]
        assert not bad, f"{environment}: {bad}"
        assert {f.check for f in findings} == {*REGISTERED, "render.templates"}


def test_render_rules_are_skipped_with_a_reason_when_nothing_rendered(world):
    model = model_for("staging")
    findings = run_rules(model, model.stack, None, "rendering failed")
    skipped = [f for f in findings if f.outcome is Outcome.SKIPPED]
    assert {f.check for f in skipped} == {n for n in REGISTERED if n.startswith("render.")}
    assert all("rendering failed" in f.message for f in skipped)


def test_a_crashing_rule_reports_no_exception_text(world, monkeypatch):
    def boom(ctx, name):
        raise ValueError("Prod0Pg4Pass9Word7Long")  # pretend a value leaked into an exception
    monkeypatch.setitem(RULES, "ports.unique", registry.Rule("ports.unique", boom, "stack", "doc"))
    model = model_for("production")
    findings = run_rules(model, model.stack, None, "", names=["ports.unique"])
    assert findings[0].outcome is Outcome.FAILED
    assert "internal error in rule: ValueError at test_static.py:" in findings[0].message
    assert "Prod0" not in str(findings[0])


def test_a_host_without_stack_has_no_stack_findings(world):
    world.drop_stack("all.yml", "staging.yml")
    model = model_for("staging")
    assert model.stack is None
    assert check_model(model) == []


# --- warnings and environment-dependent outcomes --------------------------------------------

def test_missing_migration_is_a_warning(world):
    edit(world, "staging.yml", stack__migration=None)
    findings = check_model(model_for("staging"))
    assert outcomes(findings, "migration.declared") == [Outcome.WARNING]


def test_weak_secret_is_a_warning_in_staging_and_ignored_in_sandbox(world):
    world.set_secret("staging", "JWT_SECRET", "changeme")
    assert outcomes(check_model(model_for("staging")), "production.secrets") == [Outcome.WARNING]
    world.set_secret("sandbox", "JWT_SECRET", "changeme")
    assert outcomes(check_model(model_for("sandbox")), "production.secrets") == [Outcome.PASSED]


def test_unpinned_image_is_a_warning_outside_production(world):
    edit(world, "staging.yml", stack__services__api__image="registry.example.com/solacore/api")
    assert outcomes(check_model(model_for("staging")), "production.images_pinned") == [Outcome.WARNING]


def test_digest_pinned_image_is_fine(world):
    edit(world, "production.yml", stack__services__redis__image="redis@sha256:" + "a" * 64)
    assert outcomes(check_model(model_for("production")), "production.images_pinned") == [Outcome.PASSED]


def test_localhost_cors_is_fine_outside_production(world):
    assert outcomes(check_model(model_for("sandbox")), "production.cors") == [Outcome.PASSED]


def test_cors_declared_directly_in_env_is_checked_too(world):
    edit(world, "production.yml", stack__cors=None,
         stack__env__FRONTEND_CORS_ORIGINS="https://app.example.com,http://127.0.0.1:3000")
    findings = check_model(model_for("production"))
    failed = [f for f in findings if f.check == "production.cors" and f.outcome is Outcome.FAILED]
    assert failed and failed[0].path == "stack.env.FRONTEND_CORS_ORIGINS"


def test_whitelisted_ops_endpoints_are_allowed_in_production(world):
    assert outcomes(check_model(model_for("production")), "production.endpoints") == [Outcome.PASSED]


def test_one_host_path_mounted_twice_with_one_ownership_is_fine(world):
    mount = {"source": "/etc/ssl/solacore", "target": "/etc/ssl/solacore", "read_only": True, "owner": "root",
             "mode": "0755"}
    edit(world, "staging.yml", stack__services__api__volumes=[mount], stack__services__redis__volumes=[dict(mount)])
    assert outcomes(check_model(model_for("staging")), "mounts.consistent") == [Outcome.PASSED]
    edit(world, "staging.yml", stack__services__redis__volumes=[{**mount, "source": "/etc/ssl/solacore/."}])  # same folder
    assert outcomes(check_model(model_for("staging")), "mounts.consistent") == [Outcome.PASSED]
    edit(world, "staging.yml", stack__services__redis__volumes=[{**mount, "owner": "999"}])
    assert outcomes(check_model(model_for("staging")), "mounts.consistent") == [Outcome.FAILED]


def test_ports_on_different_addresses_do_not_collide(world):
    edit(world, "staging.yml", stack__services__api__ports=["127.0.0.2:8080:8000"],
         stack__services__redis__ports=["127.0.0.3:8080:6379"])
    assert outcomes(check_model(model_for("staging")), "ports.unique") == [Outcome.PASSED]


def test_ports_on_all_addresses_collide_with_one_address(world):
    edit(world, "staging.yml", stack__services__api__ports=["127.0.0.1:80:8000"])
    findings = check_model(model_for("staging"))
    assert outcomes(findings, "ports.unique") == [Outcome.FAILED]


@pytest.mark.parametrize("test", [
    ["CMD-SHELL", "pg_isready -U ${POSTGRES_USER} -d ${POSTGRES_DB}"],
    ["CMD-SHELL", "pg_isready -U \"$${POSTGRES_USER}\" --dbname=\"$${POSTGRES_DB}\""],
    ["CMD", "pg_isready", "-U", "solacore", "-d", "readme_to_recover"],
    ["CMD", "pg_isready", "-Usolacore", "-dreadme_to_recover"],
])
def test_db_healthcheck_accepts_references_and_the_literal_values(world, test):
    edit(world, "staging.yml", stack__services__db__healthcheck__test=test)
    assert outcomes(check_model(model_for("staging")), "consistency.db_healthcheck") == [Outcome.PASSED]


def test_database_url_defaults_to_user_database_without_postgres_db(world):
    data = world.read("all.yml")
    del data["stack"]["env"]["POSTGRES_DB"]
    set_path(data, "stack.env.DATABASE_URL", "postgresql://${POSTGRES_USER}:${POSTGRES_PASSWORD}@db:5432/other")
    set_path(data, "stack.backups.databases", ["other"])
    world.write("all.yml", data)
    findings = check_model(model_for("staging"))
    message = [f.message for f in findings if f.check == "consistency.database_url" and f.outcome is Outcome.FAILED]
    assert message and "names the database after the user" in message[0]


def test_redis_url_with_secret_password_is_fine(world):
    edit(world, "staging.yml", stack__env__REDIS_PASSWORD={"secret": "REDIS_PASSWORD"},
         stack__env__REDIS_URL="redis://:${REDIS_PASSWORD}@redis:6379/0")
    world.set_secret("staging", "REDIS_PASSWORD", "Redis5Password8Long2")
    model = model_for("staging")
    assert model.stack.env["REDIS_URL"].secret
    findings = check_model(model)
    assert outcomes(findings, "consistency.redis_url") == [Outcome.PASSED]
    assert outcomes(findings, "secrets.not_in_clear") == [Outcome.PASSED]


def test_multiline_values_are_allowed_when_declared(world):
    edit(world, "staging.yml", stack__env__BANNER={"value": "line one\nline two", "multiline": True})
    assert outcomes(check_model(model_for("staging")), "env.line_breaks") == [Outcome.PASSED]


def test_render_checks_use_a_cache(world, monkeypatch):
    model = model_for("production")
    rendered = render_stack(model)
    run_rules(model, model.stack, rendered)
    calls = []
    monkeypatch.setattr(render_rules, "_run_on_text", lambda *a: calls.append(a) or (0, ""))
    monkeypatch.setattr(render_rules, "_run_compose_config", lambda *a: calls.append(a) or (0, "", {}))
    run_rules(model, model.stack, rendered)
    assert calls == []


# --- small pure helpers -------------------------------------------------------------------------

@pytest.mark.parametrize("value", ["dev-secret-change-in-production", "changeme", "ChangeMe!", "admin", "password",
                                   "Password", "please-change-me-now-123", "postgres", "123456"])
def test_dev_defaults(value):
    assert is_dev_default(value)


@pytest.mark.parametrize("value", ["Zk3vQ9xLm2Rt8WpYa7Hc", "correct-horse-battery-staple-42"])
def test_not_dev_defaults(value):
    assert not is_dev_default(value)


@pytest.mark.parametrize("schedule", ["0 2 * * *", "*/15 * * * *", "0 0-6/2 * * mon", "30 3 1,15 * *", "@daily",
                                      "0 2 * jan 0", "0 2 * * 7"])
def test_valid_cron(schedule):
    assert cron_problem(schedule) is None


@pytest.mark.parametrize("schedule,why", [
    ("61 2 * * *", "minute: 61 is outside 0-59"), ("0 24 * * *", "hour: 24 is outside 0-23"),
    ("0 2 0 * *", "day of month: 0 is outside 1-31"), ("0 2 * 13 *", "month: 13 is outside 1-12"),
    ("0 2 * * 8", "day of week: 8 is outside 0-7"), ("0 2 * *", "4 fields"), ("5/10 * * * *", "a step needs a range"),
    ("0 6-2 * * *", "runs backwards"), ("0 2 * * * *", "6 fields"), ("@reboot", "runs only when the host boots"), ("x 2 * * *", "not a number"),
    ("*/0 * * * *", "step"), ("1,,2 * * * *", "empty list item"),
])
def test_invalid_cron(schedule, why):
    assert why in (cron_problem(schedule) or "")


@pytest.mark.parametrize("schedule", ["*/60 * * * *", "0 */24 * * *", "0 0 */31 * *", "0 0 * */12 *", "0 0 * * */8",
                                      "0-30/60 * * * *", "*/1 * * * *"])
def test_cron_step_up_to_the_field_range_is_valid(schedule):
    assert cron_problem(schedule) is None


@pytest.mark.parametrize("schedule,why", [
    ("*/61 * * * *", "minute: step '61' must be a number from 1 to 60"),
    ("*/90 * * * *", "minute: step '90' must be a number from 1 to 60: a larger step runs only at the range's start"),
    ("0 */25 * * *", "hour: step '25' must be a number from 1 to 24"),
    ("0 0 */32 * *", "day of month: step '32' must be a number from 1 to 31"),
    ("0 0 * */13 *", "month: step '13' must be a number from 1 to 12"),
    ("0 0 * * */9", "day of week: step '9' must be a number from 1 to 8"),
    ("0-30/61 * * * *", "minute: step '61' must be a number from 1 to 60"),
])
def test_cron_step_above_the_field_range_is_refused(schedule, why):
    """Debian's cron accepts any step; a step past the field's range runs once, which is never what was meant."""
    assert why in (cron_problem(schedule) or "")


def test_debug_off_never_prints_the_value(world):
    """L2: production.debug_off names the key, never its value."""
    edit(world, "production.yml", stack__env__APP_ENV="local")
    findings = check_model(model_for("production"))
    [failed] = [f for f in findings if f.check == "production.debug_off" and f.outcome is Outcome.FAILED]
    assert "APP_ENV" in failed.message and "local" not in failed.message


def test_secret_in_command_fails_but_shell_variable_is_fine(world):
    """L1: ${SECRET} in a command is interpolated by compose; $$SECRET is read inside the container."""
    edit(world, "staging.yml", stack__services__api__command=["sh", "-c", "exec app --jwt ${JWT_SECRET}"])
    findings = check_model(model_for("staging"))
    assert outcomes(findings, "secrets.not_in_args") == [Outcome.FAILED]
    edit(world, "staging.yml", stack__services__api__command=["sh", "-c", "exec app --jwt $$JWT_SECRET"])
    assert outcomes(check_model(model_for("staging")), "secrets.not_in_args") == [Outcome.PASSED]


def test_cron_refuses_line_breaks_and_percent():
    assert "line break" in cron_problem("0 2 * * *\n* * * * *")
    assert "line break" in cron_problem("0 2 * * *\r")
    assert "%" in cron_problem("0 2 * * %")
    assert cron_problem(" 0 2 * * * ") is None


@pytest.mark.parametrize("directory", ["/backups/solacore", "/var/backups/mooring/solacore", "/data/backups"])
def test_backup_directory_accepts_dedicated_folders(world, directory):
    edit(world, "staging.yml", stack__backups__directory=directory)
    assert outcomes(check_model(model_for("staging")), "backups.directory") == [Outcome.PASSED]


def test_a_cors_credentials_flag_in_env_is_not_a_secret(world):
    """`FRONT_CORS_ALLOW_CREDENTIALS: "false"` is a browser setting: it passes the secret rules."""
    data = world.read("staging.yml")
    set_path(data, "stack.env.FRONT_CORS_ALLOW_CREDENTIALS", "false")
    api_env = world.read("all.yml")["stack"]["services"]["api"]["env"]
    set_path(data, "stack.services.api.env", [*api_env, "FRONT_CORS_ALLOW_CREDENTIALS"])
    world.write("staging.yml", data)
    findings = check_model(model_for("staging"))
    assert outcomes(findings, "secrets.not_in_clear") == [Outcome.PASSED]
    assert not [str(f) for f in findings if f.outcome is Outcome.FAILED]


def test_a_bad_url_port_is_reported_whole(world):
    edit(world, "staging.yml", stack__env__REDIS_URL="redis://redis:6379:1/0")
    found = [f for f in check_model(model_for("staging")) if f.check == "consistency.redis_url"]
    assert [f.outcome for f in found] == [Outcome.FAILED]
    assert "'6379:1'" in found[0].message, found[0].message


def test_an_escaped_dollar_before_a_reference_still_uses_the_key():
    assert [ref.key for ref in common.compose_references("$$${APP_VERSION} $${NOT_USED}")] == ["APP_VERSION"]


def test_the_backup_and_drill_schedules_say_when_they_run_next_in_the_host_zone(world):
    import datetime as dt

    from mooring.checks.rules.backups import next_run_text

    edit(world, "staging.yml", stack__backups__schedule="30 3 * * mon-fri", stack__backups__verify_schedule="0 5 * * sun",
         bootstrap__timezone="Europe/Berlin")
    from mooring.checks.preflight import check_host

    findings = [f for f in check_host(HOSTS["staging"][0], ["staging"]) if f.check == "backups.schedule"]
    assert [(f.outcome, f.path) for f in findings] == [(Outcome.PASSED, "stack.backups.schedule"),
                                                      (Outcome.PASSED, "stack.backups.verify_schedule")]
    assert findings[0].message.startswith("backup 30 3 * * mon-fri: next run ") and findings[0].message.endswith(" Europe/Berlin")
    # 23:30 UTC on a Friday is 00:30 on Saturday in Berlin: the next weekday run is Monday 03:30 there.
    friday_night = dt.datetime(2026, 12, 4, 23, 30, tzinfo=dt.timezone.utc)
    assert next_run_text("30 3 * * mon-fri", "backup", "Europe/Berlin", friday_night) == \
        "backup 30 3 * * mon-fri: next run 2026-12-07 03:30 Europe/Berlin"
    assert next_run_text("30 3 * * *", "backup", "Europe/Berlin", friday_night) == \
        "backup 30 3 * * *: next run 2026-12-05 03:30 Europe/Berlin"
