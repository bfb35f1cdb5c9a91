"""Rollbacks on real docker boxes, through ``mooring deploy``: release bookkeeping that never marks
a good release failed (IDs recur), no secret value kept under releases/ even after a rotation, a
rollback restoring the good release's files with the secrets declared now, and one that cannot
(an undeclared secret) writing nothing. Split from tests/test_deploy_safety.py so that the two
run on separate xdist workers.
"""

from __future__ import annotations

import json

import pytest

from mooring.declare.secrets import parse_dotenv, quote_env_value
from tests.conftest import CANARY_DB, CANARY_JWT, SERVICES_SETTLED, ssh
from tests.safety import (  # noqa: F401 - stack and box are fixtures
    stack, box, STACK, RELEASES, FAST_FAILING_GATE, mooring, env_lines, env_mode, listing, current,
    assert_consistent, healthy, overrides, ROTATED_JWT, ROTATED, box_bytes, releases_content, holds_any,
    api_env_has, containers, wait_on_box,
)

pytestmark = [pytest.mark.boxes, pytest.mark.slow]


def test_rollback_marks_the_failed_release_by_number_when_ids_recur(box, tmp_path):
    """A (declared), B, then A again with a failing probe: only the new number is marked failed."""
    a = current(box)
    out = mooring("deploy", "sandbox", "--limit", box.name,
                  group_data=overrides(tmp_path / "b", box, "  env:\n    APP_VERSION: 1.0.0-b\n"))
    assert out.returncode == 0, out.stdout
    b = current(box)
    failing = FAST_FAILING_GATE.replace("expected_status: 200", "expected_status: 299")
    target = tmp_path / "a-again.json"
    out = mooring("deploy", "sandbox", "--limit", box.name, "--json", str(target),
                  group_data=overrides(tmp_path / "a2", box, failing))
    assert out.returncode == 1, out.stdout
    host = json.loads(target.read_text())["hosts"][0]
    assert host["release_id"] == a[5:] and host["outcome"] == "rolled_back"
    names = listing(box)
    assert a in names and b in names, names  # the good release with the recurring ID is untouched
    assert f"{host['release']:04d}-{a[5:]}-failed" in names
    assert current(box) == b


def test_status_and_releases_read_the_records_of_a_good_and_a_rolled_back_deploy(box, tmp_path, monkeypatch):
    """``mooring status`` names the current release with who deployed it, the services and the
    failed deploy after it; ``mooring releases`` lists both records from the host, one snapshot each."""
    monkeypatch.setenv("MOORING_OPERATOR", "status-test-operator")
    before = current(box)
    out = mooring("deploy", "sandbox", "--limit", box.name, "--json", "-",
                  group_data=overrides(tmp_path / "good", box, "  env:\n    APP_VERSION: 1.0.0-status\n"))
    assert out.returncode == 0, out.stderr[-3000:]
    good = current(box)
    assert json.loads(out.stdout)["hosts"][0]["release_dirname"] == good  # with '-', stdout is only JSON
    failing = FAST_FAILING_GATE.replace("expected_status: 200", "expected_status: 299")
    out = mooring("deploy", "sandbox", "--limit", box.name, group_data=overrides(tmp_path / "bad", box, failing))
    assert out.returncode == 1, out.stdout
    # the rollback's gate is HTTP only: the restarted api's first health check may not have run yet
    assert wait_on_box(box, SERVICES_SETTLED, timeout=60)

    status = mooring("status", "sandbox", "--limit", box.name, "--json", "-")
    assert status.returncode == 0, status.stderr[-3000:]
    [host] = json.loads(status.stdout)["hosts"]
    now, last = host["details"]["current"], host["details"]["last_deploy"]
    assert now["release_dirname"] == good and now["operator"] == "status-test-operator" and now["outcome"] == "deployed"
    assert last["failed"] and last["outcome"] == "rolled_back" and last["release"] > now["release"], last
    states = {s["service"]: (s["state"], s["health"]) for s in host["details"]["services"]}
    assert states["api"] == ("running", "healthy") and states["db"] == ("running", "healthy"), states
    assert f"release {now['release']} ({good})" in status.stderr and "by status-test-operator: deployed" in status.stderr
    assert f"WARNING  status.last_deploy: release:{last['release']}: newer than the current release" in status.stderr
    assert host["details"]["rollback_target"]["release_dirname"] == before  # what `good` replaced
    assert f"mooring rollback restores release {int(before[:4])} ({before})" in status.stderr

    releases = mooring("releases", "sandbox", "--limit", box.name, "--json", "-")
    assert releases.returncode == 0, releases.stderr[-3000:]
    history = json.loads(releases.stdout)["hosts"][0]["details"]["releases"]
    kept = sorted(name for name in listing(box) if name[:4].isdigit())
    assert [e["release_dirname"] for e in history] == kept  # oldest first: folder names sort by number
    assert [e["release_dirname"] for e in history if e["rollback_target"]] == [before]
    assert {e["release_dirname"]: e["replaces"] for e in history}[good] == int(before[:4])
    assert [e["current"] for e in history].count(True) == 1
    assert {e["release_dirname"]: e["outcome"] for e in history}[last["release_dirname"]] == "rolled_back"


