"""``mooring backup run|list|verify|restore INVENTORY``: run the installed backup job now; list
the dumps; prove they restore; restore one.

``run`` runs each host's nightly job once, as cron would (deploy/backup_run.py), and reports per
database the dump it wrote, its size and that it was verified (gzip stream and the dump tool's closing
line), or why it failed. ``list`` reads one snapshot per host (nothing is written) and lists this
stack's own dumps with their age and size, the newest first. ``verify`` is the restore drill
(deploy/backup_verify.py): the newest dump of each database (or ``--file NAME``) restored into a
throwaway database server started on the host for the drill -- never the live one --, every
table's rows counted and compared with the dump's. ``restore --file NAME`` replaces the live
data (deploy/backup_restore.py): confirmed first (``--yes``; on a terminal by typing
``restore``; production always needs ``--yes``), then under the deploy lock a fresh dump of
what it replaces -- no dump, no restore --, the restore (PostgreSQL: in one transaction; MySQL:
only after the dump restored whole into a scratch database), a line in the host's
``<stack dir>/.mooring/restores.log``.

Exit codes: 0 every database dumped (``run``) / listed (``list``) / restored whole (``verify``);
/ restored (``restore``); 1 a dump failed or does not restore, a restore was refused or failed,
a host could not be reached, or the declared state is invalid (then no host is touched).
"""

from __future__ import annotations

import argparse
import time
import uuid

from mooring.checks.findings import Finding, Kind, Outcome
from mooring.commands import add_target_arguments
from mooring.output import add_output_arguments, emit

NAME = "backup"
#: Shown under ``examples:`` in ``--help`` (each one is parsed by tests/test_cli.py).
EXAMPLES = (
    'mooring backup run staging',
    'mooring backup list production',
    'mooring backup verify production          # the restore drill, never the live database',
    'mooring backup restore staging --file solacore__app__20261205T020000Z.sql.gz --yes',
)
HELP = ("run the backup job now (run), list each host's dumps (list), prove they restore (verify), restore one "
        "(restore); exit 0 ok, 1 failed")
ACTIONS = ("run", "list", "verify", "restore")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``backup`` command's arguments: the action, then the usual target and output flags."""
    parser.add_argument("action", choices=ACTIONS, help="run: run the job now on each host; list: list the dumps; "
                        "verify: restore the newest dump of each database into a throwaway server and count its rows; "
                        "restore: restore --file into the live database (a fresh dump first, under the deploy lock)")
    parser.add_argument("--file", default="", metavar="NAME",
                        help="verify: the dump to drill (a name in the backup folder), instead of the newest ones; "
                             "restore: the dump to restore (required)")
    parser.add_argument("--yes", action="store_true",
                        help="restore: confirmed, do not ask (needed for production and without a terminal)")
    add_target_arguments(parser)
    add_output_arguments(parser, NAME)


def run(args: argparse.Namespace) -> int:
    """Run ``mooring backup ACTION``; returns the exit code."""
    if args.action == "list":
        args.show_passed = True  # the listing is the answer
        return emit(list_report(args.inventory, args.limit), args)
    if args.action == "verify":
        return emit(verify_report(args.inventory, args.limit, args.file), args)
    if args.action == "restore":
        if not args.file:
            raise SystemExit("mooring backup restore: name the dump to restore with --file NAME "
                             "(mooring backup list shows them)")
        return emit(restore_report(args.inventory, args.limit, args.file, confirm_restore(args.file, args.yes)), args)
    if args.file:
        raise SystemExit(f"mooring backup {args.action}: --file is for verify only")
    return emit(run_report(args.inventory, args.limit), args)


def run_report(inventory: str, limit: list[str] | None):
    """Pre-flight, then the job on every host at once; one finding per declared database."""
    from mooring.deploy.plan import BackupRun

    return _on_every_host("run", inventory, limit, "backup_run", ("backup", BackupRun), job_findings)


