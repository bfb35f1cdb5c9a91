"""The live rules of ``mooring check`` (checks/live.py), host-free: a host deployed as declared
(tests/live_world.py) with one thing changed, and exactly what the user then reads (check,
outcome, resource, message, fix, declared path and file, expected, actual). Written for the
mutation run (docs/mutation.md): every rule's branches, its boundaries, its quiet PASSED."""

from __future__ import annotations

import dataclasses

import pytest

from mooring.checks import live
from mooring.checks.findings import Kind, Outcome
from mooring.checks.live import (BACKUP_MAX_AGE_S, HostView, backup_cron, backup_metrics, backup_verify, backups_fresh,
                         compose_file_as_declared, engine_sound, env_complete, env_file_private, file_problems,
                         read_only_sources, release_settled, run_live_rules, services_running, snapshot_read)
from mooring.checks.snapshot import (BackupFile, BackupState, CronState, EngineState, EnvKey, EnvState, FileState,
                             MetricsState, ReleasePointer)
from mooring.declare.render import backup_metrics_path, cron_file_path, drill_metrics_path
from tests.declared_world import model_for, set_path
from tests.live_world import DAY, HOUR, NOW, healthy_view, said, with_file, with_service, with_snapshot

ENV = "/srv/mooring/solacore/.env"
COMPOSE = "/srv/mooring/solacore/compose.yml"
CRON = "/etc/cron.d/mooring-solacore"
METRICS = "/var/lib/prometheus/node-exporter/mooring-backup-solacore.prom"
DEPLOY = "deploy again (mooring deploy)"


@pytest.fixture
def view(world) -> HostView:
    return healthy_view()


def files_of(view: HostView, findings) -> None:
    """Findings about a declared key name the file it comes from; the others name none."""
    for found in findings:
        assert found.subject == found.host == view.model.name == "docker-1"
        assert found.kind is view.kind
        if found.path:
            assert found.file == view.model.merged.file_of(found.path) and found.file.endswith(".yml")
        else:
            assert found.file == ""


# --- the host view and the runner -----------------------------------------------------------------

def test_a_host_as_declared_passes_every_live_rule_with_its_summary(view):
    found = run_live_rules(view)
    assert said(found) == [
        ("live.backups.cron", "passed", f"cron:{CRON}", "installed, cron running", "", "", "", "", ""),
        ("live.backups.fresh", "passed", "backups:/var/backups/mooring/solacore", "fresh, pruned", "", "", "", "", ""),
        ("live.backups.metrics", "passed", f"file:{METRICS}", "last run succeeded", "", "", "", "", ""),
        ("live.compose_file", "passed", f"file:{COMPOSE}", "as declared", "", "", "", "", ""),
        ("live.engine", "passed", "engine:docker", "engine 27.3.1, compose 2.29.7", "", "", "", "", ""),
        ("live.env", "passed", f"file:{ENV}", "15 keys present, required ones non-empty", "", "", "", "", ""),
        ("live.env_file", "passed", f"file:{ENV}", "mode 0600, owner root", "", "", "", "", ""),
        ("live.mounts", "passed", "mounts", "1 read-only sources as declared", "", "", "", "", ""),
        ("live.release", "passed", "release:current", "release 0003-abcdef", "", "", "", "", ""),
        ("live.services", "passed", "services", "4 services running", "", "", "", "", ""),
        ("live.snapshot", "passed", "snapshot", "read whole", "", "", "", "", ""),
    ]
    files_of(view, found)
    assert all(f.kind is Kind.LIVE for f in found)


def test_drift_runs_only_the_rules_marked_for_it(view):
    checks = [f.check for f in run_live_rules(view, drift=True)]
    assert checks == ["live.backups.cron", "live.backups.fresh", "live.backups.metrics", "live.engine", "live.env",
                      "live.mounts", "live.release", "live.services", "live.snapshot"]
    assert "live.env_file" not in checks and "live.compose_file" not in checks
    assert not live.LIVE_RULES["live.env_file"].in_drift and not live.LIVE_RULES["live.compose_file"].in_drift
    assert all(spec.in_drift for name, spec in live.LIVE_RULES.items()
               if name not in ("live.env_file", "live.compose_file"))


def test_one_rule_that_crashes_is_an_error_and_the_others_still_run(view, monkeypatch):
    def broken(_view):
        raise KeyError("boom")

    monkeypatch.setitem(live.LIVE_RULES, "live.engine", live.LiveSpec("live.engine", broken, True))
    found = run_live_rules(view)
    [error] = [f for f in found if f.check == "live.engine"]
    assert said([error]) == [("live.engine", "error", "rule", "internal error in rule: KeyError",
                              "report this as a mooring bug", "", "", "", "")]
    assert len(found) == 11 and sum(f.outcome is Outcome.PASSED for f in found) == 10


def test_a_name_is_registered_once(monkeypatch):
    monkeypatch.setattr(live, "LIVE_RULES", dict(live.LIVE_RULES))
    with pytest.raises(ValueError, match="live rule 'live.env' is already registered"):
        live.live_rule("live.env")(lambda view: [])
    register = live.live_rule("live.extra", in_drift=False)
    func = lambda view: []  # noqa: E731
    assert register(func) is func
    assert live.LIVE_RULES["live.extra"] == live.LiveSpec("live.extra", func, False)
    live.live_rule("live.other")(func)
    assert live.LIVE_RULES["live.other"].in_drift is True


