"""``mooring deploy``: pre-flight, converge, health gate, rollback, release record.

One pyinfra run converges every host (deploy/stack.py). The controller then probes each host's
health endpoints; a host whose new release fails (apply error or gate) is rolled back to its
previous kept release and probed again. Every new release gets a record (JSON + Markdown), on
the host beside the release and locally under ``.mooring/releases/<host>/``.
"""

from __future__ import annotations

import datetime as dt
import enum
import getpass
import json
import os
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mooring.checks.findings import Finding, Kind, Outcome, failed
from mooring.deploy.facts.releases import Release
from mooring.checks.probes import ProbeResult, run_gate
from mooring.declare.paths import ROOT, state_dir
from mooring.runner import RunInterrupted, RunResult, deploy_path, run_deploy
from mooring.deploy.plan import (COMMAND_ENV, RUN_DIR_ENV, RUN_ID_ENV, RUN_PID_ENV, Op, RollbackResult, StackPlan,
                         Verdict, read_host_plans, write_plan_in)
from mooring.declare.secrets import redact
from mooring import __version__
from mooring.output.progress import Progress


class Result(str, enum.Enum):
    """The one outcome of a deploy on a host."""

    UNCHANGED = "unchanged"
    DEPLOYED = "deployed"
    ROLLED_BACK = "rolled_back"
    FAILED = "failed"


@dataclass
class HostOutcome:
    """What happened to one host in one deploy."""

    host: str
    outcome: Result
    changes: list[str] = field(default_factory=list)
    plan: StackPlan | None = None
    gate: list[ProbeResult] = field(default_factory=list)
    error: str = ""
    rolled_back_to: int | None = None
    rollback_gate: list[ProbeResult] = field(default_factory=list)
    # after a deploy's rollback passed its HTTP probes: "" when the restored release's services
    # run and are healthy, else why not; None when not looked at
    rollback_services: str | None = None
    release_failed: bool = False  # this deploy's release was marked -failed on the host
    staged: bool = False  # this run's release folder exists on the host
    interrupted: str = ""
    warnings: list[str] = field(default_factory=list)  # what the rollback said about the host

    @property
    def ok(self) -> bool:
        return self.outcome in (Result.UNCHANGED, Result.DEPLOYED)


@dataclass
class DeployReport:
    """All hosts' outcomes plus the pre-flight findings (when it stopped the run)."""

    findings: list = field(default_factory=list)
    hosts: list[HostOutcome] = field(default_factory=list)
    run_dir: Path | None = None
    apply: RunResult | None = None
    secrets: list[str] = field(default_factory=list, repr=False)
    interrupted: str = ""  # why the run was stopped (Ctrl-C, time-out), empty when it was not
    progress: Progress = field(default_factory=lambda: Progress(enabled=False), repr=False, compare=False)

    def shown_log(self) -> str:
        """pyinfra's log of the apply run, every secret value redacted."""
        return redact(self.apply.log, self.secrets) if self.apply else ""

    @property
    def ok(self) -> bool:
        return (not failed(self.findings) and all(h.ok for h in self.hosts) and bool(self.hosts)
                and not self.interrupted)

    @property
    def rolled_back(self) -> bool:
        """Whether an on-demand rollback restored every host and each passed its gate."""
        return (not failed(self.findings) and bool(self.hosts) and not self.interrupted
                and all(h.outcome is Result.ROLLED_BACK for h in self.hosts))


def new_run_dir() -> Path:
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
    path = state_dir() / "runs" / stamp
    path.mkdir(parents=True, exist_ok=True)
    return path


