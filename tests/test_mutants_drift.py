"""``mooring drift`` (checks/drift.py), host-free: a host deployed as declared
(tests/live_world.py), one thing moved on it, and exactly what the user then reads. Written for
the mutation run (docs/mutation.md)."""

from __future__ import annotations

import dataclasses
import hashlib

import pytest

from mooring.checks import drift
from mooring.checks.drift import DEPLOY_FIX, drift_findings
from mooring.checks.findings import Kind, Outcome
from mooring.checks.snapshot import EnvKey, EnvState, keyed_digest, snapshot_key
from tests.live_world import KEY, healthy_view, said, with_file, with_service, with_snapshot

ENV = "/srv/mooring/solacore/.env"
COMPOSE = "/srv/mooring/solacore/compose.yml"
CONF = "/srv/mooring/solacore/nginx/conf.d/default.conf"


@pytest.fixture
def view(world):
    return healthy_view()


def drifted(view, **kwargs):
    """Only the drift comparisons' findings (the live rules that run beside them left out)."""
    kwargs.setdefault("key", KEY)
    kwargs.setdefault("config_digests", {})
    return [f for f in drift_findings(view, **kwargs) if f.check.startswith("drift.")]


def test_a_host_as_declared_has_no_drift_and_every_finding_is_of_kind_drift(view):
    found = drift_findings(view, key=KEY, config_digests={})
    assert said([f for f in found if f.check.startswith("drift.")]) == [
        ("drift.file", "passed", "files", "7 files, 4 folders as declared", "", "", "", "", ""),
        ("drift.env", "passed", f"file:{ENV}", "every key as declared", "", "", "", "", ""),
    ]
    assert all(f.kind is Kind.DRIFT for f in found)
    assert all(f.outcome is Outcome.PASSED for f in found)
    live = sorted(f.check for f in found if not f.check.startswith("drift."))
    assert live == ["live.backups.cron", "live.backups.fresh", "live.backups.metrics", "live.engine", "live.env",
                    "live.mounts", "live.release", "live.services", "live.snapshot"]  # only those marked for drift


def test_the_default_key_is_the_hosts_snapshot_key(view, monkeypatch):
    real = snapshot_key(view.model.name, view.stack.dir)
    host = with_snapshot(view, key_check=dataclasses.replace(healthy_view().snapshot).key_check)
    # the healthy view holds KEY, not the controller's key: without key=, values are not compared
    found = drifted(host, key=None)
    assert [(f.check, f.outcome.value, f.message) for f in found][0] == (
        "drift.values", "warning",
        "secret values are not compared: the host's snapshot key is not this controller's (another digest key?)")
    from mooring.checks.snapshot import key_check_digest

    holding = with_snapshot(view, key_check=key_check_digest(real))
    monkeypatch.setattr(drift, "expected_config_digests", lambda stack, rendered, key: {})
    checks = [f.check for f in drifted(holding, key=None, config_digests=None)]
    assert "drift.values" not in checks and checks[0] == "drift.file"


def test_no_key_on_the_host_warns_and_compares_presence_only(view):
    keyless = with_snapshot(view, key_check=None, key="absent")
    found = drifted(keyless)
    assert said(found) == [
        ("drift.values", "warning", f"file:{ENV}", "secret values are not compared: the host holds no snapshot key yet",
         "deploy once from this controller (mooring deploy) to enable value comparison", "", "", "", ""),
        ("drift.file", "passed", "files", "7 files, 4 folders as declared", "", "", "", "", ""),
        ("drift.env", "passed", f"file:{ENV}", "every key present", "", "", "", "", ""),
    ]


def test_with_another_key_a_changed_secret_is_not_seen(view):
    other = with_file(with_snapshot(view, key_check="0" * 64), ENV, digest="f" * 64)
    other = with_snapshot(other, env=EnvState("read", tuple(dataclasses.replace(k, digest="x")
                                                            for k in other.snapshot.env.keys)))
    assert [f.check for f in drifted(other)] == ["drift.values", "drift.file", "drift.env"]
    assert [f.outcome for f in drifted(other)] == [Outcome.WARNING, Outcome.PASSED, Outcome.PASSED]