def test_the_view_finding_carries_host_kind_and_declared_file(view):
    found = view.finding("x.y", Outcome.FAILED, "env:A", "msg", "fix it", path="stack.env.JWT_SECRET",
                         expected="e", actual="a")
    assert (found.check, found.outcome, found.subject, found.path, found.message, found.fix, found.host, found.kind,
            found.resource, found.expected, found.actual) == ("x.y", Outcome.FAILED, "docker-1", "stack.env.JWT_SECRET",
                                                              "msg", "fix it", "docker-1", Kind.LIVE, "env:A", "e", "a")
    assert found.file.endswith("/group_data/all.yml")
    assert view.finding("x.y", Outcome.FAILED, "r").file == ""
    ok = view.passed("x.y", "r")
    assert (ok.outcome, ok.message, ok.fix, ok.resource) == (Outcome.PASSED, "ok", "", "r")
    assert view.stack is view.model.stack


# --- the snapshot ---------------------------------------------------------------------------------

def test_a_report_cut_short_is_an_error_and_each_warning_is_named(view):
    cut = with_snapshot(view, complete=False, warnings=("line 3: unknown record (5 characters)", "line 9: x"))
    assert said(snapshot_read(cut)) == [
        ("live.snapshot", "error", "snapshot", "the host's report was cut short",
         "run again; if it persists, run `mooring -v check` and report it", "", "", "", ""),
        ("live.snapshot", "warning", "snapshot", "line 3: unknown record (5 characters)", "", "", "", "", ""),
        ("live.snapshot", "warning", "snapshot", "line 9: x", "", "", "", "", ""),
    ]
    assert [f.outcome for f in snapshot_read(with_snapshot(view, warnings=("w",)))] == [Outcome.WARNING]


# --- engine ---------------------------------------------------------------------------------------

BOOTSTRAP_V2 = "run `mooring bootstrap` (installs the pinned Compose v2 plugin)"


@pytest.mark.parametrize(("engine", "expected"), [
    (EngineState("absent"),
     [("live.engine", "failed", "engine:docker", "the docker client is missing", "run `mooring bootstrap` for this host",
       "", "", "docker installed", "absent")]),
    (EngineState("notmp"),
     [("live.engine", "failed", "engine:docker", "the docker client is missing", "run `mooring bootstrap` for this host",
       "", "", "docker installed", "notmp")]),
    (EngineState("present", None, "Cannot connect", compose="2.29.7"),
     [("live.engine", "failed", "engine:docker", "the docker engine does not answer (Cannot connect)",
       "start it: systemctl start docker", "", "", "engine running", "not answering")]),
    (EngineState("present", None, "", compose="2.29.7"),
     [("live.engine", "failed", "engine:docker", "the docker engine does not answer (no reason given)",
       "start it: systemctl start docker", "", "", "engine running", "not answering")]),
    (EngineState("present", "27.3.1", compose=None),
     [("live.engine", "failed", "engine:compose", "`docker compose` is not Compose v2", BOOTSTRAP_V2, "", "",
       "compose 2.x", "missing")]),
    (EngineState("present", "27.3.1", compose="1.29.2"),
     [("live.engine", "failed", "engine:compose", "`docker compose` is not Compose v2", BOOTSTRAP_V2, "", "",
       "compose 2.x", "1.29.2")]),
    (EngineState("present", None, "down", compose="v1.2"),
     [("live.engine", "failed", "engine:docker", "the docker engine does not answer (down)",
       "start it: systemctl start docker", "", "", "engine running", "not answering"),
      ("live.engine", "failed", "engine:compose", "`docker compose` is not Compose v2", BOOTSTRAP_V2, "", "",
       "compose 2.x", "v1.2")]),
])
def test_engine_problems(view, engine, expected):
    assert said(engine_sound(with_snapshot(view, engine=engine))) == expected


V1_FIX = "remove it (apt-get purge docker-compose / pip uninstall docker-compose), or run `mooring bootstrap`"


@pytest.mark.parametrize(("v1", "where", "actual"), [
    (dict(v1_path="/usr/bin/docker-compose", v1_version="1.29.2", v1_package="docker-compose", v1_pip=("a",)),
     "/usr/bin/docker-compose", "1.29.2"),
    (dict(v1_pip=("/usr/lib/python3/dist-packages", "/usr/local/lib")), "/usr/lib/python3/dist-packages, /usr/local/lib",
     "present"),
    (dict(v1_package="docker-compose", v1_pip=("x",)), "x", "present"),
    (dict(v1_version="v1.25.0"), "on the host", "v1.25.0"),
])
def test_a_compose_v1_install_is_named_where_it_is(view, v1, where, actual):
    engine = EngineState("present", "27.3.1", compose="2.29.7", **v1)
    assert said(engine_sound(with_snapshot(view, engine=engine))) == [
        ("live.engine", "failed", "engine:compose-v1", f"Compose v1 is installed ({where}): it breaks the backup container",
         V1_FIX, "", "", "no Compose v1", actual)]


def test_a_standalone_compose_v2_is_not_v1(view):
    engine = EngineState("present", "27.3.1", compose="v2.29.7", v1_path="/usr/local/bin/docker-compose",
                         v1_version="v2.29.7")
    assert [f.outcome for f in engine_sound(with_snapshot(view, engine=engine))] == [Outcome.PASSED]


# --- env ------------------------------------------------------------------------------------------

def env_with(view: HostView, *keys: EnvKey, bad: tuple[int, ...] = ()) -> HostView:
    return with_snapshot(view, env=EnvState("read", keys, bad))


