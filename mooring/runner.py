"""Run pyinfra deploy files in a subprocess and read its ``--json`` results.

The pyinfra CLI monkeypatches gevent at start; running it as a child process keeps the
caller (the ``mooring`` CLI, tests) free of that and gives the same behaviour as a user's
plain ``pyinfra INVENTORY deploy/X.py``.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from mooring.declare.errors import MooringError
from mooring.declare.layers import group_data_dir
from mooring.declare.paths import ROOT, inventories_dir, project_root
from mooring.deploy import deploy_file


#: What pyinfra's log says about a host that failed (connect errors, op errors).
ERROR_MARKERS = ("Could not", "rror", "failed", "Failed", "refused", "denied")


HOST_TAG = re.compile(r"^\s+\[([^\]]+)\]", re.M)


@dataclass
class OpResult:
    """One operation's outcome across hosts."""

    name: str
    changed: list[str]
    unchanged: list[str]
    failed: list[str]
    op_hash: str = ""


@dataclass
class RunResult:
    """A pyinfra run: per-operation results, failed hosts, exit code, and its log (stderr)."""

    rc: int
    operations: list[OpResult] = field(default_factory=list)
    failed_hosts: list[str] = field(default_factory=list)
    hosts: list[str] = field(default_factory=list)
    log: str = ""

    @property
    def changed(self) -> int:
        """How many (operation, host) pairs changed something."""
        return sum(len(op.changed) for op in self.operations)

    def changes_for(self, host: str, names: dict[str, str] | None = None) -> list[str]:
        """Names of the operations that changed ``host``.

        pyinfra gives an operation one name across hosts (the first host's); ``names`` (op hash
        → this host's name, from the deploy file's plan) puts the host's own name back.
        """
        names = names or {}
        return [names.get(op.op_hash, op.name) for op in self.operations if host in op.changed]

    def notes_for(self, host: str) -> list[str]:
        """What mooring's operations logged about ``host`` (``mooring: ...`` lines, prefix dropped):
        the warnings of a host that did not fail."""
        tag = f"[{host}]"
        lines = [line.replace(tag, "").strip() for line in self.log.splitlines() if tag in line]
        return [line.removeprefix("mooring:").strip() for line in lines if line.startswith("mooring:")]

    def log_tail(self, lines: int = 5) -> str:
        """The last non-empty log lines, joined (for a run in which no host got going)."""
        tail = [line.strip() for line in self.log.strip().splitlines() if line.strip()][-lines:]
        return " | ".join(tail) or f"pyinfra exited {self.rc}"

    def errors_for(self, host: str) -> list[str]:
        """The log lines pyinfra printed about ``host``'s failure."""
        tag = f"[{host}]"
        lines = [line.replace(tag, "").strip() for line in self.log.splitlines() if tag in line]
        ours = [line for line in lines if line.startswith("mooring:")]
        return ours or [line for line in lines if any(marker in line for marker in ERROR_MARKERS)]


def pyinfra_command(inventory: str, *operations: str, limit: list[str] | None = None,
                    extra: list[str] | None = None, apply: bool = True) -> list[str]:
    """The argument list of a non-interactive pyinfra run with JSON output (``-y`` when ``apply``)."""
    cmd = [sys.executable, "-m", "pyinfra", "--json", *(["-y"] if apply else [])]
    if group_data_dir().resolve() != (ROOT / "group_data").resolve():  # pyinfra loads ROOT's itself (its cwd)
        cmd += ["--group-data", str(group_data_dir())]
    for name in limit or []:
        cmd += ["--limit", name]
    return [*cmd, *(extra or []), inventory, *operations]


def run_deploy(inventory: str, deploy_file: str, *, limit: list[str] | None = None,
               extra: list[str] | None = None, env: dict[str, str] | None = None,
               timeout: float = 3600, on_log_line: Callable[[str], None] | None = None) -> RunResult:
    """Run ``deploy_file`` against ``inventory`` and return what pyinfra reports; each line of
    pyinfra's log goes to ``on_log_line`` as it comes (live progress).

    >>> run_deploy("inventories/sandbox.py", "deploy/bootstrap.py").changed  # doctest: +SKIP
    0
    """
    cmd = pyinfra_command(str(inventory), str(deploy_file), limit=limit, extra=extra)
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYINFRA_PROGRESS": "off", **(env or {})}, stdin=subprocess.DEVNULL)
    output = _Output(proc, on_log_line)
    try:
        output.wait(timeout)
    except subprocess.TimeoutExpired:
        stdout, stderr = output.stop()
        raise RunInterrupted(f"timed out after {timeout:.0f} s", parse_run(-1, stdout, stderr)) from None
    except KeyboardInterrupt:
        stdout, stderr = output.stop()
        raise RunInterrupted("interrupted (Ctrl-C)", parse_run(-1, stdout, stderr)) from None
    stdout, stderr = output.collected()
    return parse_run(proc.returncode, stdout, stderr)


