"""What the deploy-safety box tests share (tests/test_deploy_safety.py: faults;
tests/test_deploy_rollback.py: rollbacks and secrets): running mooring, reading a box's stack,
and the ``box`` fixture that puts docker-2 back at the declared state after every test."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.conftest import CANARIES, ROOT, group_data_with, run_mooring, ssh

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


mooring = run_mooring


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
    from mooring.declare.render import _written_forms

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