@pytest.mark.parametrize("status", ["missing", "unreadable"])
def test_an_env_file_not_read_fails_once(view, status):
    assert said(env_complete(with_snapshot(view, env=EnvState(status)))) == [
        ("live.env", "failed", f"file:{ENV}", f"the .env file is {status}", "deploy the stack (mooring deploy)", "", "",
         "present", status)]


def test_missing_and_empty_required_keys(view):
    keys = [k for k in view.snapshot.env.keys if k.key not in ("JWT_SECRET", "REDIS_URL")]
    keys = [dataclasses.replace(k, empty=True) if k.key in ("POSTGRES_DB", "APP_VERSION") else k for k in keys]
    found = env_complete(env_with(view, *keys))
    assert said(found) == [
        ("live.env", "failed", "env:JWT_SECRET", "JWT_SECRET is missing from the deployed .env",
         "deploy again (mooring deploy); never edit .env on the host", "stack.env.JWT_SECRET",
         view.model.merged.file_of("stack.env.JWT_SECRET"), "present", "missing"),
        ("live.env", "failed", "env:POSTGRES_DB", "POSTGRES_DB is empty in the deployed .env, and a service requires it",
         "declare a value and deploy again", "stack.env.POSTGRES_DB", view.model.merged.file_of("stack.env.POSTGRES_DB"),
         "non-empty", "empty"),
        ("live.env", "failed", "env:REDIS_URL", "REDIS_URL is missing from the deployed .env",
         "deploy again (mooring deploy); never edit .env on the host", "stack.env.REDIS_URL",
         view.model.merged.file_of("stack.env.REDIS_URL"), "present", "missing"),
    ]  # APP_VERSION is empty but no service requires it
    files_of(view, found)


def test_a_required_key_that_is_not_declared_is_still_asked_for(world):
    data = world.read("all.yml")
    set_path(data, "stack.services.api.required_env", ["DATABASE_URL", "REDIS_URL", "NOT_DECLARED"])
    world.write("all.yml", data)
    view = healthy_view()
    [found] = env_complete(view)
    assert (found.outcome, found.resource, found.message) == (
        Outcome.FAILED, "env:NOT_DECLARED", "NOT_DECLARED is missing from the deployed .env")
    assert live._required_keys(view.stack) >= {"NOT_DECLARED", "DATABASE_URL", "REDIS_URL", "POSTGRES_DB",
                                               "POSTGRES_USER", "POSTGRES_PASSWORD"}


def test_duplicate_keys_and_bad_lines_warn_in_file_order(view):
    keys = view.snapshot.env.keys
    doubled = env_with(view, *keys, EnvKey("PORT", 40, False), EnvKey("PORT", 41, False), EnvKey("JWT_SECRET", 42, False),
                       bad=(3, 17))
    assert said(env_complete(doubled)) == [
        ("live.env", "warning", "env:JWT_SECRET", "JWT_SECRET is set on more than one line",
         "deploy again: mooring writes each key once", "", "", "", ""),
        ("live.env", "warning", "env:PORT", "PORT is set on more than one line", "deploy again: mooring writes each key once",
         "", "", "", ""),
        ("live.env", "warning", f"file:{ENV}", "lines 3, 17 are not KEY=value lines",
         "deploy again: mooring rewrites the file whole", "", "", "", ""),
    ]
    [one] = env_complete(env_with(view, *keys, bad=(5,)))
    assert one.message == "lines 5 are not KEY=value lines"


def test_the_env_summary_counts_distinct_keys(view):
    extra = env_with(view, *view.snapshot.env.keys, EnvKey("EXTRA", 50, True), EnvKey("EXTRA", 51, True))
    found = env_complete(dataclasses.replace(extra, snapshot=dataclasses.replace(
        extra.snapshot, env=EnvState("read", extra.snapshot.env.keys[:-1]))))
    assert said(found) == [("live.env", "passed", f"file:{ENV}", "16 keys present, required ones non-empty", "", "", "",
                            "", "")]


# --- file modes and owners ------------------------------------------------------------------------

def test_file_problems_name_every_difference():
    state = FileState("/x", True, "file", "0640", "app", "staff")
    assert file_problems(state, "0600", "root", "root") == [
        ("has another mode", "mode 0600", "mode 0640"),
        ("has another owner", "owner root", "owner app"),
        ("has another group", "group root", "group staff"),
    ]
    assert file_problems(state, "640", "app", "staff") == []  # modes compare as numbers
    assert file_problems(state, None, None, None) == []
    assert file_problems(dataclasses.replace(state, mode=None), "0600", "app", "staff") == []  # mode unknown
    assert file_problems(state, "0755", None, "staff") == [("has another mode", "mode 0755", "mode 0640")]
    assert file_problems(None, "0600", "root", "root") == [("could not be read", "readable", "unknown")]
    assert file_problems(FileState("/x", False, hidden=True), "0600", None, None) == [
        ("could not be read", "readable", "unknown")]
    assert file_problems(FileState("/x", False), "0600", "root", "root") == [("is missing", "present", "missing")]
    assert file_problems(FileState("/x", True, "file", "600", "root", "root"), "0600", "root", "root") == []


