"""The API's one resource: users in Postgres, with the list cached in Redis.

The cache is best effort: when Redis is down the list is read from Postgres directly.
"""

from __future__ import annotations

import json
import re
from typing import Any

from app.backends import db_cursor
from app.config import Settings

CACHE_KEY = "api:users:list"
CACHE_TTL = 30
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class Invalid(ValueError):
    """The request body does not describe a user."""


class Conflict(ValueError):
    """The email is already taken."""


def validate(body: Any) -> tuple[str, str]:
    """(email, name) from a JSON body, or :class:`Invalid` saying what is wrong."""
    if not isinstance(body, dict):
        raise Invalid("body must be a JSON object with email and name")
    email, name = body.get("email"), body.get("name")
    if not isinstance(email, str) or not EMAIL.match(email) or len(email) > 254:
        raise Invalid("email must be an email address")
    if not isinstance(name, str) or not name.strip() or len(name) > 200:
        raise Invalid("name must be a non-empty string of at most 200 characters")
    return email.lower(), name.strip()


def row_to_user(row: tuple[Any, ...]) -> dict[str, Any]:
    """The JSON shape of one users row."""
    user_id, email, name, created_at = row
    return {"id": user_id, "email": email, "name": name, "createdAt": created_at.isoformat()}


def create(settings: Settings, cache: Any, body: Any) -> dict[str, Any]:
    """Insert a user and drop the cached list."""
    import psycopg2.errors

    email, name = validate(body)
    try:
        with db_cursor(settings, autocommit=False) as cur:
            cur.execute("INSERT INTO users (email, name) VALUES (%s, %s) "
                        "RETURNING id, email, name, created_at", (email, name))
            user = row_to_user(cur.fetchone())
    except psycopg2.errors.UniqueViolation:
        raise Conflict(f"a user with email {email} exists") from None
    _forget(cache)
    return user


def get(settings: Settings, user_id: int) -> dict[str, Any] | None:
    """One user, or None."""
    with db_cursor(settings) as cur:
        cur.execute("SELECT id, email, name, created_at FROM users WHERE id = %s", (user_id,))
        row = cur.fetchone()
    return row_to_user(row) if row else None


def listing(settings: Settings, cache: Any) -> tuple[list[dict[str, Any]], str]:
    """Every user (newest first, at most 100) and whether the cache answered (HIT/MISS/OFF)."""
    cached = _cached(cache)
    if cached is not None:
        return cached, "HIT"
    with db_cursor(settings) as cur:
        cur.execute("SELECT id, email, name, created_at FROM users ORDER BY id DESC LIMIT 100")
        users = [row_to_user(row) for row in cur.fetchall()]
    return users, "MISS" if _store(cache, users) else "OFF"


def _cached(cache: Any) -> list[dict[str, Any]] | None:
    try:
        raw = cache.get(CACHE_KEY)
    except Exception:
        return None
    return json.loads(raw) if raw else None


def _store(cache: Any, users: list[dict[str, Any]]) -> bool:
    try:
        cache.set(CACHE_KEY, json.dumps(users), ex=CACHE_TTL)
    except Exception:
        return False
    return True


def _forget(cache: Any) -> None:
    try:
        cache.delete(CACHE_KEY)
    except Exception:
        pass