def deploy(inventory: str, limit: list[str] | None = None, timeout: float = 3600,
           progress: Progress | None = None) -> DeployReport:
    """Run a whole deploy against ``inventory``; nothing is touched when pre-flight fails.

    Converge (locked per host), gate, then per host: promote the gated release, or roll back
    to the release it replaced (only what changed), record, unlock. A Ctrl-C or a time-out
    at any point still ends in rollbacks of the hosts whose new release was not gated, and an
    "interrupted" record; a kill -9 leaves a stale lock and a ``pending`` release that the next
    run recognises. ``progress`` shows each phase and operation as it comes.

    >>> deploy("inventories/sandbox.py").ok  # doctest: +SKIP
    True
    """
    report, preflight = _preflight(inventory, limit, progress)
    if failed(report.findings):
        return report
    progress, secrets = report.progress, report.secrets
    progress.phase("images on the controller")
    shipped = build_reference_images(preflight.hosts)
    if progress.enabled:
        progress.shipping(archive_sizes(shipped))
    run_dir, env = _new_run(report, "mooring deploy")
    progress.phase(f"converging {', '.join(h.name for h in preflight.hosts)}")
    try:
        report.apply = run_deploy(inventory, deploy_path("stack"), limit=limit, env=env, timeout=timeout,
                                  on_log_line=progress.pyinfra_line)
    except RunInterrupted as exc:
        report.apply, report.interrupted = exc.partial, exc.reason
    progress.operation_done()
    plans = read_host_plans(run_dir, "stack", StackPlan)
    progress.phase("health gate")
    for host in sorted(set(report.apply.hosts) | set(plans)):
        try:
            report.hosts.append(_judge(host, report.apply, plans.get(host), secrets, report.interrupted, progress))
        except KeyboardInterrupt:
            report.interrupted = "interrupted (Ctrl-C)"
            report.hosts.append(_judge(host, report.apply, plans.get(host), secrets, report.interrupted))
    if not report.interrupted:
        try:
            _services_gate(inventory, report, {h.name: list(h.groups) for h in preflight.hosts})
        except KeyboardInterrupt:
            report.interrupted = "interrupted (Ctrl-C)"
    _settle(inventory, report, env, limit, {h.name: list(h.groups) for h in preflight.hosts})
    return report


def rollback(inventory: str, limit: list[str] | None = None, to: str = "previous", force: bool = False,
             timeout: float = 3600, progress: Progress | None = None, migrate_down: bool = False) -> DeployReport:
    """Roll hosts back on demand to release ``to`` (a number, or ``previous``: the good release
    that was live before the current one), through the same path as a deploy's rollback: pre-flight,
    the deploy lock, the restore (only what differs restarts), the health gate (HTTP probes,
    then every service running and healthy), a record on the host and under ``.mooring/``, unlock.

    A release marked failed is refused unless ``force``; a current release that applied
    migrations is restored with a warning (its schema stays), or, with ``migrate_down``, after its
    declared down-migration ran (``stack.migration.down``; a host without one is refused before
    anything is touched). Nothing is touched when pre-flight fails.

    >>> rollback("inventories/sandbox.py", ["docker-1"], to="3").ok  # doctest: +SKIP
    True
    """
    report, preflight = _preflight(inventory, limit, progress)
    if migrate_down and not failed(report.findings):
        report.findings += _down_migrations_missing(preflight.hosts)
    if failed(report.findings):
        return report
    progress, secrets = report.progress, report.secrets
    run_dir, env = _new_run(report, "mooring rollback")
    progress.phase(f"rolling back {', '.join(h.name for h in preflight.hosts)} to {to}")
    try:
        report.apply = run_deploy(inventory, deploy_path("rollback"), limit=limit, env=env, timeout=timeout,
                                  extra=["--data", f"mooring_rollback_to={to}",
                                         "--data", f"mooring_rollback_force={int(force)}",
                                         "--data", f"mooring_rollback_migrate_down={int(migrate_down)}"],
                                  on_log_line=progress.pyinfra_line)
    except RunInterrupted as exc:
        report.apply, report.interrupted = exc.partial, exc.reason
    done = read_host_plans(run_dir, "rollback", RollbackResult)
    progress.phase("health gate")
    for host in sorted(set(report.apply.hosts) | set(done)):
        report.hosts.append(_restored(host, report.apply, done.get(host), secrets, report.interrupted, progress))
    gated = [h for h in report.hosts if h.outcome is Result.DEPLOYED]
    if gated and not report.interrupted:
        _services_gate(inventory, report, {h.name: list(h.groups) for h in preflight.hosts}, restored=True)
    for outcome in report.hosts:
        if outcome.outcome is Result.DEPLOYED:  # gated: it is a rollback that held
            outcome.outcome = Result.ROLLED_BACK
        if outcome.rolled_back_to is not None:
            write_rollback_record(run_dir, outcome, to, secrets)
    locked = sorted(done)
    for host in locked:
        write_plan_in(run_dir, host, "verdict", Verdict())  # only unlock (a lock this run holds)
    if locked or report.interrupted:
        progress.phase("recording and unlocking")
        try:
            run_deploy(inventory, deploy_path("record"), limit=limit if report.interrupted else locked, env=env)
        except RunInterrupted as exc:
            report.interrupted = report.interrupted or exc.reason
    return report


