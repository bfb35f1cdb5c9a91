"""The sandbox: real SSH boxes in containers on this machine, for deploys and tests.

Two kinds of box, both from the ``mooring/box`` image (bare Debian with sshd and cron):

- ``docker-N``: may run its own dockerd once bootstrapped (extra capabilities, a named volume
  for ``/var/lib/docker``), SSH on ``127.0.0.1:22200+N``, HTTP (box port 80) on ``28000+N``;
- ``lite-N``: sshd and cron only, SSH on ``127.0.0.1:22300+N``.

``MOORING_SANDBOX_PORT_BASE`` adds an offset to every port, so two sandboxes can coexist.

Each state dir (``MOORING_STATE``) owns one sandbox, identified by a hash of its path: every
container and volume carries ``mooring.sandbox.boxes=1`` and ``mooring.sandbox.boxes.id=<id>``, and
:func:`down` removes only its own. The default state dir keeps the plain container names
``mooring-sandbox-<box>``; other state dirs get ``mooring-sandbox-<id8>-<box>``.

Files under ``<state dir>/sandbox/``: ``id_ed25519`` (root's key on every box, kept by
:func:`down`), ``known_hosts`` (each box's host keys, so even the sandbox runs with strict
host-key checking) and ``state.json`` (see :class:`SandboxState`).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import re
import socket
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterator, Literal

from mooring.deploy import local_docker as docker
from mooring.declare.errors import MooringError
from mooring.sandbox.images import ensure_image
from mooring.declare.paths import IMAGES, project_root, state_dir

log = logging.getLogger(__name__)

BOX_IMAGE = "mooring/box:latest"
LABEL = "mooring.sandbox.boxes"
LABEL_ID = "mooring.sandbox.boxes.id"
LABEL_BOX = "mooring.sandbox.boxes.box"
LABEL_KIND = "mooring.sandbox.boxes.kind"
LABEL_STATE = "mooring.sandbox.boxes.state"
PORT_BASE_ENV = "MOORING_SANDBOX_PORT_BASE"
SSH_PORTS = {"docker": 22200, "lite": 22300}
HTTP_PORT = 28000
BANNER_TIMEOUT = 20.0
KEY_ENV = "MOORING_AUTHORIZED_KEYS"

#: What a docker box needs to run its own dockerd here (``--privileged`` fails on this VM).
DIND_FLAGS = [
    "--cap-add", "ALL", "--cap-drop", "SYS_RESOURCE",
    "--security-opt", "seccomp=unconfined",
    "--security-opt", "apparmor=unconfined",
    "--security-opt", "systempaths=unconfined",
    "--device-cgroup-rule", "a *:* rwm",
]

Kind = Literal["docker", "lite"]
KINDS: tuple[Kind, ...] = ("docker", "lite")


class SandboxError(MooringError):
    """The sandbox could not be brought into the asked shape; the message says why and what to do."""


@dataclass
class Box:
    """One sandbox box as recorded in ``state.json``."""

    name: str
    kind: Kind
    container: str
    ssh_port: int
    http_port: int | None = None


@dataclass
class SandboxState:
    """What ``up`` made: the key, the known_hosts file and the boxes (``extra_boxes``: kept
    boxes beyond what the last ``up`` asked for)."""

    key_path: Path
    known_hosts_path: Path
    boxes: list[Box]
    sandbox_id: str = ""
    extra_boxes: list[str] = field(default_factory=list)

    def group(self, kind: Kind) -> list[Box]:
        """The boxes of one kind, in name order.

        >>> state.group("docker")  # doctest: +SKIP
        [Box(name='docker-1', kind='docker', container='mooring-sandbox-docker-1', ssh_port=22201, http_port=28001)]
        """
        return [box for box in self.boxes if box.kind == kind]

    def to_json(self) -> str:
        data = asdict(self)
        data["key_path"], data["known_hosts_path"] = str(self.key_path), str(self.known_hosts_path)
        return json.dumps(data, indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str) -> SandboxState:
        data = json.loads(text)
        return cls(
            key_path=Path(data["key_path"]),
            known_hosts_path=Path(data["known_hosts_path"]),
            boxes=[Box(**box) for box in data["boxes"]],
            sandbox_id=data.get("sandbox_id", ""),
            extra_boxes=list(data.get("extra_boxes", [])),
        )


@dataclass
class BoxStatus:
    """One box as the engine sees it now; ``healthy`` means sshd answers with its banner."""

    name: str
    kind: Kind
    container: str
    state: str  # docker's state ("running", "exited", ...) or "missing"
    ssh_port: int | None
    http_port: int | None
    healthy: bool


@dataclass
class _Container:
    """The parts of ``docker inspect`` the sandbox needs."""

    id: str
    name: str
    box: str
    kind: Kind
    state: str
    image: str
    ports: dict[int, int]  # box port -> host port
    env: dict[str, str]
    labels: dict[str, str]


# -- paths and names ---------------------------------------------------------------------------


def sandbox_dir() -> Path:
    """``<state dir>/sandbox``: the key, known_hosts and state.json."""
    return state_dir() / "sandbox"


def state_path() -> Path:
    """Where :func:`up` writes the :class:`SandboxState`."""
    return sandbox_dir() / "state.json"


def sandbox_id() -> str:
    """A short hash of the resolved state dir: which containers and volumes belong to it."""
    return hashlib.sha256(str(state_dir().resolve()).encode()).hexdigest()[:12]


def _is_default_sandbox() -> bool:
    return state_dir().resolve() == (project_root() / ".mooring").resolve()


def container_name(box: str) -> str:
    """The container for box ``box``: ``mooring-sandbox-docker-1`` in the default state dir.

    >>> container_name("docker-1")  # doctest: +SKIP
    'mooring-sandbox-docker-1'
    """
    if _is_default_sandbox():
        return f"mooring-sandbox-{box}"
    return f"mooring-sandbox-{sandbox_id()[:8]}-{box}"


def volume_name(box: str) -> str:
    """The named volume that holds a docker box's ``/var/lib/docker``."""
    return f"{container_name(box)}-docker"


