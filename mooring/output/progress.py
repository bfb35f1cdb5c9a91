"""Live progress for long commands (deploy, rollback): phases with the elapsed time and each
pyinfra operation as it starts, on stderr, only when stderr is a terminal (or
``MOORING_PROGRESS=1``); ``MOORING_PROGRESS=0`` silences it. Reports and JSON are untouched:
progress never goes to stdout.

    [   0.4s] pre-flight: 2 hosts
    [   3.1s] converging docker-1, docker-2
    [   5.8s]   Stack | File /srv/mooring/solacore/compose.yml
    [  21.0s] health gate
"""

from __future__ import annotations

import os
import re
import sys
import time
from collections.abc import Mapping
from typing import TextIO

from mooring.declare.secrets import redact

#: pyinfra's log line when an operation starts (PYINFRA_PROGRESS=off keeps these).
_STARTING = re.compile(r"^--> Starting operation: (?P<name>.+?)\s*$")
_HOST_RESULT = re.compile(r"^\s+\[(?P<host>[^\]]+)\] (?P<what>Error|Success|No changes)\b")


class Progress:
    """Progress lines for one command run; a no-op when not enabled."""

    def __init__(self, stream: TextIO | None = None, enabled: bool | None = None,
                 secrets: list[str] | None = None) -> None:
        self.stream = stream or sys.stderr
        self.enabled = wanted(self.stream) if enabled is None else enabled
        self.started = time.monotonic()
        self.secrets = list(secrets or [])

    def phase(self, text: str) -> None:
        """One step of the command (``health gate``), with the time since the command started."""
        if self.enabled:
            elapsed = time.monotonic() - self.started
            self.stream.write(f"[{elapsed:7.1f}s] {redact(text, self.secrets)}\n")
            self.stream.flush()

    def pyinfra_line(self, line: str) -> None:
        """Feed one line of pyinfra's log: an operation that starts becomes a progress line, a host
        that failed one is named."""
        started = _STARTING.match(line)
        if started:
            self.phase(f"  {started.group('name')}")
            return
        result = _HOST_RESULT.match(line)
        if result and result.group("what") == "Error":
            self.phase(f"  {result.group('host')}: error")


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
