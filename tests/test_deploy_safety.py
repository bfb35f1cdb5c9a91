"""Deploy safety under real faults, through ``mooring deploy`` on real docker boxes: kill -9 of the
controller at each phase, Ctrl-C, a time-out, two deploys at once, a stopped box, dockerd down,
a full disk, and a plain pyinfra run.

After every fault: ``.env`` is the old or the new file at 0600, ``current`` names a kept release
that passed its gate, and the next run ends healthy with a consistent history and no leftovers.
docs/reliability.md lists each row with the test that proves it; the rollback and secrets rows
are in tests/test_deploy_rollback.py.
"""

from __future__ import annotations

import json
import os
import random
import signal
import time

import pytest

from tests.conftest import group_data_with, ssh
from tests.safety import (  # noqa: F401 - stack and box are fixtures
    stack, box, STACK, RELEASES, FAST_FAILING_GATE, mooring, start_mooring, wait_on_box, kill_controller,
    env_lines, listing, current, containers, assert_env_old_or_new, assert_consistent, healthy,
    deploy_declared, overrides, PHASES,
)

pytestmark = [pytest.mark.boxes, pytest.mark.slow]


@pytest.mark.parametrize("phase", sorted(PHASES))
def test_kill_9_during_a_phase_then_the_next_run_ends_healthy(box, tmp_path, phase):
    condition, new_image = PHASES[phase]
    old_env, old_current = env_lines(box), current(box)
    value = f"1.0.0-kill-{phase}"
    text = f"  env:\n    APP_VERSION: {value}\n"
    if new_image:  # the box must not have it, so that it is really transferred
        ssh(box, "docker rmi mooring/api:1.1.0-broken >/dev/null 2>&1; true")
        text += "  services:\n    api:\n      image: mooring/api:1.1.0-broken\n"
    proc = start_mooring("deploy", "sandbox", "--limit", box.name, group_data=overrides(tmp_path, box, text))
    assert wait_on_box(box, condition), f"the deploy never reached {phase}"
    kill_controller(proc)

    assert_env_old_or_new(box, old_env, "APP_VERSION", value)
    assert current(box) == old_current, "a release became current without passing its gate"
    deploy_declared(box)
    assert env_lines(box) == old_env


def test_kill_9_at_random_points_never_tears_env_or_current(box, tmp_path):
    rng = random.Random(int(os.environ.get("MOORING_FAULT_SEED", "20261127")))
    old_env, old_current = env_lines(box), current(box)
    for attempt in range(3):
        value = f"1.0.0-random-{attempt}"
        proc = start_mooring("deploy", "sandbox", "--limit", box.name,
                             group_data=overrides(tmp_path / str(attempt), box, f"  env:\n    APP_VERSION: {value}\n"))
        time.sleep(rng.uniform(2.0, 14.0))
        kill_controller(proc)
        assert_env_old_or_new(box, old_env, "APP_VERSION", value)
        old_env = env_lines(box)  # the next kill compares with what is there now
        assert current(box) == old_current, "a release became current without passing its gate"
    deploy_declared(box)


def test_interrupted_broken_release_is_rolled_back_by_the_next_run(box, tmp_path):
    """Killed after `up` started a broken release: it never became current; the rerun of the same
    deploy sees an unfinished release, fails its gate, and rolls back to the good one."""
    good = current(box)
    data = overrides(tmp_path, box, "  services:\n    api:\n      image: mooring/api:1.1.0-broken\n" + FAST_FAILING_GATE)
    proc = start_mooring("deploy", "sandbox", "--limit", box.name, group_data=data)
    assert wait_on_box(box, PHASES["compose-up"][0])
    kill_controller(proc)
    assert current(box) == good
    pending = ssh(box, f"cat {RELEASES}/pending").stdout.split()[0]

    target = tmp_path / "rerun.json"
    out = mooring("deploy", "sandbox", "--limit", box.name, "--json", str(target), group_data=data)
    assert out.returncode == 1, out.stdout
    host = json.loads(target.read_text())["hosts"][0]
    assert host["outcome"] == "rolled_back" and host["release_dirname"] == f"{pending}-failed"
    assert host["rolled_back_to"] == int(good[:4])
    assert current(box) == good and good in listing(box)
    assert healthy(box)
    assert_consistent(box)