def test_folder_and_file_ownership_and_presence(view):
    moved = with_file(with_file(view, "/srv/mooring/solacore/bin", mode="0777"), CONF, owner="www-data",
                      group="www-data")
    assert said(drifted(moved)) == [
        ("drift.file", "failed", "dir:/srv/mooring/solacore/bin", "/srv/mooring/solacore/bin has another mode",
         DEPLOY_FIX, "", "", "mode 0755", "mode 0777"),
        ("drift.file", "failed", f"file:{CONF}", f"{CONF} has another owner", DEPLOY_FIX, "", "", "owner root",
         "owner www-data"),
        ("drift.file", "failed", f"file:{CONF}", f"{CONF} has another group", DEPLOY_FIX, "", "", "group root",
         "group www-data"),
        ("drift.env", "passed", f"file:{ENV}", "every key as declared", "", "", "", "", ""),
    ]
    gone = drifted(with_file(view, CONF, exists=False, sha256=None))
    assert said(gone)[0] == ("drift.file", "failed", f"file:{CONF}", f"{CONF} is missing", DEPLOY_FIX, "", "", "present",
                             "missing")
    assert len(gone) == 2  # a missing file is not also "differs"
    hidden = drifted(with_file(view, CONF, exists=False, hidden=True, sha256=None))
    assert [(f.message, f.actual) for f in hidden][0] == (f"{CONF} could not be read", "unknown") and len(hidden) == 2


def test_a_changed_public_file_shows_both_digests(view):
    digest = hashlib.sha256(view.rendered.file(CONF).content.encode()).hexdigest()
    found = drifted(with_file(view, CONF, sha256="a" * 64))
    assert said(found)[0] == ("drift.file", "failed", f"file:{CONF}", f"{CONF} differs from the declared content",
                              DEPLOY_FIX, "", "", f"sha256 {digest[:12]}", "sha256 aaaaaaaaaaaa")
    [unknown, _env] = drifted(with_file(view, CONF, sha256=None))
    assert unknown.actual == "sha256 unknown"


def test_a_changed_secret_file_is_named_never_shown(view):
    found = drifted(with_file(view, ENV, digest=keyed_digest(KEY, b"JWT_SECRET=other\n")))
    assert said(found)[0] == ("drift.file", "failed", f"file:{ENV}",
                              f"{ENV} differs from the declared content (a secret file: not shown)", DEPLOY_FIX, "", "",
                              "as rendered", "differs")
    # no digest from the host (unreadable, or no key there): nothing to compare, no finding
    assert [f.outcome for f in drifted(with_file(view, ENV, digest=None))] == [Outcome.PASSED, Outcome.PASSED]
    # a secret file never falls through to the public sha256 comparison
    assert [f.outcome for f in drifted(with_file(view, ENV, sha256="0" * 64))] == [Outcome.PASSED, Outcome.PASSED]


def env_view(view, keys):
    return with_snapshot(view, env=EnvState("read", tuple(keys)))


def test_env_keys_empty_changed_or_undeclared(view):
    keys = list(view.snapshot.env.keys)
    changed = [dataclasses.replace(k, empty=True) if k.key == "JWT_SECRET" else
               dataclasses.replace(k, digest=keyed_digest(KEY, "PORT=9")) if k.key == "PORT" else k for k in keys]
    changed.append(EnvKey("EXTRA", 99, False, "d"))
    found = drifted(env_view(view, changed))
    merged = view.model.merged
    assert said(found) == [
        ("drift.file", "passed", "files", "7 files, 4 folders as declared", "", "", "", "", ""),
        ("drift.env", "failed", "env:JWT_SECRET", "JWT_SECRET is empty on the host", DEPLOY_FIX, "stack.env.JWT_SECRET",
         merged.file_of("stack.env.JWT_SECRET"), "as declared", "empty"),
        ("drift.env", "failed", "env:PORT", "PORT holds another value on the host (not shown)", DEPLOY_FIX,
         "stack.env.PORT", merged.file_of("stack.env.PORT"), "as declared", "differs"),
        ("drift.env", "failed", "env:EXTRA", "EXTRA is in the host's .env but not declared", DEPLOY_FIX, "", "", "absent",
         "present"),
    ]
    assert found[1].file.endswith(".yml")


def test_env_keys_missing_are_the_live_rules_and_unread_env_says_nothing(view):
    keys = [k for k in view.snapshot.env.keys if k.key != "PORT"]
    assert [f.outcome for f in drifted(env_view(view, keys))] == [Outcome.PASSED, Outcome.PASSED]
    assert [f.check for f in drifted(with_snapshot(view, env=EnvState("missing")))] == ["drift.file"]