def port_offset() -> int:
    """``MOORING_SANDBOX_PORT_BASE`` as an int (0 when unset)."""
    raw = os.environ.get(PORT_BASE_ENV, "").strip() or "0"
    try:
        return int(raw)
    except ValueError:
        raise SandboxError(f"{PORT_BASE_ENV}={raw!r} is not a whole number (fix: e.g. {PORT_BASE_ENV}=1000)") from None


def planned_box(kind: Kind, index: int) -> Box:
    """The box ``<kind>-<index>`` with its fixed ports.

    >>> planned_box("docker", 1)  # doctest: +SKIP
    Box(name='docker-1', kind='docker', container='mooring-sandbox-docker-1', ssh_port=22201, http_port=28001)
    """
    name = f"{kind}-{index}"
    offset = port_offset()
    http_port = HTTP_PORT + index + offset if kind == "docker" else None
    return Box(name, kind, container_name(name), SSH_PORTS[kind] + index + offset, http_port)


def _sort_key(name: str) -> tuple[int, int, str]:
    match = re.fullmatch(r"(docker|lite)-(\d+)", name)
    if not match:
        return (len(KINDS), 0, name)
    return (KINDS.index(match.group(1)), int(match.group(2)), name)


# -- the engine ----------------------------------------------------------------------------------


def _own_filters() -> list[str]:
    return ["--filter", f"label={LABEL}=1", "--filter", f"label={LABEL_ID}={sandbox_id()}"]


def _inspect(names: list[str]) -> list[dict[str, Any]]:
    if not names:
        return []
    inspected: list[dict[str, Any]] = json.loads(docker.run(["container", "inspect", *names]).stdout)
    return inspected