def test_ctrl_c_ends_in_a_rollback_and_an_interrupted_record(box, tmp_path):
    good, before = current(box), containers(box)
    data = overrides(tmp_path, box, "  env:\n    APP_VERSION: 1.0.0-ctrl-c\n")
    proc = start_mooring("deploy", "sandbox", "--limit", box.name, "--json", str(tmp_path / "out.json"),
                         group_data=data)
    assert wait_on_box(box, PHASES["compose-up"][0])
    out, err = kill_controller(proc, signal.SIGINT)
    assert proc.returncode == 1, out + err
    assert "Traceback" not in out + err
    assert "interrupted (Ctrl-C)" in out
    host = json.loads((tmp_path / "out.json").read_text())["hosts"][0]
    assert host["interrupted"] == "interrupted (Ctrl-C)" and host["outcome"] == "rolled_back"
    assert current(box) == good
    assert "APP_VERSION=1.0.0-ctrl-c" not in env_lines(box)
    assert_consistent(box)
    assert healthy(box)
    assert set(containers(box)) == set(before)


def test_a_time_out_ends_in_a_rollback_not_a_traceback(box, tmp_path):
    good = current(box)
    data = overrides(tmp_path, box, "  env:\n    APP_VERSION: 1.0.0-slow\n")
    out = mooring("deploy", "sandbox", "--limit", box.name, "--timeout", "6", "--json", str(tmp_path / "o.json"),
                  group_data=data)
    assert out.returncode == 1
    assert "Traceback" not in out.stdout + out.stderr
    assert "deploy timed out after 6 s" in out.stdout, out.stdout
    payload = json.loads((tmp_path / "o.json").read_text())
    assert payload["interrupted"] == "timed out after 6 s"
    assert current(box) == good
    assert "APP_VERSION=1.0.0-slow" not in env_lines(box)
    assert_consistent(box)


def test_two_deploys_at_once_one_is_refused(box, tmp_path):
    old_numbers = {n[:4] for n in listing(box) if n[:4].isdigit()}
    runs = {}
    for name in ("a", "b"):
        data = overrides(tmp_path / name, box, f"  env:\n    APP_VERSION: 1.0.0-race-{name}\n")
        runs[name] = start_mooring("deploy", "sandbox", "--limit", box.name, group_data=data)
    results = {name: (proc.communicate(timeout=900), proc.returncode) for name, proc in runs.items()}
    codes = sorted(rc for _, rc in results.values())
    assert codes == [0, 1], results
    winner = next(name for name, (_, rc) in results.items() if rc == 0)
    (loser_out, loser_err), _ = next(v for v in results.values() if v[1] == 1)
    assert "another deploy holds the lock" in loser_out and "mooring deploy" in loser_out, loser_out + loser_err
    assert f"APP_VERSION=1.0.0-race-{winner}" in env_lines(box)
    assert_consistent(box)
    numbers = [n[:4] for n in listing(box) if n[:4].isdigit()]
    assert len(numbers) == len(set(numbers)) and len(set(numbers) - old_numbers) == 1


def test_a_foreign_lock_is_refused_and_mooring_unlock_breaks_it(box, tmp_path):
    owner = {"run": "f0reign", "operator": "ana", "controller": "elsewhere", "pids": [1],
             "command": "mooring deploy", "started": "2026-11-27T10:00:00+00:00"}
    ssh(box, f"mkdir -p {STACK}/.mooring/lock && echo '{json.dumps(owner)}' > {STACK}/.mooring/lock/owner")
    before = env_lines(box)
    data = overrides(tmp_path, box, "  env:\n    APP_VERSION: 1.0.0-locked\n")
    out = mooring("deploy", "sandbox", "--limit", box.name, group_data=data)
    assert out.returncode == 1
    assert "run f0reign (mooring deploy) by ana@elsewhere" in out.stdout and "mooring unlock" in out.stdout
    assert env_lines(box) == before
    unlock = mooring("unlock", "sandbox", "--limit", box.name)
    assert unlock.returncode == 0 and "ana@elsewhere" in unlock.stdout, unlock.stdout + unlock.stderr
    assert mooring("unlock", "sandbox", "--limit", box.name).stdout.strip().endswith("not locked")


def test_a_stopped_box_fails_alone_and_the_next_run_converges_it(stack, tmp_path):
    from mooring.deploy import local_docker as docker

    one, two = stack.boxes
    data = group_data_with(tmp_path, two.name, "stack:\n  env:\n    APP_VERSION: 1.0.0-stopped\n",
                           more={one.name: "stack:\n  env:\n    APP_VERSION: 1.0.0-stopped\n"})
    proc = start_mooring("-v", "deploy", "sandbox", "--json", str(tmp_path / "out.json"), group_data=data)
    try:
        assert wait_on_box(two, f"ls -d {RELEASES}/.stage-* {STACK}/.mooring/lock")
        docker.run(["stop", "-t", "0", two.container])
        out, err = proc.communicate(timeout=900)
        assert proc.returncode == 1, out + err
        hosts = {h["host"]: h for h in json.loads((tmp_path / "out.json").read_text())["hosts"]}
        assert hosts[two.name]["outcome"] == "failed" and two.name in out
        # The other host deploys. pyinfra 3.10 itself may crash when a host vanishes mid-operation
        # (then it reports no results at all): mooring then rolls that host back to its good release.
        assert hosts[one.name]["outcome"] in ("deployed", "rolled_back"), (hosts, out, err[-3000:])
        assert healthy(one)
    finally:
        docker.run(["start", two.container])
        deadline = time.time() + 120
        while time.time() < deadline and ssh(two, "docker info >/dev/null && echo up").stdout.strip() != "up":
            time.sleep(1)
        for box in (one, two):
            deploy_declared(box)