def test_rollback_on_demand_restores_the_previous_release_gated_recorded_and_twice_changes_nothing(box, tmp_path):
    """``mooring rollback``: A (declared), B0 deployed and rolled back from, B deployed, C failed its
    gate; a rollback restores A, the release B replaced (not B0, newer but rejected), with its env
    in the api container, passes the gate, records, unlocks; the same rollback again restarts
    nothing; the failed C is refused unless forced; a release that is not kept and a foreign lock
    are refused without touching the host."""
    a = current(box)  # the declared state (the box fixture's), then B0, rolled back from, then B
    [a_version] = [line.partition("=")[2] for line in env_lines(box) if line.startswith("APP_VERSION=")]
    out = mooring("deploy", "sandbox", "--limit", box.name,
                  group_data=overrides(tmp_path / "b0", box, "  env:\n    APP_VERSION: 1.0.0-rb-b0\n"))
    assert out.returncode == 0, out.stdout
    b0 = current(box)
    out = mooring("rollback", "sandbox", "--limit", box.name)
    assert out.returncode == 0 and current(box) == a and b0 in listing(box), out.stdout + out.stderr[-3000:]
    out = mooring("deploy", "sandbox", "--limit", box.name,
                  group_data=overrides(tmp_path / "b", box, "  env:\n    APP_VERSION: 1.0.0-rb-b\n"))
    assert out.returncode == 0, out.stdout
    records_before = set(ssh(box, f"ls {STACK}/.mooring/rollbacks/ 2>/dev/null").stdout.split())
    failing = FAST_FAILING_GATE.replace("expected_status: 200", "expected_status: 299")
    failing += "  env:\n    APP_VERSION: 1.0.0-rb-c\n"
    out = mooring("deploy", "sandbox", "--limit", box.name, group_data=overrides(tmp_path / "c", box, failing))
    assert out.returncode == 1, out.stdout
    [c_failed] = [n for n in listing(box) if n.endswith("-failed") and n[:4] > a[:4]][-1:]
    current_before = current(box)
    status = mooring("status", "sandbox", "--limit", box.name, "--json", "-")  # what it says rollback restores
    assert json.loads(status.stdout)["hosts"][0]["details"]["rollback_target"]["release_dirname"] == a
    target = tmp_path / "rollback.json"
    out = mooring("rollback", "sandbox", "--limit", box.name, "--json", str(target))
    assert out.returncode == 0, out.stdout + out.stderr[-3000:]
    [host] = json.loads(target.read_text())["hosts"]
    assert host["outcome"] == "rolled_back" and host["rolled_back_to"] == int(a[:4]), host
    assert host["gate"] and all(p["ok"] for p in host["gate"]), host["gate"]
    # B ran the stack's migration command: rolling back past it says that the schema stays.
    assert [w for w in host["warnings"] if f"release {int(current_before[:4])} ran its database migrations" in w]
    assert current(box) == a and api_env_has(box, "APP_VERSION", a_version.strip("'\"")) and healthy(box)
    assert_consistent(box)  # unlocked, nothing pending or half-written
    [record] = set(ssh(box, f"ls {STACK}/.mooring/rollbacks/").stdout.split()) - records_before
    assert json.loads(ssh(box, f"cat {STACK}/.mooring/rollbacks/{record}").stdout)["rolled_back_to"] == int(a[:4])

    before = containers(box)
    again = mooring("rollback", "sandbox", "--limit", box.name, "--to", a[:4].lstrip("0"))
    assert again.returncode == 0, again.stdout + again.stderr[-3000:]
    assert containers(box) == before, "a second rollback to the same release restarted containers"

    c_number = c_failed[:4].lstrip("0")
    refused = mooring("rollback", "sandbox", "--limit", box.name, "--to", c_number)
    assert refused.returncode == 1 and f"release {c_number} failed its health gate" in refused.stdout, refused.stdout
    assert current(box) == a and c_failed in listing(box)
    forced = mooring("rollback", "sandbox", "--limit", box.name, "--to", c_number, "--force", "--json", "-")
    assert forced.returncode == 0, forced.stdout + forced.stderr[-3000:]
    assert json.loads(forced.stdout)["hosts"][0]["rolled_back_to"] == int(c_number)  # stdout is only JSON
    c = c_failed.removesuffix("-failed")
    assert current(box) == c and c_failed not in listing(box) and api_env_has(box, "APP_VERSION", "1.0.0-rb-c")
    assert_consistent(box)

    missing = mooring("rollback", "sandbox", "--limit", box.name, "--to", "9999")
    assert missing.returncode == 1 and "release 9999 is not kept" in missing.stdout, missing.stdout
    assert current(box) == c
    assert_consistent(box)

    owner = {"run": "f0reign", "operator": "ana", "controller": "elsewhere", "pids": [1], "command": "mooring deploy",
             "started": "2026-11-27T10:00:00+00:00"}
    ssh(box, f"mkdir -p {STACK}/.mooring/lock && echo '{json.dumps(owner)}' > {STACK}/.mooring/lock/owner")
    try:
        locked = mooring("rollback", "sandbox", "--limit", box.name)
        assert locked.returncode == 1 and "another deploy holds the lock" in locked.stdout, locked.stdout
        assert "ana@elsewhere" in locked.stdout and current(box) == c
        assert ssh(box, f"cat {STACK}/.mooring/lock/owner").stdout.strip() == json.dumps(owner)  # not broken
    finally:
        ssh(box, f"rm -rf {STACK}/.mooring/lock")


