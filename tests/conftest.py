"""Shared fixtures: a test sandbox of real SSH boxes, separate from a developer's own sandbox."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TEST_STATE = ROOT / ".mooring" / "test"
TEST_PORT_OFFSET = "1000"


def pytest_configure(config):
    # Every test (and every subprocess it starts) works on the test sandbox, never the developer's.
    os.environ.setdefault("MOORING_STATE", str(TEST_STATE))
    os.environ.setdefault("MOORING_SANDBOX_PORT_BASE", TEST_PORT_OFFSET)


@pytest.fixture
def world(tmp_path, monkeypatch):
    """A fresh declared world (group_data copy, test secrets, fake hosts), active for this test."""
    from tests.declared_world import make_world

    created = make_world(tmp_path)
    created.activate(monkeypatch)
    return created


@pytest.fixture(scope="session")
def boxes():
    """Fresh docker boxes for this test session (bare Debian: nothing bootstrapped yet)."""
    from mooring import docker, sandbox

    if not docker.engine_running():
        pytest.fail("the Docker engine is not running: run `bin/prepare-host` (make test does)")
    sandbox.down()
    state = sandbox.up(docker_boxes=2, lite_boxes=0)
    yield state
    if not os.environ.get("MOORING_KEEP_BOXES"):
        sandbox.down()


@pytest.fixture(scope="session")
def bootstrapped(boxes):
    """Bootstrap the session's boxes twice; returns both pyinfra results."""
    from mooring.runner import run_deploy

    first = run_deploy("inventories/sandbox.py", "deploy/bootstrap.py")
    second = run_deploy("inventories/sandbox.py", "deploy/bootstrap.py")
    return first, second


def ssh(box, command: str, user: str = "root", known_hosts: str | None = None, check: bool = False):
    """Run ``command`` on a sandbox box with OpenSSH, host-key checking on."""
    from mooring.sandbox import load_state

    state = load_state()
    args = [
        "ssh", "-i", str(state.key_path), "-p", str(box.ssh_port),
        "-o", f"UserKnownHostsFile={known_hosts or state.known_hosts_path}",
        "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes",
        "-o", "ConnectTimeout=5", f"{user}@127.0.0.1", command,
    ]
    return subprocess.run(args, capture_output=True, text=True, check=check, timeout=300, stdin=subprocess.DEVNULL)


def run_deploy_code(code: str, limit: list[str] | None = None, inventory: str = "inventories/sandbox.py"):
    """Run a few lines of pyinfra deploy code against sandbox boxes; returns the RunResult."""
    import tempfile

    from mooring.runner import run_deploy

    TEST_STATE.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", suffix=".py", dir=TEST_STATE, delete=False) as fh:
        fh.write(code)
    try:
        return run_deploy(inventory, fh.name, limit=limit)
    finally:
        os.unlink(fh.name)


def group_data_with(tmp: Path, host: str, overrides: str) -> Path:
    """A copy of group_data/ under ``tmp`` with ``overrides`` as ``hosts/<host>.yml``."""
    import shutil

    copy = tmp / "group_data"
    shutil.rmtree(copy, ignore_errors=True)
    shutil.copytree(ROOT / "group_data", copy)
    (copy / "hosts").mkdir(exist_ok=True)
    (copy / "hosts" / f"{host}.yml").write_text(overrides)
    return copy
