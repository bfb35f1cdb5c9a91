"""Operating a deployed stack on a real box: ``mooring logs`` (one service's lines from the host,
every secret masked, ``-f`` printing each new line once)."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from tests.conftest import CANARIES, CANARY_JWT, ROOT, SECRET_ENV
from tests.safety import box, mooring, overrides, stack  # noqa: F401 - stack and box are fixtures

pytestmark = [pytest.mark.boxes, pytest.mark.slow]

# A service that says the JWT secret once, exactly (as a careless app would; printf, since echo would
# turn the canary's backslash into an escape), then ticks every second.
TALKER = """\
  services:
    talker:
      image: mooring/redis:7
      image_source: ship
      env: [JWT_SECRET]
      command: [sh, -c, "echo talker-started; printf 'jwt=%s\\\\n' \\"$$JWT_SECRET\\"; while true; do echo tick-$$(date +%s%N); sleep 1; done"]
"""


def test_logs_mask_secrets_and_follow_prints_each_new_line_once(box, tmp_path):
    data = overrides(tmp_path, box, TALKER)
    out = mooring("deploy", "sandbox", "--limit", box.name, group_data=data)
    assert out.returncode == 0, out.stdout + out.stderr[-3000:]

    logs = mooring("logs", "sandbox", "talker", "--limit", box.name, group_data=data)
    assert logs.returncode == 0, logs.stderr[-3000:]
    lines = logs.stdout.splitlines()
    assert any(line.startswith(f"{box.name} | ") and line.endswith(" talker-started") for line in lines), lines[:5]
    assert any(line.endswith(" jwt=***") for line in lines), lines[:5]  # the secret, masked
    assert not [c for c in CANARIES if c in logs.stdout + logs.stderr]

    missing = mooring("logs", "sandbox", "nosuch", "--limit", box.name, group_data=data)
    assert missing.returncode == 1 and "has no service 'nosuch'" in missing.stderr

    env = {**__import__("os").environ, **SECRET_ENV, "MOORING_GROUP_DATA": str(data)}
    follow = subprocess.Popen([sys.executable, "-m", "mooring", "logs", "sandbox", "talker", "--limit", box.name,
                               "--tail", "3", "-f"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)
    time.sleep(12)
    follow.terminate()
    printed, errors = follow.communicate(timeout=30)
    ticks = [line.split()[-1] for line in printed.splitlines() if " tick-" in line]
    assert len(ticks) >= 8, printed  # the 3 of --tail, then new ones as they come
    assert len(ticks) == len(set(ticks)), "a line was printed twice"
    assert ticks == sorted(ticks, key=lambda t: int(t.removeprefix("tick-")))
    assert CANARY_JWT not in printed + errors and "Traceback" not in errors


def run_on_a_terminal(*args: str, group_data=None) -> tuple[int, str, str]:
    """``mooring ARGS`` with stderr on a pseudo-terminal (stdout piped): (exit code, stdout, terminal text)."""
    import os
    import pty
    import select

    env = {key: value for key, value in os.environ.items() if key != "MOORING_PROGRESS"}
    env.update(SECRET_ENV)
    if group_data is not None:
        env["MOORING_GROUP_DATA"] = str(group_data)
    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "mooring", *args], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=slave, stdin=subprocess.DEVNULL)
    os.close(slave)
    seen = bytearray()
    while True:
        ready, _, _ = select.select([master], [], [], 1.0)
        if ready:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the terminal's other end is closed (the process ended)
                break
            if not chunk:
                break
            seen += chunk
        elif proc.poll() is not None:
            break
    os.close(master)
    stdout = proc.stdout.read().decode()
    return proc.wait(timeout=60), stdout, seen.decode(errors="replace")


#: A service whose image the box does not have yet: the deploy ships it (and gates the new service).
SHIPPED = """\
  services:
    sleeper:
      image: mooring/api:1.1.0-broken
      image_source: ship
      command: [sh, -c, "while true; do sleep 5; done"]
"""


def test_deploy_shows_live_progress_on_a_terminal_and_none_when_piped(box, tmp_path):
    import re

    from tests.conftest import ssh

    ssh(box, "docker rmi mooring/api:1.1.0-broken >/dev/null 2>&1; true")
    data = overrides(tmp_path, box, SHIPPED)
    code, stdout, terminal = run_on_a_terminal("deploy", "sandbox", "--limit", box.name, group_data=data)
    assert code == 0, stdout + terminal[-3000:]
    phases = [re.sub(r"^\[\s*[\d.]+s\] ", "", line) for line in terminal.splitlines() if re.match(r"^\[\s*[\d.]+s\] ", line)]
    assert phases[:3] == ["pre-flight", "images on the controller", f"converging {box.name}"], phases
    assert "  Stack | Deploy lock" in phases or any(p.startswith("  Stack | ") for p in phases), phases
    assert "health gate" in phases and phases[-1] == "promoting, recording, unlocking", phases
    shipped = [p for p in phases if p.startswith("  Stack | Image mooring/api:1.1.0-broken (shipped): ")]
    assert len(shipped) == 1 and re.search(rf": [\d.]+ MB to {box.name} in [\d.]+ s \([\d.]+ MB/s\)$", shipped[0]), phases
    assert f"  Stack | Image mooring/redis:7 (shipped): already on {box.name}" in phases, phases
    assert f"  {box.name}: look 2: every service running and healthy" in phases, phases
    assert f"{box.name}: " in stdout and "[" not in stdout.split("\n")[0]  # the report stays on stdout, alone
    assert not [c for c in CANARIES if c in terminal + stdout]

    piped = mooring("deploy", "sandbox", "--limit", box.name)
    assert piped.returncode == 0 and not re.search(r"^\[\s*[\d.]+s\] ", piped.stderr + piped.stdout, re.M)
