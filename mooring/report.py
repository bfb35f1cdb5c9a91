"""Reports: what a command found, as one value every output format renders.

A :class:`Report` holds a run's findings (static rules, live rules, probes, drift, deploy
outcomes: :class:`mooring.checks.findings.Finding`), the hosts it targeted with their errors, times and
versions; its exit code comes from :func:`mooring.checks.findings.exit_code`, never from a formatter.
Its secret values are kept apart (never serialized): every writer redacts with them.

Also here: :func:`run_summary`, the human summary of a pyinfra run (bootstrap, demo).
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Iterable

from mooring.checks.findings import SEVERITY, Finding, Kind, Outcome, exit_code, worst
from mooring.declare.secrets import quote_env_value, redact
from mooring import __version__

if TYPE_CHECKING:
    from mooring.checks.probes import ProbeResult
    from mooring.runner import RunResult

#: The version of the JSON document (docs/report-schema.json, docs/output.md): bumped only when
#: a key is removed, renamed or changes meaning; new optional keys keep it.
SCHEMA_VERSION = 1
GROUP_PREFIX = "group:"
#: Commands whose exit codes follow drift's rules (0 none, 2 drift, 1 error).
DRIFT_COMMANDS = frozenset({"drift"})


def utc_now() -> dt.datetime:
    """Now, in UTC (written to the second; durations keep the microseconds)."""
    return dt.datetime.now(dt.timezone.utc)


def utc_text(moment: dt.datetime) -> str:
    """``2026-11-27T10:00:00Z``."""
    return moment.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def secret_forms(values: Iterable[str]) -> list[str]:
    """Each secret value and the forms an encoder would turn it into (JSON, XML, Prometheus
    label, Python repr, dotenv quoting), longest first: what :func:`mooring.declare.secrets.redact` must
    catch in a written document.

    >>> secret_forms(["pw"])
    ['pw']
    >>> 'a\\\\"b' in secret_forms(['a"b'])  # as JSON writes it
    True
    """
    forms: set[str] = set()
    for value in values:
        if not value:
            continue
        xml = value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        forms.update({value, json.dumps(value)[1:-1], json.dumps(value, ensure_ascii=False)[1:-1], repr(value)[1:-1],
                      xml, xml.replace('"', "&quot;"), xml.replace("\n", "&#10;"), quote_env_value(value),
                      value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")})
    return sorted((f for f in forms if f), key=lambda f: (-len(f), f))


def redact_data(data: Any, forms: list[str]) -> Any:
    """``data`` (plain JSON-like data) with every string redacted."""
    if isinstance(data, str):
        return redact(data, forms)
    if isinstance(data, dict):
        return {redact_data(k, forms): redact_data(v, forms) for k, v in data.items()}
    if isinstance(data, (list, tuple)):
        return [redact_data(v, forms) for v in data]
    return data


@dataclass(frozen=True)
class HostResult:
    """One targeted host: whether it could be checked, and what the command has to say about it.

    + name, groups: as the inventory names them
    + error: why the host could not be checked (unreachable, a failed read); "" when it was
    + note: one short line the command adds, e.g. ``deployed release 5, 12 changes``
    + details: plain command-specific data (deploy: the release record); redacted when written
    """

    name: str
    groups: tuple[str, ...] = ()
    error: str = ""
    note: str = ""
    details: dict[str, Any] = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class Summary:
    """How many findings had each outcome (``drifted``: FAILED drift findings, also in ``failed``)."""

    passed: int = 0
    failed: int = 0
    warning: int = 0
    skipped: int = 0
    error: int = 0
    drifted: int = 0

    @classmethod
    def of(cls, findings: Iterable[Finding]) -> "Summary":
        findings = list(findings)
        counts = Counter(f.outcome for f in findings)
        drifted = sum(1 for f in findings if f.outcome is Outcome.FAILED and f.kind is Kind.DRIFT)
        return cls(counts[Outcome.PASSED], counts[Outcome.FAILED], counts[Outcome.WARNING], counts[Outcome.SKIPPED],
                   counts[Outcome.ERROR], drifted)

    @property
    def checks(self) -> int:
        return self.passed + self.failed + self.warning + self.skipped + self.error

    def to_dict(self) -> dict[str, int]:
        return {"checks": self.checks, "passed": self.passed, "failed": self.failed, "warning": self.warning,
                "skipped": self.skipped, "error": self.error, "drifted": self.drifted}


@dataclass(frozen=True)
class Scope:
    """The findings about one host, group or file, as formats group them."""

    name: str
    findings: tuple[Finding, ...]
    host: HostResult | None = None

    @property
    def error(self) -> str:
        return self.host.error if self.host else ""

    @property
    def outcome(self) -> Outcome:
        """The worst outcome here (ERROR when the host could not be checked)."""
        return Outcome.ERROR if self.error else worst(f.outcome for f in self.findings)

    @property
    def summary(self) -> Summary:
        return Summary.of(self.findings)


@dataclass(frozen=True)
class Report:
    """One command's run, ready for every output format.

    + command: ``validate``, ``check``, ``drift``, ``deploy``...; drift's exit codes for ``drift``
    + findings: every finding of the run
    + hosts: the hosts targeted, with their errors (a host that could not be checked)
    + inventory: the inventory file or name
    + started, finished: UTC times of the run
    + secrets: the run's secret values; never written, every writer redacts with them
    + notes: lines for people about the whole run (``pre-flight failed: no host was touched``)
    + details: plain command-specific data about the whole run (deploy: ``interrupted``)

    >>> report = Report("validate", [Finding("env.required", Outcome.PASSED, "docker-1")], [HostResult("docker-1")])
    >>> report.exit_code, report.summary.passed
    (0, 1)
    """

    command: str
    findings: list[Finding]
    hosts: list[HostResult] = field(default_factory=list)
    inventory: str = ""
    started: dt.datetime = field(default_factory=utc_now)
    finished: dt.datetime = field(default_factory=utc_now)
    secrets: tuple[str, ...] = field(default=(), repr=False, compare=False)
    notes: tuple[str, ...] = ()
    details: dict[str, Any] = field(default_factory=dict, compare=False)
    mooring_version: str = __version__
    schema_version: int = SCHEMA_VERSION

    @property
    def drift(self) -> bool:
        """Whether exit codes follow drift's rules."""
        return self.command in DRIFT_COMMANDS

    @property
    def host_errors(self) -> list[HostResult]:
        return [h for h in self.hosts if h.error]

    @property
    def exit_code(self) -> int:
        return exit_code(self.findings, drift=self.drift, errors=self.host_errors)

    @property
    def ok(self) -> bool:
        return self.exit_code == 0

    @property
    def summary(self) -> Summary:
        return Summary.of(self.findings)

    @property
    def duration(self) -> float:
        return max(0.0, (self.finished - self.started).total_seconds())

    def host_findings(self, host: HostResult) -> list[Finding]:
        """The findings that hold for ``host``: its own and those of a group it is in."""
        groups = {GROUP_PREFIX + g for g in host.groups}
        return [f for f in self.findings if f.scope == host.name or f.scope in groups]

    def scopes(self) -> list[Scope]:
        """The findings grouped by :attr:`Finding.scope`: the hosts in their order (each one,
        even without findings), then groups and other subjects by name."""
        by_scope: dict[str, list[Finding]] = {}
        for finding in self.findings:
            by_scope.setdefault(finding.scope, []).append(finding)
        scopes = [Scope(h.name, tuple(by_scope.pop(h.name, ())), h) for h in self.hosts]
        return scopes + [Scope(name, tuple(found)) for name, found in sorted(by_scope.items())]

    @property
    def forms(self) -> list[str]:
        """The strings every writer redacts: :func:`secret_forms` of the run's secrets."""
        return secret_forms(self.secrets)

    def redacted(self) -> "Report":
        """This report with every secret value (in any encoded form) replaced by ``***``."""
        forms = self.forms
        if not forms:
            return self
        # A finding's field names are not data: a short secret ("x") must not rename "fix".
        findings = [Finding(**{name: redact_data(value, forms) for name, value in f.to_dict().items()})
                    for f in self.findings]
        hosts = [replace(h, name=redact(h.name, forms), groups=tuple(redact_data(list(h.groups), forms)),
                         error=redact(h.error, forms), note=redact(h.note, forms),
                         details=redact_data(h.details, forms)) for h in self.hosts]
        return replace(self, findings=findings, hosts=hosts, inventory=redact(self.inventory, forms),
                       notes=tuple(redact_data(list(self.notes), forms)), details=redact_data(self.details, forms))

    def to_dict(self) -> dict[str, Any]:
        """The JSON document (docs/report-schema.json), every secret redacted."""
        report = self.redacted()
        document = {
            "schema_version": report.schema_version,
            "command": report.command,
            "mooring_version": report.mooring_version,
            "started": utc_text(report.started),
            "finished": utc_text(report.finished),
            "duration_seconds": round(report.duration, 3),
            "inventory": report.inventory,
            "exit_code": report.exit_code,
            "ok": report.ok,
            "summary": {**report.summary.to_dict(), "hosts": len(report.hosts),
                        "host_errors": len(report.host_errors)},
            "hosts": [report._host_dict(h) for h in report.hosts],
            "findings": [f.to_dict() for f in report.findings],
            "notes": list(report.notes),
            "details": report.details,
        }
        return redact_data(document, self.forms)

    def _host_dict(self, host: HostResult) -> dict[str, Any]:
        findings = self.host_findings(host)
        outcome = Outcome.ERROR if host.error else worst(f.outcome for f in findings)
        return {"name": host.name, "groups": list(host.groups), "outcome": outcome.value, "error": host.error or None,
                "note": host.note, "summary": Summary.of(findings).to_dict(), "details": host.details}

    def to_json(self) -> str:
        """:meth:`to_dict` as indented JSON, keys sorted, with a final newline."""
        return redact(json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n", self.forms)


def sort_worst_first(findings: Iterable[Finding]) -> list[Finding]:
    """Errors, failures, warnings, skipped, passed; stable by check, resource and path within each."""
    rank = {o: i for i, o in enumerate(SEVERITY)}
    return sorted(findings, key=lambda f: (rank[f.outcome], f.check, f.resource, f.path, f.message))


def probe_finding(host: str, result: "ProbeResult", check: str = "http.probe") -> Finding:
    """A probe's result (deploy gate, check) as a finding about ``host``: PASSED or FAILED,
    resource ``http:<name>``; the body excerpt only when it failed.

    >>> from mooring.checks.probes import ProbeResult
    >>> probe_finding("docker-1", ProbeResult("ready", "http://127.0.0.1:8080/ready", ok=True, attempts=1, status=200)).message
    'ready http://127.0.0.1:8080/ready: 200 after 1 attempt(s)'
    """
    return Finding(check, Outcome.PASSED if result.ok else Outcome.FAILED, host, message=result.describe(),
                   host=host, kind=Kind.PROBE, resource=f"http:{result.name}", actual=str(result.status or ""))


def run_summary(result: "RunResult", title: str) -> str:
    """One line per host: how many operations changed it, or why it failed."""
    lines = [f"{title}:"]
    for host in result.hosts:
        if host in result.failed_hosts:
            reasons = result.errors_for(host) or ["see the log above (mooring -v)"]
            lines.append(f"  {host}: FAILED - {reasons[0]}")
            continue
        changes = result.changes_for(host)
        lines.append(f"  {host}: ok, {len(changes)} {'change' if len(changes) == 1 else 'changes'}" + (f" ({', '.join(changes[:6])}{', ...' if len(changes) > 6 else ''})" if changes else ""))
    if not result.hosts:
        lines.append("  no host ran: " + result.log_tail())
    return "\n".join(lines)


def change_note(changes: list[str], shown: int = 4) -> str:
    """``no changes``, ``1 change (Compose v1 | No Compose v1)``, ``9 changes (a, b, c, d, ...)``.

    >>> change_note([]), change_note(["Files | .env"]), change_note(list("abcde"), shown=2)
    ('no changes', '1 change (Files | .env)', '5 changes (a, b, ...)')
    """
    if not changes:
        return "no changes"
    names = ", ".join(changes[:shown]) + (", ..." if len(changes) > shown else "")
    return f"{len(changes)} {'change' if len(changes) == 1 else 'changes'} ({names})"


def run_report(result: "RunResult", command: str, inventory: str = "", started: dt.datetime | None = None,
               secrets: Iterable[str] = ()) -> Report:
    """A pyinfra run (bootstrap, a deploy file) as a :class:`Report`: per host one ``kind=deploy``
    finding, PASSED with its changes or FAILED with pyinfra's reason.

    >>> from mooring.runner import RunResult
    >>> run_report(RunResult(rc=0, hosts=["docker-1"]), "bootstrap").hosts[0].note
    'no changes'
    """
    findings, hosts = [], []
    for host in result.hosts:
        if host in result.failed_hosts:
            reasons = result.errors_for(host) or ["see the log (mooring -v)"]
            findings.append(Finding(f"{command}.run", Outcome.FAILED, host, message=reasons[0], host=host,
                                    kind=Kind.DEPLOY, fix="read the reason; run again with -v for pyinfra's log"))
            hosts.append(HostResult(host, note="failed"))
            continue
        changes = result.changes_for(host)
        note = change_note(changes)
        findings.append(Finding(f"{command}.run", Outcome.PASSED, host, message=note, host=host, kind=Kind.DEPLOY))
        hosts.append(HostResult(host, note=note, details={"changes": changes}))
    if not result.hosts:
        findings.append(Finding(f"{command}.run", Outcome.ERROR, inventory or command, kind=Kind.DEPLOY,
                                message="no host ran: " + result.log_tail()))
    return Report(command, findings, hosts, inventory, started or utc_now(), utc_now(), tuple(secrets))


def secret_values(hosts: Iterable[Any], group_data: Any = None) -> tuple[str, ...]:
    """The secret values of the hosts' stacks (objects with ``name`` and ``groups``, e.g. the
    pre-flight's ``InventoryHost``), longest first, for a :class:`Report`'s ``secrets``.

    A host whose model does not build (bad input, a missing secret) adds none: its findings
    come from the declared text, which holds no values. Secrets depend only on a host's layers,
    so hosts with the same groups and no host file of their own are resolved once.
    """
    from mooring.declare.errors import MooringError
    from mooring.declare.layers import group_data_dir, host_layer_file
    from mooring.declare.model import build_model

    values: set[str] = set()
    seen: set[tuple[tuple[str, ...], str]] = set()
    for host in hosts:
        own = host_layer_file(host.name, group_data or group_data_dir())
        key = (tuple(host.groups), host.name if own.exists() else "")
        if key in seen:
            continue
        seen.add(key)
        try:
            stack = build_model(host.name, host.groups, None, group_data).stack
        except MooringError:
            continue
        if stack is not None:
            values.update(stack.secret_values())
    return tuple(sorted(values, key=len, reverse=True))


def deploy_report(deployed: Any, inventory: str = "", started: dt.datetime | None = None) -> Report:
    """A ``mooring.deployer.DeployReport`` as a :class:`Report` (exit 0 exactly when the deploy
    was ``ok``): the pre-flight's failures and warnings, per host one ``deploy.release`` finding
    (PASSED deployed/unchanged, FAILED failed/rolled back, with why), a ``deploy.env`` finding
    naming the env keys changed, the gate's and the rollback gate's probes, the release record
    as the host's ``details``; an interrupted run or no host at all is a run finding.
    """
    from mooring.checks.findings import failed as failed_findings

    findings = [f for f in deployed.findings if f.outcome is not Outcome.PASSED]
    notes: list[str] = []
    hosts: list[HostResult] = []
    where = inventory or "deploy"
    if failed_findings(deployed.findings):
        notes.append("pre-flight failed: no host was touched")
    else:
        if deployed.interrupted:
            notes.append(f"deploy {deployed.interrupted}: hosts whose new release was not gated were rolled back")
            findings.append(Finding("deploy.run", Outcome.FAILED, where, message=deployed.interrupted,
                                    kind=Kind.DEPLOY, fix="run `mooring deploy` again once the cause is gone"))
        for outcome in deployed.hosts:
            host_findings, host = _deploy_host(outcome)
            findings += host_findings
            hosts.append(host)
        if not deployed.hosts:
            tail = deployed.apply.log_tail() if deployed.apply is not None else "pyinfra did not start"
            findings.append(Finding("deploy.run", Outcome.ERROR, where, message=f"no host ran: {tail}",
                                    kind=Kind.DEPLOY, fix="run `mooring -v deploy` to see pyinfra's log"))
    return Report("deploy", findings, hosts, inventory, started or utc_now(), utc_now(), tuple(deployed.secrets),
                  tuple(notes), {"interrupted": deployed.interrupted,
                                 "run_dir": str(deployed.run_dir) if deployed.run_dir else ""})


def _deploy_host(outcome: Any) -> tuple[list[Finding], HostResult]:
    """One ``HostOutcome``: its findings and its :class:`HostResult` (note and release record)."""
    from mooring.deployer import record_for

    plan, name, state = outcome.plan, outcome.host, outcome.outcome.value
    number = plan.release_number if plan else None
    changes = len(outcome.changes)
    release = f"release {number}" if plan else "no release"
    message = {
        "deployed": f"deployed {release}",
        "unchanged": f"{release} already deployed, nothing changed",
        "rolled_back": f"{release} failed and was rolled back to release {outcome.rolled_back_to}: {outcome.error}",
    }.get(state, f"failed ({release}): {outcome.error}")
    findings = [Finding("deploy.release", Outcome.PASSED if outcome.ok else Outcome.FAILED, name, message=message,
                        host=name, kind=Kind.DEPLOY, resource=f"release:{number}" if plan else "",
                        fix="" if outcome.ok else "read the error; `mooring -v deploy` shows pyinfra's log")]
    if plan and plan.env_keys_changed:
        keys = plan.env_keys_changed
        findings.append(Finding("deploy.env", Outcome.PASSED, name, host=name, kind=Kind.DEPLOY,
                                resource=f"file:{plan.directory}/.env",
                                message=f"{len(keys)} env {'key' if len(keys) == 1 else 'keys'} changed: {', '.join(keys)}"))
    findings += [probe_finding(name, probe, "deploy.gate") for probe in outcome.gate]
    findings += [probe_finding(name, probe, "deploy.rollback_gate") for probe in outcome.rollback_gate]
    if outcome.rollback_services is not None:
        settled = not outcome.rollback_services
        findings.append(Finding("deploy.rollback_gate", Outcome.PASSED if settled else Outcome.FAILED, name,
                                host=name, kind=Kind.DEPLOY, resource="services",
                                message=outcome.rollback_services or "every service running and healthy",
                                fix="" if settled else "the restored release is not healthy either: `mooring status` "
                                "and `docker logs` on the host say why; `mooring rollback --to N` restores an older "
                                "release"))
    findings += [Finding("deploy.rollback", Outcome.WARNING, name, host=name, kind=Kind.DEPLOY, message=warning)
                 for warning in outcome.warnings]
    note = f"{state.replace('_', ' ')}, {release}, {changes} {'change' if changes == 1 else 'changes'}"
    if outcome.ok and plan and plan.http_base:
        note += f", {plan.http_base}/"
    details = record_for(outcome) if plan else {"host": name, "outcome": state, "error": outcome.error}
    return findings, HostResult(name, note=note, details=details)
