"""CORS for browsers calling the API directly (off unless origins are listed).

Environment (the seed runbook's names): ``BACKEND_CORS_ALLOWED_ORIGINS`` (comma-separated; empty
turns CORS off), ``BACKEND_CORS_ALLOW_CREDENTIALS`` (default true), ``BACKEND_CORS_ALLOW_METHODS``
(default ``GET,POST,PUT,PATCH,DELETE,OPTIONS``), ``BACKEND_CORS_ALLOW_HEADERS`` (default ``*``:
echo what the browser asks for).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

from app.errors import SettingsError

DEFAULT_METHODS = "GET,POST,PUT,PATCH,DELETE,OPTIONS"


@dataclass(frozen=True)
class Cors:
    """Which origins may call the API from a browser, and how."""

    origins: frozenset[str] = frozenset()
    credentials: bool = True
    methods: str = DEFAULT_METHODS
    headers: str = "*"

    def allows(self, origin: str | None) -> bool:
        """True when ``origin`` is listed."""
        return bool(origin) and origin in self.origins

    def response_headers(self, origin: str | None) -> dict[str, str]:
        """Headers for an ordinary response to ``origin`` (empty when not allowed).

        >>> Cors(frozenset({"http://localhost:3300"})).response_headers("http://localhost:3300")["Access-Control-Allow-Origin"]
        'http://localhost:3300'
        """
        if not self.allows(origin):
            return {}
        headers = {"Access-Control-Allow-Origin": str(origin), "Vary": "Origin"}
        if self.credentials:
            headers["Access-Control-Allow-Credentials"] = "true"
        return headers

    def preflight_headers(self, origin: str | None, requested_headers: str | None) -> dict[str, str]:
        """Headers for an ``OPTIONS`` preflight (empty when not allowed)."""
        headers = self.response_headers(origin)
        if headers:
            headers["Access-Control-Allow-Methods"] = self.methods
            allow = (requested_headers or "") if self.headers == "*" else self.headers
            if allow:
                headers["Access-Control-Allow-Headers"] = allow
            headers["Access-Control-Max-Age"] = "600"
        return headers


def load(env: Mapping[str, str]) -> Cors:
    """The CORS settings from the environment."""
    origins = frozenset(o.strip().rstrip("/") for o in env.get("BACKEND_CORS_ALLOWED_ORIGINS", "").split(",")
                        if o.strip())
    if "*" in origins:
        raise SettingsError("BACKEND_CORS_ALLOWED_ORIGINS must list origins (a wildcard with credentials is refused)")
    credentials = env.get("BACKEND_CORS_ALLOW_CREDENTIALS", "true").strip().lower()
    if credentials not in ("true", "false", "1", "0", "yes", "no", ""):
        raise SettingsError("BACKEND_CORS_ALLOW_CREDENTIALS must be true or false")
    return Cors(origins, credentials in ("true", "1", "yes", ""),
                env.get("BACKEND_CORS_ALLOW_METHODS", "").strip() or DEFAULT_METHODS,
                env.get("BACKEND_CORS_ALLOW_HEADERS", "").strip() or "*")
