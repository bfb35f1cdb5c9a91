"""Connections to Postgres (psycopg2) and Redis (redis-py), and the readiness questions.

The drivers are imported lazily so that settings and routing load without them. A database
connection is opened per request (cheap on a local network and always fresh after a database
restart); redis-py keeps its own reconnecting pool.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterator, Sequence

from app.config import Settings

MIGRATIONS_TABLE = "schema_migrations"


def describe(exc: BaseException, secrets: Sequence[str] = ()) -> str:
    """A one-line reason for a failure, with any secret masked.

    >>> describe(OSError("connect to db failed: password s3 rejected\\nmore"), ["s3"])
    'OSError: connect to db failed: password *** rejected'
    """
    lines = str(exc).strip().splitlines()
    text = f"{type(exc).__name__}: {lines[0].strip() if lines else 'no detail'}"
    for secret in secrets:
        text = text.replace(secret, "***")
    return text


def connect_db(settings: Settings, *, autocommit: bool = True) -> Any:
    """A new psycopg2 connection to ``DATABASE_URL``."""
    import psycopg2

    conn = psycopg2.connect(settings.database_url, connect_timeout=max(1, int(settings.timeout)),
                            application_name="mooring-api")
    conn.autocommit = autocommit
    return conn


@contextmanager
def db_cursor(settings: Settings, *, autocommit: bool = True) -> Iterator[Any]:
    """A cursor on a fresh connection that is closed afterwards."""
    conn = connect_db(settings, autocommit=autocommit)
    try:
        with conn.cursor() as cur:
            yield cur
        if not autocommit:
            conn.commit()
    finally:
        conn.close()


def redis_client(settings: Settings) -> Any:
    """A redis-py client for ``REDIS_URL`` with short timeouts."""
    import redis

    return redis.Redis.from_url(settings.redis_url, socket_timeout=settings.timeout,
                                socket_connect_timeout=settings.timeout, health_check_interval=15)


def db_problem(settings: Settings) -> str | None:
    """None when the database answers ``SELECT 1`` and is migrated, else why not."""
    try:
        with db_cursor(settings) as cur:
            cur.execute("SELECT 1")
            cur.fetchone()
            cur.execute("SELECT to_regclass(%s)", (f"public.{MIGRATIONS_TABLE}",))
            if cur.fetchone()[0] is None:
                return f"table {MIGRATIONS_TABLE} is missing (run migrate)"
    except Exception as exc:  # any driver failure means "not ready", with the reason
        return describe(exc, settings.secrets())
    return None


def redis_problem(settings: Settings, client: Any) -> str | None:
    """None when Redis answers ``PING``, else why not."""
    try:
        if not client.ping():
            return "PING was not answered with PONG"
    except Exception as exc:
        return describe(exc, settings.secrets())
    return None
