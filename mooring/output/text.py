"""The human report: grouped per host (or group), failures first, one summary line last.

    docker-2: ERROR: ssh: connection refused
    docker-1: 2 failed, 1 warning, 32 passed
      FAILED   env.required: env:POSTGRES_DB: key missing from .env (fix: deploy again)
      ...
    lite-1: 35 checks passed
    FAILED: 2 hosts checked, 1 not checked (docker-2), 2 failed, 1 warning, 67 passed

Passed checks are listed only with ``show_passed`` (``--all``); ``quiet`` (``-q``) prints
nothing when the run passed and only what did not pass otherwise.
"""

from __future__ import annotations

from mooring.checks.findings import SEVERITY, Finding, Kind, Outcome
from mooring.declare.secrets import redact
from mooring.report import GROUP_PREFIX, Report, Scope, Summary, sort_worst_first

NAME = "text"
LABEL_WIDTH = 8
#: The first word of the summary line, per command and exit code.
HEADLINES = {
    "validate": {0: "valid", 1: "INVALID"},
    "drift": {0: "no drift", 1: "ERROR", 2: "DRIFT"},
}
DEFAULT_HEADLINE = {0: "ok", 1: "FAILED", 2: "DRIFT"}
#: Commands whose hosts are "checked" (others only name how many hosts they targeted).
CHECKING = frozenset({"validate", "check", "drift"})


def render(report: Report, *, show_passed: bool = False, quiet: bool = False) -> str:
    """The whole text report, every secret redacted; "" when ``quiet`` and the run passed.

    >>> from mooring.checks.findings import Finding
    >>> from mooring.report import HostResult
    >>> print(render(Report("check", [Finding("env.required", "failed", "docker-1", host="docker-1",
    ...       kind="live", resource="env:POSTGRES_DB", message="key missing from .env", fix="deploy again"),
    ...       Finding("cron.present", "passed", "docker-1", host="docker-1")], [HostResult("docker-1")])), end="")
    docker-1: 1 failed, 1 passed
      FAILED   env.required: env:POSTGRES_DB: key missing from .env (fix: deploy again)
    FAILED: 1 host checked, 1 failed, 1 passed
    """
    if quiet and report.ok:
        return ""
    report = report.redacted()
    rank = {o: i for i, o in enumerate(SEVERITY)}
    lines: list[str] = []
    grouped = {f.scope for f in report.findings if f.scope.startswith(GROUP_PREFIX)}
    for scope in sorted(report.scopes(), key=lambda s: rank[s.outcome]):
        shown = [f for f in scope.findings if show_passed or f.outcome is not Outcome.PASSED]
        if quiet and not shown and not scope.error:
            continue
        if scope.host and not (scope.findings or scope.error or scope.host.note) and \
                grouped & {GROUP_PREFIX + g for g in scope.host.groups}:
            continue  # everything about this host is said under its group
        lines.append(scope_line(scope))
        lines += ["  " + finding_line(f) for f in sort_worst_first(shown)]
    lines += list(report.notes)
    lines.append(headline(report))
    return redact("\n".join(lines) + "\n", report.forms)


def scope_line(scope: Scope) -> str:
    """``docker-1: 35 checks passed``, ``docker-1: deployed release 5; 4 checks passed`` or
    ``docker-2: ERROR: <why it could not be checked>``."""
    if scope.error:
        return f"{scope.name}: ERROR: {scope.error}"
    note = f"{scope.host.note}; " if scope.host and scope.host.note else ""
    return f"{scope.name}: {note}{counts_text(scope.summary)}"


def finding_line(finding: Finding) -> str:
    """``FAILED   check: resource: file: path: message (expected X, found Y) (fix: ...)``."""
    label = "DRIFT" if finding.kind is Kind.DRIFT and finding.outcome is Outcome.FAILED else finding.outcome.name
    where = ": ".join(part for part in (finding.resource, finding.file, finding.path) if part)
    text = f"{label:<{LABEL_WIDTH}} {finding.check}: {where + ': ' if where else ''}{finding.message}"
    seen = ", ".join(part for part in (f"expected {finding.expected}" if finding.expected else "",
                                       f"found {finding.actual}" if finding.actual else "") if part)
    text += f" ({seen})" if seen else ""
    return f"{text} (fix: {finding.fix})" if finding.fix else text


def counts_text(summary: Summary) -> str:
    """``35 checks passed``, ``33 checks passed, 2 warnings``, ``2 failed, 1 warning, 32 passed``.

    >>> counts_text(Summary(passed=1)), counts_text(Summary(passed=3, warning=1)), counts_text(Summary())
    ('1 check passed', '3 checks passed, 1 warning', 'no checks ran')
    """
    if not summary.checks:
        return "no checks ran"
    problems = [_count(summary.error, "error", "errors"), _count(summary.drifted, "drifted"),
                _count(summary.failed - summary.drifted, "failed")]
    others = [_count(summary.warning, "warning", "warnings"), _count(summary.skipped, "skipped")]
    if not any(problems):
        first = _count(summary.passed, "check passed", "checks passed")
        return ", ".join(p for p in [first, *others] if p)
    return ", ".join(p for p in [*problems, *others, _count(summary.passed, "passed")] if p)


def headline(report: Report) -> str:
    """The last line: ``valid: 3 hosts checked, 105 checks passed``, ``DRIFT: ...``, ``ERROR: ...``."""
    code = report.exit_code
    word = HEADLINES.get(report.command, DEFAULT_HEADLINE).get(code, DEFAULT_HEADLINE.get(code, f"exit {code}"))
    return f"{word}: {hosts_text(report)}, {counts_text(report.summary)}"


def hosts_text(report: Report) -> str:
    """``2 hosts checked``, ``1 host checked, 1 not checked (docker-2)``, ``no hosts checked``."""
    verb = " checked" if report.command in CHECKING else ""
    errors = report.host_errors
    reached = len(report.hosts) - len(errors)
    text = f"{reached} {'host' if reached == 1 else 'hosts'}{verb}" if reached else f"no hosts{verb}"
    if errors:
        text += f", {len(errors)} not checked ({', '.join(h.name for h in errors)})"
    return text


def _count(number: int, singular: str, plural: str | None = None) -> str:
    if not number:
        return ""
    return f"{number} {singular if number == 1 or plural is None else plural}"