def _preflight(inventory: str, limit: list[str] | None, progress: Progress | None):
    """(the run's report, the pre-flight): the report holds the findings and, when they passed,
    the secrets to redact (also from progress lines)."""
    from mooring.checks.preflight import preflight_report

    progress = progress or Progress(enabled=False)
    progress.phase("pre-flight")
    preflight = preflight_report(inventory, limit)
    report = DeployReport(findings=preflight.findings, progress=progress)
    if not failed(report.findings):
        report.secrets = progress.secrets = secret_values(preflight.hosts)
    return report, preflight


def _new_run(report: DeployReport, command: str) -> tuple[Path, dict[str, str]]:
    """A new run folder on the report, and the environment every pyinfra run of it gets."""
    report.run_dir = run_dir = new_run_dir()
    return run_dir, {RUN_DIR_ENV: str(run_dir), RUN_ID_ENV: uuid.uuid4().hex[:12], RUN_PID_ENV: str(os.getpid()),
                     COMMAND_ENV: command}


def _down_migrations_missing(hosts) -> list[Finding]:
    """A failed finding for each host whose stack declares no ``stack.migration.down`` (asked for
    by ``--migrate-down``): refused before any host is touched."""
    from mooring.declare.layers import display_path, group_data_dir
    from mooring.declare.model import build_model

    missing = []
    for host in hosts:
        stack = build_model(host.name, host.groups).stack
        if stack is not None and not (stack.migration and stack.migration.down):
            missing.append(Finding("rollback.migrate_down", Outcome.FAILED, host.name, host=host.name,
                                   kind=Kind.DEPLOY, path="stack.migration.down",
                                   message="--migrate-down asks for the down-migration, but none is declared",
                                   fix="declare the command that undoes one release's migrations, e.g. "
                                       "stack.migration.down: [alembic, downgrade, '-1'], or roll back without "
                                       "--migrate-down", file=display_path(group_data_dir() / "all.yml")))
    return missing


def _restored(host: str, apply: RunResult, done: RollbackResult | None, secrets: list[str],
              interrupted: str, progress: Progress | None = None) -> HostOutcome:
    """One host's on-demand rollback: failed (with pyinfra's reason), or restored and HTTP-gated
    (``DEPLOYED`` until the services gate confirms it)."""
    outcome = HostOutcome(host, Result.FAILED)
    if done is not None and done.warning:
        outcome.warnings.append(redact(done.warning, secrets))
    if interrupted or host in apply.failed_hosts or done is None or done.target is None:
        reasons = apply.errors_for(host)
        outcome.error = redact(interrupted or (reasons[0] if reasons else "pyinfra stopped before this host "
                                               "finished (see `mooring -v rollback`)"), secrets)
        return outcome
    outcome.rolled_back_to = done.target
    outcome.rollback_gate = [_redacted(p, secrets) for p in
                             run_gate(done.http_base, list(done.health), on_attempt=_attempts(progress, host))]
    if all(p.ok for p in outcome.rollback_gate):
        outcome.outcome = Result.DEPLOYED
    else:
        outcome.error = "health gate failed after the rollback: " + ", ".join(
            p.name for p in outcome.rollback_gate if not p.ok)
    return outcome