def test_the_env_file_keeps_its_mode_and_owner(view):
    loose = with_file(view, ENV, mode="0644", owner="deploy")
    assert said(env_file_private(loose)) == [
        ("live.env_file", "failed", f"file:{ENV}", f"{ENV} has another mode", "deploy again (mooring deploy) to restore it",
         "", "", "mode 0600", "mode 0644"),
        ("live.env_file", "failed", f"file:{ENV}", f"{ENV} has another owner",
         "deploy again (mooring deploy) to restore it", "", "", "owner root", "owner deploy"),
    ]
    [group] = env_file_private(with_file(view, ENV, group="deploy"))
    assert (group.message, group.expected, group.actual) == (f"{ENV} has another group", "group root", "group deploy")
    assert said(env_file_private(with_file(view, ENV, exists=False))) == [
        ("live.env_file", "failed", f"file:{ENV}", f"{ENV} is missing", "deploy again (mooring deploy) to restore it", "",
         "", "present", "missing")]


def test_the_compose_file_is_compared_byte_for_byte(view):
    import hashlib

    digest = hashlib.sha256(view.rendered.file(COMPOSE).content.encode()).hexdigest()
    assert said(compose_file_as_declared(with_file(view, COMPOSE, sha256="f" * 64))) == [
        ("live.compose_file", "failed", f"file:{COMPOSE}", "the compose file differs from the declared one",
         "deploy again (mooring deploy)", "", "", f"sha256 {digest[:12]}", "sha256 ffffffffffff")]
    [unknown] = compose_file_as_declared(with_file(view, COMPOSE, sha256=None))
    assert unknown.actual == "sha256 unknown"
    missing = [("live.compose_file", "failed", f"file:{COMPOSE}", "the compose file is missing",
                "deploy the stack (mooring deploy)", "", "", "present", "missing")]
    assert said(compose_file_as_declared(with_file(view, COMPOSE, exists=False))) == missing
    assert said(compose_file_as_declared(with_file(view, COMPOSE, drop=True))) == missing


# --- services -------------------------------------------------------------------------------------

def test_a_service_without_container_or_stopped(view):
    gone = with_snapshot(view, services=tuple(s for s in view.snapshot.services if s.service != "api"))
    found = services_running(gone)
    assert said(found) == [("live.services", "failed", "service:api", "api has no container", DEPLOY,
                            "stack.services.api", view.model.merged.file_of("stack.services.api"), "running", "absent")]
    files_of(view, found)
    stopped = with_service(view, "redis", state="exited", exit_code=0)
    assert said(services_running(stopped)) == [
        ("live.services", "failed", "service:redis", "redis is exited",
         "start it (mooring deploy), and read why it stopped: docker logs solacore-redis-1", "stack.services.redis",
         view.model.merged.file_of("stack.services.redis"), "running", "exited")]


def test_a_finished_one_shot_job_is_fine_but_not_a_failed_one(world):
    data = world.read("all.yml")
    set_path(data, "stack.services.redis.restart", "no")
    world.write("all.yml", data)
    view = healthy_view()
    assert [f.outcome for f in services_running(with_service(view, "redis", state="exited", exit_code=0))] == [
        Outcome.PASSED]
    [failed] = services_running(with_service(view, "redis", state="exited", exit_code=1))
    assert (failed.outcome, failed.message) == (Outcome.FAILED, "redis is exited")
    [other] = services_running(with_service(view, "redis", state="dead", exit_code=0))
    assert other.message == "redis is dead"
    [none] = services_running(with_service(view, "redis", state="exited", exit_code=None))
    assert none.message == "redis is exited"


@pytest.mark.parametrize(("health", "outcome"), [("starting", "warning"), ("unhealthy", "failed"), ("none", "failed")])
def test_health_of_a_service_with_a_healthcheck(view, health, outcome):
    assert said(services_running(with_service(view, "db", health=health))) == [
        ("live.services", outcome, "service:db", f"db is {health}",
         "read its healthcheck log: docker inspect solacore-db-1", "stack.services.db",
         view.model.merged.file_of("stack.services.db"), "healthy", health)]


def test_a_service_without_healthcheck_needs_no_health(view):
    assert [f.outcome for f in services_running(with_service(view, "nginx", health="none"))] == [Outcome.PASSED]


def test_a_stale_or_missing_image(view):
    stale = with_service(view, "api", image_id="sha256:" + "0" * 64)
    found = services_running(stale)
    assert said(found) == [
        ("live.services", "failed", "service:api", "api runs another image than mooring/api:1.0.0 names now (stale)",
         "deploy again (mooring deploy) to recreate it", "stack.services.api.image",
         view.model.merged.file_of("stack.services.api.image"), view.snapshot.image_id("mooring/api:1.0.0")[:19],
         "sha256:000000000000")]
    assert len(found[0].expected) == 19
    no_image = with_snapshot(view, images=tuple(i for i in view.snapshot.images if "api" not in i.tags[0]))
    assert said(services_running(no_image)) == [
        ("live.services", "failed", "service:api", "the host has no image mooring/api:1.0.0", DEPLOY,
         "stack.services.api.image", view.model.merged.file_of("stack.services.api.image"), "mooring/api:1.0.0",
         "missing")]


def test_a_one_off_container_is_not_the_service(view):
    oneoff = dataclasses.replace(view.snapshot.services[0], oneoff=True, state="exited")
    first = with_snapshot(view, services=(oneoff, *view.snapshot.services))
    assert [f.outcome for f in services_running(first)] == [Outcome.PASSED]


def test_an_unhealthy_service_on_a_stale_image_gets_both(view):
    both = with_service(view, "db", health="unhealthy", image_id="sha256:1")
    assert [f.message for f in services_running(both)] == [
        "db is unhealthy", "db runs another image than mooring/postgres:15 names now (stale)"]