def test_no_release_keeps_a_secret_value_even_after_a_rotation(box, tmp_path):
    """Item 11: releases keep their secret files masked; an old release's secret-files.tar.gz (from
    an older mooring, holding the old .env) is removed by the next run under the lock; a second
    converge changes nothing."""
    now = current(box)
    ssh(box, f"cd / && tar -czf {RELEASES}/{now}/secret-files.tar.gz {STACK.lstrip('/')}/.env", check=True)
    assert holds_any(releases_content(box), CANARY_JWT), "the scan must see inside archives"

    data = overrides(tmp_path, box, "  env:\n    APP_VERSION: 1.0.0-rotated\n")
    out = mooring("deploy", "sandbox", "--limit", box.name, group_data=data, secrets=ROTATED)
    assert out.returncode == 0, out.stdout + out.stderr[-3000:]
    rotated = current(box)
    assert rotated != now
    in_env = f"JWT_SECRET={quote_env_value(ROTATED_JWT)}" in env_lines(box)  # a bool: failures show no secret
    assert in_env, "the rotated secret is not in .env"
    assert_consistent(box)
    again = mooring("deploy", "sandbox", "--limit", box.name, "--json", str(tmp_path / "again.json"),
                    group_data=data, secrets=ROTATED)
    assert again.returncode == 0, again.stdout
    assert json.loads((tmp_path / "again.json").read_text())["hosts"][0]["changed_operations"] == []

    assert not holds_any(releases_content(box), CANARY_JWT, ROTATED_JWT, CANARY_DB), f"a secret is kept under {RELEASES}"
    assert ssh(box, f"ls {RELEASES}/*/secret-files.tar.gz 2>/dev/null").stdout == ""
    for name in (now, rotated):
        masked = json.loads(ssh(box, f"cat {RELEASES}/{name}/masked-files.json").stdout)["files"]
        assert [m["path"] for m in masked] == [f"{STACK}/.env"]
        assert "JWT_SECRET=@@mooring-secret:JWT_SECRET@@" in masked[0]["content"].splitlines()
    members = ssh(box, f"tar -tzf {RELEASES}/{rotated}/files.tar.gz").stdout.split()
    assert members and not [m for m in members if m.endswith(".env")], members