def write_rollback_record(run_dir: Path, outcome: HostOutcome, wanted: str, secrets: list[str]) -> dict[str, Any]:
    """The on-demand rollback's record: into the run dir (``deploy/record.py`` uploads it to the
    host's ``.mooring/rollbacks/``) and under ``.mooring/rollbacks/<host>/`` (local copy)."""
    record = _redacted_record({
        **_made_by(),
        "host": outcome.host,
        "command": "mooring rollback",
        "asked_for": wanted,
        "rolled_back_to": outcome.rolled_back_to,
        "outcome": outcome.outcome.value,
        "error": outcome.error,
        "gate": [p.to_dict() for p in outcome.rollback_gate],
        "warnings": list(outcome.warnings),
    }, secrets)
    text = json.dumps(record, indent=2, sort_keys=True)
    local = state_dir() / "rollbacks" / outcome.host
    local.mkdir(parents=True, exist_ok=True)
    (run_dir / f"rollback-record-{outcome.host}.json").write_text(text)
    (local / f"{record['time'].replace(':', '')}.json").write_text(text)
    return record


def _settle(inventory: str, report: DeployReport, env: dict[str, str], limit: list[str] | None,
            groups: dict[str, list[str]] | None = None) -> None:
    """After the gate: roll back what failed (and gate the rollback: HTTP probes, then the
    restored release's services), record, then promote and unlock every locked host.

    After an interruption every targeted host is unlocked (only a lock this run holds is
    released): the converge may have been stopped after a host's lock was taken and before
    its plan was written."""
    run_dir, secrets = report.run_dir, report.secrets
    locked = [h for h in report.hosts if h.plan is not None]
    for outcome in locked:
        write_plan_in(run_dir, outcome.host, "verdict", _verdict(outcome, report.apply))
    to_roll_back = [h for h in locked if not h.ok and h.plan.new_release]
    if to_roll_back:
        report.progress.phase(f"rolling back {', '.join(h.host for h in to_roll_back)}")
        try:
            rollback = run_deploy(inventory, deploy_path("rollback"), limit=[h.host for h in to_roll_back], env=env,
                                  on_log_line=report.progress.pyinfra_line)
        except RunInterrupted as exc:
            rollback, report.interrupted = exc.partial, report.interrupted or exc.reason
        done = read_host_plans(run_dir, "rollback", RollbackResult)
        for outcome in to_roll_back:
            _rolled_back(outcome, rollback, done.get(outcome.host), secrets, report.progress)
        restored = [o.host for o in to_roll_back if o.rolled_back_to is not None and all(p.ok for p in o.rollback_gate)
                    and o.host in (groups or {})]
        if restored and not report.interrupted:
            try:
                settled = _services_settled(inventory, {name: groups[name] for name in restored}, report.progress,
                                            restored=True)
            except KeyboardInterrupt:  # still record and unlock below
                settled, report.interrupted = {}, "interrupted (Ctrl-C)"
            for outcome in to_roll_back:
                if outcome.host in settled:
                    outcome.rollback_services = redact(settled[outcome.host], secrets)

    for outcome in locked:
        if outcome.plan.new_release and outcome.staged:
            write_record(run_dir, outcome, secrets)
    if locked or report.interrupted:
        report.progress.phase("promoting, recording, unlocking")
        try:
            finish = run_deploy(inventory, deploy_path("record"),
                                limit=limit if report.interrupted else [h.host for h in locked], env=env)
        except RunInterrupted as exc:
            finish, report.interrupted = exc.partial, report.interrupted or exc.reason
        for outcome in locked:
            if outcome.host in finish.failed_hosts and outcome.ok:
                outcome.outcome = Result.FAILED
                reasons = finish.errors_for(outcome.host) or ["see `mooring -v deploy`"]
                outcome.error = redact(f"gate passed, but promoting the release failed: {reasons[0]}", secrets)


def _rolled_back(outcome: HostOutcome, rollback: RunResult, done: RollbackResult | None, secrets: list[str],
                 progress: Progress | None = None) -> None:
    """Fold the rollback run's result for one host into its outcome (and probe it again)."""
    if outcome.host in rollback.failed_hosts or done is None:
        reasons = rollback.errors_for(outcome.host) or ["see `mooring -v deploy`"]
        outcome.error = redact(f"{outcome.error}; rollback failed: {reasons[0]}", secrets)
        return
    outcome.warnings += [redact(note, secrets) for note in rollback.notes_for(outcome.host)]
    # pyinfra reports no results when every host failed: the host's listing says what was staged.
    outcome.staged = outcome.staged or done.failed_release_kept
    outcome.release_failed = done.failed_release is not None and outcome.staged
    if done.target is not None:
        outcome.outcome, outcome.rolled_back_to = Result.ROLLED_BACK, done.target
        outcome.rollback_gate = [_redacted(p, secrets) for p in run_gate(
            outcome.plan.http_base, list(outcome.plan.health), on_attempt=_attempts(progress, outcome.host))]