def test_an_empty_key_declared_empty_is_no_drift(world):
    from tests.declared_world import set_path

    data = world.read("sandbox.yml")
    set_path(data, "stack.env.APP_VERSION", "")
    world.write("sandbox.yml", data)
    view = healthy_view()
    assert [k.empty for k in view.snapshot.env.keys if k.key == "APP_VERSION"] == [True]
    assert [f.outcome for f in drifted(view)] == [Outcome.PASSED, Outcome.PASSED]
    # without a key to compare, a value that differs cannot be seen
    keys = [dataclasses.replace(k, digest="x") for k in view.snapshot.env.keys]
    assert [f.outcome for f in drifted(env_view(with_snapshot(view, key_check=None), keys))] == [
        Outcome.WARNING, Outcome.PASSED, Outcome.PASSED]


def test_a_container_from_another_configuration_is_stale(view):
    stale = with_service(view, "api", config="keyed", config_digest="old")
    stale = with_service(stale, "db", config="keyed", config_digest="same")
    found = drifted(stale, config_digests={"api": "new", "db": "same", "redis": "r"})
    assert said(found)[-1:] == [
        ("drift.service", "failed", "service:api", "api runs with another configuration than the declared one (stale)",
         "deploy again (mooring deploy) to recreate it", "stack.services.api",
         view.model.merged.file_of("stack.services.api"), "config as declared", "config differs")]
    assert [f.check for f in found] == ["drift.file", "drift.env", "drift.service"]
    # without a key on the host the digests are not compared at all
    assert [f.check for f in drifted(with_snapshot(stale, key_check=None), config_digests={"api": "new"})] == [
        "drift.values", "drift.file", "drift.env"]
    gone = with_snapshot(stale, services=tuple(s for s in stale.snapshot.services if s.service != "api"))
    assert [f.check for f in drifted(gone, config_digests={"api": "new"})] == ["drift.file", "drift.env"]


def test_config_digests_come_from_compose_unless_given(view, monkeypatch):
    seen = []

    def digests(stack, rendered, key):
        seen.append((stack.name, key))
        assert rendered is view.rendered
        return {"api": "new"}

    monkeypatch.setattr(drift, "expected_config_digests", digests)
    stale = with_service(view, "api", config="keyed", config_digest="old")
    assert [f.check for f in drifted(stale, config_digests=None)] == ["drift.file", "drift.env", "drift.service"]
    assert seen == [("solacore", KEY)]
    drifted(with_snapshot(stale, key_check=None), config_digests=None)
    assert len(seen) == 1  # not asked when nothing can be compared

    def broken(stack, rendered, key):
        raise RuntimeError("docker compose config failed (exit 15)")

    monkeypatch.setattr(drift, "expected_config_digests", broken)
    found = drifted(stale, config_digests=None)
    assert said(found) == [
        ("drift.file", "passed", "files", "7 files, 4 folders as declared", "", "", "", "", ""),
        ("drift.env", "passed", f"file:{ENV}", "every key as declared", "", "", "", "", ""),
        ("drift.service", "error", "services", "docker compose config failed (exit 15)",
         "run `mooring validate`: the rendered compose file must be valid", "", "", "", ""),
    ]


def test_every_folder_and_file_attribute_is_compared(view):
    folder = "/srv/mooring/solacore/bin"
    moved = with_file(with_file(view, folder, owner="deploy", group="staff"), CONF, mode="0600")
    assert [(f.resource, f.message, f.expected, f.actual) for f in drifted(moved) if f.outcome is Outcome.FAILED] == [
        (f"dir:{folder}", f"{folder} has another owner", "owner root", "owner deploy"),
        (f"dir:{folder}", f"{folder} has another group", "group root", "group staff"),
        (f"file:{CONF}", f"{CONF} has another mode", "mode 0644", "mode 0600"),
    ]


def test_a_key_missing_on_the_host_does_not_stop_the_comparison_of_the_next(view):
    keys = [k for k in view.snapshot.env.keys if k.key != "APP_VERSION"]  # the first key, in name order
    keys = [dataclasses.replace(k, digest="x") if k.key == "TRUSTED_PROXIES" else k for k in keys]  # the last
    assert [(f.resource, f.actual) for f in drifted(env_view(view, keys)) if f.check == "drift.env"] == [
        ("env:TRUSTED_PROXIES", "differs")]


def test_a_service_skipped_does_not_stop_the_comparison_of_the_next(view):
    stale = with_service(view, "redis", config="keyed", config_digest="old")  # api, db, nginx come first
    found = drifted(stale, config_digests={"redis": "new"})
    assert [(f.check, f.resource) for f in found] == [("drift.file", "files"), ("drift.env", f"file:{ENV}"),
                                                      ("drift.service", "service:redis")]
