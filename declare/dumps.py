"""The backup dump format, in one place: how dumps are named, the first line the backup job
writes into each, and pg_dump's closing line. backup.sh, restore.sh and drill.sh are rendered
from these; the host snapshot and ``mooring backup`` read dump names with them.

A dump is ``<directory>/<stack>__<database>_<UTC stamp>.sql.gz``: plain SQL from
``pg_dump --clean --if-exists --no-owner``, gzipped, whose first line is :func:`header` and
whose last lines hold :data:`TRAILER` (a dump cut short has none).
"""

from __future__ import annotations

#: pg_dump's last line of a plain dump that ran to the end.
TRAILER = "-- PostgreSQL database dump complete"
#: The first line the job writes into each dump, before pg_dump's output (an SQL comment).
HEADER_PREFIX = "-- mooring-backup:"
#: The UTC stamp in a dump's name, as a shell glob and as a regular expression.
STAMP_GLOB = "[0-9]" * 8 + "T" + "[0-9]" * 6 + "Z"
STAMP_RE = r"\d{8}T\d{6}Z"
SUFFIX = ".sql.gz"
#: The label on every container and volume a restore drill starts (value: the stack's name).
DRILL_LABEL = "mooring.drill"


def header(stack: str, database: str) -> str:
    """The first line of a dump of ``database`` of stack ``stack``.

    >>> header("solacore", "app")
    '-- mooring-backup: stack=solacore database=app'
    """
    return f"{HEADER_PREFIX} stack={stack} database={database}"


def dump_pattern(stack: str, database: str) -> str:
    """The shell glob matching exactly the dumps of ``database`` of ``stack`` (nothing else).

    >>> dump_pattern("s", "app")
    's__app_[0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9]T[0-9][0-9][0-9][0-9][0-9][0-9]Z.sql.gz'
    """
    return f"{stack}__{database}_{STAMP_GLOB}{SUFFIX}"


def template_context() -> dict[str, str]:
    """What the backup, restore and drill templates know of the format (``dump.*``)."""
    return {"trailer": TRAILER, "header_prefix": HEADER_PREFIX, "stamp_glob": STAMP_GLOB, "suffix": SUFFIX}