def _parse_container(raw: dict[str, Any]) -> _Container:
    labels = raw["Config"].get("Labels") or {}
    ports: dict[int, int] = {}
    for spec, bindings in (raw["HostConfig"].get("PortBindings") or {}).items():
        if bindings:
            ports[int(spec.split("/")[0])] = int(bindings[0]["HostPort"])
    env = dict(item.split("=", 1) for item in raw["Config"].get("Env") or [] if "=" in item)
    return _Container(
        id=raw["Id"],
        name=raw["Name"].lstrip("/"),
        box=labels.get(LABEL_BOX, ""),
        kind=labels.get(LABEL_KIND, "lite"),
        state=raw["State"]["Status"],
        image=raw["Image"],
        ports=ports,
        env=env,
        labels=labels,
    )


def _own_containers() -> dict[str, _Container]:
    """This sandbox's containers by box name."""
    names = docker.run(["ps", "-a", "--format", "{{.Names}}", *_own_filters()]).stdout.split()
    containers = (_parse_container(raw) for raw in _inspect(names))
    return {c.box: c for c in containers}


def _foreign_container(name: str) -> _Container | None:
    """A container called ``name`` that belongs to another sandbox (or to nobody we know)."""
    result = docker.run(["container", "inspect", name], check=False)
    if result.rc != 0:
        return None
    container = _parse_container(json.loads(result.stdout)[0])
    return None if container.labels.get(LABEL_ID) == sandbox_id() else container


def _box_from_container(container: _Container) -> Box:
    return Box(container.box, container.kind, container.name, container.ports.get(22, 0), container.ports.get(80))


def _labels(box: Box) -> list[str]:
    labels = {LABEL: "1", LABEL_ID: sandbox_id(), LABEL_BOX: box.name, LABEL_KIND: box.kind,
              LABEL_STATE: str(state_dir().resolve())}
    return [arg for key, value in labels.items() for arg in ("--label", f"{key}={value}")]


def _run_args(box: Box, public_key: str) -> list[str]:
    args = ["run", "-d", "--init", "--name", box.container, "--hostname", box.name, *_labels(box),
            "-e", f"{KEY_ENV}={public_key}", "-p", f"127.0.0.1:{box.ssh_port}:22"]
    if box.kind == "docker":
        args += ["-p", f"127.0.0.1:{box.http_port}:80", *DIND_FLAGS, "-e", "MOORING_DIND=1",
                 "-v", f"{volume_name(box.name)}:/var/lib/docker"]
    return [*args, BOX_IMAGE]


def _create(box: Box, public_key: str) -> str:
    """Create and start ``box``; return its container ID."""
    log.info("creating box %s (ssh 127.0.0.1:%s)", box.name, box.ssh_port)
    if box.kind == "docker":
        docker.run(["volume", "create", *_labels(box), volume_name(box.name)])
    try:
        return docker.run(_run_args(box, public_key)).stdout.strip()
    except docker.DockerError as error:
        # A failed `docker run -d` can leave a created container behind: it is ours and empty.
        docker.run(["rm", "-f", box.container], check=False)
        if "port is already allocated" in error.stderr or "address already in use" in error.stderr:
            ports = " or ".join(str(port) for port in (box.ssh_port, box.http_port) if port)
            raise SandboxError(
                f"box {box.name}: port {ports} on 127.0.0.1 is taken "
                f"(fix: free it, or set {PORT_BASE_ENV} to move this sandbox's ports)"
            ) from error
        raise


def _sync_key(container: _Container, public_key: str) -> None:
    """Add the sandbox key to a box made with an older key (append only: never drop a key)."""
    if container.env.get(KEY_ENV, "").strip() == public_key:
        return
    log.info("adding the current sandbox key to box %s", container.box)
    script = ('f=/root/.ssh/authorized_keys; grep -qxF "$1" "$f" 2>/dev/null && exit 0; '
              'install -d -m 700 /root/.ssh && printf "%s\\n" "$1" >>"$f" && chmod 600 "$f"')
    docker.run(["exec", container.name, "sh", "-c", script, "sh", public_key])


