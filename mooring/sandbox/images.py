"""Images built locally without any registry: the Debian base and images built on top of it.

Every image carries a ``mooring.inputs`` label, a hash of what built it; an image is rebuilt only
when that hash changes. The base image is also cached as a gzipped ``docker save`` under
``.mooring/cache/`` so a wiped engine does not need another debootstrap.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path

from mooring.deploy import local_docker as docker
from mooring.declare.paths import state_dir

log = logging.getLogger(__name__)

BASE_IMAGE = "local/debian:bookworm"
DEBIAN_MIRROR = "http://deb.debian.org/debian"
SUITE = "bookworm"
INPUTS_LABEL = "mooring.inputs"

_SOURCES_LIST = f"""deb {DEBIAN_MIRROR} {SUITE} main
deb {DEBIAN_MIRROR} {SUITE}-updates main
deb http://deb.debian.org/debian-security {SUITE}-security main
"""


def _hash(*parts: bytes | str) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.encode() if isinstance(part, str) else part)
        digest.update(b"\0")
    return digest.hexdigest()[:16]


def base_inputs_hash() -> str:
    """Hash of what builds the base image (suite, mirror, variant, sources)."""
    return _hash("minbase", SUITE, DEBIAN_MIRROR, _SOURCES_LIST)


def _base_cache() -> Path:
    # Under cache/images: the folder test workers share (tests/conftest.py).
    return state_dir() / "cache" / "images" / f"debian-{SUITE}-{base_inputs_hash()}.tar.gz"


def ensure_base_image() -> str:
    """Make sure ``local/debian:bookworm`` exists; build it with debootstrap only when missing.

    Returns the image reference.
    """
    want = base_inputs_hash()
    if docker.image_label(BASE_IMAGE, INPUTS_LABEL) == want:
        return BASE_IMAGE
    with docker.engine_lock(BASE_IMAGE):
        if docker.image_label(BASE_IMAGE, INPUTS_LABEL) != want:  # another process may have built it
            _load_or_build_base(want)
    return BASE_IMAGE


def _load_or_build_base(want: str) -> None:
    cache = _base_cache()
    if cache.exists():
        log.info("loading base image from %s", cache)
        with cache.open("rb") as fh:
            docker.run(["load"], input=fh.read())
        if docker.image_label(BASE_IMAGE, INPUTS_LABEL) == want:
            return
    _debootstrap_base(want)
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_name(f"{cache.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.part")
    with tmp.open("wb") as out:
        docker.save_gzipped(BASE_IMAGE, out)
    tmp.rename(cache)


def _debootstrap_base(inputs_hash: str) -> None:
    if not shutil.which("debootstrap") and not os.path.exists("/usr/sbin/debootstrap"):
        raise RuntimeError("debootstrap is missing: apt-get install -y debootstrap")
    log.info("building %s with debootstrap (about 40 s)", BASE_IMAGE)
    with tempfile.TemporaryDirectory(prefix="mooring-base-") as tmp:
        root = Path(tmp) / "root"
        subprocess.run(
            ["debootstrap", "--variant=minbase", SUITE, str(root), DEBIAN_MIRROR],
            check=True, stdout=subprocess.DEVNULL,
        )
        (root / "etc/apt/sources.list").write_text(_SOURCES_LIST)
        for cache in ("var/cache/apt/archives", "var/lib/apt/lists"):
            for entry in (root / cache).glob("*"):
                if entry.is_file():
                    entry.unlink()
        tar = subprocess.Popen(["tar", "-C", str(root), "-c", "."], stdout=subprocess.PIPE)
        subprocess.run(
            [docker.DOCKER, "import", "-c", 'CMD ["/bin/bash"]', "-c", f"LABEL {INPUTS_LABEL}={inputs_hash}",
             "-", BASE_IMAGE],
            stdin=tar.stdout, check=True, stdout=subprocess.DEVNULL,
        )
        tar.wait()


def context_hash(context: Path, extra: str = "") -> str:
    """Hash of every file in a build context (names, modes and contents) plus ``extra``."""
    parts: list[bytes | str] = [extra]
    for path in sorted(p for p in context.rglob("*") if p.is_file()):
        parts += [str(path.relative_to(context)), oct(path.stat().st_mode & 0o777), path.read_bytes()]
    return _hash(*parts)


def ensure_image(tag: str, context: Path, *, build_args: dict[str, str] | None = None) -> str:
    """Build ``tag`` from ``context`` (FROM the base image) unless its inputs are unchanged.

    Returns the image ID.

    >>> ensure_image("mooring/box:latest", IMAGES / "box")  # doctest: +SKIP
    'sha256:...'
    """
    ensure_base_image()
    args = build_args or {}
    want = context_hash(context, extra=repr(sorted(args.items())) + (docker.image_id(BASE_IMAGE) or ""))
    if docker.image_label(tag, INPUTS_LABEL) != want:
        with docker.engine_lock(tag):
            if docker.image_label(tag, INPUTS_LABEL) != want:  # another process may have built it
                log.info("building %s", tag)
                cmd = ["build", "-q", "-t", tag, "--label", f"{INPUTS_LABEL}={want}"]
                for key, value in sorted(args.items()):
                    cmd += ["--build-arg", f"{key}={value}"]
                docker.run([*cmd, str(context)], timeout=1800)
    image = docker.image_id(tag)
    if image is None:
        raise docker.DockerError(["build", tag], 0, "", f"{tag} is missing right after its build")
    return image