def verify_report(inventory: str, limit: list[str] | None, file: str = ""):
    """Pre-flight, then the restore drill on every host at once; one finding per dump drilled."""
    from mooring.deploy.plan import BACKUP_FILE_ENV, BackupVerify

    return _on_every_host("verify", inventory, limit, "backup_verify", ("verify", BackupVerify), verify_findings,
                          {BACKUP_FILE_ENV: file} if file else {})


def restore_report(inventory: str, limit: list[str] | None, file: str, confirm):
    """Pre-flight, ``confirm(hosts)`` (a refusal touches no host), then the guarded restore of
    ``file`` on every host at once: a fresh dump first, restore.sh under the deploy lock."""
    from mooring.deploy.plan import BACKUP_FILE_ENV, BackupRestore

    return _on_every_host("restore", inventory, limit, "backup_restore", ("restore", BackupRestore), restore_findings,
                          {BACKUP_FILE_ENV: file}, confirm)


def _on_every_host(action: str, inventory: str, limit: list[str] | None, deploy_name: str, plan: tuple[str, type],
                   judge, env: dict[str, str] | None = None, confirm=None):
    """Pre-flight (a failure touches no host), then ``deploy/<deploy_name>.py`` on every host at
    once; each host leaves a ``plan`` (its kind and type), which ``judge(host, plan)`` turns into
    (findings, note, details). ``confirm(hosts)`` may refuse first (why, or "" to go on)."""
    from mooring.checks.findings import failed
    from mooring.checks.preflight import preflight_report
    from mooring.deploy.plan import RUN_DIR_ENV, RUN_ID_ENV, read_host_plans
    from mooring.deploy.roles.backups import JOB_TIMEOUT
    from mooring.deployer import new_run_dir
    from mooring.report import HostResult, Report, secret_values, utc_now
    from mooring.runner import deploy_path, inventory_path, run_deploy

    started, path, command = utc_now(), inventory_path(inventory), f"{NAME} {action}"
    preflight = preflight_report(path, limit)
    secrets = secret_values(preflight.hosts)
    if failed(preflight.findings):
        hosts = [HostResult(h.name, tuple(h.groups), note="declared state invalid: not contacted")
                 for h in preflight.hosts]
        return Report(command, preflight.findings, hosts, str(path), started, utc_now(), secrets,
                      ("pre-flight failed: no host was touched",))
    refusal = confirm(preflight.hosts) if confirm else ""
    if refusal:
        finding = Finding(f"{NAME}.{action}", Outcome.ERROR, str(path), kind=Kind.DEPLOY, message=refusal,
                          fix=f"run it again with --yes once you are sure: mooring {command} ... --yes")
        return Report(command, [finding], [HostResult(h.name, tuple(h.groups), note="not confirmed: not contacted")
                                          for h in preflight.hosts], str(path), started, utc_now(), secrets,
                      ("not confirmed: no host was touched",))
    directory = new_run_dir()
    result = run_deploy(path, deploy_path(deploy_name), limit=limit, timeout=JOB_TIMEOUT + 600,
                        env={RUN_DIR_ENV: str(directory), RUN_ID_ENV: uuid.uuid4().hex[:12], **(env or {})})
    plans = read_host_plans(directory, *plan)
    findings, hosts = [], []
    for name in sorted(set(result.hosts) | set(plans)):
        plan = plans.get(name)
        if plan is None or plan.exit_code is None and name in result.failed_hosts:
            reason = (result.errors_for(name) or ["unreachable"])[0]
            findings.append(Finding(command.replace(" ", "."), Outcome.ERROR, name, host=name, kind=Kind.DEPLOY,
                                    message=reason, fix=f"read the reason; `mooring -v {command}` shows pyinfra's log"))
            hosts.append(HostResult(name, error=reason))
            continue
        host_findings, note, details = judge(name, plan)
        findings += host_findings
        hosts.append(HostResult(name, note=note, details=details))
    if not hosts:
        findings.append(Finding(command.replace(" ", "."), Outcome.ERROR, str(path), kind=Kind.DEPLOY,
                                message="no host ran: " + result.log_tail()))
    return Report(command, findings, hosts, str(path), started, utc_now(), secrets)


