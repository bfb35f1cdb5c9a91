"""Rules on the backup job: every database backed up, into a folder of its own."""

from __future__ import annotations

import posixpath
import re

from checks.findings import Finding, Outcome
from checks.registry import RuleContext, rule


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