def test_a_rollback_to_a_release_an_older_mooring_kept_restores_its_other_files(box, tmp_path):
    """A release staged before releases were masked has no masked-files.json (and its
    secret-files.tar.gz is removed under the lock): the rollback restores its files without
    secrets, leaves the secret files as the failed release wrote them, and the host is healthy."""
    good = current(box)
    compose_before = ssh(box, f"sha256sum {STACK}/compose.yml").stdout
    masked, kept = f"{RELEASES}/{good}/masked-files.json", "/var/tmp/mooring-test-masked-files.json"
    ssh(box, f"mv {masked} {kept} && cd / && "
             f"tar -czf {RELEASES}/{good}/secret-files.tar.gz {STACK.lstrip('/')}/.env", check=True)
    try:
        _roll_back_to_a_release_without_masked_files(box, tmp_path, good, compose_before)
    finally:  # the good release is the next test's rollback target: give it back its masked files
        ssh(box, f"mv {kept} {masked}", check=True)


def _roll_back_to_a_release_without_masked_files(box, tmp_path, good: str, compose_before: str) -> None:
    failing = FAST_FAILING_GATE.replace("expected_status: 200", "expected_status: 299")
    target = tmp_path / "out.json"
    data = overrides(tmp_path, box, "  env:\n    APP_VERSION: 1.0.0-after-upgrade\n"
                                    "  services:\n    api:\n      restart: on-failure\n" + failing)
    out = mooring("-v", "deploy", "sandbox", "--limit", box.name, "--json", str(target), group_data=data)
    assert out.returncode == 1, out.stdout
    host = json.loads(target.read_text())["hosts"][0]
    assert host["outcome"] == "rolled_back" and host["rolled_back_to"] == int(good[:4]), host
    assert f"release {good} keeps no masked secret files" in out.stdout + out.stderr
    assert ssh(box, f"sha256sum {STACK}/compose.yml").stdout == compose_before
    assert "APP_VERSION=1.0.0-after-upgrade" in env_lines(box)  # the secret files stay as they were
    assert ssh(box, f"ls {RELEASES}/*/secret-files.tar.gz 2>/dev/null").stdout == ""
    assert current(box) == good and healthy(box)
    assert_consistent(box)


def test_the_snapshot_key_is_written_private_and_left_alone_by_the_next_run(box, tmp_path):
    from mooring.checks.snapshot import snapshot_key

    key = f"{STACK}/.mooring/snapshot.key"
    ssh(box, f"rm -f {key}", check=True)
    first = mooring("deploy", "sandbox", "--limit", box.name, "--json", str(tmp_path / "first.json"))
    assert first.returncode == 0, first.stdout
    assert json.loads((tmp_path / "first.json").read_text())["hosts"][0]["changed_operations"] == [
        f"Stack | Secret file {key}"]
    assert ssh(box, f"stat -c '%U %G %a' {key}").stdout.strip() == "root root 600"
    same = box_bytes(box, f"cat {key}") == snapshot_key(box.name, STACK)  # a bool: failures show no key
    assert same, "the host's key is not the controller's snapshot_key(host, stack dir)"
    again = mooring("deploy", "sandbox", "--limit", box.name, "--json", str(tmp_path / "again.json"))
    assert json.loads((tmp_path / "again.json").read_text())["hosts"][0]["changed_operations"] == []
    assert_consistent(box)


