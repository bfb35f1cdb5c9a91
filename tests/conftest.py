"""Shared fixtures: a test sandbox of real SSH boxes, separate from a developer's own sandbox.

``MOORING_STATE`` and ``MOORING_SANDBOX_PORT_BASE`` choose the sandbox (defaults: ``.mooring/test``
and 1000). Under pytest-xdist every worker gets its own sandbox: state ``<MOORING_STATE>/<worker>``
and port offset ``base + 20 * (n + 1)`` for worker ``gwN``, so box test files can run with
``-n 2 --dist loadfile``. ``MOORING_KEEP_BOXES=1`` reuses the boxes from the last run and keeps
them afterwards (iterating); without it every session starts from fresh boxes and removes them.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TEST_STATE = ROOT / ".mooring" / "test"
TEST_PORT_OFFSET = "1000"
#: Port offset between the sandboxes of two xdist workers (a sandbox uses base+1..base+2 per kind).
WORKER_PORT_STEP = 20
ENGINE_DOWN = "the Docker engine is not running: run `bin/prepare-host` (make test does)"

#: The session's stack secrets, one set for every box test (Postgres keeps the password its volume
#: was created with: two modules deploying with different passwords would lock each other out).
CANARY_DB = "canaryDBpw-7f3c9a1e5b2d4c6e"  # URL-safe: DATABASE_URL embeds it (rule secrets.url_safe)
CANARY_JWT = "cnryJWTqzxw \"dq\" 'sq' $HOME \\bs kvypJWTmrst"  # quotes, $, \ and spaces: escaping is tested
SECRET_ENV = {"MOORING_SECRET_POSTGRES_PASSWORD": CANARY_DB, "MOORING_SECRET_JWT_SECRET": CANARY_JWT}
#: Never in any output: the values, and the fragments any quoting or escaping of them would keep.
CANARIES = (CANARY_DB, CANARY_JWT, "7f3c9a1e5b2d4c6e", "cnryJWTqzxw", "kvypJWTmrst")


#: On a box: no container is still starting or restarting (after a restart: its health check has not run yet).
SERVICES_SETTLED = ("test -z \"$(docker ps -a --filter label=com.docker.compose.project --format '{{.Status}}' "
                    "| grep -e 'health: starting' -e '^Restarting' -e '^Created')\"")


#: Box test files, longest first (measured on 2 cores: about 16, 13, 11 and 4 minutes).
SLOWEST_FIRST = ["test_deploy_safety.py", "test_deploy.py", "test_deploy_rollback.py", "test_snapshot.py"]


def pytest_configure(config):
    # Every test (and every subprocess it starts) works on the test sandbox, never the developer's.
    os.environ.setdefault("MOORING_STATE", str(TEST_STATE))
    os.environ.setdefault("MOORING_SANDBOX_PORT_BASE", TEST_PORT_OFFSET)
    for name, value in SECRET_ENV.items():  # host-free tests' `world` fixture removes these
        os.environ.setdefault(name, value)
    worker = os.environ.get("PYTEST_XDIST_WORKER")  # "gw0", "gw1", ... (set before configure)
    if worker and not os.environ.get("MOORING_TEST_WORKER_SANDBOX"):
        number = int(worker.removeprefix("gw"))
        shared, own = Path(os.environ["MOORING_STATE"]), Path(os.environ["MOORING_STATE"]) / worker
        # Workers share the image archive cache (written by atomic rename): each save costs ~10 s.
        (shared / "cache" / "images").mkdir(parents=True, exist_ok=True)
        (own / "cache").mkdir(parents=True, exist_ok=True)
        if not (own / "cache" / "images").exists():
            (own / "cache" / "images").symlink_to(shared / "cache" / "images")
        os.environ["MOORING_STATE"] = str(own)
        os.environ["MOORING_SANDBOX_PORT_BASE"] = str(
            int(os.environ["MOORING_SANDBOX_PORT_BASE"]) + WORKER_PORT_STEP * (number + 1))
        os.environ["MOORING_TEST_WORKER_SANDBOX"] = worker


@pytest.hookimpl(trylast=True)  # after pytest-randomly's shuffle
def pytest_collection_modifyitems(config, items):
    # MOORING_TEST_ORDER=reverse runs the tests backwards: proof that none needs another's leftovers.
    if os.environ.get("MOORING_TEST_ORDER") == "reverse":
        items.reverse()
    # The slowest files go first (stable sort: every other order stays as shuffled), so under
    # xdist (--dist loadfile) each worker starts on one of them while the others work through
    # the rest. No module relies on what another left: test_deploy.py removes the stack first.
    items.sort(key=lambda item: SLOWEST_FIRST.index(item.path.name) if item.path.name in SLOWEST_FIRST
               else len(SLOWEST_FIRST))


def state_path() -> Path:
    """The test sandbox's state dir (keys, secrets, runs/, releases/) for this session or worker."""
    return Path(os.environ.get("MOORING_STATE", TEST_STATE))