# --- mounts ---------------------------------------------------------------------------------------

def test_read_only_sources_keep_their_ownership(view):
    source = "/srv/mooring/solacore/nginx/conf.d"
    found = read_only_sources(with_file(view, source, mode="0777", group="www"))
    assert said(found) == [
        ("live.mounts", "failed", f"file:{source}", f"{source} (read-only in nginx) has another mode", DEPLOY,
         "stack.services.nginx.volumes.0", view.model.merged.file_of("stack.services.nginx.volumes.0"), "mode 0755",
         "mode 0777"),
        ("live.mounts", "failed", f"file:{source}", f"{source} (read-only in nginx) has another group", DEPLOY,
         "stack.services.nginx.volumes.0", view.model.merged.file_of("stack.services.nginx.volumes.0"), "group root",
         "group www"),
    ]
    [gone] = read_only_sources(with_file(view, source, drop=True))
    assert (gone.message, gone.expected, gone.actual) == (f"{source} (read-only in nginx) could not be read", "readable",
                                                          "unknown")


def test_writable_binds_and_volumes_are_not_checked(world):
    data = world.read("all.yml")
    data["stack"]["services"]["nginx"]["volumes"][0]["read_only"] = False
    world.write("all.yml", data)
    view = healthy_view()
    assert said(read_only_sources(with_file(view, "/srv/mooring/solacore/nginx/conf.d", drop=True))) == [
        ("live.mounts", "passed", "mounts", "0 read-only sources as declared", "", "", "", "", "")]


def test_the_mount_number_is_its_place_among_all_volumes(world):
    data = world.read("all.yml")
    volumes = data["stack"]["services"]["nginx"]["volumes"]
    extra = dict(volumes[0], source="${STACK_DIR}/nginx/extra", target="/etc/extra")
    data["stack"]["services"]["nginx"]["volumes"] = [dict(volumes[0], read_only=False), extra]
    world.write("all.yml", data)
    view = with_file(healthy_view(), "/srv/mooring/solacore/nginx/extra", exists=False)
    [found] = read_only_sources(view)
    assert found.message == "/srv/mooring/solacore/nginx/extra (read-only in nginx) is missing"
    assert (found.path, found.resource) == ("stack.services.nginx.volumes.1", "file:/srv/mooring/solacore/nginx/extra")


# --- backups --------------------------------------------------------------------------------------

def test_the_backup_cron_file_and_daemon(view):
    unread = with_snapshot(view, cron=(CronState(CRON, "missing"),), cron_daemon="stopped")
    assert said(backup_cron(unread)) == [
        ("live.backups.cron", "failed", f"cron:{CRON}", "the backup cron file is missing", DEPLOY, "stack.backups",
         view.model.merged.file_of("stack.backups"), "present", "missing"),
        ("live.backups.cron", "failed", "daemon:cron", "the cron daemon is stopped: no backup will run",
         "start it: systemctl start cron", "", "", "running", "stopped"),
    ]
    other = with_snapshot(view, cron=(CronState("/etc/cron.d/other", "read"),))
    assert said(backup_cron(other)) == [
        ("live.backups.cron", "failed", f"cron:{CRON}", "the backup cron file is not read", DEPLOY, "stack.backups",
         view.model.merged.file_of("stack.backups"), "present", "unknown")]
    assert [f.outcome for f in backup_cron(with_snapshot(view, cron_daemon="unknown"))] == [Outcome.FAILED]


def without_backups(world) -> HostView:
    data = world.read("all.yml")
    set_path(data, "stack.backups.enabled", False)
    world.write("all.yml", data)
    return healthy_view()


def test_backup_rules_say_nothing_without_backups(world):
    view = without_backups(world)
    broken = with_snapshot(view, cron=(), cron_daemon="stopped", backups=BackupState("missing"),
                           metrics=MetricsState("/m", "read", ("mooring_backup_consecutive_failures 3",)),
                           verify_metrics=MetricsState("/v", "read", ('mooring_backup_last_verify_success{stack="solacore"} 0',)))
    for rule in (backup_cron, backups_fresh, backup_metrics, backup_verify):
        assert rule(broken) == []


def test_a_backup_folder_not_listed(view):
    assert said(backups_fresh(with_snapshot(view, backups=BackupState("missing")))) == [
        ("live.backups.fresh", "failed", "backups:/var/backups/mooring/solacore", "the backup folder is missing", DEPLOY,
         "stack.backups.directory", view.model.merged.file_of("stack.backups.directory"), "present", "missing")]


def dumps_view(view: HostView, *ages: int, cron_age: int | None = 30 * DAY, keep_newest: int | None = None) -> HostView:
    stack = view.stack
    files = tuple(BackupFile(f"solacore__readme_to_recover_2033{index:04d}T020000Z.sql.gz", "f", 10, NOW - age)
                  for index, age in enumerate(sorted(ages, reverse=True)))
    changed = with_snapshot(view, backups=BackupState("listed", files))
    if cron_age is None:
        return with_file(changed, cron_file_path(stack), drop=True)
    return with_file(changed, cron_file_path(stack), mtime=NOW - cron_age)


