"""The example API's schema, applied in order and recorded in ``schema_migrations``.

``apply`` is idempotent and safe to run concurrently (a Postgres advisory lock serialises
runners); each migration commits together with its ``schema_migrations`` row. ``downgrade``
undoes the newest applied one (as ``alembic downgrade -1`` does): a rollback's down-migration.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from app.backends import MIGRATIONS_TABLE

#: Key of the advisory lock held while migrating (any constant shared by all runners).
LOCK_KEY = 7_402_310_001


@dataclass(frozen=True)
class Migration:
    """One named schema change, and the SQL that undoes it."""

    version: str
    sql: str
    down: str


MIGRATIONS: tuple[Migration, ...] = (
    Migration("0001_create_users", """
        CREATE TABLE IF NOT EXISTS users (
            id         BIGSERIAL PRIMARY KEY,
            email      TEXT NOT NULL UNIQUE,
            name       TEXT NOT NULL,
            created_at TIMESTAMPTZ NOT NULL DEFAULT now()
        )""", "DROP TABLE IF EXISTS users"),
    Migration("0002_users_created_at_index",
              "CREATE INDEX IF NOT EXISTS users_created_at_idx ON users (created_at)",
              "DROP INDEX IF EXISTS users_created_at_idx"),
)


@dataclass
class Outcome:
    """What a migrate run found and did."""

    applied: list[str]
    pending: list[str]
    current: str | None

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly form."""
        return {"applied": self.applied, "pending": self.pending, "current": self.current,
                "changed": bool(self.applied)}


def applied_versions(cur: Any) -> set[str]:
    """Versions already recorded; empty when the table does not exist yet."""
    cur.execute("SELECT to_regclass(%s)", (f"public.{MIGRATIONS_TABLE}",))
    if cur.fetchone()[0] is None:
        return set()
    cur.execute(f"SELECT version FROM {MIGRATIONS_TABLE}")
    return {row[0] for row in cur.fetchall()}


def status(conn: Any) -> Outcome:
    """Which migrations are pending, without writing anything."""
    with conn.cursor() as cur:
        done = applied_versions(cur)
    conn.rollback()
    return Outcome([], [m.version for m in MIGRATIONS if m.version not in done], _latest(done))


def apply(conn: Any) -> Outcome:
    """Apply every pending migration on ``conn`` (autocommit off); return what was applied."""
    with conn.cursor() as cur:
        cur.execute("SELECT pg_advisory_lock(%s)", (LOCK_KEY,))
        conn.commit()
        try:
            cur.execute(f"""CREATE TABLE IF NOT EXISTS {MIGRATIONS_TABLE} (
                                version    TEXT PRIMARY KEY,
                                applied_at TIMESTAMPTZ NOT NULL DEFAULT now())""")
            conn.commit()
            done = applied_versions(cur)
            applied = []
            for migration in MIGRATIONS:
                if migration.version in done:
                    continue
                cur.execute(migration.sql)
                cur.execute(f"INSERT INTO {MIGRATIONS_TABLE} (version) VALUES (%s)", (migration.version,))
                conn.commit()
                applied.append(migration.version)
                done.add(migration.version)
        except Exception:
            conn.rollback()
            raise
        finally:
            _unlock(conn, cur)
    return Outcome(applied, [], _latest(done))


def downgrade(conn: Any) -> Outcome:
    """Undo the newest applied migration on ``conn`` (its ``down`` SQL and its row, in one
    transaction); ``applied`` names it, or is empty when nothing was applied."""
    with conn.cursor() as cur:
        cur.execute("SELECT pg_advisory_lock(%s)", (LOCK_KEY,))
        conn.commit()
        try:
            done = applied_versions(cur)
            newest = _latest(done)
            undone = []
            if newest is not None:
                migration = next(m for m in MIGRATIONS if m.version == newest)
                cur.execute(migration.down)
                cur.execute(f"DELETE FROM {MIGRATIONS_TABLE} WHERE version = %s", (newest,))
                conn.commit()
                undone.append(newest)
                done.discard(newest)
        except Exception:
            conn.rollback()
            raise
        finally:
            _unlock(conn, cur)
    return Outcome(undone, [m.version for m in MIGRATIONS if m.version not in done], _latest(done))


def _unlock(conn: Any, cur: Any) -> None:
    """Release the advisory lock; a broken connection releases it by closing."""
    try:
        cur.execute("SELECT pg_advisory_unlock(%s)", (LOCK_KEY,))
        conn.commit()
    except Exception:
        pass


def _latest(done: set[str]) -> str | None:
    known = [m.version for m in MIGRATIONS if m.version in done]
    return known[-1] if known else None
