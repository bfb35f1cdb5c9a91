"""Secrets: referenced by name in YAML, resolved on the controller, never printed.

A stack env value ``{secret: POSTGRES_PASSWORD}`` is looked up, in order, in

1. the process environment variable ``MOORING_SECRET_POSTGRES_PASSWORD``;
2. the untracked dotenv file ``<state_dir>/secrets/<environment>.env`` (``.mooring/`` is
   gitignored), a line ``POSTGRES_PASSWORD=...``.

With ``stack.secrets_generate_missing: true`` (refused in production before any secret is read) a
missing secret is generated (32 random letters and digits) and appended to that file, mode 0600.
A secrets file (or the digest key) that group or others may read or write is refused.

This module also holds the dotenv codec shared with the rendered ``.env``: values are written
so that Docker Compose v2 reads back exactly the declared text (see :func:`quote_env_value`).
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
import os
import re
import secrets as _random
import string
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from mooring.declare.dotenv import check_private_file, format_dotenv, parse_dotenv, quote_env_value  # noqa: F401 (re-exported)
from mooring.declare.errors import ConfigError, ConfigProblem
from mooring.declare.paths import state_dir

ENV_PREFIX = "MOORING_SECRET_"
GENERATED_LENGTH = 32
GENERATED_ALPHABET = string.ascii_letters + string.digits


@dataclass(frozen=True)
class SecretRef:
    """Where a secret is used: its name, the env key path and the file that declared it."""

    name: str
    path: str
    file: str


# --- resolution ----------------------------------------------------------------------------

def looks_secret(key: str) -> bool:
    """True when an env key name looks like it holds a secret (shared by schema and static rules).

    A CORS flag (``*_CORS_ALLOW_CREDENTIALS``) names a browser setting, not a credential.

    >>> [looks_secret(k) for k in ("PGPASSWORD", "SECRET_KEY_BASE", "STRIPE_KEY", "SENTRY_DSN", "GCP_CREDENTIALS", "POSTGRES_DB")]
    [True, True, True, True, True, False]
    >>> looks_secret("FRONT_CORS_ALLOW_CREDENTIALS")
    False
    """
    upper = key.upper()
    if "CORS" in upper and upper.endswith(("_ALLOW_CREDENTIALS", "_CREDENTIALS")):
        return False
    return any(hint in upper for hint in ("PASS", "SECRET", "TOKEN", "CREDENTIAL", "PRIVATE")) or \
        upper.endswith(("KEY", "DSN"))


def secrets_file(environment: str) -> Path:
    """The untracked dotenv file holding one environment's secrets.

    >>> secrets_file("sandbox").name
    'sandbox.env'
    """
    return state_dir() / "secrets" / f"{environment}.env"


def env_var_name(name: str) -> str:
    """The process environment variable that provides secret ``name``.

    >>> env_var_name("POSTGRES_PASSWORD")
    'MOORING_SECRET_POSTGRES_PASSWORD'
    """
    return f"{ENV_PREFIX}{name}"


def generate_secret(length: int = GENERATED_LENGTH) -> str:
    """A random secret of letters and digits (safe inside URLs and shell words)."""
    return "".join(_random.choice(GENERATED_ALPHABET) for _ in range(length))


def read_secrets_file(path: Path) -> dict[str, str]:
    """The secrets in ``path`` (empty when the file does not exist); a malformed file, or one that
    group or others may read or write, is a ``ConfigError``."""
    check_private_file(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise ConfigError(ConfigProblem(str(path), "", f"cannot read the secrets file: {exc.strerror}",
                                        "fix its permissions (it should be mode 0600, owned by you)"))
    except UnicodeDecodeError:  # its text would quote a byte of a secret: say only what is wrong
        raise ConfigError(ConfigProblem(str(path), "", "not UTF-8 text", "save it as UTF-8")) from None
    try:
        return parse_dotenv(text)
    except ValueError as exc:
        raise ConfigError(ConfigProblem(str(path), "", f"malformed secrets file: {exc}",
                                        "write one NAME=value line per secret (quote values with spaces)"))


#: On while ``mooring validate --no-secrets`` runs: every secret is a stand-in, nothing is read.
_STAND_INS = contextvars.ContextVar("mooring_secret_stand_ins", default=False)
STAND_IN_PREFIX = "mooringStandIn"


@contextlib.contextmanager
def stand_in_secrets() -> Iterator[None]:
    """Within this block every secret resolves to :func:`stand_in` and no secret is read (no
    environment variable, no secrets file): everything that does not need a value can be
    checked without the values (CI validating production config)."""
    token = _STAND_INS.set(True)
    try:
        yield
    finally:
        _STAND_INS.reset(token)


def stand_in(name: str) -> str:
    """A secret's stand-in: fixed per name, URL-safe, long enough for every value rule.

    >>> stand_in("JWT_SECRET") == stand_in("JWT_SECRET") != stand_in("POSTGRES_PASSWORD"), is_stand_in(stand_in("X"))
    (True, True)
    """
    return STAND_IN_PREFIX + hashlib.sha256(name.encode()).hexdigest()[:24]


def is_stand_in(value: str) -> bool:
    """Whether ``value`` is a :func:`stand_in` (no secret was read for it)."""
    return value.startswith(STAND_IN_PREFIX)


def stand_ins_active() -> bool:
    """Whether secrets resolve to stand-ins here (inside :func:`stand_in_secrets`)."""
    return _STAND_INS.get()


def resolve_secrets(refs: list[SecretRef], environment: str, generate_missing: bool = False) -> dict[str, str]:
    """The value of every referenced secret; raise ``ConfigError`` naming each one that is missing.

    Each comes from ``MOORING_SECRET_<NAME>``, else the repo's age-encrypted
    ``secrets/<environment>.age`` (:mod:`mooring.declare.sealed`, decrypted in memory only when needed),
    else the untracked ``.mooring/secrets/<environment>.env``. Inside :func:`stand_in_secrets`,
    each one's stand-in (nothing is read or generated).

    >>> os.environ["MOORING_SECRET_DEMO"] = "x" * 20
    >>> resolve_secrets([SecretRef("DEMO", "stack.env.DEMO", "group_data/all.yml")], "staging")["DEMO"] == "x" * 20
    True
    >>> del os.environ["MOORING_SECRET_DEMO"]
    """
    names = sorted({ref.name for ref in refs})
    if stand_ins_active():
        return {name: stand_in(name) for name in names}
    path = secrets_file(environment)
    found = {name: os.environ[env_var_name(name)] for name in names if env_var_name(name) in os.environ}
    if len(found) < len(names):  # decrypt or read only when the environment does not give them all
        from mooring.declare.sealed import open_sealed

        sealed = open_sealed(environment)
        found.update({name: sealed[name] for name in names if name not in found and name in sealed})
    if len(found) < len(names):
        from_file = read_secrets_file(path)
        found.update({name: from_file[name] for name in names if name not in found and name in from_file})
    missing = [name for name in names if name not in found]
    if missing and generate_missing:
        found.update(_generate_and_store(path, missing))
        missing = []
    if missing:
        raise ConfigError([_missing_problem(ref, path) for ref in refs if ref.name in missing])
    return found


def _missing_problem(ref: SecretRef, path: Path) -> ConfigProblem:
    return ConfigProblem(
        ref.file, ref.path, f"secret {ref.name} is not provided",
        f"export {env_var_name(ref.name)}=... on the controller, or seal it in the repo with `mooring secrets set "
        f"{path.stem} {ref.name}`, or add a line `{ref.name}=...` to {path} (untracked, mode 0600)",
    )


def _generate_and_store(path: Path, names: list[str]) -> dict[str, str]:
    """Generate ``names`` and append them to ``path`` (created with mode 0600, folder 0700).

    Holds an exclusive lock while it re-reads the file, so two mooring processes never
    generate two different values for one secret (the second one reads the first one's).
    """
    import fcntl

    path.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(path.parent, 0o700)
    lock_fd = os.open(path.parent / f".{path.name}.lock", os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        fcntl.flock(lock_fd, fcntl.LOCK_EX)
        stored = read_secrets_file(path)
        values = {name: stored[name] for name in names if name in stored}
        generated = {name: generate_secret() for name in names if name not in stored}
        if generated:
            _append_secrets(path, generated)
        return {**values, **generated}
    finally:
        os.close(lock_fd)


def _append_secrets(path: Path, generated: dict[str, str]) -> None:
    existing = path.read_text(encoding="utf-8") if path.exists() else (
        "# Secrets generated by mooring for this environment. Untracked; keep it mode 0600.\n")
    if existing and not existing.endswith("\n"):
        existing += "\n"
    body = existing + "".join(f"{name}={quote_env_value(value)}\n" for name, value in generated.items())
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.unlink(missing_ok=True)  # a leftover could have another mode: O_CREAT would keep it
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(body)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)
    _fsync_dir(path.parent)


def redact(text: str, values: list[str] | tuple[str, ...]) -> str:
    """``text`` with every secret value replaced by ``***`` (longest first).

    >>> redact("postgresql://u:Zk3vQ9@db/x", ["Zk3vQ9"])
    'postgresql://u:***@db/x'
    """
    for value in sorted((v for v in values if v), key=len, reverse=True):
        text = text.replace(value, "***")
    return text


#: Length in hex characters of the controller's digest key (32 random bytes).
DIGEST_KEY_HEX_LENGTH = 64
#: The team's shared digest key (hex), used instead of the controller's file when set.
DIGEST_KEY_ENV = "MOORING_DIGEST_KEY"


def digest_key_path() -> Path:
    """Where the controller keeps its digest key: ``<state_dir>/secrets/digest.key``."""
    return state_dir() / "secrets" / "digest.key"


def digest_key() -> bytes:
    """The controller's key for keyed digests of env values (created once, atomically, mode 0600).

    Digests stored on hosts are HMACs under this key, so a host (or a log) holding them gives
    nothing to guess values against. The key is written to a temporary file (0600, fsync'd)
    that is then renamed into place, so a kill leaves either no key or a whole one; a key that
    is empty, short, not hex or readable by others is refused (``ConfigError``), never used.

    A team shares one key so that a second operator's deploy does not see every env value as
    changed (and recreate the services that receive env): ``MOORING_DIGEST_KEY`` (the key's hex,
    e.g. from the team's secret store or a CI secret) is used instead of the file when set.

    >>> len(digest_key())  # doctest: +SKIP
    64
    """
    shared = os.environ.get(DIGEST_KEY_ENV)
    if shared is not None:
        key = shared.strip()
        if len(key) < DIGEST_KEY_HEX_LENGTH or not re.fullmatch(r"[0-9a-f]+", key):
            raise ConfigError(ConfigProblem(
                DIGEST_KEY_ENV, "", f"{DIGEST_KEY_ENV} is not a digest key (need {DIGEST_KEY_HEX_LENGTH} or more "
                "lowercase hex characters)", f"set it to the team's key: the content of {digest_key_path()} "
                "on the controller that made it, or unset it to use that file"))
        return key.encode()
    path = digest_key_path()
    if not path.exists():
        _create_digest_key(path)
    check_private_file(path, "digest key")
    try:
        key = path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        key = ""
    if len(key) < DIGEST_KEY_HEX_LENGTH or not re.fullmatch(r"[0-9a-f]+", key):
        raise ConfigError(ConfigProblem(
            str(path), "", f"the digest key is empty, short or damaged (need {DIGEST_KEY_HEX_LENGTH} hex characters; "
            "an interrupted run can leave it so)",
            f"remove {path}: the next run creates a new key (every host's env digests then differ once, "
            "so the next deploy recreates the services that receive env)"))
    return key.encode()


def _create_digest_key(path: Path) -> None:
    """Write a new key to a unique temporary file (0600), fsync it, and link it into place.

    ``os.link`` fails when another process made the key first: that key wins and ours goes.
    """
    import tempfile

    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, temporary = tempfile.mkstemp(prefix=".digest.key.", dir=path.parent)  # mkstemp: mode 0600
    try:
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(_random.token_hex(DIGEST_KEY_HEX_LENGTH // 2) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(temporary, path)  # atomic, and never replaces a key another run made first
        except FileExistsError:
            pass
        _fsync_dir(path.parent)
    finally:
        os.unlink(temporary)


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
