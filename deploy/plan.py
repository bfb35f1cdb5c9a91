"""The hand-off between the deploy files and the ``mooring`` command: typed per-host plans.

``mooring deploy`` sets ``MOORING_RUN_DIR`` (and ``MOORING_RUN_ID``) before it starts pyinfra;
the deploy files (which run on the controller) write what they decided for each host there as
a frozen dataclass turned into JSON: release number and ID, the rollback target, what changed,
where to probe health. The command writes back its verdict (promote, roll back) the same way.
A plain ``pyinfra`` run has no run directory and writes nothing.
"""

from __future__ import annotations

import json
import os
import socket
import uuid
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, TypeVar

RUN_DIR_ENV = "MOORING_RUN_DIR"
RUN_ID_ENV = "MOORING_RUN_ID"
RUN_PID_ENV = "MOORING_RUN_PID"
COMMAND_ENV = "MOORING_COMMAND"
BACKUP_FILE_ENV = "MOORING_BACKUP_FILE"  # ``mooring backup verify --file NAME``

_PROCESS_RUN_ID = uuid.uuid4().hex[:12]


class Op:
    """The stack role's operation names (``Stack | <name>`` in pyinfra's results)."""

    LOCKED = "Deploy lock"
    RELEASE_STAGED = "Release staged"
    MIGRATIONS = "Migrations"
    COMPOSE_UP = "Compose up (changed services only)"
    RESTART = "Restart"
    RELEASE_PROMOTED = "Release promoted"
    UNLOCKED = "Deploy lock released"

    #: Operations after which containers may have changed (rollback must restart what changed).
    TOUCH_CONTAINERS = (MIGRATIONS, COMPOSE_UP, RESTART)

    @staticmethod
    def full(name: str) -> str:
        return f"Stack | {name}"


def run_dir() -> Path | None:
    """The current run directory, or None outside ``mooring`` runs."""
    value = os.environ.get(RUN_DIR_ENV)
    return Path(value) if value else None


def run_id() -> str:
    """This run's ID: the ``mooring`` command's, or one per pyinfra process for plain runs."""
    return os.environ.get(RUN_ID_ENV) or _PROCESS_RUN_ID


def lock_owner() -> dict[str, Any]:
    """Who this run is, as written into a host's deploy lock (no secrets)."""
    import datetime as dt
    import getpass

    pids = [os.getpid()]
    if os.environ.get(RUN_PID_ENV, "").isdigit():
        pids.append(int(os.environ[RUN_PID_ENV]))
    return {
        "run": run_id(),
        "operator": os.environ.get("MOORING_OPERATOR") or getpass.getuser(),
        "controller": socket.gethostname(),
        "pids": pids,
        "command": os.environ.get(COMMAND_ENV) or "pyinfra deploy/stack.py",
        "started": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    }


def holder_gone(owner: dict[str, Any]) -> bool:
    """True when a lock's holder ran on this controller and none of its processes is alive."""
    if owner.get("controller") != socket.gethostname():
        return False
    for pid in owner.get("pids") or []:
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            continue
        except (PermissionError, ValueError, TypeError):
            return False
        return False
    return True


def describe_holder(holder: dict) -> str:
    """One line naming a lock's holder.

    >>> describe_holder({"run": "ab12", "operator": "ana", "controller": "laptop", "command": "mooring deploy",
    ...           "started": "2026-11-27T10:00:00+00:00", "pids": [42]})
    'run ab12 (mooring deploy) by ana@laptop since 2026-11-27T10:00:00+00:00, pids 42'
    """
    if not holder:
        return "an unknown run (no readable owner record)"
    pids = ", ".join(str(p) for p in holder.get("pids") or []) or "?"
    return (f"run {holder.get('run', '?')} ({holder.get('command', '?')}) by {holder.get('operator', '?')}"
            f"@{holder.get('controller', '?')} since {holder.get('started', '?')}, pids {pids}")


@dataclass(frozen=True)
class ReleaseRef:
    """A release on a host: its number and content ID."""

    number: int
    release_id: str


T = TypeVar("T", bound="_Plan")


@dataclass(frozen=True)
class _Plan:
    """JSON round trip for the plan dataclasses (unknown keys are ignored)."""

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls: type[T], text: str) -> T:
        data = json.loads(text)
        known = {f.name: f for f in fields(cls)}
        values = {}
        for name, value in data.items():
            if name not in known:
                continue
            if name in _REF_FIELDS and value is not None:
                value = ReleaseRef(**value)
            elif isinstance(value, list):
                value = tuple(tuple(v) if isinstance(v, list) else v for v in value)
            values[name] = value
        return cls(**values)


_REF_FIELDS = ("release", "previous", "unfinished")