def test_dockerd_down_fails_before_any_transfer(box, tmp_path):
    before = (env_lines(box), listing(box))
    uploads = ssh(box, "ls /var/tmp/mooring-images 2>/dev/null").stdout
    ssh(box, "service docker stop >/dev/null 2>&1; sleep 1; pkill dockerd; true")
    assert wait_on_box(box, "! docker info", timeout=30)
    out = mooring("deploy", "sandbox", "--limit", box.name,
                  group_data=overrides(tmp_path, box, "  env:\n    APP_VERSION: 1.0.0-no-engine\n"))
    assert out.returncode == 1
    assert "Docker engine on docker-2 does not answer" in out.stdout, out.stdout
    assert (env_lines(box), listing(box)) == before
    assert ssh(box, "ls /var/tmp/mooring-images 2>/dev/null").stdout == uploads  # nothing transferred


def test_disk_full_during_image_load_restarts_nothing(box, tmp_path):
    before, good = containers(box), current(box)
    files = ssh(box, f"sha256sum {STACK}/.env {STACK}/compose.yml").stdout
    ssh(box, "docker rmi mooring/api:1.1.0-broken >/dev/null 2>&1; mkdir -p /var/tmp/mooring-images && "
             "mount -t tmpfs -o size=1m tmpfs /var/tmp/mooring-images", check=True)
    out = mooring("deploy", "sandbox", "--limit", box.name,
                  group_data=overrides(tmp_path, box, "  services:\n    api:\n      image: mooring/api:1.1.0-broken\n"))
    assert out.returncode == 1, out.stdout
    assert containers(box) == before  # nothing was restarted
    assert current(box) == good
    assert ssh(box, f"sha256sum {STACK}/.env {STACK}/compose.yml").stdout == files


def test_disk_full_during_bookkeeping_mixes_nothing(box, tmp_path):
    before, good = containers(box), current(box)
    files = ssh(box, f"sha256sum {STACK}/.env {STACK}/compose.yml").stdout
    fill = (f"cp -a {RELEASES} /var/tmp/releases-copy && mount -t tmpfs -o size=4m tmpfs {RELEASES} && "
            f"cp -a /var/tmp/releases-copy/. {RELEASES}/ && rm -rf /var/tmp/releases-copy && "
            f"(dd if=/dev/zero of={RELEASES}/.fill bs=64k 2>/dev/null; true)")
    ssh(box, fill, check=True)
    out = mooring("deploy", "sandbox", "--limit", box.name,
                  group_data=overrides(tmp_path, box, "  env:\n    APP_VERSION: 1.0.0-disk-full\n"))
    assert out.returncode == 1, out.stdout
    assert containers(box) == before
    assert current(box) == good and current(box) != ""
    assert ssh(box, f"sha256sum {STACK}/.env {STACK}/compose.yml").stdout == files  # restored, nothing mixed


def test_a_plain_pyinfra_run_gates_promotes_unlocks_and_then_changes_nothing(box, tmp_path):
    from mooring.runner import run_deploy

    before = current(box)
    data = overrides(tmp_path, box, "  env:\n    APP_VERSION: 1.0.0-plain\n")
    env = {"MOORING_GROUP_DATA": str(data)}
    old = os.environ.get("MOORING_GROUP_DATA")
    os.environ.update(env)
    try:
        first = run_deploy("inventories/sandbox.py", "deploy/stack.py", limit=[box.name],
                           extra=["--group-data", str(data)])
        assert first.rc == 0 and not first.failed_hosts, first.log[-3000:]
        assert "Stack | Health gate" in first.changes_for(box.name)
        assert current(box) != before and "APP_VERSION=1.0.0-plain" in env_lines(box)
        assert_consistent(box)
        second = run_deploy("inventories/sandbox.py", "deploy/stack.py", limit=[box.name],
                            extra=["--group-data", str(data)])
        assert second.rc == 0 and second.changes_for(box.name) == [], second.changes_for(box.name)
        assert_consistent(box)
    finally:
        if old is None:
            os.environ.pop("MOORING_GROUP_DATA", None)
        else:
            os.environ["MOORING_GROUP_DATA"] = old
