"""Secrets kept in the team's repo, encrypted with age (pyrage): ``secrets/<environment>.age``,
ASCII-armored, encrypted to every public key in ``secrets/recipients.txt``.

Decrypted on the controller only, in memory, and only when a secret a run needs is not given
by a ``MOORING_SECRET_*`` variable (see :func:`mooring.declare.secrets.resolve_secrets`); the decrypted
text is never written to disk. The private key (identity) is ``MOORING_AGE_KEY`` (the key
itself, e.g. a CI secret) or the file ``.mooring/age.key`` (mode 0600, ignored by git), made by
``mooring secrets keygen``.
"""

from __future__ import annotations

import os
from pathlib import Path

from mooring.declare.errors import ConfigError, ConfigProblem
from mooring.declare.paths import project_root, state_dir

IDENTITY_ENV = "MOORING_AGE_KEY"
SEALED_DIR = "secrets"
RECIPIENTS = "recipients.txt"


def sealed_dir() -> Path:
    """The project's folder of encrypted secrets (committed)."""
    return project_root() / SEALED_DIR


def sealed_file(environment: str) -> Path:
    """``secrets/<environment>.age`` in the project."""
    return sealed_dir() / f"{environment}.age"


def identity_path() -> Path:
    """The controller's age identity: ``.mooring/age.key`` (never committed)."""
    return state_dir() / "age.key"


def load_identity():
    """The age identity that decrypts: ``MOORING_AGE_KEY``, else ``.mooring/age.key``."""
    import pyrage

    from mooring.declare.dotenv import check_private_file

    text, where = os.environ.get(IDENTITY_ENV), IDENTITY_ENV
    if text is None:
        path = identity_path()
        if not path.exists():
            raise ConfigError(ConfigProblem(str(path), "", "no age key to decrypt the repo's secrets with",
                                            f"mooring secrets keygen (then have a teammate add its public key to "
                                            f"{SEALED_DIR}/{RECIPIENTS} and run mooring secrets rotate-key), or set "
                                            f"{IDENTITY_ENV}"))
        check_private_file(path, "age key")
        text, where = path.read_text(encoding="ascii", errors="replace"), str(path)
    keys = [line.strip() for line in text.splitlines() if line.strip().startswith("AGE-SECRET-KEY-")]
    try:
        return pyrage.x25519.Identity.from_str(keys[0])
    except (IndexError, pyrage.IdentityError, ValueError):
        raise ConfigError(ConfigProblem(where, "", "holds no age secret key (AGE-SECRET-KEY-1...)",
                                        "mooring secrets keygen makes one")) from None


def read_recipients() -> list:
    """The public keys in ``secrets/recipients.txt`` (``#`` comments allowed); refuses none or a bad line."""
    import pyrage

    path = sealed_dir() / RECIPIENTS
    if not path.exists():
        raise ConfigError(ConfigProblem(str(path), "", "no recipients: nobody could decrypt the secrets",
                                        "add your public key (mooring secrets keygen prints it), one per line"))
    recipients = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        try:
            recipients.append(pyrage.x25519.Recipient.from_str(text))
        except (pyrage.RecipientError, ValueError):
            raise ConfigError(ConfigProblem(str(path), f"line {number}", "is not an age public key (age1...)",
                                            "copy the key mooring secrets keygen printed")) from None
    if not recipients:
        raise ConfigError(ConfigProblem(str(path), "", "lists no public key", "add one per line (age1...)"))
    return recipients


def open_sealed(environment: str) -> dict[str, str]:
    """The secrets of ``secrets/<environment>.age``, decrypted in memory ({} when there is no file)."""
    import pyrage

    from mooring.declare.dotenv import parse_dotenv

    path = sealed_file(environment)
    if not path.exists():
        return {}
    try:
        text = pyrage.decrypt(path.read_bytes(), [load_identity()]).decode("utf-8")
    except pyrage.DecryptError:
        raise ConfigError(ConfigProblem(str(path), "", "cannot be decrypted with your age key",
                                        f"ask a teammate to add your public key to {SEALED_DIR}/{RECIPIENTS} and run "
                                        "mooring secrets rotate-key")) from None
    except UnicodeDecodeError:
        raise ConfigError(ConfigProblem(str(path), "", "decrypts to no UTF-8 text", "seal it again")) from None
    try:
        return parse_dotenv(text)
    except ValueError as exc:
        raise ConfigError(ConfigProblem(str(path), "", f"decrypts to a malformed secrets list: {exc}",
                                        "set the secrets again with mooring secrets set")) from None


def seal(environment: str, values: dict[str, str]) -> Path:
    """Encrypt ``values`` to every recipient and replace ``secrets/<environment>.age`` atomically."""
    import pyrage

    from mooring.declare.dotenv import quote_env_value

    text = "".join(f"{name}={quote_env_value(value)}\n" for name, value in sorted(values.items()))
    sealed = pyrage.encrypt(text.encode("utf-8"), read_recipients(), armored=True)
    path = sealed_file(environment)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_bytes(sealed)
    os.replace(temporary, path)
    return path


def generate_identity() -> str:
    """Make ``.mooring/age.key`` (0600, refused when it exists); returns its public key."""
    import pyrage

    path = identity_path()
    if path.exists():
        raise ConfigError(ConfigProblem(str(path), "", "an age key exists already (it is never replaced)",
                                        "use it; remove it yourself only if no secret is sealed to it"))
    identity = pyrage.x25519.Identity.generate()
    public = str(identity.to_public())
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(f"# public key: {public}\n{identity}\n")
    return public