def _verdict(outcome: HostOutcome, apply: RunResult) -> Verdict:
    """Promote a gated new release; roll back a failed one; otherwise only unlock."""
    plan = outcome.plan
    if outcome.ok:
        return Verdict(promote=plan.release_number if plan.new_release else None)
    if not plan.new_release:
        return Verdict()
    return Verdict(roll_back_to=plan.previous.number if plan.previous else None, failed=plan.release_number,
                   containers_touched=bool(outcome.interrupted) or _touched_containers(outcome.host, apply, plan))


def _touched_containers(host: str, apply: RunResult, plan: StackPlan) -> bool:
    """Whether an operation that can change containers ran (or failed half-way) on ``host``;
    True when pyinfra reported no results (every host failed): unknown means touched."""
    if not apply.operations:
        return True
    prefixes = tuple(Op.full(name) for name in Op.TOUCH_CONTAINERS)
    for op in apply.operations:
        if host in op.changed or host in op.failed:
            if plan.ops.get(op.op_hash, op.name).startswith(prefixes):
                return True
    return False


def build_reference_images(hosts) -> list[str]:
    """Build what the hosts' stacks ship before the deploy archives it: the ``build:`` services
    of a team's compose files (``docker compose build``), and the sandbox's reference images
    (``mooring/api:*`` and the like); other images must already be on the controller. Returns
    the refs the stacks ship."""
    from mooring.declare import compose_files
    from mooring.declare.model import build_model
    from mooring.sandbox.stack_images import ensure_refs

    refs: set[str] = set()
    built: set[tuple] = set()
    for host in hosts:
        stack = build_model(host.name, host.groups).stack
        if stack is None:
            continue
        refs.update(s.image for s in stack.services.values() if s.image_source == "ship")
        if stack.compose and stack.compose.built and (stack.compose.source, stack.name) not in built:
            built.add((stack.compose.source, stack.name))
            compose_files.build(stack.compose.source, stack.name, stack.env_values(), list(stack.compose.built),
                                stack.secret_values())
    ensure_refs(sorted(refs))
    return sorted(refs)


def archive_sizes(refs: list[str]) -> dict[str, int]:
    """ref → bytes of the archive the deploy uploads for it (made now, once: the run reuses it);
    an image the controller lacks is left out here and named by the run."""
    from mooring.deploy.local_docker import DockerError, archive

    sizes = {}
    for ref in refs:
        try:
            sizes[ref] = archive(ref)[1].stat().st_size
        except DockerError:
            continue
    return sizes


def _attempts(progress: Progress | None, host: str):
    """The gate's attempt listener for ``host``'s probes: progress lines, or None."""
    return (lambda result: progress.gate_attempt(host, result)) if progress and progress.enabled else None


def secret_values(hosts) -> list[str]:
    """Every secret value of the hosts' stacks, to redact from anything shown or written."""
    from mooring.declare.model import build_model

    values: set[str] = set()
    for host in hosts:
        stack = build_model(host.name, host.groups).stack
        if stack is not None:
            values.update(stack.secret_values())
    return sorted(values, key=len, reverse=True)


def _judge(host: str, apply: RunResult, plan: StackPlan | None, secrets: list[str],
           interrupted: str = "", progress: Progress | None = None) -> HostOutcome:
    outcome = HostOutcome(host, Result.UNCHANGED, changes=apply.changes_for(host, plan.ops if plan else None),
                          plan=plan)
    if plan is not None:
        outcome.staged = _staged(host, apply, plan)
    if interrupted:
        outcome.outcome, outcome.interrupted = Result.FAILED, interrupted
        outcome.error = f"{interrupted} before this host's release was gated"
        return outcome
    if host in apply.failed_hosts or plan is None or not apply.operations:
        outcome.outcome = Result.FAILED
        reasons = apply.errors_for(host)
        outcome.error = redact(reasons[0], secrets) if reasons else (
            "pyinfra stopped before this host finished (see `mooring -v deploy`)")
        return outcome
    outcome.gate = [_redacted(p, secrets) for p in
                    run_gate(plan.http_base, list(plan.health), on_attempt=_attempts(progress, host))]
    if not all(p.ok for p in outcome.gate):
        outcome.outcome = Result.FAILED
        outcome.error = "health gate failed: " + ", ".join(p.name for p in outcome.gate if not p.ok)
    elif outcome.changes:
        outcome.outcome = Result.DEPLOYED
    return outcome


