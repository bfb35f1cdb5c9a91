"""The sandbox's reference stack images: Postgres, Redis, nginx and the example API.

Every image is built ``FROM local/debian:bookworm`` through :func:`mooring.sandbox.images.ensure_image`,
so it is rebuilt only when its build context (or the base image) changes. The API image's
context is assembled from ``images/api/Dockerfile`` plus a copy of ``examples/api/``.

+ ``mooring/postgres:15``: Debian's PostgreSQL 15; POSTGRES_DB/USER/PASSWORD like the official image
+ ``mooring/redis:7``: Debian's redis-server; optional REDIS_PASSWORD
+ ``mooring/mariadb:10.11``: Debian's MariaDB; MARIADB_ROOT_PASSWORD/DATABASE/USER/PASSWORD like the official image
+ ``mooring/nginx:1``: Debian's nginx-light; site configs read-only mounted at /etc/nginx/conf.d/
+ ``mooring/api:<version>``: the example API; APP_VERSION baked in (a version containing
  ``broken`` makes /api/v1/health/ready always fail)
"""

from __future__ import annotations

import logging
import re
import shutil
import tempfile
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Iterable, Iterator

from mooring.sandbox.images import ensure_base_image, ensure_image
from mooring.declare.paths import EXAMPLES, IMAGES

log = logging.getLogger(__name__)

#: Service images and the folder under ``images/`` that builds each one.
SERVICE_IMAGES: dict[str, str] = {
    "mooring/postgres:15": "postgres",
    "mooring/redis:7": "redis",
    "mooring/mariadb:10.11": "mariadb",  # for the MySQL/MariaDB backup engine
    "mooring/nginx:1": "nginx",
    "mooring/registry:2": "registry",  # for tests of `image_source: registry` on a box
}
API_REPOSITORY = "mooring/api"
API_SOURCE = EXAMPLES / "api"
DEFAULT_API_VERSIONS: tuple[str, ...] = ("1.0.0",)

# Docker's tag grammar: up to 128 of [A-Za-z0-9_.-], not starting with "." or "-".
_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_NOT_CONTEXT = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache", "*.egg-info", "README.md")


def api_tag(version: str) -> str:
    """The image tag of one API version; refuses what docker would not accept as a tag.

    >>> api_tag("1.0.0")
    'mooring/api:1.0.0'
    """
    if not _TAG.match(version):
        raise ValueError(f"API version {version!r} is not a valid image tag "
                         "(letters, digits, '_', '.', '-'; at most 128; not starting with '.' or '-')")
    return f"{API_REPOSITORY}:{version}"


@contextmanager
def api_context() -> Iterator[Path]:
    """A temporary build context for the API image: ``Dockerfile`` plus ``api/`` (examples/api).

    File names, modes and contents are copied exactly, so the context hash (and therefore the
    rebuild decision) depends only on the sources, not on where the copy lives.
    """
    with tempfile.TemporaryDirectory(prefix="mooring-api-context-") as tmp:
        context = Path(tmp)
        shutil.copytree(IMAGES / "api", context, dirs_exist_ok=True, ignore=_NOT_CONTEXT)
        shutil.copytree(API_SOURCE, context / "api", ignore=_NOT_CONTEXT)
        yield context


def ensure_api_images(versions: Iterable[str]) -> dict[str, str]:
    """Build ``mooring/api:<version>`` for each version (``APP_VERSION`` build arg) when needed.

    Versions build one after another so that later ones reuse the earlier layers (only the
    version's ENV and LABEL layers differ). Returns tag → image ID.

    >>> ensure_api_images(["1.0.0", "1.1.0-broken"])  # doctest: +SKIP
    {'mooring/api:1.0.0': 'sha256:...', 'mooring/api:1.1.0-broken': 'sha256:...'}
    """
    tags = {api_tag(version): version for version in dict.fromkeys(versions)}
    if not tags:
        return {}
    with api_context() as context:
        # A "broken" version is broken whatever APP_VERSION the stack's env later says.
        return {tag: ensure_image(tag, context, build_args={"APP_VERSION": version,
                                                            "BROKEN": "1" if "broken" in version.lower() else "0"})
                for tag, version in tags.items()}


def ensure_stack_images(api_versions: Iterable[str] = DEFAULT_API_VERSIONS, *, workers: int = 4) -> dict[str, str]:
    """Make sure every reference stack image exists and is current; build only what changed.

    + api_versions: API versions to build as ``mooring/api:<version>`` (each baked into the image)
    + workers: how many images build at once (cold builds wait mostly on apt downloads)

    Returns tag → image ID, service images first.

    >>> ensure_stack_images(("1.0.0",))  # doctest: +SKIP
    {'mooring/postgres:15': 'sha256:...', 'mooring/redis:7': 'sha256:...',
     'mooring/nginx:1': 'sha256:...', 'mooring/api:1.0.0': 'sha256:...'}
    """
    versions = list(dict.fromkeys(api_versions))
    for version in versions:
        api_tag(version)  # refuse a bad version before building anything
    ensure_base_image()  # once, before the parallel builds that each check it
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        services = {tag: pool.submit(ensure_image, tag, IMAGES / folder) for tag, folder in SERVICE_IMAGES.items()}
        api = pool.submit(ensure_api_images, versions)
        images = {tag: future.result() for tag, future in services.items()}
        images.update(api.result())
    return images


def buildable(ref: str) -> bool:
    """True when mooring knows how to build ``ref`` itself (the sandbox's reference images)."""
    return ref in SERVICE_IMAGES or ref.startswith(f"{API_REPOSITORY}:")


def ensure_refs(refs: Iterable[str]) -> dict[str, str]:
    """Build the reference images among ``refs`` that mooring can build; others are left alone.

    >>> ensure_refs(["mooring/api:1.0.0", "postgres:15"])  # doctest: +SKIP
    {'mooring/api:1.0.0': 'sha256:...', ...}
    """
    wanted = [ref for ref in refs if buildable(ref)]
    if not wanted:
        return {}
    versions = sorted({ref.split(":", 1)[1] for ref in wanted if ref.startswith(f"{API_REPOSITORY}:")})
    built = ensure_stack_images(api_versions=versions or DEFAULT_API_VERSIONS)
    return {ref: built[ref] for ref in wanted if ref in built}
