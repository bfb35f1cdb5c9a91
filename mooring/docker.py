"""The controller's Docker engine client, pinned to the engine's own ``/usr/bin/docker``."""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from typing import Sequence

#: Debian's docker.io client matches the engine; another client may come first on PATH.
DOCKER = os.environ.get("MOORING_DOCKER", "/usr/bin/docker" if os.path.exists("/usr/bin/docker") else (shutil.which("docker") or "docker"))


class DockerError(RuntimeError):
    """A docker command failed; carries the command, exit code and output."""

    def __init__(self, args: Sequence[str], rc: int, stdout: str, stderr: str):
        self.cmd, self.rc, self.stdout, self.stderr = list(args), rc, stdout, stderr
        reason = (stderr or stdout).strip().splitlines()[-1:] or ["no output"]
        super().__init__(f"`docker {' '.join(args[:3])}` failed (rc={rc}): {reason[0]}")


@dataclass
class Result:
    rc: int
    stdout: str
    stderr: str


def run(args: Sequence[str], *, check: bool = True, input: bytes | None = None, timeout: float | None = None) -> Result:
    """Run ``docker ARGS``; raise :class:`DockerError` on failure when ``check``.

    >>> run(["version", "--format", "{{.Server.Version}}"]).stdout  # doctest: +SKIP
    '20.10.24+dfsg1\\n'
    """
    proc = subprocess.run([DOCKER, *args], input=input, capture_output=True, timeout=timeout)
    result = Result(proc.returncode, proc.stdout.decode(errors="replace"), proc.stderr.decode(errors="replace"))
    if check and proc.returncode != 0:
        raise DockerError(args, proc.returncode, result.stdout, result.stderr)
    return result


def engine_running() -> bool:
    """True when the controller's engine answers ``docker info``."""
    try:
        return run(["info", "--format", "{{.ServerVersion}}"], check=False, timeout=20).rc == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def image_id(ref: str) -> str | None:
    """The local image ID of ``ref``, or None when the engine does not have it."""
    result = run(["image", "inspect", "--format", "{{.Id}}", ref], check=False)
    return result.stdout.strip() if result.rc == 0 else None


def image_label(ref: str, label: str) -> str | None:
    """One label of a local image, or None when the image or label is absent."""
    result = run(["image", "inspect", "--format", '{{ index .Config.Labels "%s" }}' % label, ref], check=False)
    value = result.stdout.strip()
    return value if result.rc == 0 and value and value != "<no value>" else None