#: How long the services gate waits for every container of a new release to run and be healthy.
SERVICES_GATE_S = 120
SERVICES_POLL_S = 2


def _services_gate(inventory: str, report: DeployReport, groups: dict[str, list[str]],
                   restored: bool = False) -> None:
    """The second half of the gate, on each host whose new release passed the HTTP probes:
    every declared service's container runs (none restarting or exited) and is healthy where
    it has a healthcheck, with the same restart counts over two looks (:func:`_services_settled`).
    A database crash-looping beside a healthy API fails the release, which is then rolled back.
    ``restored``: the hosts run a release a rollback restored (:func:`_services_settled`)."""
    waiting = {o.host: o for o in report.hosts if o.outcome is Result.DEPLOYED and o.host in groups}
    for name, why in _services_settled(inventory, {name: groups[name] for name in waiting}, report.progress,
                                       restored).items():
        if why:
            waiting[name].outcome, waiting[name].error = Result.FAILED, redact(why, report.secrets)


def _services_settled(inventory: str, groups: dict[str, list[str]], progress: Progress,
                      restored: bool = False) -> dict[str, str]:
    """Host → "" when its services are running and healthy, read from host snapshots until
    :data:`SERVICES_GATE_S` (a crash fails at once), else why not. Judged twice in a row with
    the same restart counts: a crash-looping container caught in its short "running" moment
    between two restarts does not pass. The declared services on their images
    (``services_running``), or, ``restored``, the containers a rollback's release runs
    (``restored_services``: its services and images are not the ones declared now)."""
    from mooring.checks.live import HostView, restored_services, services_running
    from mooring.declare.model import build_model
    from mooring.declare.render import render_stack

    judge = restored_services if restored else services_running
    if groups:
        progress.phase(f"services gate: {', '.join(sorted(groups))}")
    models = {name: build_model(name, groups[name]) for name in groups}
    rendered = {name: render_stack(model) for name, model in models.items()}
    waiting = dict.fromkeys(groups, "")
    deadline, why, settled, failed = time.monotonic() + SERVICES_GATE_S, {}, {}, {}
    looks = 0
    while waiting:
        snapshots = _snapshots(inventory, sorted(waiting))
        looks, looked = looks + 1, sorted(waiting)
        for name in list(waiting):
            if name not in snapshots:
                why[name] = "no snapshot of the host"
                continue
            found = judge(HostView(models[name], rendered[name], snapshots[name]))
            bad = [f.message for f in found if f.outcome is not Outcome.PASSED]
            restarts = tuple((c.service, c.restart_count) for c in snapshots[name].services)
            crashed = _crashed(found, settled.get(name), restarts)
            if crashed:  # it will not become healthy by itself: no need to wait
                failed[name], why[name] = waiting.pop(name), crashed
            elif bad:
                why[name], settled[name] = ", ".join(bad), None
            elif settled.get(name) == restarts:
                del waiting[name]
            else:  # good once: a second look confirms it
                why[name], settled[name] = "healthy at one look, not yet confirmed by a second", restarts
        for name in looked:  # the gate's attempts, as they come
            passed = name not in waiting and name not in failed
            said = "every service running and healthy" if passed else why[name]
            progress.phase(f"  {name}: look {looks}: {said}")
        if not waiting or time.monotonic() > deadline:
            break
        time.sleep(SERVICES_POLL_S)
    verdicts = dict.fromkeys(groups, "")
    for name in failed:
        verdicts[name] = f"services not running and healthy: {why[name]}"
    for name in waiting:
        verdicts[name] = f"services not running and healthy after {SERVICES_GATE_S} s: {why[name]}"
    return verdicts