def test_no_dump_yet_fails_or_warns_by_the_cron_file_age(view):
    fix = "run the job now: mooring backup run, or wait for its schedule"
    assert said(backups_fresh(dumps_view(view, cron_age=BACKUP_MAX_AGE_S - 1))) == [
        ("live.backups.fresh", "warning", "backup:readme_to_recover",
         "no backup of readme_to_recover yet (the job was installed less than 26 h ago)", fix,
         "stack.backups.databases", view.model.merged.file_of("stack.backups.databases"), "a dump younger than 26 h",
         "none")]
    for cron_age in (BACKUP_MAX_AGE_S, BACKUP_MAX_AGE_S + 1, None):
        [found] = backups_fresh(dumps_view(view, cron_age=cron_age))
        assert (found.outcome, found.message) == (Outcome.FAILED, "no backup of readme_to_recover yet")
    [no_mtime] = backups_fresh(with_file(dumps_view(view), cron_file_path(view.stack), mtime=0))
    assert no_mtime.outcome is Outcome.FAILED


def test_a_dump_of_another_stack_or_database_does_not_count(view):
    other = BackupFile("solacore__readme_to_recover2_20330101T020000Z.sql.gz", "f", 10, NOW - HOUR)
    prefix_only = BackupFile("solacorex__readme_to_recover_20330101T020000Z.sql.gz", "f", 10, NOW - HOUR)
    [found] = backups_fresh(with_snapshot(view, backups=BackupState("listed", (other, prefix_only))))
    assert found.message == "no backup of readme_to_recover yet"


def test_the_newest_dump_must_be_younger_than_26_hours(view):
    assert [f.outcome for f in backups_fresh(dumps_view(view, 40 * HOUR, BACKUP_MAX_AGE_S))] == [Outcome.PASSED]
    [just] = backups_fresh(dumps_view(view, 40 * HOUR, BACKUP_MAX_AGE_S + 1))
    assert (just.outcome, just.actual) == (Outcome.FAILED, "26 h")
    found = backups_fresh(dumps_view(view, 40 * HOUR, BACKUP_MAX_AGE_S + HOUR))
    assert said(found) == [
        ("live.backups.fresh", "failed", "backup:readme_to_recover", "the newest backup of readme_to_recover is 27 h old",
         "read the job's log and run it: mooring backup run", "stack.backups",
         view.model.merged.file_of("stack.backups"), "younger than 26 h", "27 h")]


def test_unpruned_dumps_past_retention_plus_a_day(view):
    limit = (3 + 1) * DAY  # retention_days 3 in the sandbox
    assert [f.outcome for f in backups_fresh(dumps_view(view, limit, HOUR))] == [Outcome.PASSED]
    found = backups_fresh(dumps_view(view, limit + 1, limit + 2, HOUR))
    assert said(found) == [
        ("live.backups.fresh", "failed", "backup:readme_to_recover",
         "2 backups of readme_to_recover are older than retention (3 days) + 1 day: pruning does not run",
         "read the job's log (the prune runs after each dump)", "stack.backups.retention_days",
         view.model.merged.file_of("stack.backups.retention_days"), "none older", "2 older")]


def test_the_newest_kept_are_never_unpruned(world):
    data = world.read("sandbox.yml")
    set_path(data, "stack.backups.keep_newest", 2)
    world.write("sandbox.yml", data)
    view = healthy_view()
    old = 10 * DAY
    # all three are old: the two newest are kept whatever their age; the newest is stale (one finding)
    found = backups_fresh(dumps_view(view, old + 2, old + 1, old))
    assert [f.message for f in found] == [
        "the newest backup of readme_to_recover is 240 h old",
        "1 backups of readme_to_recover are older than retention (3 days) + 1 day: pruning does not run"]


def test_kept_dumps_are_the_newest_by_name_not_by_time(view):
    # the file named newest is the oldest on disk (a restored copy): it is the one kept
    files = (BackupFile("solacore__readme_to_recover_20330102T020000Z.sql.gz", "f", 10, NOW - 10 * DAY),
             BackupFile("solacore__readme_to_recover_20330101T020000Z.sql.gz", "f", 10, NOW - HOUR))
    found = backups_fresh(with_snapshot(view, backups=BackupState("listed", files)))
    assert [f.outcome for f in found] == [Outcome.PASSED]


def metrics_view(view: HostView, *lines: str, status: str = "read") -> HostView:
    return with_snapshot(view, metrics=MetricsState(METRICS, status, lines))


LABEL = '{stack="solacore"}'


def test_the_metrics_of_failed_and_stale_runs(view):
    found = backup_metrics(metrics_view(view, f"mooring_backup_consecutive_failures{LABEL} 2",
                                        f"mooring_backup_last_success_timestamp_seconds{LABEL} {NOW - 30 * HOUR}"))
    assert said(found) == [
        ("live.backups.metrics", "failed", f"file:{METRICS}", "the last 2 backup run(s) failed",
         "read the job's log (/var/log/mooring-solacore-backup.log), then run it: mooring backup run", "stack.backups",
         view.model.merged.file_of("stack.backups"), "0 consecutive failures", "2"),
        ("live.backups.metrics", "failed", f"file:{METRICS}", "the job's last success was 30 h ago",
         "run it: mooring backup run", "stack.backups", view.model.merged.file_of("stack.backups"), "within 26 h",
         "30 h ago"),
    ]
    [never] = backup_metrics(metrics_view(view, f"mooring_backup_consecutive_failures{LABEL} 0",
                                          f"mooring_backup_last_success_timestamp_seconds{LABEL} 0"))
    assert (never.message, never.actual) == ("the job's last success was never", "never")
    edge = metrics_view(view, f"mooring_backup_consecutive_failures{LABEL} 0",
                        f"mooring_backup_last_success_timestamp_seconds{LABEL} {NOW - BACKUP_MAX_AGE_S}")
    assert [f.outcome for f in backup_metrics(edge)] == [Outcome.PASSED]
    [late] = backup_metrics(metrics_view(view, f"mooring_backup_consecutive_failures{LABEL} 0",
                                         f"mooring_backup_last_success_timestamp_seconds{LABEL} {NOW - BACKUP_MAX_AGE_S - 1}"))
    assert late.message == "the job's last success was 26 h ago"