def job_findings(host: str, plan) -> tuple[list[Finding], str, dict]:
    """One finding per declared database of one host's job run, the host's note and details.

    >>> from mooring.deploy.plan import BackupRun
    >>> done = BackupRun("app", ("app",), (("app", "/b/app__app_20261203T020000Z.sql.gz", 2048),), 0, 1.5)
    >>> [(f.outcome.value, f.resource, f.message) for f in job_findings("h", done)[0]]
    [('passed', 'backup:app', '/b/app__app_20261203T020000Z.sql.gz: 2048 bytes, verified (gzip stream, closing line)')]
    """
    from mooring.deploy.roles.backups import BUSY

    if plan.exit_code is None:
        return [Finding("backup.run", Outcome.SKIPPED, host, host=host, kind=Kind.DEPLOY,
                        message=f"stack {plan.stack} declares no backup job")], "no backup job", {}
    written = {db: (path, size) for db, path, size in plan.dumps}
    why = _job_reason(plan)
    findings = []
    for database in plan.databases:
        resource = f"backup:{database}"
        if database in written and plan.exit_code != BUSY:
            path, size = written[database]
            findings.append(Finding("backup.run", Outcome.PASSED, host, host=host, kind=Kind.DEPLOY, resource=resource,
                                    message=f"{path}: {size} bytes, verified (gzip stream, closing line)"))
        else:
            findings.append(Finding("backup.run", Outcome.FAILED, host, host=host, kind=Kind.DEPLOY, resource=resource,
                                    message=f"no dump of {database}: {why}", path="stack.backups.databases",
                                    fix=_job_fix(plan)))
    ok = plan.exit_code == 0
    dumped = len([db for db in plan.databases if db in written])
    note = f"{dumped} of {len(plan.databases)} dumped in {plan.seconds:.1f} s" + ("" if ok else f", exit {plan.exit_code}")
    details = {"seconds": plan.seconds, "exit_code": plan.exit_code,
               "dumps": [{"database": db, "path": p, "bytes": size} for db, p, size in plan.dumps]}
    return findings, note, details


def verify_findings(host: str, plan) -> tuple[list[Finding], str, dict]:
    """One finding per dump one host's drill restored (or could not), the note and details.

    >>> from mooring.deploy.plan import BackupVerify
    >>> done = BackupVerify("app", (("app", "/b/app__app_20261203T020000Z.sql.gz", "ok", "2 tables, 5 rows restored, as in the dump"),),
    ...                     (("app", "public.t", "5", "5"), ("app", "public.u", "0", "0")), 0, 3.0)
    >>> found, note, _ = verify_findings("h", done)
    >>> note, found[0].outcome.value, found[0].message
    ('1 of 1 dump restored whole in 3.0 s', 'passed', '/b/app__app_20261203T020000Z.sql.gz: 2 tables, 5 rows restored, as in the dump')
    """
    from mooring.deploy.roles.backups import BUSY

    def finding(outcome: Outcome, resource: str, message: str, fix: str = "") -> Finding:
        return Finding("backup.verify", outcome, host, host=host, kind=Kind.DEPLOY, resource=resource,
                       message=message, fix=fix, path="stack.backups" if fix else "")

    if plan.exit_code is None:
        return [finding(Outcome.SKIPPED, "", f"stack {plan.stack} declares no backup job")], "no backup job", {}
    if plan.exit_code in (BUSY, 127) or not plan.results:
        why = {BUSY: "another drill is running on the host (its lock is held)",
               127: "the restore drill is not installed on the host"}.get(plan.exit_code) or _said(plan, "drill") \
            or f"the drill exited {plan.exit_code}"
        fix = {BUSY: "wait for it to end, then run again"}.get(
            plan.exit_code, "deploy first: mooring deploy INVENTORY installs the drill")
        return [finding(Outcome.FAILED, "", why, fix)], f"drill not run: {why}", {"exit_code": plan.exit_code}
    findings, dumps = [], []
    for database, file, status, why in plan.results:
        ok = status == "ok"
        findings.append(finding(Outcome.PASSED if ok else Outcome.FAILED, f"backup:{database}", f"{file}: {why}",
                                "" if ok else "this dump does not restore whole: take a new one (mooring backup run) "
                                              "and verify it; older dumps are kept"))
        tables = [{"table": t, "rows_in_dump": d, "rows_restored": r} for db, t, d, r in plan.tables if db == database]
        dumps.append({"database": database, "file": file, "ok": ok, "why": why, "tables": tables})
    whole = len([d for d in dumps if d["ok"]])
    note = f"{whole} of {len(dumps)} {'dump' if len(dumps) == 1 else 'dumps'} restored whole in {plan.seconds:.1f} s"
    return findings, note, {"seconds": plan.seconds, "exit_code": plan.exit_code, "dumps": dumps}


