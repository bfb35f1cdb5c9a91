"""Rules on the backup job: every database backed up, into a folder of its own, and when it runs."""

from __future__ import annotations

import datetime as dt
import posixpath
import re
import zoneinfo

from mooring.checks.findings import Finding, Outcome
from mooring.checks.registry import RuleContext, rule


@rule("backups.databases")
def backups_databases(ctx: RuleContext, name: str) -> list[Finding]:
    """Enabled backups name at least one database, each a plain resolved name."""
    backups = ctx.stack.backups
    if not backups.enabled:
        return []
    if not backups.databases:
        return [ctx.finding(name, Outcome.FAILED, "stack.backups.databases", "backups are enabled but name no database",
                            'list them, e.g. databases: ["${POSTGRES_DB}"]')]
    found = []
    for index, database in enumerate(backups.databases):
        if not re.match(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$", database):
            shown = repr(database) if "${" in database else "the resolved name"
            found.append(ctx.finding(name, Outcome.FAILED, f"stack.backups.databases.{index}",
                                     f"{shown} is not a plain database name (unknown or secret ${{KEY}}, or odd characters)",
                                     "use a declared, non-secret env key such as ${POSTGRES_DB}, or the name itself"))
    return found


#: Host folders that backups must never take over (the deploy chmods the folder 0700).
SYSTEM_DIRS = frozenset({"/", "/tmp", "/etc", "/var", "/usr", "/home", "/root", "/srv", "/opt", "/bin", "/sbin", "/lib",
                         "/boot", "/dev", "/proc", "/sys", "/run", "/var/lib", "/var/backups"})


@rule("backups.directory")
def backups_directory(ctx: RuleContext, name: str) -> list[Finding]:
    """The backup folder is a dedicated folder: no system path, not the stack dir, two components or more."""
    stack = ctx.stack
    if not stack.backups.enabled:
        return []
    directory = posixpath.normpath(stack.backups.directory)
    parts = [p for p in directory.split("/") if p]
    why = ""
    if directory in SYSTEM_DIRS:
        why = "is a system folder"
    elif directory == stack.dir or stack.dir.startswith(directory.rstrip("/") + "/"):
        why = f"is the stack folder {stack.dir} or holds it"
    elif len(parts) < 2:
        why = "has fewer than two path components"
    if not why:
        return []
    return [ctx.finding(name, Outcome.FAILED, "stack.backups.directory",
                        f"backup folder {directory} {why} (the deploy makes it root-only, mode 0700)",
                        f"use a dedicated folder, e.g. /var/backups/mooring/{stack.name}")]


@rule("backups.schedule")
def backups_schedule(ctx: RuleContext, name: str) -> list[Finding]:
    """When the backup job (and the restore drill, when scheduled) runs next, in the host's time
    zone: a PASSED statement, so the report shows it (the schema refused invalid schedules)."""
    from mooring.declare.cron import next_runs

    backups = ctx.stack.backups
    if not backups.enabled:
        return []
    found = []
    for path, schedule, what in (("stack.backups.schedule", backups.schedule, "backup"),
                                 ("stack.backups.verify_schedule", backups.verify_schedule, "restore drill")):
        if schedule:
            found.append(ctx.finding(name, Outcome.PASSED, path, next_run_text(schedule, what, ctx.model.bootstrap.timezone)))
    return found


def next_run_text(schedule: str, what: str, timezone: str, now: dt.datetime | None = None) -> str:
    """``backup 0 2 * * *: next run 2026-12-06 02:00 Europe/Berlin``.

    >>> next_run_text("0 2 * * mon-fri", "backup", "UTC", dt.datetime(2026, 12, 5, 23, 0, tzinfo=dt.timezone.utc))
    'backup 0 2 * * mon-fri: next run 2026-12-07 02:00 UTC'
    """
    from mooring.declare.cron import next_runs

    try:
        zone: dt.tzinfo = zoneinfo.ZoneInfo(timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        zone, timezone = dt.timezone.utc, "UTC"
    local = (now or dt.datetime.now(dt.timezone.utc)).astimezone(zone).replace(tzinfo=None)
    runs = next_runs(schedule, local)
    when = runs[0].strftime("%Y-%m-%d %H:%M") if runs else "never"
    return f"{what} {schedule.strip()}: next run {when} {timezone}"
