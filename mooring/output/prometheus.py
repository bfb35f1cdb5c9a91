"""Prometheus text exposition for node_exporter's textfile collector (``--prometheus FILE``).

Every series is a gauge labelled with the command, so ``check`` and ``drift`` can write files
side by side in the collector's folder (``mooring-check.prom``, ``mooring-drift.prom``):

- ``mooring_check_outcome{command,host,kind,check,resource,outcome} 1``: one series per check
  and resource (``resource`` falls back to the declared key path); the worst outcome when the
  same check ran more than once for it.
- ``mooring_check_outcomes{command,host,outcome}``: per targeted host, how many checks had each
  outcome (every outcome, zero included, so ``> 0`` alerts work without ``absent()``).
- ``mooring_check_host_up{command,host}``: 0 when the host could not be checked.
- ``mooring_check_exit_code{command}``, ``mooring_check_last_run_timestamp_seconds{command}``,
  ``mooring_check_duration_seconds{command}``.

Label values are escaped as the exposition format says (``\\``, ``"``, newline); the file is
written to a temporary name and renamed into place (see :func:`mooring.output.write_file`).
"""

from __future__ import annotations

from mooring.checks.findings import SEVERITY, Outcome, worst
from mooring.declare.secrets import redact
from mooring.report import Report, Summary

NAME = "prometheus"
PREFIX = "mooring_check"
METRICS = {
    "outcome": "Outcome of one mooring check on one resource (value 1; the outcome is a label).",
    "outcomes": "Number of mooring checks per host and outcome in the last run.",
    "host_up": "1 when mooring could check the host, 0 when it could not (unreachable, a failed read).",
    "exit_code": "Exit code of the last mooring run (validate/check: 0 pass, 1 fail; drift: 0 none, 2 drift, 1 error).",
    "last_run_timestamp_seconds": "When the last mooring run finished, in seconds since the epoch.",
    "duration_seconds": "How long the last mooring run took, in seconds.",
}


def render(report: Report) -> str:
    """The report as exposition-format text (``# HELP``/``# TYPE`` then samples), secrets redacted.

    >>> from mooring.checks.findings import Finding
    >>> from mooring.report import HostResult
    >>> text = render(Report("check", [Finding("env.required", "failed", "docker-1", host="docker-1",
    ...                                        resource="env:POSTGRES_DB")], [HostResult("docker-1")]))
    >>> [line for line in text.splitlines() if line.startswith("mooring_check_outcome{")]
    ['mooring_check_outcome{command="check",host="docker-1",kind="static",check="env.required",resource="env:POSTGRES_DB",outcome="failed"} 1']
    """
    report = report.redacted()
    command = {"command": report.command}
    samples: dict[str, list[str]] = {name: [] for name in METRICS}
    worst_of: dict[tuple[str, str, str, str], list[Outcome]] = {}
    for finding in report.findings:
        key = (finding.scope, finding.kind.value, finding.check, finding.resource or finding.path)
        worst_of.setdefault(key, []).append(finding.outcome)
    for (host, kind, check, resource), outcomes in sorted(worst_of.items()):
        labels = {**command, "host": host, "kind": kind, "check": check, "resource": resource,
                  "outcome": worst(outcomes).value}
        samples["outcome"].append(sample("outcome", labels, 1))
    for host in report.hosts:
        counts = Summary.of(report.host_findings(host)).to_dict()
        for outcome in SEVERITY:
            samples["outcomes"].append(sample("outcomes", {**command, "host": host.name, "outcome": outcome.value},
                                              counts[outcome.value]))
        samples["host_up"].append(sample("host_up", {**command, "host": host.name}, 0 if host.error else 1))
    samples["exit_code"].append(sample("exit_code", command, report.exit_code))
    samples["last_run_timestamp_seconds"].append(sample("last_run_timestamp_seconds", command,
                                                        int(report.finished.timestamp())))
    samples["duration_seconds"].append(sample("duration_seconds", command, round(report.duration, 3)))
    lines = []
    for name, help_text in METRICS.items():
        if samples[name]:
            lines += [f"# HELP {PREFIX}_{name} {escape_help(help_text)}", f"# TYPE {PREFIX}_{name} gauge",
                      *samples[name]]
    return redact("\n".join(lines) + "\n", report.forms)


def sample(name: str, labels: dict[str, str], value: float) -> str:
    """One sample line: ``mooring_check_<name>{label="value",...} value``."""
    inner = ",".join(f'{key}="{escape_label(value_)}"' for key, value_ in labels.items())
    return f"{PREFIX}_{name}{{{inner}}} {value}"


def escape_label(value: str) -> str:
    """A label value as the exposition format needs it: backslash, double quote and newline escaped.

    >>> print(escape_label('a "b" \\\\ c\\nd'))
    a \\"b\\" \\\\ c\\nd
    """
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def escape_help(text: str) -> str:
    """HELP text: backslash and newline escaped."""
    return text.replace("\\", "\\\\").replace("\n", "\\n")