def restore_findings(host: str, plan) -> tuple[list[Finding], str, dict]:
    """One finding for one host's restore: restored, refused (lock), or failed and why.

    >>> from mooring.deploy.plan import BackupRestore
    >>> done = BackupRestore("app", "/b/app__app_20261203T020000Z.sql.gz", ("/b/app__app_20261203T030000Z.sql.gz",), 0, 0, 4.0)
    >>> found, note, _ = restore_findings("h", done)
    >>> found[0].outcome.value, note
    ('passed', 'restored /b/app__app_20261203T020000Z.sql.gz in 4.0 s; what it replaced: /b/app__app_20261203T030000Z.sql.gz')
    """
    def finding(outcome: Outcome, message: str, fix: str = "") -> Finding:
        return Finding("backup.restore", outcome, host, host=host, kind=Kind.DEPLOY, resource=f"file:{plan.file}",
                       message=message, fix=fix)

    details = {"file": plan.file, "dumped_before": list(plan.dumped_before), "dump_exit_code": plan.dump_exit_code,
               "exit_code": plan.exit_code, "seconds": plan.seconds}
    if plan.refused:
        return [finding(Outcome.FAILED, plan.refused)], "refused: the deploy lock is held", details
    if plan.dump_exit_code is None:
        return [finding(Outcome.SKIPPED, f"stack {plan.stack} declares no backup job")], "no backup job", details
    if plan.dump_exit_code != 0:
        why = _said(plan, "backup") or f"the backup job exited {plan.dump_exit_code}"
        return [finding(Outcome.FAILED, f"not restored: the dump of what it would replace failed ({why})",
                        "make the backup job pass first (mooring backup run): no restore without a dump of "
                        "what it replaces")], "not restored", details
    if plan.exit_code != 0:
        why = _said(plan, "restore") or f"restore.sh exited {plan.exit_code}"
        return [finding(Outcome.FAILED, f"restore failed, the database is unchanged: {why}",
                        "check the dump with mooring backup verify --file NAME")], "restore failed", details
    kept = ", ".join(plan.dumped_before) or "nothing (no database)"
    return ([finding(Outcome.PASSED, f"restored {plan.file}; what it replaced is kept in {kept}")],
            f"restored {plan.file} in {plan.seconds:.1f} s; what it replaced: {kept}", details)


def confirm_restore(file: str, yes: bool):
    """The restore's guard: ``--yes``, or on a terminal the operator types ``restore``; a
    production host always needs ``--yes``."""
    import sys

    def ask(hosts) -> str:
        if yes:
            return ""
        names = ", ".join(h.name for h in hosts)
        production = [h.name for h in hosts if "production" in h.groups]
        if production:
            return f"restoring {file} replaces the live data of production host(s) {', '.join(production)}: add --yes"
        if not sys.stdin.isatty():
            return f"restoring {file} replaces the live data of {names}: add --yes (no terminal to ask on)"
        print(f"Restoring {file} replaces the live data of {names} (a fresh dump is taken first).")
        answer = input("Type 'restore' to go on: ").strip()
        return "" if answer == "restore" else "not confirmed"
    return ask


