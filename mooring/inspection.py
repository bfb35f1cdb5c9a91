"""Looking at hosts: the pre-flight, one snapshot per host, then live rules (``check``) or drift
comparisons (``drift``), as one :class:`mooring.report.Report`.

Nothing here writes to a host: the snapshot is one read-only command per host, and the HTTP
probes of ``check`` only send GET requests.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from mooring.checks.drift import drift_findings
from mooring.checks.findings import Finding, Kind, Outcome, failed
from mooring.checks.live import HostView, run_live_rules
from mooring.checks.snapshot import SnapshotError
from mooring.declare.model import HostModel, build_model
from mooring.declare.render import render_stack
from mooring.report import HostResult, Report, secret_values, utc_now

#: One host's extra findings beside the snapshot's (the HTTP probes of ``check``).
HostExtras = Callable[[HostModel, "HostView"], list[Finding]]


@dataclass(frozen=True)
class Inspected:
    """What :func:`inspect_hosts` read: the report, and the views (for callers that go on)."""

    report: Report
    views: dict[str, HostView]


#: A command's own reading of one host (``status``, ``releases``): findings, and data for --json.
HostReading = Callable[["HostView"], tuple[list[Finding], dict]]


def inspect_hosts(inventory: str, limit: list[str] | None, command: str, *,
                  extras: HostExtras | None = None, reading: HostReading | None = None) -> Inspected:
    """Pre-flight, snapshot every host in parallel, then run ``command``'s rules per host.

    ``command`` is ``check`` (live rules, plus ``extras`` per host) or ``drift`` (drift
    comparisons plus the live rules that make sense for drift); ``reading`` replaces both with
    a command's own findings and per-host data (``status``, ``releases``). A declared state that fails
    its pre-flight is reported as is and no host is contacted; an unreachable host becomes an
    ERROR finding and a host error, and the other hosts are still reported.
    """
    from mooring.checks.preflight import preflight_report
    from mooring.runner import inventory_path
    from mooring.snapshots import gather_snapshots

    started = utc_now()
    path = inventory_path(inventory)
    preflight = preflight_report(path, limit)
    secrets = secret_values(preflight.hosts)
    if failed(preflight.findings):
        hosts = [HostResult(h.name, tuple(h.groups), note="declared state invalid: not contacted")
                 for h in preflight.hosts]
        return Inspected(Report(command, preflight.findings, hosts, str(path), started, utc_now(), secrets), {})
    models = {h.name: build_model(h.name, h.groups) for h in preflight.hosts}
    snapshots = gather_snapshots(str(path), limit)
    findings: list[Finding] = []
    hosts: list[HostResult] = []
    views: dict[str, HostView] = {}
    for name in sorted(snapshots):
        snap, model = snapshots[name], models.get(name)
        groups = tuple(model.groups) if model is not None else ()
        if isinstance(snap, SnapshotError):
            findings.append(Finding("host.snapshot", Outcome.ERROR, name, message=f"{snap.kind}: {snap.reason}",
                                    fix=_error_fix(snap.kind), host=name, kind=Kind.LIVE, resource="host"))
            hosts.append(HostResult(name, groups, error=f"{snap.kind}: {snap.reason}"))
            continue
        assert model is not None
        view = HostView(model, render_stack(model), snap)
        views[name] = view
        details: dict = {}
        if reading is not None:
            found, details = reading(view)
        elif command == "drift":
            found = drift_findings(view)
        else:
            found = run_live_rules(view) + (extras(model, view) if extras else [])
        findings += found
        hosts.append(HostResult(name, groups, note=_note(found, command), details=details))
    report = Report(command, findings, hosts, str(path), started, utc_now(), secrets)
    return Inspected(report, views)


def _error_fix(kind: str) -> str:
    return {"unreachable": "check the host is up and reachable over SSH (mooring -v shows pyinfra's reason)",
            "invalid": "fix the declared state (mooring validate)",
            "no-stack": "declare a stack for the host, or leave it out with --limit"}.get(
        kind, "run again with -v and read pyinfra's reason")


def _note(found: list[Finding], command: str) -> str:
    if command in ("status", "releases"):
        return ""
    bad = [f for f in found if f.outcome in (Outcome.FAILED, Outcome.ERROR)]
    if command == "drift":
        return f"{len(bad)} drifted" if bad else "no drift"
    return f"{len(bad)} failed" if bad else "sound"