@pytest.mark.parametrize("lines", [
    (f"mooring_backup_consecutive_failures{LABEL} 0",),
    (f"mooring_backup_last_success_timestamp_seconds{LABEL} {NOW}",),
    ("mooring_backup_consecutive_failures 0", f"mooring_backup_last_success_timestamp_seconds {NOW}"),
])
def test_metrics_without_this_stacks_samples_warn(view, lines):
    assert said(backup_metrics(metrics_view(view, *lines))) == [
        ("live.backups.metrics", "warning", f"file:{METRICS}", "the metrics file lacks the job's samples",
         "run the job: mooring backup run", "stack.backups.metrics_dir",
         view.model.merged.file_of("stack.backups.metrics_dir"), "mooring_backup_* samples", "missing")]


def test_no_metrics_file_warns_only_when_dumps_exist(view):
    expected = [("live.backups.metrics", "warning", f"file:{METRICS}", "the backup job has written no metrics yet",
                 "deploy again (the job writes them from its next run)", "stack.backups.metrics_dir",
                 view.model.merged.file_of("stack.backups.metrics_dir"), "present", "missing")]
    assert said(backup_metrics(metrics_view(view, status="missing"))) == expected
    [unknown] = backup_metrics(with_snapshot(view, metrics=None))
    assert unknown.actual == "unknown"
    no_dumps = with_snapshot(view, metrics=None, backups=BackupState("listed"))
    assert backup_metrics(no_dumps) == []
    assert backup_metrics(with_snapshot(no_dumps, metrics=MetricsState(METRICS, "missing"))) == []
    assert backup_metrics_path(view.stack) == METRICS


DRILL = "/var/lib/prometheus/node-exporter/mooring-drill-solacore.prom"


def drill_view(world, *lines: str, schedule: str | None = None, cron_age: int = 30 * DAY,
               status: str = "read") -> HostView:
    if schedule:
        data = world.read("sandbox.yml")
        set_path(data, "stack.backups.verify_schedule", schedule)
        world.write("sandbox.yml", data)
    view = healthy_view()
    view = with_file(view, cron_file_path(view.stack), mtime=NOW - cron_age)
    return with_snapshot(view, verify_metrics=MetricsState(drill_metrics_path(view.stack), status, lines))


def test_a_failed_drill_and_a_good_one(world):
    found = backup_verify(drill_view(world, f"mooring_backup_last_verify_success{LABEL} 0",
                                     f"mooring_backup_last_verify_timestamp_seconds{LABEL} {NOW - HOUR}"))
    path = drill_metrics_path(model_for("sandbox").stack)
    assert said(found) == [
        ("live.backups.verify", "failed", f"file:{path}", "the last restore drill failed: a dump does not restore whole",
         "run it to see which dump and why: mooring backup verify", "stack.backups",
         found[0].file, "1 (restored whole)", "0")]
    assert found[0].file.endswith("all.yml")
    good = backup_verify(drill_view(world, f"mooring_backup_last_verify_success{LABEL} 1"))
    assert said(good) == [("live.backups.verify", "passed", f"file:{path}",
                           "the last restore drill restored every dump whole", "", "", "", "", "")]
    assert backup_verify(drill_view(world)) == []
    assert backup_verify(drill_view(world, f"mooring_backup_last_verify_success{LABEL} 0", status="missing")) == []


def test_a_scheduled_drill_is_late_after_its_longest_gap_plus_two_hours(world):
    weekly = "0 3 * * 0"
    limit = 7 * DAY + 2 * HOUR
    on_time = drill_view(world, f"mooring_backup_last_verify_success{LABEL} 1",
                         f"mooring_backup_last_verify_timestamp_seconds{LABEL} {NOW - limit}", schedule=weekly)
    assert [f.outcome for f in backup_verify(on_time)] == [Outcome.PASSED]
    late = drill_view(world, f"mooring_backup_last_verify_success{LABEL} 1",
                      f"mooring_backup_last_verify_timestamp_seconds{LABEL} {NOW - limit - HOUR}", schedule=weekly)
    [found] = backup_verify(late)
    assert said([found]) == [
        ("live.backups.verify", "failed", found.resource,
         f"the last restore drill ran 171 h ago; its schedule ({weekly}) runs it at least every 168 h",
         "read the drill's log and run it: mooring backup verify", "stack.backups.verify_schedule", found.file,
         "within 170 h", "171 h ago")]


