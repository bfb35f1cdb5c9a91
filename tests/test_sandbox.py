"""The sandbox of real SSH boxes, against the real docker engine.

Every test sandbox lives in its own temp state dir with its own port offset, so the project's
main sandbox (default state dir, same labels) is never touched: ``down`` here must leave it be.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import paramiko
import pytest

from mooring.deploy import local_docker as docker
from mooring.sandbox import boxes as sandbox
from mooring.declare.paths import ROOT
from mooring.sandbox.boxes import Box, SandboxState
from tests.conftest import stand_in_on_path

PYINFRA = Path(sys.executable).parent / "pyinfra"
#: Port offsets this module adds to PORT_BASE for its extra sandboxes (see the last tests).
EXTRA_OFFSETS = (0, 3, 6, 8)


def port_is_free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port_base() -> int:
    """A port offset whose every box port is free now: other sandboxes (a developer's, CI's, the
    main one, other xdist workers') may be running on this engine. ``MOORING_TEST_PORT_BASE`` pins
    it. First choice: just above this session's own sandbox (``MOORING_SANDBOX_PORT_BASE`` + 10,
    a range no other worker's sandbox uses)."""
    if "MOORING_TEST_PORT_BASE" in os.environ:
        return int(os.environ["MOORING_TEST_PORT_BASE"])
    preferred = int(os.environ.get(sandbox.PORT_BASE_ENV) or 0) + 10
    fallback = 2000 + 10 * (os.getpid() % 50)
    for base in [preferred, *range(fallback, fallback + 2000, 10)]:
        ports = {p + base + extra for extra in EXTRA_OFFSETS for p in (22201, 22301, 22302, 28001)}
        if all(port_is_free(port) for port in ports):
            return base
    raise RuntimeError("no free port range for the test sandboxes")


@contextmanager
def sandbox_env(state: Path, port_base: int) -> Iterator[None]:
    """Point mooring at another state dir and port offset for the duration."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MOORING_STATE", str(state))
        mp.setenv(sandbox.PORT_BASE_ENV, str(port_base))
        yield


def container_ids(names: list[str]) -> dict[str, str]:
    out = docker.run(["container", "inspect", "--format", "{{.Name}} {{.Id}}", *names]).stdout
    return dict(line.lstrip("/").split() for line in out.splitlines())


def labelled(kind: str, sandbox_id: str) -> list[str]:
    """Containers (kind="ps") or volumes (kind="volume") of one sandbox."""
    filters = ["--filter", "label=mooring.sandbox.boxes=1", "--filter", f"label=mooring.sandbox.boxes.id={sandbox_id}"]
    if kind == "ps":
        return docker.run(["ps", "-a", "--format", "{{.Names}}", *filters]).stdout.split()
    return docker.run(["volume", "ls", "-q", *filters]).stdout.split()


def ssh_client(box: Box, key: Path, known_hosts: Path) -> paramiko.SSHClient:
    """Log in as root with strict host-key checking against ``known_hosts`` only."""
    client = paramiko.SSHClient()
    client.load_host_keys(str(known_hosts))
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    client.connect("127.0.0.1", port=box.ssh_port, username="root", key_filename=str(key),
                   allow_agent=False, look_for_keys=False, timeout=10)
    return client


def run_on(box: Box, state: SandboxState, command: str) -> str:
    client = ssh_client(box, state.key_path, state.known_hosts_path)
    try:
        _, stdout, _ = client.exec_command(command, timeout=10)
        return stdout.read().decode().strip()
    finally:
        client.close()


@pytest.fixture(scope="module")
def port_base(engine) -> int:
    """The port offset of this module's sandboxes (chosen when the first box test needs it)."""
    return free_port_base()


@pytest.fixture(scope="module")
def lab(engine, port_base: int, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxState]:
    """One docker box and two lite boxes in a throwaway state dir; removed afterwards. The engine
    fixture fails (never skips) when Docker is down, like every other box test."""
    with sandbox_env(tmp_path_factory.mktemp("state"), port_base):
        try:
            yield sandbox.up(docker_boxes=1, lite_boxes=2)
        finally:
            sandbox.down()


# -- without the engine ----------------------------------------------------------------------------


def test_state_round_trips_through_json(tmp_path: Path) -> None:
    state = SandboxState(
        tmp_path / "id_ed25519", tmp_path / "known_hosts",
        [Box("docker-1", "docker", "mooring-sandbox-docker-1", 22201, 28001),
         Box("lite-1", "lite", "mooring-sandbox-lite-1", 22301, None)],
        sandbox_id="abc", extra_boxes=["lite-1"],
    )
    assert SandboxState.from_json(state.to_json()) == state
    assert json.loads(state.to_json())["boxes"][1]["http_port"] is None


def test_ports_and_names_are_fixed_and_offset(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MOORING_STATE", raising=False)
    monkeypatch.delenv(sandbox.PORT_BASE_ENV, raising=False)
    assert sandbox.planned_box("docker", 2) == Box("docker-2", "docker", "mooring-sandbox-docker-2", 22202, 28002)
    assert sandbox.planned_box("lite", 7) == Box("lite-7", "lite", "mooring-sandbox-lite-7", 22307, None)

    with sandbox_env(tmp_path, 1000):
        box = sandbox.planned_box("docker", 1)
        assert (box.ssh_port, box.http_port) == (23201, 29001)
        assert box.container == f"mooring-sandbox-{sandbox.sandbox_id()[:8]}-docker-1"
        assert sandbox.volume_name("docker-1") == f"{box.container}-docker"


def test_bad_port_base_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(sandbox.PORT_BASE_ENV, "ten")
    with pytest.raises(sandbox.SandboxError, match="MOORING_SANDBOX_PORT_BASE='ten' is not a whole number"):
        sandbox.port_offset()


def test_format_status_lists_every_box() -> None:
    text = sandbox.format_status([
        sandbox.BoxStatus("docker-1", "docker", "c1", "running", 22201, 28001, True),
        sandbox.BoxStatus("lite-1", "lite", "c2", "exited", 22301, None, False),
    ])
    assert text.splitlines() == [
        "BOX       KIND    STATE    SSH              HTTP             HEALTH",
        "docker-1  docker  running  127.0.0.1:22201  127.0.0.1:28001  ok",
        "lite-1    lite    exited   127.0.0.1:22301  -                DOWN",
    ]
    assert "mooring sandbox up" in sandbox.format_status([])


def test_inventory_without_state_says_run_up_first(tmp_path: Path) -> None:
    env = {**os.environ, "MOORING_STATE": str(tmp_path)}
    proc = subprocess.run([str(PYINFRA), str(ROOT / "inventories" / "sandbox.py"), "debug-inventory"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert f"no sandbox state at {tmp_path}/sandbox/state.json: run `mooring sandbox up` first" in output
    assert "Traceback" not in output


# -- real boxes ------------------------------------------------------------------------------------


@pytest.mark.boxes
def test_up_makes_the_asked_boxes(lab: SandboxState, port_base: int) -> None:
    assert [(b.name, b.kind, b.ssh_port, b.http_port) for b in lab.boxes] == [
        ("docker-1", "docker", 22201 + port_base, 28001 + port_base),
        ("lite-1", "lite", 22301 + port_base, None),
        ("lite-2", "lite", 22302 + port_base, None),
    ]
    assert lab.extra_boxes == []
    assert sandbox.load_state() == lab
    assert lab.key_path.stat().st_mode & 0o777 == 0o600
    hosts = {line.split()[0] for line in lab.known_hosts_path.read_text().splitlines()}
    assert hosts == {f"[127.0.0.1]:{b.ssh_port}" for b in lab.boxes}


@pytest.mark.boxes
def test_up_again_keeps_the_same_containers_and_ports(lab: SandboxState) -> None:
    before = container_ids([b.container for b in lab.boxes])
    again = sandbox.up(docker_boxes=1, lite_boxes=2)
    assert again == lab
    assert container_ids([b.container for b in again.boxes]) == before


@pytest.mark.boxes
def test_status_is_healthy(lab: SandboxState) -> None:
    statuses = sandbox.status()
    assert [(s.name, s.state, s.ssh_port, s.healthy) for s in statuses] == [
        (b.name, "running", b.ssh_port, True) for b in lab.boxes
    ]


@pytest.mark.boxes
def test_ssh_works_with_strict_host_key_checking(lab: SandboxState) -> None:
    for box in lab.boxes:
        assert run_on(box, lab, "hostname") == box.name


@pytest.mark.boxes
def test_ssh_refuses_boxes_missing_from_known_hosts(lab: SandboxState, tmp_path: Path) -> None:
    empty = tmp_path / "known_hosts"
    empty.touch()
    with pytest.raises(paramiko.SSHException, match="not found in known_hosts"):
        ssh_client(lab.boxes[0], lab.key_path, empty)


@pytest.mark.boxes
def test_ssh_refuses_another_boxes_host_key(lab: SandboxState, tmp_path: Path) -> None:
    lite_1, lite_2 = lab.group("lite")
    swapped = tmp_path / "known_hosts"
    swapped.write_text("".join(
        line.replace(f"[127.0.0.1]:{lite_1.ssh_port} ", f"[127.0.0.1]:{lite_2.ssh_port} ") + "\n"
        for line in lab.known_hosts_path.read_text().splitlines()
        if line.startswith(f"[127.0.0.1]:{lite_1.ssh_port} ")
    ))
    with pytest.raises(paramiko.BadHostKeyException):
        ssh_client(lite_2, lab.key_path, swapped)


@pytest.mark.boxes
def test_docker_box_is_ready_for_docker(lab: SandboxState) -> None:
    box = lab.group("docker")[0]
    assert run_on(box, lab, "cat /etc/default/docker") == 'ulimit() { command ulimit "$@" 2>/dev/null || true; }'
    assert run_on(box, lab, "findmnt -no OPTIONS /sys/fs/cgroup/memory").startswith("rw,")
    assert run_on(box, lab, "command -v dockerd || echo bare") == "bare"
    lite = lab.group("lite")[0]
    assert run_on(lite, lab, "test -e /etc/default/docker && echo yes || echo no") == "no"


@pytest.mark.boxes
def test_pyinfra_reaches_every_box_through_the_inventory(lab: SandboxState, tmp_path: Path) -> None:
    # From an empty cwd, so group_data/ shims in the tree do not take part.
    env = {**os.environ, "MOORING_STATE": str(lab.key_path.parent.parent)}
    proc = subprocess.run([str(PYINFRA), "-y", str(ROOT / "inventories" / "sandbox.py"), "fact", "server.Hostname"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    output = proc.stdout + proc.stderr  # pyinfra logs to stderr
    assert proc.returncode == 0, output
    for box in lab.boxes:
        assert f'"{box.name}": "{box.name}"' in output


@pytest.mark.boxes
def test_a_stopped_box_is_started_again(lab: SandboxState) -> None:
    lite_2 = lab.group("lite")[1]
    before = container_ids([lite_2.container])
    docker.run(["stop", "-t", "1", lite_2.container])
    assert sandbox.up(docker_boxes=1, lite_boxes=2) == lab
    assert container_ids([lite_2.container]) == before
    assert run_on(lite_2, lab, "hostname") == "lite-2"


@pytest.mark.boxes
def test_a_recreated_box_gets_its_new_host_keys_recorded(lab: SandboxState) -> None:
    lite_1 = lab.group("lite")[0]
    def recorded() -> list[str]:
        prefix = f"[127.0.0.1]:{lite_1.ssh_port} "
        return [line for line in lab.known_hosts_path.read_text().splitlines() if line.startswith(prefix)]
    before = recorded()
    docker.run(["rm", "-f", lite_1.container])
    assert sandbox.up(docker_boxes=1, lite_boxes=2) == lab
    after = recorded()
    assert len(after) == len(before) == 3  # rsa, ecdsa, ed25519: no stale line kept
    assert not set(line.split()[2] for line in after) & set(line.split()[2] for line in before)
    assert run_on(lite_1, lab, "hostname") == "lite-1"


@pytest.mark.boxes
def test_host_keys_come_from_the_box_not_from_a_partial_scan(
        lab: SandboxState, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """On a loaded machine ``ssh-keyscan -T 1`` once recorded only a box's RSA key: paramiko then
    offered ssh-rsa, OpenSSH refused its SHA-1 form, ed25519 was negotiated and the box refused as
    "changed". A stand-in answering RSA only replays that scan; every key is still recorded."""
    stand_in_on_path(tmp_path, monkeypatch, "ssh-keyscan", f'exec {shutil.which("ssh-keyscan")} -t rsa "$@"')
    lite_2 = lab.group("lite")[1]
    docker.run(["rm", "-f", lite_2.container])
    assert sandbox.up(docker_boxes=1, lite_boxes=2) == lab
    prefix = f"[127.0.0.1]:{lite_2.ssh_port} "
    recorded = [line.split() for line in lab.known_hosts_path.read_text().splitlines() if line.startswith(prefix)]
    assert sorted(fields[1] for fields in recorded) == ["ecdsa-sha2-nistp256", "ssh-ed25519", "ssh-rsa"]
    env = {**os.environ, "MOORING_STATE": str(lab.key_path.parent.parent)}
    proc = subprocess.run([str(PYINFRA), "-y", "--limit", "lite-2", str(ROOT / "inventories" / "sandbox.py"),
                           "fact", "server.Hostname"], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert '"lite-2": "lite-2"' in proc.stdout + proc.stderr


@pytest.mark.boxes
def test_asking_for_fewer_boxes_keeps_the_others(lab: SandboxState) -> None:
    fewer = sandbox.up(docker_boxes=1, lite_boxes=1)
    assert fewer.extra_boxes == ["lite-2"]
    assert [b.name for b in fewer.boxes] == ["docker-1", "lite-1", "lite-2"]
    assert all(s.healthy for s in sandbox.status())
    assert sandbox.up(docker_boxes=1, lite_boxes=2).extra_boxes == []


@pytest.mark.boxes
def test_down_removes_exactly_its_own_sandbox(lab: SandboxState, port_base: int, tmp_path: Path) -> None:
    with sandbox_env(tmp_path / "other", port_base + 6):
        other = sandbox.up(docker_boxes=0, lite_boxes=1)
    with sandbox_env(tmp_path / "mine", port_base + 3):
        mine = sandbox.up(docker_boxes=1, lite_boxes=1)
        removed = sandbox.down()
        assert sorted(removed) == sorted([b.container for b in mine.boxes] + [sandbox.volume_name("docker-1")])
        assert labelled("ps", mine.sandbox_id) == labelled("volume", mine.sandbox_id) == []
        assert sandbox.load_state() is None
        assert not mine.known_hosts_path.exists()
        assert mine.key_path.exists()
        assert sandbox.status() == []
        assert sandbox.down() == []
    try:
        assert labelled("ps", other.sandbox_id) == [other.boxes[0].container]
        assert len(labelled("ps", lab.sandbox_id)) == 3
    finally:
        with sandbox_env(tmp_path / "other", port_base + 6):
            sandbox.down()


@pytest.mark.boxes
def test_a_taken_port_is_a_clear_error(lab: SandboxState, port_base: int, tmp_path: Path) -> None:
    with sandbox_env(tmp_path, port_base + 8), socket.socket() as squatter:
        box = sandbox.planned_box("lite", 1)
        squatter.bind(("127.0.0.1", box.ssh_port))
        squatter.listen()
        with pytest.raises(sandbox.SandboxError, match=f"port {box.ssh_port} .* is taken .*MOORING_SANDBOX_PORT_BASE"):
            sandbox.up(docker_boxes=0, lite_boxes=1)
        assert labelled("ps", sandbox.sandbox_id()) == []