def test_a_failed_release_rolls_back_with_the_secrets_declared_now(box, tmp_path):
    """The release that failed rotated a secret: the rollback restores the good release's
    non-secret files and .env values, with the rotated secret (the revoked one never comes back)."""
    good, before = current(box), env_lines(box)
    compose_before = ssh(box, f"sha256sum {STACK}/compose.yml").stdout
    failing = FAST_FAILING_GATE.replace("expected_status: 200", "expected_status: 299")
    target = tmp_path / "out.json"
    data = overrides(tmp_path, box, "  env:\n    APP_VERSION: 1.0.0-rotated-failing\n"
                                    "  services:\n    api:\n      restart: on-failure\n" + failing)
    out = mooring("deploy", "sandbox", "--limit", box.name, "--json", str(target), group_data=data, secrets=ROTATED)
    assert out.returncode == 1, out.stdout
    host = json.loads(target.read_text())["hosts"][0]
    assert host["outcome"] == "rolled_back" and host["rolled_back_to"] == int(good[:4]), host
    assert current(box) == good

    rotated_line = f"JWT_SECRET={quote_env_value(ROTATED_JWT)}"
    expected = [rotated_line if line.startswith("JWT_SECRET=") else line for line in before]
    restored = env_lines(box) == expected  # a bool: failures show no secret
    assert restored, "not the good release's .env with the secrets declared now"
    assert env_mode(box) == "root root 600"
    assert ssh(box, f"sha256sum {STACK}/compose.yml").stdout == compose_before  # non-secret files: byte for byte
    applied = api_env_has(box, "JWT_SECRET", ROTATED_JWT)
    version = parse_dotenv("\n".join(line for line in before if line.startswith("APP_VERSION=")))["APP_VERSION"]
    assert applied and api_env_has(box, "APP_VERSION", version), "the api runs without the restored .env"
    assert healthy(box)
    assert_consistent(box)
    assert not holds_any(releases_content(box), ROTATED_JWT), f"a secret is kept under {RELEASES}"
    assert not holds_any((out.stdout + out.stderr + target.read_text()).encode(), ROTATED_JWT), "a secret was shown"


def test_a_rollback_to_a_release_naming_an_undeclared_secret_fails_and_writes_nothing(box, tmp_path):
    """Release A declares EXTRA_TOKEN; B drops it and fails its gate. A's masked .env names a secret
    that is no longer declared: the rollback fails for this host, naming it and the release, and
    leaves every file, container and release folder as B left them."""
    files_declared = ssh(box, f"sha256sum {STACK}/.env {STACK}/compose.yml").stdout
    extra = {"MOORING_SECRET_EXTRA_TOKEN": "xtraTOKENvalue-9d8c7b6a5f4e"}
    with_extra = overrides(tmp_path / "a", box, "  env:\n    EXTRA_TOKEN: {secret: EXTRA_TOKEN}\n")
    out = mooring("deploy", "sandbox", "--limit", box.name, group_data=with_extra, secrets=extra)
    assert out.returncode == 0, out.stdout + out.stderr[-3000:]
    a = current(box)

    failing = FAST_FAILING_GATE.replace("expected_status: 200", "expected_status: 299")
    target = tmp_path / "b.json"
    out = mooring("deploy", "sandbox", "--limit", box.name, "--json", str(target),
                  group_data=overrides(tmp_path / "b", box, failing), secrets=extra)
    assert out.returncode == 1, out.stdout
    host = json.loads(target.read_text())["hosts"][0]
    assert host["outcome"] == "failed" and host["rolled_back_to"] is None, host
    assert "rollback failed" in host["error"] and f"release {a}" in host["error"], host["error"]
    assert f"{STACK}/.env names secret EXTRA_TOKEN, which the stack no longer declares" in host["error"], host["error"]
    assert "(nothing was changed)" in host["error"] and "Traceback" not in out.stdout + out.stderr
    assert "xtraTOKENvalue" not in out.stdout + out.stderr + target.read_text(), "a secret was shown"

    assert ssh(box, f"sha256sum {STACK}/.env {STACK}/compose.yml").stdout == files_declared  # B's files, untouched
    names = listing(box)
    assert current(box) == a and f"{host['release']:04d}-{host['release_id']}" in names, names
    assert not [n for n in names if n.endswith("-failed")], names
    assert ssh(box, f"ls -d {STACK}/.mooring/lock {STACK}/.mooring/restore.* 2>/dev/null").stdout == ""
    assert b"xtraTOKENvalue" not in releases_content(box), f"a secret is kept under {RELEASES}"