def _crashed(found: list, before: tuple | None, restarts: tuple) -> str:
    """Why a look shows a service that crashed (restarting, exited, restarted since the last
    good look), or "": such a release fails at once instead of at the deadline."""
    gone = [f.message for f in found if f.outcome is Outcome.FAILED and f.actual in ("restarting", "exited", "dead")]
    if gone:
        return ", ".join(gone)
    if before is not None and before != restarts:
        counts = dict(before)
        again = sorted({service for service, count in restarts if counts.get(service) != count})
        return f"{', '.join(again) or 'a container'} restarted between two looks (it crashed)"
    return ""


def rollback_previews(inventory: str, hosts: list[str], to: str) -> list[str]:
    """One line per host: what ``rollback(to=to)`` would restore there, from a snapshot of each
    (read only: asked before production hosts are rolled back)."""
    from mooring.checks.status import rollback_preview

    snapshots = _snapshots(inventory, hosts)
    return [f"{host}: {rollback_preview(snapshots[host].release, to)}" if host in snapshots
            else f"{host}: its releases could not be read (mooring status {inventory} --limit {host} says why)"
            for host in hosts]


def _snapshots(inventory: str, hosts: list[str]) -> dict[str, Any]:
    """Host → :class:`HostSnapshot` of ``hosts``, read by ``python -m mooring.snapshots`` (a process
    of its own: gathering patches the process for gevent); a host without one is left out."""
    from mooring.checks.snapshot import HostSnapshot

    command = [sys.executable, "-m", "mooring.snapshots", inventory]
    for host in hosts:
        command += ["--limit", host]
    proc = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)
    try:
        payload = json.loads(proc.stdout)["hosts"]
    except (ValueError, KeyError):
        return {}
    return {name: HostSnapshot.from_json(data) for name, data in payload.items() if "error" not in data}


def _staged(host: str, apply: RunResult, plan: StackPlan) -> bool:
    """Whether this run's release folder is on the host (staged now, or by an unfinished run)."""
    name = Op.full(Op.RELEASE_STAGED)
    for op in apply.operations:
        if plan.ops.get(op.op_hash, op.name) == name:
            return host in op.changed or host in op.unchanged
    return False


def _made_by() -> dict[str, Any]:
    """When, by whom and with which mooring a record was made (every record starts so)."""
    return {"time": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "operator": os.environ.get("MOORING_OPERATOR") or getpass.getuser(), "mooring_version": __version__}


def _redacted_record(record: dict[str, Any], secrets: list[str]) -> dict[str, Any]:
    """``record`` with every secret value redacted, as its JSON text would hold it."""
    return json.loads(redact(json.dumps(record), [json.dumps(v)[1:-1] for v in secrets]))


def record_for(outcome: HostOutcome) -> dict[str, Any]:
    """The release record of one host (no secret values: env keys only)."""
    plan = outcome.plan
    number = plan.release_number
    return {
        **_made_by(),
        "host": outcome.host,
        "stack": plan.stack,
        "directory": plan.directory,
        "release": number,
        "release_id": plan.release_id,
        "release_dirname": Release(number, plan.release_id, outcome.release_failed).dirname,
        "new_release": plan.new_release,
        "changed_operations": outcome.changes,
        "env_keys_changed": list(plan.env_keys_changed),
        "images": plan.images,
        "migration": {"command": plan.migration,
                      "result": _migration_result(outcome)},
        "gate": [p.to_dict() for p in outcome.gate],
        "outcome": outcome.outcome.value,
        "error": outcome.error,
        "interrupted": outcome.interrupted,
        "rolled_back_to": outcome.rolled_back_to,
        "rollback_gate": [p.to_dict() for p in outcome.rollback_gate],
        "rollback_services": outcome.rollback_services,
        "warnings": list(outcome.warnings),
    }


def _migration_result(outcome: HostOutcome) -> str:
    if not outcome.plan.migration:
        return "none declared"
    if any(name.startswith(Op.full(Op.MIGRATIONS)) for name in outcome.changes):
        return "applied"
    if outcome.outcome is Result.FAILED and not outcome.gate:
        return "not confirmed (apply failed)"
    return "already applied for this release"


