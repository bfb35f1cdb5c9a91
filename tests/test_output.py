"""The output layer as data: one Report, four formats (text, JSON, JUnit XML, Prometheus).

Each format of two fixed reports (a ``check`` run and a ``drift`` run over two hosts, one of
them unreachable) is compared with a golden file in tests/golden/. After an intended change of
a format, regenerate them and review the diff:

    MOORING_UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/test_output.py -p no:randomly -p no:xdist

Beyond the goldens: the JSON validates against docs/report-schema.json (and declares every key
it writes), JUnit parses and follows the structure of Jenkins' junit-10.xsd with the right
counts, every Prometheus line parses (label escaping round-trips), the exit-code truth table,
the CLI flags, and the conftest canary secrets never appear in any output.
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import json
import math
import os
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import jsonschema
import pytest

from mooring.checks.findings import EXIT_DRIFT, EXIT_FAILED, EXIT_OK, Finding, Kind, Outcome, exit_code, worst
from mooring.declare.secrets import quote_env_value
from mooring import output
from mooring.output import add_output_arguments, emit, render, write_file
from mooring.output.prometheus import escape_label
from mooring.report import HostResult, Report, run_report, secret_forms
from mooring.runner import OpResult, RunResult
from tests.conftest import CANARIES, CANARY_DB, CANARY_JWT

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = Path(__file__).parent / "golden"
SCHEMA = json.loads((ROOT / "docs" / "report-schema.json").read_text())
STARTED = dt.datetime(2026, 11, 27, 10, 0, 0, tzinfo=dt.timezone.utc)
FINISHED = dt.datetime(2026, 11, 27, 10, 0, 12, 500000, tzinfo=dt.timezone.utc)
EXTENSIONS = {"text": "txt", "json": "json", "junit": "xml", "prometheus": "prom"}


def live(check: str, outcome: Outcome, host: str, resource: str, message: str = "", **more) -> Finding:
    return Finding(check, outcome, host, message=message, host=host, kind=more.pop("kind", Kind.LIVE),
                   resource=resource, **more)


def check_report() -> Report:
    """``mooring check`` over three hosts: one with a failure, a warning, a skip; one clean;
    one that could not be reached. A group finding from the pre-flight rides along."""
    hosts = [HostResult("docker-1", ("sandbox", "docker_boxes")), HostResult("docker-2", ("sandbox", "docker_boxes")),
             HostResult("lite-1", ("sandbox",), error="ssh: connect to 127.0.0.1 port 2203: Connection refused")]
    findings = [
        live("env.required", Outcome.FAILED, "docker-1", "env:POSTGRES_DB", "key is missing from /srv/app/.env",
             fix="run `mooring deploy` to write it again", expected="present, non-empty", actual="missing"),
        live("env.mode", Outcome.PASSED, "docker-1", "file:/srv/app/.env", "mode 0600, owner deploy"),
        live("service.running", Outcome.PASSED, "docker-1", "service:api", "running, healthy"),
        live("http.metrics", Outcome.WARNING, "docker-1", "http:metrics", "httpErrorRate 0.07 is above 0.05",
             kind=Kind.PROBE, expected="<= 0.05", actual="0.07"),
        live("backup.fresh", Outcome.SKIPPED, "docker-1", "backup:/srv/app/backups", "no backup cron declared"),
        live("env.required", Outcome.PASSED, "docker-2", "env:POSTGRES_DB", "present, non-empty"),
        live("service.running", Outcome.PASSED, "docker-2", "service:api", "running, healthy"),
        Finding("production.secrets", Outcome.WARNING, "group:sandbox", "stack.env.JWT_SECRET",
                "generated secret kept in .mooring/secrets/sandbox.env", "fine for the sandbox only",
                "group_data/sandbox.yml"),
    ]
    return Report("check", findings, hosts, "inventories/sandbox.py", STARTED, FINISHED, mooring_version="test")


def drift_report() -> Report:
    """``mooring drift``: one host drifted (a file, an env key), the other in sync."""
    hosts = [HostResult("docker-1", ("sandbox",)), HostResult("docker-2", ("sandbox",))]
    findings = [
        live("drift.file", Outcome.FAILED, "docker-1", "file:/srv/app/nginx/default.conf", "content differs",
             kind=Kind.DRIFT, expected="sha256 1f2e3d4c5b6a", actual="sha256 9a8b7c6d5e4f"),
        live("drift.env", Outcome.FAILED, "docker-1", "env:REDIS_URL", "value differs", kind=Kind.DRIFT,
             expected="declared value", actual="another value"),
        live("drift.file", Outcome.PASSED, "docker-1", "file:/srv/app/compose.yaml", "as declared", kind=Kind.DRIFT),
        live("drift.file", Outcome.PASSED, "docker-2", "file:/srv/app/nginx/default.conf", "as declared",
             kind=Kind.DRIFT),
    ]
    return Report("drift", findings, hosts, "inventories/sandbox.py", STARTED, FINISHED, mooring_version="test")


REPORTS = {"check": check_report, "drift": drift_report}


# --- goldens ------------------------------------------------------------------------------------

@pytest.mark.parametrize("fmt", sorted(EXTENSIONS))
@pytest.mark.parametrize("name", sorted(REPORTS))
def test_format_matches_its_golden_file(name, fmt):
    produced = render(REPORTS[name](), fmt)
    golden = GOLDEN / f"{name}.{EXTENSIONS[fmt]}"
    if os.environ.get("MOORING_UPDATE_GOLDEN"):
        golden.parent.mkdir(exist_ok=True)
        golden.write_text(produced)
    assert golden.exists(), f"{golden} is missing: regenerate with MOORING_UPDATE_GOLDEN=1"
    assert produced == golden.read_text(), f"{golden} differs (intended? MOORING_UPDATE_GOLDEN=1, then review the diff)"


def test_text_options_match_their_golden_files():
    report = check_report()
    for suffix, options in (("all", {"show_passed": True}), ("quiet", {"quiet": True})):
        produced = render(report, "text", **options)
        golden = GOLDEN / f"check-{suffix}.txt"
        if os.environ.get("MOORING_UPDATE_GOLDEN"):
            golden.write_text(produced)
        assert produced == golden.read_text(), golden


# --- text -----------------------------------------------------------------------------------------

def test_text_puts_failures_first_and_words_counts_for_people():
    lines = render(check_report(), "text").splitlines()
    headers = [line for line in lines if not line.startswith("  ")]
    assert headers[0].startswith("lite-1: ERROR: ssh: connect")  # an unchecked host first
    assert headers[1] == "docker-1: 1 failed, 1 warning, 1 skipped, 2 passed"  # its own checks; its group's below
    assert "docker-2: 2 checks passed" in headers
    assert lines[-1] == "FAILED: 2 hosts checked, 1 not checked (lite-1), 1 failed, 2 warnings, 1 skipped, 4 passed"
    body = "\n".join(lines)
    assert "finding" not in body and "(s)" not in body
    failed_at = next(i for i, line in enumerate(lines) if line.strip().startswith("FAILED"))
    warned_at = next(i for i, line in enumerate(lines) if line.strip().startswith("WARNING"))
    assert failed_at < warned_at
    assert "(expected present, non-empty, found missing)" in lines[failed_at]


def test_text_on_a_clean_run():
    report = Report("check", [live("env.required", Outcome.PASSED, h, "env:POSTGRES_DB") for h in ("a", "b")],
                    [HostResult("a"), HostResult("b")])
    assert render(report, "text") == "a: 1 check passed\nb: 1 check passed\nok: 2 hosts checked, 2 checks passed\n"
    assert render(report, "text", quiet=True) == ""


def test_quiet_on_failure_keeps_only_what_did_not_pass():
    text = render(check_report(), "text", quiet=True)
    assert "docker-2" not in text and "PASSED" not in text
    assert "FAILED   env.required" in text and text.splitlines()[-1].startswith("FAILED: ")


def test_drift_text_names_the_resource_and_says_drift():
    lines = render(drift_report(), "text").splitlines()
    assert lines[-1] == "DRIFT: 2 hosts checked, 2 drifted, 2 passed"
    assert any(line.strip().startswith("DRIFT    drift.env: env:REDIS_URL: value differs") for line in lines)


# --- JSON -----------------------------------------------------------------------------------------

def schema_validator() -> jsonschema.Draft202012Validator:
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    return jsonschema.Draft202012Validator(SCHEMA, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)


@pytest.mark.parametrize("name", sorted(REPORTS))
def test_json_validates_against_the_documented_schema(name):
    document = json.loads(render(REPORTS[name](), "json"))
    schema_validator().validate(document)
    assert document["schema_version"] == 1


def test_the_schema_refuses_a_broken_document():
    document = json.loads(render(check_report(), "json"))
    validator = schema_validator()
    for broken in ({**document, "exit_code": 3}, {**document, "findings": [{"check": "x"}]},
                   {**document, "started": "27.11.2026"}, {k: v for k, v in document.items() if k != "hosts"}):
        assert list(validator.iter_errors(broken)), broken


def declared_keys(schema: dict, node: dict) -> set[str]:
    keys = set(node.get("properties", {}))
    for part in node.get("allOf", []):
        keys |= declared_keys(schema, resolve(schema, part))
    return keys


def resolve(schema: dict, node: dict) -> dict:
    if "$ref" in node:
        return schema["$defs"][node["$ref"].rsplit("/", 1)[1]]
    return node


def test_every_key_written_is_documented_in_the_schema():
    """The schema allows new keys (consumers ignore them); this keeps it complete all the same."""
    document = json.loads(render(check_report(), "json"))
    assert set(document) == declared_keys(SCHEMA, SCHEMA)
    assert set(document["summary"]) == declared_keys(SCHEMA, SCHEMA["properties"]["summary"])
    assert set(document["hosts"][0]) == declared_keys(SCHEMA, SCHEMA["$defs"]["host"])
    assert set(document["hosts"][0]["summary"]) == declared_keys(SCHEMA, SCHEMA["$defs"]["counts"])
    assert set(document["findings"][0]) == declared_keys(SCHEMA, SCHEMA["$defs"]["finding"])


def test_json_counts_hosts_and_errors():
    document = json.loads(render(check_report(), "json"))
    assert (document["exit_code"], document["ok"]) == (1, False)
    assert document["summary"] == {"checks": 8, "passed": 4, "failed": 1, "warning": 2, "skipped": 1, "error": 0,
                                   "drifted": 0, "hosts": 3, "host_errors": 1}
    by_name = {h["name"]: h for h in document["hosts"]}
    assert by_name["lite-1"]["outcome"] == "error" and "Connection refused" in by_name["lite-1"]["error"]
    assert by_name["docker-2"]["outcome"] == "warning"  # its group's warning holds for it too
    assert by_name["docker-1"]["summary"]["failed"] == 1
    assert document["duration_seconds"] == 12.5


def test_a_real_validate_run_validates_against_the_schema(world, tmp_path, capsys):
    from mooring.cli import main

    out = tmp_path / "validate.json"
    assert main(["validate", str(world.inventory), "--json", str(out), "-q"]) == 0
    document = json.loads(out.read_text())
    schema_validator().validate(document)
    assert document["command"] == "validate" and document["summary"]["hosts"] == 5
    assert capsys.readouterr().out == ""  # -q on a pass


# --- JUnit ----------------------------------------------------------------------------------------

#: What Jenkins' xUnit junit-10.xsd allows (attributes; children), and what it requires.
JUNIT_ATTRIBUTES = {
    "testsuites": {"name", "time", "tests", "failures", "errors"},
    "testsuite": {"name", "tests", "failures", "errors", "group", "time", "skipped", "timestamp", "hostname", "id",
                  "package", "file", "log", "url"},
    "testcase": {"name", "time", "classname", "group"},
    "failure": {"type", "message"}, "error": {"type", "message"}, "skipped": {"type", "message"},
    "properties": set(), "property": {"name", "value"}, "system-out": set(), "system-err": set(),
}
JUNIT_REQUIRED = {"testsuite": {"name", "tests", "failures", "errors"}, "testcase": {"name"},
                  "property": {"name", "value"}}
JUNIT_CHILDREN = {
    "testsuites": {"testsuite"},
    "testsuite": {"testsuite", "properties", "testcase", "system-out", "system-err"},
    "testcase": {"skipped", "error", "failure", "system-out", "system-err"},
    "properties": {"property"},
}
SUREFIRE_TIME = re.compile(r"(([0-9]{0,3},)*[0-9]{3}|[0-9]{0,3})*(\.[0-9]*)?")


def assert_junit_shape(element: ET.Element) -> None:
    assert set(element.attrib) <= JUNIT_ATTRIBUTES[element.tag], (element.tag, element.attrib)
    assert JUNIT_REQUIRED.get(element.tag, set()) <= set(element.attrib), (element.tag, element.attrib)
    if "time" in element.attrib and element.tag in ("testsuites", "testsuite"):
        assert SUREFIRE_TIME.fullmatch(element.attrib["time"]), element.attrib["time"]
    for child in element:
        assert child.tag in JUNIT_CHILDREN.get(element.tag, set()), (element.tag, child.tag)
        assert_junit_shape(child)


@pytest.mark.parametrize("name", sorted(REPORTS))
def test_junit_parses_with_the_right_counts(name):
    report = REPORTS[name]()
    root = ET.fromstring(render(report, "junit").encode())
    assert root.tag == "testsuites"
    assert_junit_shape(root)
    suites = {s.attrib["name"]: s for s in root.findall("testsuite")}
    assert [h.name for h in report.hosts] == list(suites)[:len(report.hosts)]  # one suite per host, in order
    for suite in suites.values():
        cases = suite.findall("testcase")
        assert int(suite.attrib["tests"]) == len(cases)
        for tag, attribute in (("failure", "failures"), ("error", "errors"), ("skipped", "skipped")):
            assert int(suite.attrib[attribute]) == sum(1 for c in cases if c.find(tag) is not None)
        assert all(len([c for c in case if c.tag in ("failure", "error", "skipped")]) <= 1 for case in cases)
    summary = report.summary
    assert int(root.attrib["failures"]) == summary.failed
    assert int(root.attrib["errors"]) == summary.error + len(report.host_errors)
    assert int(root.attrib["tests"]) == summary.checks + len(report.host_errors)


def test_junit_says_why_a_host_was_not_checked():
    root = ET.fromstring(render(check_report(), "junit"))
    [suite] = [s for s in root.findall("testsuite") if s.attrib["name"] == "lite-1"]
    error = suite.find("testcase/error")
    assert error is not None and "Connection refused" in error.attrib["message"]
    failure = root.find("testsuite[@name='docker-1']/testcase/failure")
    assert failure.attrib["message"] == "key is missing from /srv/app/.env" and "fix:" in failure.text


# --- Prometheus ---------------------------------------------------------------------------------

METRIC_LINE = re.compile(r'^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(?P<labels>.*)\})? (?P<value>\S+)$')
LABEL = re.compile(r'\s*(?P<key>[a-zA-Z_][a-zA-Z0-9_]*)="(?P<value>(?:[^"\\\n]|\\[\\"n])*)"\s*(?:,|$)')


def parse_prometheus(text: str) -> list[tuple[str, dict[str, str], float]]:
    """Every sample of an exposition-format text; fails on a line the format does not allow."""
    samples, typed = [], {}
    assert text.endswith("\n")
    for line in text.splitlines():
        if line.startswith("# HELP ") or line.startswith("# TYPE "):
            _, keyword, name, rest = line.split(" ", 3)
            if keyword == "TYPE":
                assert rest in ("gauge", "counter", "untyped"), line
                assert name not in typed, f"TYPE twice: {line}"
                typed[name] = rest
            continue
        match = METRIC_LINE.match(line)
        assert match, f"not an exposition line: {line!r}"
        labels: dict[str, str] = {}
        rest = match["labels"] or ""
        while rest:
            label = LABEL.match(rest)
            assert label, f"bad labels in {line!r} at {rest!r}"
            assert label["key"] not in labels, line
            labels[label["key"]] = re.sub(r"\\(.)", lambda m: {"n": "\n"}.get(m[1], m[1]), label["value"])
            rest = rest[label.end():]
        assert match["name"] in typed, f"sample before its TYPE: {line}"
        value = float(match["value"])
        assert not math.isnan(value)
        samples.append((match["name"], labels, value))
    series = [(name, tuple(sorted(labels.items()))) for name, labels, _ in samples]
    assert len(series) == len(set(series)), "a series is written twice"
    return samples


@pytest.mark.parametrize("name", sorted(REPORTS))
def test_prometheus_lines_parse(name):
    report = REPORTS[name]()
    samples = parse_prometheus(render(report, "prometheus"))
    by_name: dict[str, list] = {}
    for metric, labels, value in samples:
        by_name.setdefault(metric, []).append((labels, value))
    assert by_name["mooring_check_exit_code"] == [({"command": name}, report.exit_code)]
    up = {labels["host"]: value for labels, value in by_name["mooring_check_host_up"]}
    assert up == {h.name: 0.0 if h.error else 1.0 for h in report.hosts}
    failed = sum(value for labels, value in by_name["mooring_check_outcomes"] if labels["outcome"] == "failed")
    assert failed == sum(1 for f in report.findings if f.outcome is Outcome.FAILED)
    assert {labels["outcome"] for labels, _ in by_name["mooring_check_outcome"]} <= {o.value for o in Outcome}


def test_prometheus_escapes_label_values_and_keeps_one_series_per_check():
    nasty = 'a "quoted" \\ back\nslash'
    findings = [live("odd.check", Outcome.PASSED, "docker-1", f"file:{nasty}", "first"),
                live("odd.check", Outcome.FAILED, "docker-1", f"file:{nasty}", "second")]
    samples = parse_prometheus(render(Report("check", findings, [HostResult("docker-1")]), "prometheus"))
    [(_, labels, value)] = [s for s in samples if s[0] == "mooring_check_outcome"]
    assert labels["resource"] == f"file:{nasty}" and labels["outcome"] == "failed" and value == 1
    assert escape_label(nasty) == 'a \\"quoted\\" \\\\ back\\nslash'


def test_prometheus_file_is_replaced_atomically(tmp_path):
    target = tmp_path / "mooring.prom"
    target.write_text("old 1\n")
    args = argparse.Namespace(json_file=None, junit_file=None, prometheus_file=str(target), quiet=True,
                              show_passed=False)
    assert emit(drift_report(), args, stdout=io.StringIO(), stderr=io.StringIO()) == EXIT_DRIFT
    assert "mooring_check_exit_code" in target.read_text()
    assert oct(target.stat().st_mode & 0o777) == "0o644"
    assert [p.name for p in tmp_path.iterdir()] == ["mooring.prom"]  # no temporary file left behind


def test_write_file_leaves_the_old_file_when_it_fails(tmp_path):
    target = tmp_path / "mooring.prom"
    target.write_text("old 1\n")
    with pytest.raises(TypeError):
        write_file(target, 42)  # type: ignore[arg-type]  # fails while writing
    assert target.read_text() == "old 1\n"
    assert [p.name for p in tmp_path.iterdir()] == ["mooring.prom"]


# --- exit codes -----------------------------------------------------------------------------------

PASS = Finding("a", Outcome.PASSED, "h")
FAIL = Finding("b", Outcome.FAILED, "h")
WARN = Finding("c", Outcome.WARNING, "h")
SKIP = Finding("d", Outcome.SKIPPED, "h")
ERROR = Finding("e", Outcome.ERROR, "h")
DRIFTED = Finding("f", Outcome.FAILED, "h", kind=Kind.DRIFT)


@pytest.mark.parametrize("findings, drift, errors, code", [
    ([], False, [], EXIT_OK),
    ([PASS], False, [], EXIT_OK),
    ([PASS, WARN, SKIP], False, [], EXIT_OK),
    ([PASS, FAIL], False, [], EXIT_FAILED),
    ([PASS, ERROR], False, [], EXIT_FAILED),
    ([PASS], False, ["docker-2"], EXIT_FAILED),
    ([PASS, WARN], True, [], EXIT_OK),
    ([PASS, DRIFTED], True, [], EXIT_DRIFT),
    ([PASS, FAIL], True, [], EXIT_DRIFT),  # a failed live rule in drift is drift too
    ([PASS, DRIFTED, ERROR], True, [], EXIT_FAILED),  # an error wins over drift
    ([DRIFTED], True, ["docker-2"], EXIT_FAILED),
    ([PASS], True, ["docker-2"], EXIT_FAILED),
], ids=["nothing", "pass", "warn-skip", "fail", "error", "host-error", "drift-none", "drift", "drift-live-fail",
        "drift-error-wins", "drift-host-error-wins", "drift-host-error"])
def test_exit_code_truth_table(findings, drift, errors, code):
    assert exit_code(findings, drift=drift, errors=errors) == code
    hosts = [HostResult("h")] + [HostResult(name, error="unreachable") for name in errors]
    assert Report("drift" if drift else "check", findings, hosts).exit_code == code


def test_outcomes_are_checked_when_a_finding_is_made():
    assert Finding("a", "passed", "h").outcome is Outcome.PASSED
    with pytest.raises(ValueError):
        Finding("a", "fine", "h")
    with pytest.raises(ValueError):
        Finding("a", Outcome.PASSED, "h", kind="guess")
    assert worst([]) is Outcome.PASSED and worst([Outcome.SKIPPED, Outcome.ERROR]) is Outcome.ERROR


def test_older_findings_keep_their_shape():
    finding = Finding("ports.unique", Outcome.FAILED, "group:production", "stack.services.api.ports.0", "taken",
                      "publish another port", "group_data/production.yml")
    assert (finding.host, finding.kind, finding.resource, finding.scope) == (None, Kind.STATIC, "", "group:production")
    assert str(finding) == ("[failed] group:production: ports.unique: group_data/production.yml: "
                            "stack.services.api.ports.0: taken (fix: publish another port)")


# --- the command line -----------------------------------------------------------------------------

def parsed(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="mooring check")
    add_output_arguments(parser, "check")
    return parser.parse_args(list(argv))


def test_json_to_stdout_holds_only_json():
    stdout, stderr = io.StringIO(), io.StringIO()
    assert emit(check_report(), parsed("--json", "-"), stdout=stdout, stderr=stderr) == 1
    assert json.loads(stdout.getvalue())["command"] == "check"
    assert stderr.getvalue().splitlines()[-1].startswith("FAILED: ")


def test_every_file_at_once(tmp_path):
    paths = {fmt: tmp_path / f"out.{ext}" for fmt, ext in EXTENSIONS.items() if fmt != "text"}
    args = parsed("--json", str(paths["json"]), "--junit", str(paths["junit"]), "--prometheus", str(paths["prometheus"]))
    stdout = io.StringIO()
    assert emit(check_report(), args, stdout=stdout, stderr=io.StringIO()) == 1
    assert stdout.getvalue() == render(check_report(), "text")
    for fmt, path in paths.items():
        assert path.read_text() == render(check_report(), fmt), fmt


def test_an_unwritable_file_is_an_error_that_wins_over_drift(tmp_path):
    stderr = io.StringIO()
    code = emit(drift_report(), parsed("--junit", str(tmp_path / "missing" / "out.xml")), stdout=io.StringIO(),
                stderr=stderr)
    assert code == EXIT_FAILED
    assert f"mooring drift: cannot write {tmp_path}/missing/out.xml" in stderr.getvalue()


def test_help_lists_the_exit_codes():
    parser = argparse.ArgumentParser(prog="mooring drift")
    add_output_arguments(parser, "drift")
    text = parser.format_help()
    assert "exit codes:\n  0  no drift" in text and "\n  2  drift" in text and "\n  1  error" in text


def test_validate_help_lists_its_exit_codes(capsys):
    from mooring.cli import main

    with pytest.raises(SystemExit):
        main(["validate", "--help"])
    text = capsys.readouterr().out
    assert "exit codes:" in text and "0  every check passed" in text and "--junit FILE" in text


def test_the_format_registry_is_strict():
    assert sorted(output.FORMATS) == ["json", "junit", "prometheus", "text"]
    with pytest.raises(ValueError, match="already registered"):
        output.register(output.FORMATS["json"])
    with pytest.raises(ValueError, match="unknown output format 'yaml'"):
        render(check_report(), "yaml")


def test_a_pyinfra_run_becomes_a_report():
    result = RunResult(rc=1, operations=[OpResult("apt install docker", ["docker-1"], [], ["docker-2"])],
                       failed_hosts=["docker-2"], hosts=["docker-1", "docker-2"],
                       log="    [docker-2] Could not connect (Connection refused)\n")
    report = run_report(result, "bootstrap", "inventories/sandbox.py")
    assert report.exit_code == 1
    text = render(report, "text")
    assert "docker-1: 1 change (apt install docker); 1 check passed" in text and "FAILED   bootstrap.run:" in text


# --- secrets --------------------------------------------------------------------------------------

def leaky_report() -> Report:
    """A report whose every string field carries a canary secret, raw and as encoders write it."""
    forms = [CANARY_JWT, repr(CANARY_JWT), json.dumps(CANARY_JWT), quote_env_value(CANARY_JWT), CANARY_DB]
    leak = " | ".join(forms)
    findings = [Finding(f"leak.{i}", outcome, "docker-1", f"stack.env.{leak}", f"message {leak}", f"fix {leak}",
                        f"file {leak}", host="docker-1", kind=Kind.LIVE, resource=f"env:{leak}",
                        expected=f"expected {leak}", actual=f"actual {leak}")
                for i, outcome in enumerate(Outcome)]
    hosts = [HostResult("docker-1", ("sandbox",), note=f"note {leak}", details={"url": f"postgres://u:{CANARY_DB}@db",
                                                                                  leak: [leak]}),
             HostResult("docker-2", ("sandbox",), error=f"ssh said {leak}")]
    return Report("check", findings, hosts, f"inventory {leak}", STARTED, FINISHED, (CANARY_JWT, CANARY_DB))


def test_a_canary_secret_never_reaches_any_output(tmp_path):
    report = leaky_report()
    paths = {fmt: tmp_path / f"out.{ext}" for fmt, ext in EXTENSIONS.items() if fmt != "text"}
    stdout, stderr = io.StringIO(), io.StringIO()
    emit(report, parsed("--all", "--json", str(paths["json"]), "--junit", str(paths["junit"]),
                        "--prometheus", str(paths["prometheus"])), stdout=stdout, stderr=stderr)
    written = {fmt: path.read_text() for fmt, path in paths.items()}
    written["text"] = stdout.getvalue() + stderr.getvalue()
    for fmt, text in written.items():
        for canary in CANARIES:
            assert canary not in text, f"{fmt} shows {canary!r}"
        assert "***" in text, fmt
    json.loads(written["json"])
    ET.fromstring(written["junit"])
    parse_prometheus(written["prometheus"])
    assert "message ***" in written["text"] and "ssh said ***" in written["text"]


def test_secret_forms_cover_every_encoder():
    forms = secret_forms([CANARY_JWT])
    for encoded in (CANARY_JWT, json.dumps(CANARY_JWT)[1:-1], repr(CANARY_JWT)[1:-1], quote_env_value(CANARY_JWT),
                    escape_label(CANARY_JWT)):
        assert encoded in forms, encoded
    assert [len(f) for f in forms] == sorted((len(f) for f in forms), reverse=True)  # longest first


def test_validate_attaches_the_run_secrets_and_writes_no_canary(world, tmp_path, capsys):
    """A real ``mooring validate`` whose staging secrets are the conftest canaries: the report
    carries them for redaction, and no output (text, JSON, JUnit, Prometheus) shows them."""
    from mooring.cli import main
    from mooring.commands.validate import validate_report

    world.set_secret("staging", "JWT_SECRET", CANARY_JWT)
    world.set_secret("staging", "POSTGRES_PASSWORD", CANARY_DB)
    assert {CANARY_JWT, CANARY_DB} <= set(validate_report(str(world.inventory), ["staging"]).secrets)
    files = [tmp_path / "v.json", tmp_path / "v.xml", tmp_path / "v.prom"]
    code = main(["validate", str(world.inventory), "--all", "--json", str(files[0]), "--junit", str(files[1]),
                 "--prometheus", str(files[2])])
    out = capsys.readouterr()
    everything = out.out + out.err + "".join(p.read_text() for p in files)
    assert code in (0, 1) and "staging-1.example.invalid" in everything
    for canary in CANARIES:
        assert canary not in everything


def test_secret_values_cover_a_secret_only_one_host_declares(world):
    """Hosts sharing groups are resolved once; a host with its own layer is resolved on its own."""
    from mooring.checks.preflight import inventory_hosts
    from mooring.report import secret_values

    world.write("hosts/prod-2.example.invalid.yml", {"stack": {"env": {"EXTRA_TOKEN": {"secret": "EXTRA_TOKEN"}}}})
    world.set_secret("production", "EXTRA_TOKEN", "Xtra5Token8Only2Prod2Value")
    values = secret_values(inventory_hosts(str(world.inventory)))
    assert "Xtra5Token8Only2Prod2Value" in values
    assert {"Prod0Pg4Pass9Word7Long", "Stag9Jwt3Secret7Value4Y"} <= set(values)


@pytest.mark.parametrize("name", ["mooring.checks.findings", "mooring.report", "mooring.output", "mooring.output.text",
                                  "mooring.output.jsondoc", "mooring.output.junit", "mooring.output.prometheus"])
def test_docstring_examples_of_the_output_layer(name):
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0 and result.attempted >= 1, f"{name}: {result}"


# --- deploy through the layer ---------------------------------------------------------------------

def deploy_cases():
    from mooring.checks.probes import ProbeResult
    from mooring.deploy.plan import ReleaseRef, StackPlan
    from mooring.deployer import DeployReport, HostOutcome, Result

    plan = StackPlan(stack="app", directory="/srv/app", release=ReleaseRef(3, "ab12"), new_release=True,
                     previous=ReleaseRef(2, "cd34"), env_keys_changed=("POSTGRES_DB", "REDIS_URL"),
                     http_base="http://127.0.0.1:18080")
    ready = ProbeResult("ready", "http://127.0.0.1:18080/api/v1/health/ready", ok=True, attempts=2, status=200)
    broken = ProbeResult("ready", "http://127.0.0.1:18080/api/v1/health/ready", ok=False, attempts=5, status=503,
                         body=f"db password {CANARY_DB} rejected", error="status 503, expected 200")
    apply = RunResult(rc=0, hosts=["docker-1", "docker-2"])
    secrets = [CANARY_JWT, CANARY_DB]
    return {
        "preflight-failed": DeployReport(findings=[Finding("ports.unique", Outcome.FAILED, "group:sandbox",
                                                           "stack.services.api.ports.0", "port 80 is taken")]),
        "deployed": DeployReport(hosts=[HostOutcome("docker-1", Result.DEPLOYED, ["a", "b"], plan, [ready]),
                                        HostOutcome("docker-2", Result.UNCHANGED, [], plan, [ready])],
                                 apply=apply, secrets=secrets),
        "rolled-back": DeployReport(hosts=[HostOutcome("docker-1", Result.ROLLED_BACK, ["a"], plan, [broken],
                                                       error="health gate failed: ready", rolled_back_to=2,
                                                       rollback_gate=[ready])], apply=apply, secrets=secrets),
        "interrupted": DeployReport(hosts=[HostOutcome("docker-1", Result.DEPLOYED, ["a"], plan, [ready])],
                                    apply=apply, secrets=secrets, interrupted="interrupted (Ctrl-C)"),
        "no-host": DeployReport(apply=RunResult(rc=1, log=f"ssh failed for {CANARY_JWT}\n"), secrets=secrets),
    }


@pytest.mark.parametrize("case", ["preflight-failed", "deployed", "rolled-back", "interrupted", "no-host"])
def test_a_deploy_report_keeps_the_deploys_exit_code_and_hides_its_secrets(case):
    from mooring.report import deploy_report

    deployed = deploy_cases()[case]
    report = deploy_report(deployed, "inventories/sandbox.py", STARTED)
    assert report.exit_code == (0 if deployed.ok else 1), case
    everything = "".join(render(report, fmt) for fmt in EXTENSIONS)
    for canary in CANARIES:
        assert canary not in everything, case
    schema_validator().validate(json.loads(render(report, "json")))


def test_deploy_text_says_what_happened_per_host():
    from mooring.report import deploy_report

    cases = deploy_cases()
    text = render(deploy_report(cases["deployed"], "sandbox"), "text")
    assert "docker-1: deployed, release 3, 2 changes, http://127.0.0.1:18080/; 3 checks passed" in text
    assert text.splitlines()[-1] == "ok: 2 hosts, 6 checks passed"
    text = render(deploy_report(cases["rolled-back"], "sandbox"), "text", show_passed=True)
    assert "FAILED   deploy.release: release:3: release 3 failed and was rolled back to release 2" in text
    assert "FAILED   deploy.gate: http:ready: ready http" in text and "PASSED   deploy.rollback_gate" in text
    assert render(deploy_report(cases["preflight-failed"], "sandbox"), "text").splitlines()[-2:] == [
        "pre-flight failed: no host was touched", "FAILED: no hosts, 1 failed"]
    document = json.loads(render(deploy_report(cases["interrupted"], "sandbox"), "json"))
    assert document["details"]["interrupted"] == "interrupted (Ctrl-C)"
    assert document["hosts"][0]["details"]["release"] == 3 and document["hosts"][0]["details"]["outcome"] == "deployed"


@pytest.mark.parametrize("fmt", ["text", "json", "junit", "prometheus"])
def test_a_one_letter_secret_is_redacted_without_breaking_the_report(fmt):
    """A secret as short as "x" (a staging password) once renamed the finding field ``fix`` to
    ``fi***`` while redacting, and every writer crashed with a TypeError."""
    finding = Finding("env.required", Outcome.FAILED, "api", message="x is missing", fix="fix it", kind=Kind.STATIC)
    report = Report(command="validate", findings=[finding], secrets=("x",))
    written = render(report, fmt)
    assert "x is missing" not in written and "fix it" not in written
    assert "*** is missing" in written or fmt == "prometheus"
