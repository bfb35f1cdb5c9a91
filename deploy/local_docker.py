"""The controller's Docker engine client, pinned to the engine's own ``/usr/bin/docker``, and the
gzipped image archives a deploy ships to hosts without a registry."""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from mooring.declare.paths import state_dir

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


def archive(ref: str) -> tuple[str, Path]:
    """A gzipped ``docker save`` of a local image, cached by image ID; returns (image ID, path).

    Shipping an image without a registry uploads this file and ``docker load``\\ s it on the host.
    """
    image = image_id(ref)
    if image is None:
        raise DockerError(["image", "inspect", ref], 1, "", f"image {ref} is not on the controller")
    path = state_dir() / "cache" / "images" / f"{image.split(':')[-1][:20]}.tar.gz"
    if not path.exists():
        with engine_lock(f"save-{image}"):
            if not path.exists():  # another process may have saved it meanwhile
                path.parent.mkdir(parents=True, exist_ok=True)
                tmp = path.with_name(f"{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.part")
                with tmp.open("wb") as out:
                    save_gzipped(ref, out)
                tmp.rename(path)
    return image, path


@contextlib.contextmanager
def engine_lock(name: str) -> Iterator[None]:
    """Hold the machine-wide lock ``name`` (an image build or save): images belong to the one
    engine, so two processes (test workers, a demo beside the tests) wait for one build instead
    of each running it."""
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", name)
    with (Path(tempfile.gettempdir()) / f"mooring-engine-{safe}.lock").open("a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def save_gzipped(ref: str, out) -> None:
    """``docker save REF | gzip -1`` into the open file ``out``."""
    save = subprocess.Popen([DOCKER, "save", ref], stdout=subprocess.PIPE)
    try:
        subprocess.run(["gzip", "-1"], stdin=save.stdout, stdout=out, check=True)
    finally:
        save.stdout.close()  # so that docker save ends if gzip failed
    if save.wait() != 0:
        raise DockerError(["save", ref], save.returncode, "", "docker save failed")