def record_markdown(record: dict[str, Any]) -> str:
    """The record as a short Markdown evidence file (seeds/001's release evidence)."""
    lines = [
        f"# Release {record['release']} of {record['stack']} on {record['host']}",
        "",
        f"- time: {record['time']}",
        f"- operator: {record['operator']}",
        f"- release id: `{record['release_id']}`",
        f"- outcome: **{record['outcome']}**" + (f" (rolled back to release {record['rolled_back_to']})"
                                                 if record["rolled_back_to"] is not None else ""),
        f"- migration: {record['migration']['command'] or '-'}: {record['migration']['result']}",
        f"- env keys changed: {', '.join(record['env_keys_changed']) or 'none'}",
        "", "## Images", "",
        *[f"- `{ref}`: `{image_id}`" for ref, image_id in sorted(record["images"].items())],
        "", "## Changed operations", "",
        *([f"- {name}" for name in record["changed_operations"]] or ["- none"]),
        "", "## Health gate", "",
        *[f"- {'ok' if p['ok'] else 'FAILED'}: {p['name']} {p['url']} status {p['status']} "
          f"after {p['attempts']} attempt(s)" for p in record["gate"]],
    ]
    if record["error"]:
        lines += ["", "## Error", "", record["error"]]
    return "\n".join(lines) + "\n"


def _redacted(result: ProbeResult, secrets: list[str]) -> ProbeResult:
    result.body, result.error = redact(result.body, secrets), redact(result.error, secrets)
    return result


def write_record(run_dir: Path, outcome: HostOutcome, secrets: list[str]) -> dict[str, Any]:
    """Write the record into the run dir (for the host) and under .mooring/releases/ (local copy),
    with every secret value redacted."""
    record = _redacted_record(record_for(outcome), secrets)
    text, markdown = json.dumps(record, indent=2, sort_keys=True), record_markdown(record)
    local = state_dir() / "releases" / outcome.host
    local.mkdir(parents=True, exist_ok=True)
    for folder, stem in ((run_dir, f"record-{outcome.host}"), (local, record["release_dirname"])):
        (folder / f"{stem}.json").write_text(text)
        (folder / f"{stem}.md").write_text(markdown)
    return record


def format_report(report: DeployReport) -> str:
    """Human summary: one block per host, never a secret value."""
    if failed(report.findings):
        lines = ["pre-flight failed: no host was touched"]
        lines += [f"  {f}" for f in failed(report.findings)]
        return "\n".join(lines)
    lines = [f"deploy {report.interrupted}: hosts whose new release was not gated were rolled back"] \
        if report.interrupted else []
    for h in report.hosts:
        head = f"{h.host}: {h.outcome.value}"
        if h.plan:
            head += f" (release {h.plan.release_number}, {_plural(len(h.changes), 'change')})"
        lines.append(head)
        if h.plan and h.plan.env_keys_changed:
            if h.plan.new_release and h.plan.previous is None:  # a first release sets them, it changes nothing
                lines.append(f"  {_plural(len(h.plan.env_keys_changed), 'env key')} set")
            else:
                lines.append(f"  env keys changed: {', '.join(h.plan.env_keys_changed)}")
        for p in h.gate:
            lines.append(f"  gate: {p.describe()}")
        if h.error:
            lines.append(f"  error: {h.error}")
        if h.rolled_back_to is not None:
            lines.append(f"  rolled back to release {h.rolled_back_to}")
            for p in h.rollback_gate:
                lines.append(f"  after rollback: {p.describe()}")
            if h.rollback_services is not None:
                lines.append(f"  after rollback: {h.rollback_services or 'every service running and healthy'}")
        lines += [f"  warning: {w}" for w in h.warnings]
        if h.ok and h.plan and h.plan.http_base:
            lines.append(f"  url: {h.plan.http_base}/")
    if not report.hosts and report.apply is not None:
        lines.append("no host ran: " + redact(report.apply.log_tail(), report.secrets))
    return "\n".join(lines)


def _plural(number: int, noun: str) -> str:
    """``1 change``, ``3 changes``, ``0 changes``.

    >>> _plural(1, "change"), _plural(15, "env key")
    ('1 change', '15 env keys')
    """
    return f"{number} {noun}{'' if number == 1 else 's'}"
