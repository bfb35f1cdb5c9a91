"""JUnit XML for CI tools: one ``<testsuite>`` per host (and per group or file a finding is
about), one ``<testcase>`` per check and resource.

The shape follows the JUnit XSD that Jenkins' xUnit plugin ships (junit-10.xsd) and GitLab,
GitHub Actions reporters and pytest's junitxml use: ``testsuites`` holds only ``testsuite``
elements (attributes name, tests, failures, errors, time); a suite carries name, tests,
failures, errors, skipped, time, timestamp, hostname; a case has name, classname, time and at
most one of ``failure`` / ``error`` / ``skipped``. A FAILED finding (drift too) is a
``failure``, an ERROR finding or a host that could not be checked an ``error``, a SKIPPED one
``skipped``; a warning passes with its text in ``system-out``.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from mooring.checks.findings import Finding, Outcome
from mooring.declare.secrets import redact
from mooring.report import Report, Scope, utc_text
from mooring.output.text import finding_line

NAME = "junit"
HOST_CASE = "host reachable"


def render(report: Report) -> str:
    """The report as a JUnit XML document (UTF-8 declaration, final newline), secrets redacted.

    >>> from mooring.checks.findings import Finding
    >>> from mooring.report import HostResult
    >>> xml = render(Report("check", [Finding("env.required", "failed", "docker-1", host="docker-1")], [HostResult("docker-1")]))
    >>> ET.fromstring(xml).find("testsuite").attrib["failures"]
    '1'
    """
    report = report.redacted()
    root = ET.Element("testsuites", name=f"mooring {report.command}")
    totals = {"tests": 0, "failures": 0, "errors": 0}
    for scope in report.scopes():
        suite = _suite(report, scope)
        root.append(suite)
        for key in totals:
            totals[key] += int(suite.attrib[key])
    root.attrib.update({key: str(value) for key, value in totals.items()})
    root.attrib["time"] = _seconds(report.duration)
    ET.indent(root)
    document = '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
    return redact(document, report.forms)


def _suite(report: Report, scope: Scope) -> ET.Element:
    cases = [_case(report, f) for f in scope.findings]
    if scope.error:
        case = ET.Element("testcase", name=HOST_CASE, classname=f"mooring.{report.command}", time="0")
        ET.SubElement(case, "error", message=_first_line(scope.error), type="host").text = scope.error
        cases.insert(0, case)
    count = {tag: sum(1 for c in cases if c.find(tag) is not None) for tag in ("failure", "error", "skipped")}
    suite = ET.Element("testsuite", name=scope.name, tests=str(len(cases)), failures=str(count["failure"]),
                       errors=str(count["error"]), skipped=str(count["skipped"]), time="0",
                       timestamp=utc_text(report.started).rstrip("Z"), hostname=scope.host.name if scope.host else "")
    properties = ET.SubElement(suite, "properties")
    for name, value in (("command", report.command), ("inventory", report.inventory),
                        ("mooring_version", report.mooring_version)):
        ET.SubElement(properties, "property", name=name, value=value)
    if scope.host and scope.host.note:
        ET.SubElement(properties, "property", name="note", value=scope.host.note)
    suite.extend(cases)
    return suite


def _case(report: Report, finding: Finding) -> ET.Element:
    target = finding.resource or finding.path
    case = ET.Element("testcase", name=f"{finding.check}: {target}" if target else finding.check,
                      classname=f"mooring.{report.command}", time="0")
    text = finding_line(finding)
    if finding.outcome is Outcome.FAILED:
        ET.SubElement(case, "failure", message=_first_line(finding.message), type=finding.kind.value).text = text
    elif finding.outcome is Outcome.ERROR:
        ET.SubElement(case, "error", message=_first_line(finding.message), type=finding.kind.value).text = text
    elif finding.outcome is Outcome.SKIPPED:
        ET.SubElement(case, "skipped", message=_first_line(finding.message))
    elif finding.outcome is Outcome.WARNING:
        ET.SubElement(case, "system-out").text = text
    return case


def _first_line(text: str) -> str:
    return text.splitlines()[0] if text else ""


def _seconds(value: float) -> str:
    return f"{value:.3f}"
