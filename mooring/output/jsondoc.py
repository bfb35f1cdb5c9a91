"""The JSON report: the versioned document of docs/report-schema.json (see docs/output.md)."""

from __future__ import annotations

from mooring.report import Report

NAME = "json"


def render(report: Report) -> str:
    """The report as indented JSON with a final newline, every secret redacted.

    >>> import json
    >>> from mooring.checks.findings import Finding
    >>> json.loads(render(Report("validate", [Finding("env.required", "passed", "docker-1")])))["exit_code"]
    0
    """
    return report.to_json()