# -- keys and host keys ----------------------------------------------------------------------------


def ensure_key() -> str:
    """Make the sandbox's ed25519 key once (no passphrase, mode 0600); return the public key line.

    >>> ensure_key()  # doctest: +SKIP
    'ssh-ed25519 AAAAC3Nza... mooring-sandbox'
    """
    key = sandbox_dir() / "id_ed25519"
    if not key.exists():
        log.info("generating the sandbox SSH key %s", key)
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "mooring-sandbox", "-f", str(key)],
                       check=True, stdout=subprocess.DEVNULL)
    key.chmod(0o600)
    return key.with_suffix(".pub").read_text().strip()


def _wait_for_banner(box: Box, deadline: float) -> None:
    while not ssh_banner(box.ssh_port, timeout=0.5):
        if time.monotonic() > deadline:
            logs = docker.run(["logs", "--tail", "20", box.container], check=False)
            raise SandboxError(
                f"box {box.name}: no sshd banner on 127.0.0.1:{box.ssh_port} after {BANNER_TIMEOUT:.0f} s; "
                f"last container output:\n{(logs.stdout + logs.stderr).strip() or '(none)'}"
            )
        time.sleep(0.1)


def _host_keys(box: Box, container_id: str) -> list[str]:
    """The box's public host keys (``keytype key`` pairs), read from its container.

    Read from the files sshd serves rather than scanned over the network: a scan on a loaded
    machine can time out on some key types and record, say, only the RSA key; paramiko then
    offers ssh-rsa first, OpenSSH refuses its SHA-1 form, negotiates ed25519 and finds the key
    "changed". The engine is the authority on what runs in the container, so nothing is trusted
    on first use either.
    """
    listed = docker.run(["exec", container_id, "sh", "-c", "cat /etc/ssh/ssh_host_*_key.pub"], check=False)
    keys = sorted(" ".join(line.split()[:2]) for line in listed.stdout.splitlines() if len(line.split()) >= 2)
    if listed.rc != 0 or not keys:
        raise SandboxError(f"box {box.name}: sshd answers on 127.0.0.1:{box.ssh_port} but its host keys "
                           f"cannot be read: {listed.stderr.strip() or 'no /etc/ssh/ssh_host_*_key.pub'}")
    return keys


def _host_key_lines(box: Box, container_id: str) -> list[str]:
    """Wait for the box's sshd, then its known_hosts lines, each tagged with the container."""
    _wait_for_banner(box, time.monotonic() + BANNER_TIMEOUT)
    tag = f"mooring-sandbox:{box.name}:{container_id[:12]}"
    return [f"[127.0.0.1]:{box.ssh_port} {key} {tag}" for key in _host_keys(box, container_id)]


def _write_atomic(path: Path, text: str, mode: int = 0o644) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    tmp.chmod(mode)
    tmp.replace(path)


