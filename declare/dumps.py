"""The backup dump format, in one place: how dumps are named, the first line the backup job
writes into each, and each engine's dump command and closing line. backup.sh, restore.sh and
drill.sh are rendered from these; the host snapshot and ``mooring backup`` read dump names with
them.

A dump is ``<directory>/<stack>__<database>_<UTC stamp>.sql.gz``: plain SQL, gzipped, whose
first line is :func:`header` and whose last lines hold the engine's closing line (a dump cut
short has none). PostgreSQL: ``pg_dump --clean --if-exists --no-owner``. MySQL/MariaDB:
``mariadb-dump`` (or ``mysqldump``) in one transaction, one ``INSERT`` per row (so the restore
drill counts a table's rows in the dump), credentials from the container's environment.
"""

from __future__ import annotations

from dataclasses import dataclass

#: pg_dump's last line of a plain dump that ran to the end.
TRAILER = "-- PostgreSQL database dump complete"

# The MySQL dump's credentials come from the database container's own environment (the official
# images' variables, or their *_FILE forms): root when its password is known, else the app user.
# MYSQL_PWD keeps the password off every command line.
_MYSQL_CREDENTIALS = (
    'u=root; p=${MARIADB_ROOT_PASSWORD:-${MYSQL_ROOT_PASSWORD:-}}; '
    'f=${MARIADB_ROOT_PASSWORD_FILE:-${MYSQL_ROOT_PASSWORD_FILE:-}}; '
    'if [ -z "$p" ] && [ -n "$f" ]; then p=$(cat "$f"); fi; '
    'if [ -z "$p" ] && [ -n "${MARIADB_USER:-${MYSQL_USER:-}}" ]; then '
    'u=${MARIADB_USER:-$MYSQL_USER}; p=${MARIADB_PASSWORD:-${MYSQL_PASSWORD:-}}; fi; '
    'MYSQL_PWD=$p; export MYSQL_PWD; '
)


@dataclass(frozen=True)
class Engine:
    """One database engine's dump format: how the backup job dumps a database inside the
    database container (``sh -c COMMAND sh DATABASE``), how a whole dump ends, and where the
    engine's image keeps its data (the restore drill's throwaway volume)."""

    name: str
    title: str
    dump_command: str
    trailer_re: str  # grep -E pattern of the dump's closing line
    trailer_text: str  # the closing line, for people
    data_dir: str


ENGINES: dict[str, Engine] = {
    "postgres": Engine(
        "postgres", "PostgreSQL",
        'exec pg_dump --username="$POSTGRES_USER" --clean --if-exists --no-owner "$1"',
        "^" + TRAILER + "$", TRAILER, "/var/lib/postgresql/data"),
    "mysql": Engine(
        "mysql", "MySQL/MariaDB",
        _MYSQL_CREDENTIALS + 'd=$(command -v mariadb-dump || command -v mysqldump) && '
        'exec "$d" --user="$u" --single-transaction --routines --triggers --skip-extended-insert '
        '--no-autocommit "$1"',
        "^-- Dump completed( on .*)?$", "-- Dump completed", "/var/lib/mysql"),
}
#: The server roles whose databases the backup job dumps.
ENGINE_ROLES = tuple(ENGINES)
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


def template_context(engine: str = "postgres") -> dict[str, str]:
    """What the backup, restore and drill templates know of the format of ``engine`` (``dump.*``).

    >>> template_context("mysql")["trailer_re"]
    '^-- Dump completed( on .*)?$'
    """
    found = ENGINES[engine]
    return {"engine": found.name, "title": found.title, "command": found.dump_command,
            "trailer_re": found.trailer_re, "trailer": found.trailer_text, "data_dir": found.data_dir,
            "mysql_credentials": _MYSQL_CREDENTIALS,
            "header_prefix": HEADER_PREFIX, "stamp_glob": STAMP_GLOB, "suffix": SUFFIX}
