"""Deploy safety under real faults, through ``mooring deploy`` on real docker boxes: kill -9 of the
controller at each phase, Ctrl-C, a time-out, two deploys at once, a stopped box, dockerd down,
a full disk, and release bookkeeping that never marks a good release failed.

After every fault: ``.env`` is the old or the new file at 0600, ``current`` names a kept release
that passed its gate, and the next run ends healthy with a consistent history and no leftovers.
docs/reliability.md lists each row with the test that proves it.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from declare.secrets import parse_dotenv, quote_env_value
from tests.conftest import CANARIES, CANARY_DB, CANARY_JWT, ROOT, group_data_with, ssh

pytestmark = [pytest.mark.boxes, pytest.mark.slow]

STACK = "/srv/mooring/solacore"
RELEASES = f"{STACK}/releases"
FAST_FAILING_GATE = ("  health:\n    - {name: ready, path: /api/v1/health/ready, expected_status: 200, timeout: 3,"
                     " retries: 3, interval: 1}\n")


def mooring_env(group_data: Path | None, secrets: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a ``mooring`` run; ``secrets`` (MOORING_SECRET_* → value) override the session's."""
    env = dict(os.environ)
    if group_data is not None:
        env["MOORING_GROUP_DATA"] = str(group_data)
    env.update(secrets or {})
    return env