class _Output:
    """A child's stdout and stderr read by two threads (so neither pipe fills up), stderr passed
    on line by line as it comes."""

    def __init__(self, proc: subprocess.Popen, on_line: Callable[[str], None] | None) -> None:
        self.proc, self.on_line = proc, on_line
        self.out: list[str] = []
        self.err: list[str] = []
        self.threads = [threading.Thread(target=self._read, args=(proc.stdout, self.out, None), daemon=True),
                        threading.Thread(target=self._read, args=(proc.stderr, self.err, on_line), daemon=True)]
        for thread in self.threads:
            thread.start()

    @staticmethod
    def _read(pipe, into: list[str], on_line: Callable[[str], None] | None) -> None:
        for line in pipe:
            into.append(line)
            if on_line is not None:
                try:
                    on_line(line.rstrip("\n"))
                except Exception:  # progress must never break a run
                    pass

    def wait(self, timeout: float) -> None:
        self.proc.wait(timeout=timeout)

    def collected(self) -> tuple[str, str]:
        for thread in self.threads:
            thread.join(timeout=30)
        return "".join(self.out), "".join(self.err)

    def stop(self) -> tuple[str, str]:
        """Stop the child (SIGINT, then SIGKILL after 10 s) and return what it printed."""
        import signal

        for sig in (signal.SIGINT, signal.SIGKILL):
            if self.proc.poll() is not None:
                break
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=10)
            except (subprocess.TimeoutExpired, KeyboardInterrupt):
                continue
        return self.collected()


class RunInterrupted(MooringError):
    """A pyinfra run that was stopped (time-out, Ctrl-C) before it finished; ``partial`` holds
    what it reported until then."""

    def __init__(self, reason: str, partial: RunResult):
        super().__init__(reason)
        self.reason, self.partial = reason, partial


def parse_run(rc: int, stdout: str, stderr: str) -> RunResult:
    """Parse pyinfra's ``--json`` output; a run that printed no JSON keeps its log for the error."""
    result = RunResult(rc=rc, log=stderr)
    payload = _last_json(stdout)
    if not payload or not payload.get("results"):
        # pyinfra prints no results when every host failed ("No hosts remaining!"): read the log.
        result.hosts = sorted(set(HOST_TAG.findall(stderr)))
        result.failed_hosts = [h for h in result.hosts if result.errors_for(h)]
        return result
    results = payload["results"]
    hosts: set[str] = set()
    for op in results["operations"]:
        entry = OpResult(op["name"], op["success"], op["no_change"], op["error"], op.get("op_hash", ""))
        hosts.update(entry.changed + entry.unchanged + entry.failed)
        result.operations.append(entry)
    result.failed_hosts = list(results.get("failed_hosts", []))
    result.hosts = sorted(hosts | set(result.failed_hosts))
    return result


def _last_json(stdout: str) -> dict | None:
    """The last line of stdout that is a JSON object (pyinfra prints its payload on one line)."""
    for line in reversed(stdout.strip().splitlines()):
        if line.startswith("{"):
            try:
                payload = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(payload, dict):
                return payload
    return None


def deploy_path(name: str) -> str:
    """Path of one of mooring's deploy files relative to ROOT (pyinfra's working directory), e.g.
    ``deploy_path("bootstrap")``."""
    return str(Path(deploy_file(name)).relative_to(ROOT))


def inventory_path(value: str) -> str:
    """Resolve an inventory argument: a file path, or a name under the project's inventories/
    (``sandbox``), never one of another checkout."""
    for candidate in (Path(value), project_root() / value, inventories_dir() / f"{value}.py"):
        if candidate.is_file():
            return str(candidate.resolve())
    raise MooringError(f"inventory {value!r} not found: give a path or one of "
                       f"{', '.join(p.stem for p in sorted(inventories_dir().glob('*.py')))}")


def run_fact(inventory: str, fact: str, *args: str, limit: list[str] | None = None,
             timeout: float = 300) -> dict[str, object]:
    """Collect one fact from every host (``pyinfra --json INVENTORY fact FACT ARGS``).

    >>> run_fact("inventories/sandbox.py", "mooring.deploy.facts.docker.EngineVersions")  # doctest: +SKIP
    {'docker-1': {'engine': '20.10.24+dfsg1', 'compose': '2.40.3'}, ...}
    """
    cmd = pyinfra_command(str(inventory), "fact", fact, *args, limit=limit, apply=False)
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL, env={**os.environ, "PYINFRA_PROGRESS": "off"})
    payload = _last_json(proc.stdout)
    if proc.returncode != 0 or payload is None:
        tail = " | ".join(line for line in proc.stderr.strip().splitlines()[-3:])
        raise MooringError(f"collecting {fact} failed (rc={proc.returncode}): {tail}")
    # pyinfra names the result after the fact and its arguments: "FACT (key=value, ...)".
    return next((value for key, value in payload.items() if key == fact or key.startswith(f"{fact} (")), {})
