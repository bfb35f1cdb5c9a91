"""Live progress for long commands (deploy, rollback): phases with the elapsed time and each
pyinfra operation as it starts, on stderr, only when stderr is a terminal (or
``MOORING_PROGRESS=1``); ``MOORING_PROGRESS=0`` silences it. Reports and JSON are untouched:
progress never goes to stdout.

    [   0.4s] pre-flight: 2 hosts
    [   3.1s] converging docker-1, docker-2
    [   5.8s]   Stack | File /srv/mooring/solacore/compose.yml
    [  14.2s]   Stack | Image mooring/api:1.0.0 (shipped): 48.2 MB to docker-1, docker-2 in 8.4 s (11.5 MB/s)
    [  21.0s] health gate
    [  22.1s]   docker-1: ready attempt 1: status 503, expected 200
    [  23.2s]   docker-1: ready passed at attempt 2
"""

from __future__ import annotations

import os
import re
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TextIO

from mooring.declare.secrets import redact

if TYPE_CHECKING:
    from mooring.checks.probes import ProbeResult

#: pyinfra's log line when an operation starts (PYINFRA_PROGRESS=off keeps these).
_STARTING = re.compile(r"^--> Starting operation: (?P<name>.+?)\s*$")
_HOST_RESULT = re.compile(r"^\s+\[(?P<host>[^\]]+)\] (?P<what>Error|Success|No changes)\b")
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
#: The name mooring's stack role gives the operation that ships one image (deploy/roles/stack.py).
_SHIPPING = re.compile(r"^(?:.+ \| )?Image (?P<ref>\S+) \(shipped\)$")


@dataclass
class _Operation:
    """The pyinfra operation running now: when it started, which hosts it changed."""

    name: str
    started: float
    changed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)


class Progress:
    """Progress lines for one command run; a no-op when not enabled."""

    def __init__(self, stream: TextIO | None = None, enabled: bool | None = None,
                 secrets: list[str] | None = None) -> None:
        self.stream = stream or sys.stderr
        self.enabled = wanted(self.stream) if enabled is None else enabled
        self.started = time.monotonic()
        self.secrets = list(secrets or [])
        #: image ref → bytes of the archive shipped to hosts (:meth:`shipping`)
        self.image_sizes: dict[str, int] = {}
        self._operation: _Operation | None = None

    def shipping(self, sizes: Mapping[str, int]) -> None:
        """The archive size of each image the run may ship, for the shipping line's size and speed."""
        self.image_sizes.update(sizes)

    def phase(self, text: str) -> None:
        """One step of the command (``health gate``), with the time since the command started."""
        if self.enabled:
            elapsed = time.monotonic() - self.started
            self.stream.write(f"[{elapsed:7.1f}s] {redact(text, self.secrets)}\n")
            self.stream.flush()

    def pyinfra_line(self, line: str) -> None:
        """Feed one line of pyinfra's log: an operation that starts becomes a progress line, a host
        that failed one is named."""
        line = _ANSI.sub("", line)
        started = _STARTING.match(line)
        if started:
            self.operation_done()
            self._operation = _Operation(started.group("name"), time.monotonic())
            self.phase(f"  {started.group('name')}")
            return
        result = _HOST_RESULT.match(line)
        if not result:
            return
        if result.group("what") == "Error":
            self.phase(f"  {result.group('host')}: error")
        elif self._operation is not None:
            hosts = self._operation.changed if result.group("what") == "Success" else self._operation.unchanged
            hosts.append(result.group("host"))

    def operation_done(self) -> None:
        """The running operation ended (the next one started, or the run did): an image shipment
        gets its line, with the size and speed of the upload."""
        operation, self._operation = self._operation, None
        shipping = _SHIPPING.match(operation.name) if operation else None
        if operation is None or shipping is None:
            return
        ref, took = shipping.group("ref"), time.monotonic() - operation.started
        if not operation.changed:
            self.phase(f"  {operation.name}: already on {_hosts(operation.unchanged) or 'every host'}")
            return
        self.phase(f"  {operation.name}: {shipped_text(self.image_sizes.get(ref), operation.changed, took)}")

    def gate_attempt(self, host: str, result: ProbeResult) -> None:
        """One attempt of a host's health probe ended: a failed one says why, a pass after
        failures says when."""
        if not result.ok:
            got = result.error or (f"status {result.status}" if result.status is not None else "no answer")
            self.phase(f"  {host}: {result.name} attempt {result.attempts}: {got}")
        elif result.attempts > 1:
            self.phase(f"  {host}: {result.name} passed at attempt {result.attempts}")


def shipped_text(size: int | None, hosts: list[str], seconds: float) -> str:
    """What an image shipment moved: size, hosts, time and speed (the size is the archive's, each
    changed host received it; a host that only re-tagged an image it had still counts).

    >>> shipped_text(48_200_000, ["docker-1", "docker-2"], 8.4)
    '48.2 MB to docker-1, docker-2 in 8.4 s (11.5 MB/s)'
    >>> shipped_text(None, ["docker-1"], 2.0)
    'to docker-1 in 2.0 s'
    """
    if size is None:
        return f"to {_hosts(hosts)} in {seconds:.1f} s"
    speed = size * len(hosts) / max(seconds, 0.001) / 1e6
    return f"{size / 1e6:.1f} MB to {_hosts(hosts)} in {seconds:.1f} s ({speed:.1f} MB/s)"


def _hosts(names: list[str]) -> str:
    return ", ".join(sorted(names))


def wanted(stream: TextIO, environ: Mapping[str, str] = os.environ) -> bool:
    """Whether progress shows: ``MOORING_PROGRESS`` (1/0) decides, else whether ``stream`` is a terminal.

    >>> import io
    >>> wanted(io.StringIO(), {}), wanted(io.StringIO(), {"MOORING_PROGRESS": "1"})
    (False, True)
    """
    forced = environ.get("MOORING_PROGRESS")
    if forced in ("0", "1"):
        return forced == "1"
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())