def test_a_scheduled_drill_that_never_ran(world):
    weekly = "0 3 * * 0"
    young = backup_verify(drill_view(world, schedule=weekly, cron_age=7 * DAY + 2 * HOUR - 1))
    assert said(young) == [
        ("live.backups.verify", "warning", young[0].resource,
         "the scheduled restore drill has not run yet (installed less than one schedule period ago)",
         "run it now: mooring backup verify", "stack.backups.verify_schedule", young[0].file, "a drill within 170 h",
         "none")]
    [old] = backup_verify(drill_view(world, schedule=weekly, cron_age=7 * DAY + 2 * HOUR))
    assert (old.outcome, old.message) == (Outcome.FAILED, "the scheduled restore drill has not run yet")
    view = drill_view(world, schedule=weekly)
    [no_cron] = backup_verify(with_file(view, cron_file_path(view.stack), drop=True))
    assert no_cron.outcome is Outcome.FAILED
    [no_mtime] = backup_verify(with_file(view, cron_file_path(view.stack), mtime=None))
    assert no_mtime.outcome is Outcome.FAILED
    [failed_too] = [f for f in backup_verify(drill_view(world, f"mooring_backup_last_verify_success{LABEL} 0",
                                                        schedule=weekly)) if f.outcome is Outcome.WARNING] or [None]
    assert failed_too is None  # the cron file is 30 days old: never ran is a failure


def test_a_failed_drill_that_is_also_late_says_both(world):
    found = backup_verify(drill_view(world, f"mooring_backup_last_verify_success{LABEL} 0",
                                     f"mooring_backup_last_verify_timestamp_seconds{LABEL} {NOW - 30 * DAY}",
                                     schedule="0 3 * * *"))
    assert [(f.outcome.value, f.message) for f in found] == [
        ("failed", "the last restore drill failed: a dump does not restore whole"),
        ("failed", "the last restore drill ran 720 h ago; its schedule (0 3 * * *) runs it at least every 24 h")]
    assert found[1].expected == "within 26 h"


# --- releases -------------------------------------------------------------------------------------

def test_release_problems(view):
    unsettled = with_snapshot(view, release=ReleasePointer(None, "0004-x run-1", locked=True))
    assert said(release_settled(unsettled)) == [
        ("live.release", "failed", "release:current", "no release is current", "deploy the stack (mooring deploy)", "", "",
         "a release", "none"),
        ("live.release", "warning", "release:pending", "a deploy did not finish (a release is pending)",
         "deploy again: the next run finishes or rolls it back", "", "", "", ""),
        ("live.release", "warning", "release:lock", "a deploy lock is held",
         "wait for the deploy to end, or `mooring unlock` if its run is gone", "", "", "", ""),
    ]
    [locked] = release_settled(with_snapshot(view, release=ReleasePointer("0003-a", locked=True)))
    assert locked.resource == "release:lock"
    [pending] = release_settled(with_snapshot(view, release=ReleasePointer("0003-a", "0004-b r")))
    assert pending.resource == "release:pending"


def test_every_read_only_source_is_counted_and_its_owner_compared(world):
    data = world.read("all.yml")
    volumes = data["stack"]["services"]["nginx"]["volumes"]
    volumes.append(dict(volumes[0], source="${STACK_DIR}/nginx/extra", target="/etc/extra"))
    world.write("all.yml", data)
    view = healthy_view()
    assert said(read_only_sources(view)) == [
        ("live.mounts", "passed", "mounts", "2 read-only sources as declared", "", "", "", "", "")]
    [owner] = read_only_sources(with_file(view, "/srv/mooring/solacore/nginx/extra", owner="www-data"))
    assert (owner.message, owner.expected, owner.actual) == (
        "/srv/mooring/solacore/nginx/extra (read-only in nginx) has another owner", "owner root", "owner www-data")


def test_each_service_is_judged_whatever_the_one_before_it(world):
    data = world.read("all.yml")
    data["stack"]["services"]["api"]["restart"] = "no"
    world.write("all.yml", data)
    view = healthy_view()
    finished = with_service(view, "api", state="exited", exit_code=0)  # api: a finished one-shot job
    assert [f.message for f in services_running(with_service(finished, "db", health="unhealthy"))] == ["db is unhealthy"]
    stopped = with_service(with_service(view, "api", state="exited", exit_code=3), "redis", health="unhealthy")
    assert [f.message for f in services_running(stopped)] == ["api is exited", "redis is unhealthy"]
    gone = with_snapshot(view, services=tuple(s for s in view.snapshot.services if s.service != "api"))
    assert [f.message for f in services_running(with_service(gone, "db", health="unhealthy"))] == [
        "api has no container", "db is unhealthy"]


def test_a_database_without_dumps_does_not_stop_the_next_one(world):
    data = world.read("sandbox.yml")
    set_path(data, "stack.backups.databases", ["first_db", "readme_to_recover"])
    world.write("sandbox.yml", data)
    view = dumps_view(healthy_view(), 99000)  # 27.5 h
    assert [(f.resource, f.message, f.actual) for f in backups_fresh(view)] == [
        ("backup:first_db", "no backup of first_db yet", "none"),
        ("backup:readme_to_recover", "the newest backup of readme_to_recover is 28 h old", "28 h")]


def test_metrics_of_one_failed_run_and_ages_in_whole_hours(view):
    [one] = backup_metrics(metrics_view(view, f"mooring_backup_consecutive_failures{LABEL} 1",
                                        f"mooring_backup_last_success_timestamp_seconds{LABEL} {NOW - HOUR}"))
    assert (one.message, one.actual) == ("the last 1 backup run(s) failed", "1")
    [late] = backup_metrics(metrics_view(view, f"mooring_backup_consecutive_failures{LABEL} 0",
                                         f"mooring_backup_last_success_timestamp_seconds{LABEL} {NOW - 99000}"))
    assert (late.message, late.actual) == ("the job's last success was 28 h ago", "28 h ago")