def _migrate(box, *args: str) -> str:
    """``python3 -m app migrate ARGS`` in the running api container (the stack's own settings)."""
    [api] = box_bytes(box, "docker ps -q --filter label=com.docker.compose.project=solacore "
                           "--filter label=com.docker.compose.service=api").decode().split()
    return box_bytes(box, f"docker exec {api} python3 -m app migrate {' '.join(args)}").decode()


def test_rollback_migrate_down_undoes_the_current_release_s_migrations_first_and_twice_changes_nothing(box, tmp_path):
    """B runs the stack's migrations (its marker); ``rollback --migrate-down`` runs the declared
    ``stack.migration.down`` in B's image before A is back (the newest migration undone, B's
    marker gone so that B migrates again if redeployed); again, with A current, nothing is undone
    and nothing restarts."""
    a = current(box)
    try:
        out = mooring("deploy", "sandbox", "--limit", box.name,
                      group_data=overrides(tmp_path / "b", box, "  env:\n    APP_VERSION: 1.0.0-md-b\n"))
        assert out.returncode == 0, out.stdout + out.stderr[-3000:]
        b = current(box)
        b_marker = f"{RELEASES}/migrated-{b.split('-', 1)[1]}"
        assert ssh(box, f"test -f {b_marker}").returncode == 0 and "0 pending" in _migrate(box, "--status")

        out = mooring("rollback", "sandbox", "--limit", box.name, "--migrate-down", "--json", "-")
        assert out.returncode == 0, out.stdout + out.stderr[-3000:]
        [host] = json.loads(out.stdout)["hosts"]
        assert host["outcome"] == "rolled_back" and host["rolled_back_to"] == int(a[:4]), host
        assert [w for w in host["warnings"] if f"release {int(b[:4])} ran its database migrations; its down-migration "
                f"ran before release {int(a[:4])} was put back: python3 -m app migrate --down" in w], host["warnings"]
        assert current(box) == a and healthy(box)
        status = _migrate(box, "--status")
        assert "1 pending" in status and "pending 0002_users_created_at_index" in status, status
        assert ssh(box, f"test -e {b_marker}").returncode != 0, "B's marker stayed: a redeploy of B would not migrate"
        assert_consistent(box)

        before = containers(box)
        again = mooring("rollback", "sandbox", "--limit", box.name, "--to", a[:4].lstrip("0"), "--migrate-down")
        assert again.returncode == 0, again.stdout + again.stderr[-3000:]
        assert containers(box) == before and "1 pending" in _migrate(box, "--status")
        assert "down-migration" not in again.stdout
    finally:  # the schema as the declared release expects it, whatever happened above
        _migrate(box)


def test_rollback_migrate_down_without_a_declared_down_is_refused_before_any_host(box, tmp_path):
    data = overrides(tmp_path, box, "  migration:\n    service: api\n    command: [python3, -m, app, migrate]\n"
                                    "    down: null\n")
    before = current(box), containers(box)
    out = mooring("rollback", "sandbox", "--limit", box.name, "--migrate-down", group_data=data)
    assert out.returncode == 1
    line = next(line for line in out.stdout.splitlines() if "rollback.migrate_down" in line)
    assert "stack.migration.down" in line and "none is declared" in line, out.stdout
    assert (current(box), containers(box)) == before
