"""The backup role: run the installed nightly job now (``mooring backup run``)."""

from __future__ import annotations

import shlex
import time

from pyinfra import host
from pyinfra.api import QuoteString, StringCommand, deploy
from pyinfra.api.arguments import CONNECTOR_ARGUMENT_KEYS, pop_global_arguments
from pyinfra.operations import python

from mooring.declare.model import Stack
from mooring.declare.render import backup_script_path, drill_script_path, restore_script_path
from mooring.deploy.operations import lock
from mooring.deploy.operations.compose import fail_host_op
from mooring.deploy.plan import BackupRestore, BackupRun, BackupVerify, Op, lock_owner, run_id, write_host_plan

#: How long one run of the job may take on a host (a large database dumps for a while).
JOB_TIMEOUT = 3 * 3600
#: The job's exit code when another run holds its lock (backup.sh: flock -n).
BUSY = 75
EXIT_MARK = "mooring-backup-exit="


@deploy("Backups")
def run_now(stack: Stack) -> None:
    """Run the stack's installed backup job on the host now, once, and leave what it wrote
    (a :class:`mooring.deploy.plan.BackupRun`) for the ``mooring backup run`` command."""
    if not (stack.backups.enabled and stack.backups.service):
        write_host_plan(host.name, "backup", BackupRun(stack.name))
        host.noop(f"stack {stack.name} declares no backup job")
        return
    python.call(name=f"Backup now ({', '.join(stack.backups.databases)})", function=_run_job, stack=stack)


@deploy("Restore drill")
def verify_now(stack: Stack, file: str = "") -> None:
    """Run the stack's restore drill on the host now: the newest dump of each database (or
    ``file``) restored into a throwaway server; leaves a :class:`mooring.deploy.plan.BackupVerify`."""
    if not (stack.backups.enabled and stack.backups.service):
        write_host_plan(host.name, "verify", BackupVerify(stack.name))
        host.noop(f"stack {stack.name} declares no backup job")
        return
    python.call(name=f"Restore drill ({file or 'newest dumps'})", function=_run_drill, stack=stack, file=file)


def _connector(state, host) -> dict:
    arguments, _ = pop_global_arguments(state, host, {})
    connector = {key: value for key, value in arguments.items() if key in CONNECTOR_ARGUMENT_KEYS}
    connector["_timeout"] = JOB_TIMEOUT
    return connector


def _untimed(connector: dict) -> dict:
    """The connector arguments without the job's long time-out (for quick commands)."""
    return {key: value for key, value in connector.items() if key != "_timeout"}


def _run_script(host, connector: dict, *command: str) -> tuple[int, object, float]:
    """Run an installed script as root with umask 077: (its exit code, pyinfra's output, seconds)."""
    started = time.monotonic()
    # pyinfra hands back success or failure only: the script's own exit code comes on a last line.
    script = f"umask 077; {shlex.join(command)}; echo \"{EXIT_MARK}$?\""
    ran, output = host.run_shell_command(StringCommand("sh", "-c", QuoteString(script)), **connector)
    marks = [line for line in output.stdout_lines if line.startswith(EXIT_MARK)]
    code = int(marks[-1][len(EXIT_MARK):]) if ran and marks and marks[-1][len(EXIT_MARK):].isdigit() else 255
    return code, output, round(time.monotonic() - started, 2)


def _run_drill(state, host, stack: Stack, file: str) -> bool:
    """The drill; False (the host fails) unless every dump drilled restored whole."""
    code, output, seconds = _run_script(host, _connector(state, host), drill_script_path(stack),
                                        *([file] if file else []))
    rows = [line.split("\t") for line in output.stdout_lines]
    results = tuple(tuple(r[1:5]) for r in rows if r[0] == "result" and len(r) == 5)
    tables = tuple(tuple(r[1:5]) for r in rows if r[0] == "table" and len(r) == 5)
    write_host_plan(host.name, "verify", BackupVerify(stack.name, results, tables, code, seconds,
                                                      tuple(output.stderr_lines[-8:])))
    return code == 0