def mooring(*args: str, group_data: Path | None = None, timeout: int = 900,
            secrets: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """``mooring ARGS`` as a user runs it; returns the finished process."""
    return subprocess.run([sys.executable, "-m", "mooring", *args], cwd=ROOT, env=mooring_env(group_data, secrets),
                          capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)


def start_mooring(*args: str, group_data: Path | None = None) -> subprocess.Popen:
    """``mooring ARGS`` in its own process group (the controller: mooring and its pyinfra child)."""
    return subprocess.Popen([sys.executable, "-m", "mooring", *args], cwd=ROOT, env=mooring_env(group_data),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL,
                            start_new_session=True)


def wait_on_box(box, condition: str, timeout: float = 240) -> bool:
    """Block until the shell ``condition`` holds on ``box`` (polled on the box every 20 ms)."""
    script = f"end=$(($(date +%s) + {int(timeout)})); until ( {condition} ) >/dev/null 2>&1; do " \
             "[ $(date +%s) -gt $end ] && exit 1; sleep 0.02; done; echo hit"
    return ssh(box, script).stdout.strip() == "hit"


def kill_controller(proc: subprocess.Popen, sig: int = signal.SIGKILL) -> tuple[str, str]:
    """Send ``sig`` to the controller's whole process group; its output until then."""
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        pass
    out, err = proc.communicate(timeout=300)
    return out, err


def env_lines(box) -> list[str]:
    return ssh(box, f"cat {STACK}/.env").stdout.splitlines()


def env_mode(box) -> str:
    return ssh(box, f"stat -c '%U %G %a' {STACK}/.env").stdout.strip()


def listing(box) -> list[str]:
    return ssh(box, f"ls -1A {RELEASES}").stdout.split()


def current(box) -> str:
    return ssh(box, f"cat {RELEASES}/current").stdout.strip()


def containers(box) -> dict[str, tuple[str, str]]:
    fmt = '{{index .Config.Labels "com.docker.compose.service"}} {{.Id}} {{.State.StartedAt}}'
    out = ssh(box, f"docker inspect --format '{fmt}' $(docker ps -q --filter label=com.docker.compose.project=solacore"
                   " --filter label=com.docker.compose.oneoff=False)")
    return {svc: (cid, started) for svc, cid, started in (line.split() for line in out.stdout.splitlines())}


def assert_env_old_or_new(box, old: list[str], changed_key: str, new_value: str) -> None:
    """.env is whole: the old file, or the old file with only ``changed_key`` set to ``new_value``."""
    lines = env_lines(box)
    assert env_mode(box) == "root root 600"
    new = [f"{changed_key}={new_value}" if line.startswith(f"{changed_key}=") else line for line in old]
    assert lines in (old, new), "torn or mixed .env"


def assert_consistent(box) -> None:
    """Release history after a finished run: one folder per number, `current` names a kept good
    release, nothing pending, no lock, no temporary files left (secrets included)."""
    names = listing(box)
    releases = [n for n in names if n[:4].isdigit()]
    numbers = [int(n[:4]) for n in releases]
    assert len(numbers) == len(set(numbers)), names
    now = current(box)
    assert now and now in releases and not now.endswith("-failed"), (now, names)
    assert "pending" not in names and not [n for n in names if n.startswith(".") or ".tmp-" in n], names
    leftovers = ssh(box, f"ls -d {STACK}/.mooring/lock {STACK}/.env.mooring-new-* /tmp/.mooring-upload-* "
                         f"{STACK}/*.mooring-new-* {STACK}/.mooring/restore.* {STACK}/.mooring/lock.new-* 2>/dev/null")
    assert leftovers.stdout.strip() == "", leftovers.stdout
    assert env_mode(box) == "root root 600"


def healthy(box) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{box.http_port}/api/v1/health/ready", timeout=5).status_code == 200
    except httpx.HTTPError:
        return False


def deploy_declared(box) -> subprocess.CompletedProcess:
    out = mooring("deploy", "sandbox", "--limit", box.name)
    assert out.returncode == 0, out.stdout + out.stderr[-3000:]
    assert "Traceback" not in out.stdout + out.stderr
    assert_consistent(box)
    assert healthy(box)
    return out


@pytest.fixture(scope="module")
def stack(bootstrapped, boxes):
    """Both boxes run the declared stack; each test starts from and returns to that state."""
    out = mooring("deploy", "sandbox")
    assert out.returncode == 0, out.stdout + out.stderr[-3000:]
    return boxes


@pytest.fixture
def box(stack):
    """docker-2, back at the declared state after the test whatever happened in it."""
    target = stack.boxes[1]
    unclean = ssh(target, f"ls -d {STACK}/.mooring/lock {RELEASES}/pending 2>/dev/null").stdout.strip()
    if unclean:  # an earlier test stopped half-way: start from the declared state
        deploy_declared(target)
    yield target
    ssh(target, "umount /var/tmp/mooring-images 2>/dev/null; umount /srv/mooring/solacore/releases 2>/dev/null; "
                "service docker start >/dev/null 2>&1; true")
    wait_on_box(target, "docker info", timeout=60)
    deploy_declared(target)


def overrides(tmp_path: Path, box, text: str) -> Path:
    return group_data_with(tmp_path, box.name, "stack:\n" + text)


PHASES = {
    # phase: (shell condition on the box that says the controller is in it, needs a new image)
    "env-upload": (f"ls {STACK}/.env.mooring-new-*", False),
    "image-transfer": ("ls /var/tmp/mooring-images/*.tar.gz", True),
    "release-bookkeeping": (f"ls -d {RELEASES}/.stage-*", False),
    "migrations": ("pgrep -f 'run --rm -[T]'", False),
    "compose-up": ("pgrep -f 'up -d --remove-orphan[s]'", False),
}


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


ROTATED_JWT = "r0tatedJWT 'sq' \"dq\" $PATH \\bs qwvzROTmrst"  # another canary: quotes, $, \\ and spaces
ROTATED = {"MOORING_SECRET_JWT_SECRET": ROTATED_JWT}


def box_bytes(box, command: str) -> bytes:
    """The raw stdout of ``command`` run in the box (binary: archives and files as they are)."""
    return subprocess.run(["docker", "exec", box.container, "sh", "-c", command], capture_output=True,
                          check=True, timeout=120).stdout


def releases_content(box) -> bytes:
    """Every byte kept under releases/: each file, and each .gz decompressed (tar members included)."""
    return box_bytes(box, f"cd {RELEASES} && find . -type f | sort | while read -r f; do "
                          'case "$f" in *.gz) zcat "$f" ;; *) cat "$f" ;; esac; done')


def secret_forms(*values: str) -> list[bytes]:
    """Each value in every form a file could hold it, and the canary fragments any quoting keeps."""
    from declare.render import _written_forms

    return sorted({form.encode() for value in values for form in _written_forms(value)}
                  | {c.encode() for c in CANARIES} | {b"r0tatedJWT", b"qwvzROTmrst"})


def holds_any(content: bytes, *values: str) -> bool:
    """Whether ``content`` holds any form of ``values`` (a bool: a failing assert never shows a secret)."""
    return any(form in content for form in secret_forms(*values))


def api_env_has(box, key: str, value: str) -> bool:
    """Whether the running api container was created with ``key=value`` (read on the controller)."""
    ids = box_bytes(box, "docker ps -q --filter label=com.docker.compose.project=solacore "
                         "--filter label=com.docker.compose.service=api").decode().split()
    config = json.loads(box_bytes(box, f"docker inspect {ids[0]}"))
    return f"{key}={value}" in config[0]["Config"]["Env"]


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
    from checks.snapshot import snapshot_key

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


def test_a_stopped_box_fails_alone_and_the_next_run_converges_it(stack, tmp_path):
    from deploy import local_docker as docker

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