def _said(plan, word: str) -> str:
    """The last two things the host's script said about itself (its own log lines)."""
    said = [line.split(": ", 1)[-1] for line in plan.log if word in line]
    return "; ".join(said[-2:])


def _job_reason(plan) -> str:
    from mooring.deploy.roles.backups import BUSY

    if plan.exit_code == BUSY:
        return "another backup is running on the host (its lock is held)"
    if plan.exit_code == 127:
        return "the backup job is not installed on the host"
    return _said(plan, "backup") or f"the job exited {plan.exit_code}"


def _job_fix(plan) -> str:
    from mooring.deploy.roles.backups import BUSY

    if plan.exit_code == BUSY:
        return "wait for it to end, then run again"
    if plan.exit_code == 127:
        return "deploy first: mooring deploy INVENTORY installs the job"
    return "check that the database service runs (mooring check), then run again; older dumps were kept"


def list_report(inventory: str, limit: list[str] | None):
    """One snapshot per host (read-only): each own dump as a finding, newest first."""
    from mooring.report import HostResult, Report, utc_now
    from mooring.runner import inventory_path
    from mooring.snapshots import SnapshotError, gather_snapshots

    started, path = utc_now(), inventory_path(inventory)
    now = int(time.time())
    findings, hosts = [], []
    for name, snap in gather_snapshots(path, limit).items():
        if isinstance(snap, SnapshotError):  # unreachable, failed, invalid, no stack
            findings.append(Finding("backup.list", Outcome.ERROR, name, host=name, kind=Kind.LIVE,
                                    message=f"{snap.kind}: {snap.reason}"))
            hosts.append(HostResult(name, error=f"{snap.kind}: {snap.reason}"))
            continue
        host_findings, note, details = listing_findings(name, snap.backups, now)
        findings += host_findings
        hosts.append(HostResult(name, note=note, details=details))
    return Report(f"{NAME} list", findings, hosts, str(path), started, utc_now())


def listing_findings(host: str, backups, now: int) -> tuple[list[Finding], str, dict]:
    """The dumps of one host's backup folder (a ``mooring.checks.snapshot.BackupState``), newest first.

    >>> from mooring.checks.snapshot import BackupFile, BackupState
    >>> state = BackupState("listed", (BackupFile("app__app_20261203T020000Z.sql.gz", "f", 4096, 1000),))
    >>> found, note, _ = listing_findings("h", state, 1000 + 7200)
    >>> note, found[0].message
    ('1 dump, newest 2.0 h old', 'app__app_20261203T020000Z.sql.gz: 4096 bytes, 2.0 h old')
    """
    if not backups.status:
        return [Finding("backup.list", Outcome.SKIPPED, host, host=host, kind=Kind.LIVE,
                        message="no backup job declared")], "no backup job", {"dumps": []}
    dumps = sorted(backups.dumps(), key=lambda f: f.mtime, reverse=True)
    if backups.status == "missing" or not dumps:
        return [Finding("backup.list", Outcome.WARNING, host, host=host, kind=Kind.LIVE,
                        message="no dump yet" + (" (the backup folder does not exist)" if backups.status == "missing" else ""),
                        fix="run the job now: mooring backup run")], "no dumps", {"dumps": []}
    findings = [Finding("backup.list", Outcome.PASSED, host, host=host, kind=Kind.LIVE, resource=f"file:{f.name}",
                        message=f"{f.name}: {f.size} bytes, {_age(now - f.mtime)} old") for f in dumps]
    note = f"{len(dumps)} {'dump' if len(dumps) == 1 else 'dumps'}, newest {_age(now - dumps[0].mtime)} old"
    details = {"dumps": [{"name": f.name, "bytes": f.size, "mtime": f.mtime} for f in dumps]}
    return findings, note, details


def _age(seconds: int) -> str:
    """``45 s``, ``12 min``, ``2.0 h``, ``3.5 d``."""
    if seconds < 120:
        return f"{max(seconds, 0)} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    if seconds < 172800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"