def _run_job(state, host, stack: Stack) -> bool:
    """The job, as cron runs it (umask 077, as root); then the size of each dump it printed.
    False (the host fails) when it did not end with every database dumped."""
    connector = _connector(state, host)
    code, output, seconds = _run_script(host, connector, backup_script_path(stack))
    paths = [line.strip() for line in output.stdout_lines if line.strip().startswith(stack.backups.directory + "/")]
    dumps = _sized(host, paths, stack, connector)
    write_host_plan(host.name, "backup", BackupRun(stack.name, tuple(stack.backups.databases), dumps, code, seconds,
                                                   tuple(output.stderr_lines[-8:])))
    return code == 0


def _sized(host, paths: list[str], stack: Stack, connector: dict) -> tuple[tuple[str, str, int], ...]:
    """(database, path, bytes) of each dump path the job printed."""
    if not paths:
        return ()
    ok, output = host.run_shell_command(StringCommand("stat", "-c", "'%s %n'", "--", *map(QuoteString, paths)),
                                        **_untimed(connector))
    sizes = {}
    for line in output.stdout_lines if ok else []:
        size, _, path = line.partition(" ")
        if size.isdigit():
            sizes[path] = int(size)
    prefix = f"{stack.backups.directory}/{stack.name}__"
    found = []
    for path in paths:
        name = path[len(prefix):] if path.startswith(prefix) else ""
        database = next((db for db in stack.backups.databases if name.startswith(f"{db}_")), "")
        found.append((database, path, sizes.get(path, -1)))
    return tuple(found)


@deploy("Restore")
def restore_now(stack: Stack, file: str) -> None:
    """Restore ``file`` into the stack's live database now, under the deploy lock: first a fresh
    dump of every database (what was there before is kept; no dump, no restore), then
    restore.sh in one transaction, recorded in ``<stack dir>/.mooring/restores.log``. Leaves a
    :class:`mooring.deploy.plan.BackupRestore`."""
    if not (stack.backups.enabled and stack.backups.service):
        write_host_plan(host.name, "restore", BackupRestore(stack.name, file))
        host.noop(f"stack {stack.name} declares no backup job")
        return
    from mooring.deploy.roles.stack import take_lock

    refused = take_lock(stack, [])
    if refused:
        write_host_plan(host.name, "restore", BackupRestore(stack.name, file, refused=refused))
        fail_host_op(name=Op.LOCKED, message=refused)
        return
    python.call(name=f"Restore {file} (a fresh dump first)", function=_run_restore, stack=stack, file=file)


def _run_restore(state, host, stack: Stack, file: str) -> bool:
    connector = _connector(state, host)
    path = file if file.startswith("/") else f"{stack.backups.directory}/{file}"
    try:
        code, output, seconds = _run_script(host, connector, backup_script_path(stack))
        before = [line.strip() for line in output.stdout_lines if line.strip().startswith(stack.backups.directory + "/")]
        log = list(output.stderr_lines[-4:])
        restored = None
        if code == 0:
            restored, output, more = _run_script(host, connector, restore_script_path(stack), path)
            seconds += more
            log += output.stderr_lines[-4:]
        _record(host, connector, stack, path, restored, before)
    finally:
        host.run_shell_command(StringCommand("sh", "-c", QuoteString(lock.release_script(stack.dir, run_id()))),
                               **_untimed(connector))
    write_host_plan(host.name, "restore", BackupRestore(stack.name, path, tuple(before), code, restored,
                                                        round(seconds, 2), tuple(log)))
    return restored == 0


def _record(host, connector: dict, stack: Stack, path: str, restored: int | None, before: list[str]) -> None:
    """Append one JSON line to the host's restore log: when, who, which file, the result."""
    import datetime as dt
    import json

    owner = lock_owner()
    entry = {"at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), "file": path,
             "operator": owner["operator"], "controller": owner["controller"], "run": owner["run"],
             "result": "restored" if restored == 0 else ("not run: the dump before it failed" if restored is None
                                                          else f"failed (exit {restored}): the database is unchanged"),
             "dumped_before": before}
    log_path = f"{stack.dir}/.mooring/restores.log"
    host.run_shell_command(StringCommand("sh", "-c", QuoteString(
        f"printf '%s\\n' {shlex.quote(json.dumps(entry, sort_keys=True))} >>{shlex.quote(log_path)}")),
        **_untimed(connector))