@contextmanager
def _locked() -> Iterator[None]:
    """One ``up``/``down`` at a time per state dir."""
    sandbox_dir().mkdir(parents=True, exist_ok=True, mode=0o700)
    with open(sandbox_dir() / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


# -- public API ----------------------------------------------------------------------------------


def up(docker_boxes: int = 2, lite_boxes: int = 0) -> SandboxState:
    """Make sure boxes ``docker-1..docker_boxes`` and ``lite-1..lite_boxes`` run and answer SSH.

    Running boxes are left alone, stopped ones started, missing ones created. Boxes beyond the
    asked numbers are kept and named in ``extra_boxes``. Writes known_hosts and state.json.

    >>> up(docker_boxes=2, lite_boxes=10).group("lite")[0].ssh_port  # doctest: +SKIP
    22301
    """
    if docker_boxes < 0 or lite_boxes < 0:
        raise SandboxError("box counts cannot be negative")
    if not docker.engine_running():
        raise SandboxError(f"the docker engine does not answer `{docker.DOCKER} info` "
                           "(fix: start it, e.g. `dockerd >/var/log/dockerd.log 2>&1 &`)")
    wanted = [planned_box("docker", i) for i in range(1, docker_boxes + 1)]
    wanted += [planned_box("lite", j) for j in range(1, lite_boxes + 1)]
    with _locked():
        image = ensure_image(BOX_IMAGE, IMAGES / "box")
        public_key = ensure_key()
        existing = _own_containers()
        created = _create_missing(wanted, existing, public_key)
        for container in existing.values():
            _revive(container, image, public_key)

        extra = sorted((name for name in existing if name not in {box.name for box in wanted}), key=_sort_key)
        if extra:
            log.warning("keeping %d box(es) beyond what was asked: %s (`mooring sandbox down` removes all)",
                        len(extra), ", ".join(extra))
        boxes = [box for box, _ in created] + [_box_from_container(c) for c in existing.values()]
        boxes.sort(key=lambda box: _sort_key(box.name))
        _warn_moved_ports(wanted, boxes)

        state = SandboxState(sandbox_dir() / "id_ed25519", sandbox_dir() / "known_hosts", boxes, sandbox_id(), extra)
        ids = {box.name: container_id for box, container_id in created}
        ids.update({name: container.id for name, container in existing.items()})
        _record_host_keys(state, ids)
        _write_atomic(state_path(), state.to_json())
        return state


def _create_missing(wanted: list[Box], existing: dict[str, _Container], public_key: str) -> list[tuple[Box, str]]:
    """Create the wanted boxes that have no container yet; return them with their container IDs."""
    missing = [box for box in wanted if box.name not in existing]
    for box in missing:
        _refuse_foreign(box)
    with ThreadPoolExecutor(max_workers=8) as pool:
        return list(zip(missing, pool.map(lambda box: _create(box, public_key), missing)))


def _warn_moved_ports(wanted: list[Box], boxes: list[Box]) -> None:
    actual = {box.name: box for box in boxes}
    for box in wanted:
        if actual[box.name] != box:
            log.warning("box %s keeps the ports it was made with (ssh %s, http %s); %s changed since?",
                        box.name, actual[box.name].ssh_port, actual[box.name].http_port, PORT_BASE_ENV)


def _record_host_keys(state: SandboxState, container_ids: dict[str, str]) -> None:
    """Wait until every box's sshd answers and write all their host keys to known_hosts."""
    with ThreadPoolExecutor(max_workers=8) as pool:
        scans = pool.map(lambda box: _host_key_lines(box, container_ids[box.name]), state.boxes)
        lines = [line for box_lines in scans for line in box_lines]
    _write_atomic(state.known_hosts_path, "".join(f"{line}\n" for line in lines))


def _refuse_foreign(box: Box) -> None:
    other = _foreign_container(box.container)
    if other:
        owner = other.labels.get(LABEL_STATE, "something outside mooring's sandbox")
        raise SandboxError(
            f"container {box.container} already exists and belongs to {owner} "
            f"(fix: run `mooring sandbox down` there, or use another MOORING_STATE and {PORT_BASE_ENV})"
        )


def _revive(container: _Container, image: str, public_key: str) -> None:
    if container.state != "running":
        log.info("starting stopped box %s", container.box)
        docker.run(["start", container.name])
    _sync_key(container, public_key)
    if container.image != image:
        log.warning("box %s runs an older %s; `mooring sandbox down` then `up` recreates it",
                    container.box, BOX_IMAGE)


def down() -> list[str]:
    """Remove this sandbox's containers and volumes (and state.json, known_hosts; the key stays).

    Only containers and volumes labelled with this state dir's sandbox id are touched.
    Returns the removed container and volume names.

    >>> down()  # doctest: +SKIP
    ['mooring-sandbox-docker-1', 'mooring-sandbox-docker-1-docker']
    """
    with _locked():
        containers = docker.run(["ps", "-a", "--format", "{{.Names}}", *_own_filters()]).stdout.split()
        if containers:
            log.info("removing %s", ", ".join(containers))
            docker.run(["rm", "-f", "-v", *containers])
        volumes = docker.run(["volume", "ls", "-q", *_own_filters()]).stdout.split()
        if volumes:
            docker.run(["volume", "rm", "-f", *volumes])
        for path in (state_path(), sandbox_dir() / "known_hosts"):
            path.unlink(missing_ok=True)
        return sorted(containers) + sorted(volumes)


def load_state() -> SandboxState | None:
    """The state the last :func:`up` wrote, or None when there is none.

    >>> load_state().key_path  # doctest: +SKIP
    PosixPath('/work/main/.mooring/sandbox/id_ed25519')
    """
    path = state_path()
    if not path.exists():
        return None
    return SandboxState.from_json(path.read_text())


def ssh_banner(port: int, host: str = "127.0.0.1", timeout: float = 1.0) -> bool:
    """True when something on ``host:port`` greets like sshd (``SSH-2.0-...``)."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as conn:
            conn.settimeout(timeout)
            return conn.recv(64).startswith(b"SSH-")
    except OSError:
        return False


def status() -> list[BoxStatus]:
    """Every box of this sandbox (engine and state.json together) with its health.

    >>> [(s.name, s.state, s.healthy) for s in status()]  # doctest: +SKIP
    [('docker-1', 'running', True), ('docker-2', 'running', True)]
    """
    containers = _own_containers()
    state = load_state()
    recorded = {box.name: box for box in state.boxes} if state else {}
    names = sorted(set(containers) | set(recorded), key=_sort_key)

    def one(name: str) -> BoxStatus:
        container = containers.get(name)
        if container is None:
            box = recorded[name]
            return BoxStatus(name, box.kind, box.container, "missing", box.ssh_port, box.http_port, False)
        ssh_port = container.ports.get(22)
        healthy = container.state == "running" and ssh_port is not None and ssh_banner(ssh_port)
        return BoxStatus(name, container.kind, container.name, container.state, ssh_port,
                         container.ports.get(80), healthy)

    with ThreadPoolExecutor(max_workers=8) as pool:
        return list(pool.map(one, names))


def format_status(boxes: list[BoxStatus]) -> str:
    """A table of :func:`status` for people.

    >>> print(format_status(status()))  # doctest: +SKIP
    BOX       KIND    STATE    SSH              HTTP             HEALTH
    docker-1  docker  running  127.0.0.1:22201  127.0.0.1:28001  ok
    """
    if not boxes:
        return "no sandbox boxes (run `mooring sandbox up`)"

    def addr(port: int | None) -> str:
        return f"127.0.0.1:{port}" if port else "-"

    rows = [("BOX", "KIND", "STATE", "SSH", "HTTP", "HEALTH")]
    rows += [(b.name, b.kind, b.state, addr(b.ssh_port), addr(b.http_port), "ok" if b.healthy else "DOWN")
             for b in boxes]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows)


def host_data(state: SandboxState, box: Box) -> dict[str, Any]:
    """pyinfra host data to reach ``box`` as root with strict host-key checking.

    >>> host_data(state, state.boxes[0])["ssh_port"]  # doctest: +SKIP
    22201
    """
    return {
        "ssh_hostname": "127.0.0.1",
        "ssh_port": box.ssh_port,
        "ssh_user": "root",
        "ssh_key": str(state.key_path),
        "ssh_known_hosts_file": str(state.known_hosts_path),
        "ssh_strict_host_key_checking": "yes",
        "ssh_allow_agent": False,
        "ssh_look_for_keys": False,
        "ssh_connect_retries": 2,
        "mooring_sandbox_http_port": box.http_port,
        # Where the controller reaches the box's port 80 (health gate, checks).
        **({"mooring_http_base": f"http://127.0.0.1:{box.http_port}"} if box.http_port else {}),
    }