@dataclass(frozen=True)
class StackPlan(_Plan):
    """What deploy/stack.py decided for one host (never a secret value)."""

    stack: str
    directory: str
    release: ReleaseRef
    new_release: bool
    previous: ReleaseRef | None = None  # the rollback target: the release that was current
    unfinished: ReleaseRef | None = None  # an interrupted run's release, marked failed by this run
    images: dict[str, str] = field(default_factory=dict)
    env_keys_changed: tuple[str, ...] = ()
    migration: str | None = None
    ops: dict[str, str] = field(default_factory=dict)  # op hash -> this host's op name
    http_base: str = ""
    health: tuple[dict, ...] = ()
    smoke: tuple[dict, ...] = ()
    run_id: str = ""
    gated_on_host: bool = False  # plain pyinfra run: the deploy file ran the gate itself

    @property
    def release_number(self) -> int:
        return self.release.number

    @property
    def release_id(self) -> str:
        return self.release.release_id


@dataclass(frozen=True)
class Verdict(_Plan):
    """What the ``mooring`` command decided for one host after the gate."""

    promote: int | None = None  # release number to make current (its gate passed)
    roll_back_to: int | None = None  # release to restore
    failed: int | None = None  # release number this run saved and that failed
    containers_touched: bool = True  # False: no container changed, restore files and tags only
    unlock: bool = True


@dataclass(frozen=True)
class RollbackResult(_Plan):
    """What deploy/rollback.py did for one host."""

    target: int | None = None
    failed_release: int | None = None
    failed_release_kept: bool = False  # the failed release's folder was on the host (it was staged)
    warning: str = ""  # what an on-demand rollback leaves as it was (migrations), or undid (down-migration)
    http_base: str = ""  # where an on-demand rollback's gate probes (as StackPlan.http_base)
    health: tuple[dict, ...] = ()


@dataclass(frozen=True)
class BackupRun(_Plan):
    """What deploy/backup_run.py saw of the backup job it ran on one host (no secret in it):
    ``dumps`` are (database, path, bytes) of the verified dumps it wrote; ``log`` the job's last
    stderr lines (its own messages: which database failed and why)."""

    stack: str
    databases: tuple[str, ...] = ()
    dumps: tuple[tuple[str, str, int], ...] = ()
    exit_code: int | None = None  # None: the job did not run (no backup job declared)
    seconds: float = 0.0
    log: tuple[str, ...] = ()


@dataclass(frozen=True)
class BackupVerify(_Plan):
    """What deploy/backup_verify.py saw of the restore drill it ran on one host (no secret in it):
    ``results`` are (database, file, "ok"|"failed", why) per dump drilled; ``tables`` are
    (database, table, rows in the dump, rows restored) -- "missing" when a table was not counted."""

    stack: str
    results: tuple[tuple[str, str, str, str], ...] = ()
    tables: tuple[tuple[str, str, str, str], ...] = ()
    exit_code: int | None = None  # None: the drill did not run (no backup job declared)
    seconds: float = 0.0
    log: tuple[str, ...] = ()


@dataclass(frozen=True)
class BackupRestore(_Plan):
    """What deploy/backup_restore.py did on one host: the dumps taken just before (the state the
    restore replaced), the job's and restore.sh's exit codes (None: not run), or why refused."""

    stack: str
    file: str
    dumped_before: tuple[str, ...] = ()
    dump_exit_code: int | None = None
    exit_code: int | None = None
    seconds: float = 0.0
    log: tuple[str, ...] = ()
    refused: str = ""


def write_host_plan(host_name: str, kind: str, plan: _Plan) -> None:
    """Leave ``plan`` for ``host_name`` (no-op outside a mooring run). Never put secrets in it."""
    directory = run_dir()
    if directory is None:
        return
    directory.mkdir(parents=True, exist_ok=True)
    _atomic_write(directory / f"{kind}-{host_name}.json", plan.to_json())


def write_plan_in(directory: Path, host_name: str, kind: str, plan: _Plan) -> None:
    """Leave ``plan`` for ``host_name`` in an explicit run directory (the command's side)."""
    directory.mkdir(parents=True, exist_ok=True)
    _atomic_write(directory / f"{kind}-{host_name}.json", plan.to_json())


def read_host_plans(directory: Path, kind: str, cls: type[T]) -> dict[str, T]:
    """Every host's plan of ``kind`` left in ``directory``."""
    plans = {}
    for path in sorted(directory.glob(f"{kind}-*.json")):
        plans[path.stem[len(kind) + 1:]] = cls.from_json(path.read_text())
    return plans


def read_host_plan(host_name: str, kind: str, cls: type[T]) -> T | None:
    """The plan of ``kind`` this run left for ``host_name``, or None (outside mooring runs)."""
    directory = run_dir()
    path = directory / f"{kind}-{host_name}.json" if directory else None
    return cls.from_json(path.read_text()) if path and path.exists() else None


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)