@pytest.fixture(scope="session")
def engine():
    """The Docker engine, or a failure (never a skip: a skipped proof is no proof)."""
    from mooring.deploy import local_docker as docker

    if not docker.engine_running():
        pytest.fail(ENGINE_DOWN)


@pytest.fixture
def world(tmp_path, monkeypatch):
    """A fresh declared world (group_data copy, test secrets, fake hosts), active for this test."""
    from tests.declared_world import make_world

    created = make_world(tmp_path)
    created.activate(monkeypatch)
    return created


@pytest.fixture(scope="session")
def boxes(engine):
    """Docker boxes for this test session (fresh: bare Debian, nothing bootstrapped yet)."""
    from mooring.sandbox import boxes as sandbox

    keep = bool(os.environ.get("MOORING_KEEP_BOXES"))  # iterating: reuse the boxes, keep them after
    if not keep:
        sandbox.down()
    state = sandbox.up(docker_boxes=2, lite_boxes=0)
    yield state
    if not keep:
        sandbox.down()


@pytest.fixture(scope="session")
def bootstrapped(boxes):
    """Bootstrap the session's boxes twice; returns both pyinfra results."""
    from mooring.runner import run_deploy

    first = run_deploy("inventories/sandbox.py", "deploy/bootstrap.py")
    second = run_deploy("inventories/sandbox.py", "deploy/bootstrap.py")
    return first, second


def stand_in_on_path(tmp_path: Path, monkeypatch, name: str, script: str, folder: str = "bin") -> Path:
    """Put an executable ``name`` running the shell ``script`` first on PATH (in
    ``tmp_path/folder``) for the test's duration; returns its path."""
    tools = tmp_path / folder
    tools.mkdir(exist_ok=True)
    stand_in = tools / name
    stand_in.write_text(f"#!/bin/sh\n{script}\n")
    stand_in.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tools}:{os.environ['PATH']}")
    return stand_in


def ssh(box, command: str, user: str = "root", known_hosts: str | None = None, check: bool = False):
    """Run ``command`` on a sandbox box with OpenSSH, host-key checking on."""
    from mooring.sandbox.boxes import load_state

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

    # Inside the tree (pyinfra wants deploy files under its cwd), named per state dir and worker.
    scratch = ROOT / ".mooring" / "test-code"
    scratch.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", suffix=".py", dir=scratch, delete=False) as fh:
        fh.write(code)
    try:
        return run_deploy(inventory, fh.name, limit=limit)
    finally:
        os.unlink(fh.name)


#: The restore drill's node_exporter textfile: a module whose drills fail removes it when done,
#: or the next module's `check`/`drift` on that box reads the failed drill.
DRILL_METRICS = "/var/lib/prometheus/node-exporter/mooring-backup-verify-solacore.prom"


def run_mooring(*args: str, log: list[str] | None = None, group_data: Path | None = None,
                secrets: dict[str, str] | None = None, timeout: int = 900) -> subprocess.CompletedProcess:
    """``python -m mooring ARGS`` as a user runs it, with the session's canary secrets (``secrets``,
    MOORING_SECRET_* → value, override them) and ``group_data`` as MOORING_GROUP_DATA; its stdout
    and stderr are appended to ``log`` (which the ``log`` fixture scans for canaries)."""
    env = {**os.environ, **SECRET_ENV, **(secrets or {})}
    if group_data is not None:
        env["MOORING_GROUP_DATA"] = str(group_data)
    out = subprocess.run([sys.executable, "-m", "mooring", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=timeout, stdin=subprocess.DEVNULL)
    if log is not None:
        log += [out.stdout, out.stderr]
    return out


def group_data_with(tmp: Path, host: str, overrides: str, more: dict[str, str] | None = None) -> Path:
    """A copy of group_data/ under ``tmp`` with ``overrides`` as ``hosts/<host>.yml`` (and each of
    ``more``, host → YAML, as that host's file)."""
    import shutil

    copy = tmp / "group_data"
    shutil.rmtree(copy, ignore_errors=True)
    shutil.copytree(ROOT / "group_data", copy, ignore=shutil.ignore_patterns("__pycache__"))
    (copy / "hosts").mkdir(exist_ok=True)
    for name, text in {host: overrides, **(more or {})}.items():
        (copy / "hosts" / f"{name}.yml").write_text(text)
    return copy


@pytest.fixture
def log():
    """Every output a test collects; at the end no canary secret may be in any of them (modules
    that also scan written files define their own)."""
    texts: list[str] = []
    yield texts
    assert not [c for c in CANARIES if any(c in t for t in texts)], "a secret value leaked"
