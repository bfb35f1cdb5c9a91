"""Settings of the example API, read once from the environment and checked up front.

Every problem names the variable and never echoes a value: URLs carry passwords.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Mapping
from urllib.parse import urlsplit, urlunsplit

from app.access import EndpointGate, Network, parse_networks
from app.cors import Cors, load as load_cors
from app.errors import SettingsError

TRUE = frozenset({"1", "true", "yes", "on"})
FALSE = frozenset({"", "0", "false", "no", "off"})


@dataclass(frozen=True)
class Settings:
    """Everything the API reads from its environment."""

    database_url: str
    redis_url: str
    host: str
    port: int
    version: str
    broken: bool
    dev: EndpointGate
    ops: EndpointGate
    trusted_proxies: tuple[Network, ...]
    timeout: float
    cors: Cors = Cors()

    def secrets(self) -> list[str]:
        """Passwords inside the URLs, for the log filter to mask."""
        return [p for p in (password_of(self.database_url), password_of(self.redis_url)) if p]


def load(env: Mapping[str, str] | None = None) -> Settings:
    """Read and check the settings; raise :class:`SettingsError` naming the first bad variable.

    >>> load({"DATABASE_URL": "postgresql://app:pw@db/app", "REDIS_URL": "redis://cache:6379/0"}).port
    8000
    """
    env = os.environ if env is None else env
    version = env.get("APP_VERSION", "").strip() or "0.0.0-dev"
    return Settings(
        database_url=required_url(env, "DATABASE_URL", ("postgresql", "postgres"),
                                  "postgresql://USER:PASSWORD@HOST:5432/DBNAME"),
        redis_url=required_url(env, "REDIS_URL", ("redis", "rediss"), "redis://[:PASSWORD@]HOST:6379/0"),
        host=env.get("HOST", "0.0.0.0") or "0.0.0.0",
        port=port(env),
        version=version,
        broken=flag(env, "BROKEN") or "broken" in version.lower(),
        dev=gate(env, "dev", "DEV"),
        ops=gate(env, "ops", "OPS"),
        trusted_proxies=parse_networks("TRUSTED_PROXIES", env.get("TRUSTED_PROXIES", "")),
        timeout=positive_float(env, "BACKEND_TIMEOUT", 2.0),
        cors=load_cors(env),
    )


def required_url(env: Mapping[str, str], name: str, schemes: tuple[str, ...], example: str) -> str:
    """A required URL variable; empty counts as missing."""
    value = env.get(name, "").strip()
    if not value:
        raise SettingsError(f"missing required environment variable {name} (e.g. {example})")
    if urlsplit(value).scheme not in schemes:
        raise SettingsError(f"{name} must be a {' or '.join(s + '://' for s in schemes)} URL (e.g. {example})")
    return value


def flag(env: Mapping[str, str], name: str) -> bool:
    """A boolean variable: 1/true/yes/on or 0/false/no/off (or unset)."""
    value = env.get(name, "").strip().lower()
    if value in TRUE:
        return True
    if value in FALSE:
        return False
    raise SettingsError(f"{name} must be true or false")


def port(env: Mapping[str, str]) -> int:
    """The listening port from ``PORT`` (default 8000)."""
    value = env.get("PORT", "").strip() or "8000"
    if not value.isdigit() or not 0 < int(value) < 65536:
        raise SettingsError("PORT must be a TCP port number (1-65535)")
    return int(value)


def positive_float(env: Mapping[str, str], name: str, default: float) -> float:
    """A positive number of seconds."""
    value = env.get(name, "").strip()
    if not value:
        return default
    try:
        number = float(value)
    except ValueError:
        number = -1.0
    if number <= 0:
        raise SettingsError(f"{name} must be a positive number of seconds")
    return number


def gate(env: Mapping[str, str], name: str, prefix: str) -> EndpointGate:
    """The switch and CIDR whitelist of one family of internal endpoints."""
    return EndpointGate(
        name=name,
        enabled=flag(env, f"{prefix}_ENDPOINTS_ENABLED"),
        whitelist=parse_networks(f"{prefix}_ENDPOINTS_WHITELIST", env.get(f"{prefix}_ENDPOINTS_WHITELIST", "")),
    )


def password_of(url: str) -> str | None:
    """The password inside a URL, if any."""
    return urlsplit(url).password


def redact_url(url: str) -> str:
    """``url`` with its password replaced by ``***`` (safe to log or show).

    >>> redact_url("postgresql://app:s3cret@db:5432/app")
    'postgresql://app:***@db:5432/app'
    """
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{user}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))

