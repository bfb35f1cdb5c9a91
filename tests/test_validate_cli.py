"""`mooring validate`: the bad-input corpus (tests/bad_inputs/*.yml), the valid reference stack
for every environment, JSON output, the secret canary, and the CLI's exit codes.

Every corpus case runs in-process through the pre-flight (fast); the cases marked ``cli: true``
also run through the command line (``mooring.cli.main``, in this process): exit 1 and one
finding, read from ``--json``, with both the expected path and the expected text. A few tests
start real processes on purpose: the secret canary (everything a process prints, logging
included), the stand-alone ``python -m mooring.commands.validate`` and ``python -m mooring``
entries, and plain pyinfra.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import pytest
import yaml

from mooring.checks.findings import Outcome
from mooring.cli import main
from mooring.commands.validate import format_text
from mooring.checks.preflight import preflight_report
from tests.declared_world import HOSTS, ROOT, delete_path, make_world, run_validate, set_path

CORPUS = Path(__file__).parent / "bad_inputs"


def load_corpus() -> list[dict[str, Any]]:
    """Every case of every corpus file, ids checked unique."""
    cases: list[dict[str, Any]] = []
    for path in sorted(CORPUS.glob("*.yml")):
        for case in yaml.safe_load(path.read_text()):
            case["source"] = path.name
            cases.append(case)
    ids = [c["id"] for c in cases]
    duplicates = {i for i in ids if ids.count(i) > 1}
    assert not duplicates, f"duplicate corpus ids: {duplicates}"
    return cases


CASES = load_corpus()


def apply_case(world, case: dict[str, Any]) -> None:
    """Change the world as the case says."""
    layer = case.get("layer", "all.yml")
    if "text" in case:
        world.layer(layer).parent.mkdir(parents=True, exist_ok=True)
        world.layer(layer).write_text(case["text"])
    if "set" in case or "delete" in case:
        data = world.read(layer)
        for dotted, value in (case.get("set") or {}).items():
            set_path(data, dotted, value)
        for dotted in case.get("delete") or []:
            delete_path(data, dotted)
        world.write(layer, data)
    for environment, values in (case.get("secrets") or {}).items():
        for name, value in values.items():
            world.set_secret(environment, name, value)


@pytest.fixture
def world(tmp_path, monkeypatch):
    world = make_world(tmp_path)
    world.activate(monkeypatch)
    return world


@dataclass
class Ran:
    """What one in-process ``mooring validate`` returned and printed."""

    returncode: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def document(self) -> dict[str, Any]:
        """The ``--json -`` document (stdout holds nothing else)."""
        return json.loads(self.stdout)


@pytest.fixture
def validate(world, capsys, monkeypatch) -> Callable[..., Ran]:
    """``mooring validate <world inventory> ARGS`` through ``mooring.cli.main``, in this process;
    ``env`` sets extra environment variables for the call (restored after the test)."""

    def run(*args: str, env: dict[str, str] | None = None) -> Ran:
        for name, value in (env or {}).items():
            monkeypatch.setenv(name, value)
        capsys.readouterr()
        code = main(["validate", str(world.inventory), *args])
        out = capsys.readouterr()
        return Ran(code, out.out, out.err)
    return run


def failed_findings(document: dict[str, Any]) -> list[dict[str, Any]]:
    return [f for f in document["findings"] if f["outcome"] == "failed"]


def says(finding: dict[str, Any], expect: dict[str, str]) -> bool:
    """One finding points at the expected path (its ``file: path``) and says the expected text
    (in its message or its fix)."""
    where = ": ".join(part for part in (finding["file"], finding["path"]) if part)
    return expect["path"] in where and (expect["text"] in finding["message"] or expect["text"] in finding["fix"])


def test_corpus_is_big_enough():
    assert len(CASES) >= 40
    assert sum(1 for c in CASES if c.get("cli")) >= 8


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_bad_input_fails_with_path_and_message(world, case):
    apply_case(world, case)
    report = preflight_report(str(world.inventory), case.get("limit"))
    failures = [f for f in report.findings if f.outcome is Outcome.FAILED]
    text = format_text(report.findings, hosts=report.hosts)
    assert failures, f"{case['id']}: expected a failure, got:\n{text}"
    expected = case["expect"]
    matching = [line for line in text.splitlines()
                if line.lstrip().startswith("FAILED") and expected["path"] in line and expected["text"] in line]
    assert matching, f"{case['id']}: no FAILED line with {expected['path']!r} and {expected['text']!r} in:\n{text}"
    assert "Traceback" not in text
    assert "internal error" not in text, text


CLI_CASES = [c for c in CASES if c.get("cli")]


@pytest.mark.parametrize("case", CLI_CASES, ids=[c["id"] for c in CLI_CASES])
def test_bad_input_through_the_cli(world, validate, case):
    apply_case(world, case)
    limit = [arg for item in case.get("limit") or [] for arg in ("--limit", item)]
    ran = validate(*limit, "--json", "-")
    assert ran.returncode == 1, ran.output
    expected = case["expect"]
    matching = [f for f in failed_findings(ran.document()) if says(f, expected)]
    assert matching, f"{case['id']}: no failed finding at {expected['path']!r} saying {expected['text']!r}:\n{ran.stdout}"
    assert "Traceback" not in ran.output


def test_a_bad_input_through_the_real_process(world):
    """One corpus case through ``python -m mooring validate`` in a child process: exit code,
    the finding on stdout, nothing on a traceback."""
    case = next(c for c in CLI_CASES if c["id"] == "database-url-wrong-db")
    apply_case(world, case)
    proc = run_validate(world, "--json", "-")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert [f for f in failed_findings(json.loads(proc.stdout)) if says(f, case["expect"])], proc.stdout
    assert "INVALID" in proc.stderr and "Traceback" not in proc.stderr


def test_reference_stack_is_valid_in_every_environment(world):
    report = preflight_report(str(world.inventory))
    text = format_text(report.findings, show_passed=True, hosts=report.hosts)
    assert report.valid, text
    assert {h.name for h in report.hosts} == {h for hosts in HOSTS.values() for h in hosts}
    assert not [f for f in report.findings if f.outcome is Outcome.SKIPPED], text


@pytest.mark.parametrize("environment", sorted(HOSTS))
def test_reference_stack_is_valid_per_environment_through_the_cli(validate, environment):
    ran = validate("--limit", environment)
    assert ran.returncode == 0, ran.output
    last = ran.stdout.strip().splitlines()[-1]
    count = len(HOSTS[environment])
    assert last.startswith(f"valid: {count} {'host' if count == 1 else 'hosts'} checked, "), ran.stdout
    assert last.endswith(" checks passed") or " checks passed, " in last, ran.stdout


def test_json_report(validate, tmp_path):
    out = tmp_path / "report.json"
    ran = validate("--json", str(out))
    assert ran.returncode == 0, ran.output
    document = json.loads(out.read_text())
    assert (document["ok"], document["exit_code"], document["command"]) == (True, 0, "validate")
    assert {"check", "outcome", "subject", "path", "message", "fix", "file"} <= set(document["findings"][0])
    assert {h["name"] for h in document["hosts"]} == {h for hosts in HOSTS.values() for h in hosts}
    assert ran.stdout.strip().splitlines()[-1].startswith("valid: ")


def test_json_to_stdout_keeps_stdout_pure_json(world, validate):
    world.set_secret("production", "JWT_SECRET", "changeme")
    ran = validate("--json", "-", "--limit", "production")
    assert ran.returncode == 1
    document = ran.document()
    assert (document["ok"], document["exit_code"]) == (False, 1)
    failed = failed_findings(document)
    assert failed and failed[0]["subject"] == "group:production"
    assert failed[0]["path"] == "stack.env.JWT_SECRET"
    assert "INVALID" in ran.stderr


def test_identical_findings_are_reported_once_per_group(world):
    world.set_secret("production", "JWT_SECRET", "changeme")
    report = preflight_report(str(world.inventory), ["production"])
    weak = [f for f in report.findings if f.check == "production.secrets" and f.outcome is Outcome.FAILED]
    assert [f.subject for f in weak] == ["group:production"]


def test_a_host_override_is_reported_for_that_host_only(world):
    world.write("hosts/prod-2.example.invalid.yml", {"stack": {"services": {"api": {"ports": ["80:8000"]}}}})
    report = preflight_report(str(world.inventory), ["production"])
    clash = [f for f in report.findings if f.check == "ports.unique" and f.outcome is Outcome.FAILED]
    assert [f.subject for f in clash] == ["prod-2.example.invalid"]


def test_secret_canary_never_appears(world, tmp_path):
    """A secret's value appears in no output, human or JSON, even when checks fail around it."""
    canary = "Canary7Secret3Value9Unique1"
    world.set_secret("staging", "POSTGRES_PASSWORD", canary)
    data = world.read("staging.yml")
    set_path(data, "stack.env.DATABASE_URL", "postgresql://${POSTGRES_USER}:${POSTGRES_PASSWORD}@localhost:5432/wrongdb")
    set_path(data, "stack.services.db.healthcheck.test", [
        "CMD-SHELL", "pg_isready -U ${POSTGRES_USER} -d ${POSTGRES_PASSWORD}"])
    set_path(data, "stack.env.REDIS_URL", "redis://:${POSTGRES_PASSWORD}@cache:6379/0")
    set_path(data, "stack.backups.databases", ["${POSTGRES_PASSWORD}"])
    world.write("staging.yml", data)
    out = tmp_path / "canary.json"
    proc = run_validate(world, "--json", str(out), "--all")
    everything = proc.stdout + proc.stderr + out.read_text()
    assert proc.returncode == 1, everything
    assert "DATABASE_URL" in everything and "REDIS_URL" in everything
    assert canary not in everything
    assert canary[:12] not in everything


def test_secret_from_process_environment_wins(validate):
    ran = validate("--limit", "production", "--json", "-",
                   env={"MOORING_SECRET_JWT_SECRET": "dev-secret-change-in-production"})
    assert ran.returncode == 1
    weak = [f for f in failed_findings(ran.document()) if f["path"] == "stack.env.JWT_SECRET"]
    assert weak and "development default" in weak[0]["message"], ran.stdout
    assert "dev-secret-change-in-production" not in ran.output


def test_sandbox_generates_and_keeps_its_secrets(world):
    first = preflight_report(str(world.inventory), ["sandbox"])
    assert first.valid, format_text(first.findings)
    path = world.state / "secrets" / "sandbox.env"
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    content = path.read_text()
    assert "POSTGRES_PASSWORD=" in content and "JWT_SECRET=" in content
    preflight_report(str(world.inventory), ["sandbox"])
    assert path.read_text() == content


def test_missing_inventory_is_a_finding_not_a_traceback(world, validate, tmp_path):
    assert validate().returncode == 0  # sanity: the world is valid
    from tests.declared_world import PYTHON

    missing = tmp_path / "nope.py"
    command = ["-m", "mooring.commands.validate", str(missing), "--json", "-"]  # the stand-alone entry
    proc = subprocess.run([PYTHON, *command], capture_output=True, text=True, env=world.env(), cwd=ROOT,
                          timeout=120, stdin=subprocess.DEVNULL)
    assert proc.returncode == 1, proc.stderr
    [finding] = json.loads(proc.stdout)["findings"]
    assert (finding["check"], finding["outcome"], finding["subject"]) == ("inventory", "failed", str(missing))
    assert "does not exist" in finding["message"] and "Traceback" not in proc.stderr


def test_broken_inventory_is_a_finding(world, validate):
    world.inventory.write_text("production = [\n")
    ran = validate("--json", "-")
    assert ran.returncode == 1
    [finding] = ran.document()["findings"]
    assert (finding["check"], finding["outcome"], finding["subject"]) == ("inventory", "failed", str(world.inventory))
    assert finding["message"] == f"inventory {world.inventory}: line 1: '[' was never closed"
    assert "Traceback" not in ran.output


def test_unknown_limit_is_invalid(world):
    report = preflight_report(str(world.inventory), ["nosuchgroup"])
    assert not report.valid
    assert "no hosts matching nosuchgroup" in format_text(report.findings)


# --- plain pyinfra runs the same pre-flight (deploy files call assert_host_ready) -----------

DEPLOY_CHECK = '''from pyinfra import host
from pyinfra.operations import server

from mooring.checks.preflight import assert_host_ready

model = assert_host_ready(host)
server.shell(name="after the pre-flight", commands=["true"])
'''


def run_pyinfra(world, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """``pyinfra INVENTORY deploy_check.py --dry`` on @local (nothing changes, nothing remote).

    pyinfra loads the shims of ``<cwd>/group_data`` (default: the world's copy)."""
    world.inventory.write_text('production = ["@local"]\n')
    deploy = world.root / "deploy_check.py"
    deploy.write_text(DEPLOY_CHECK)
    env = world.env()
    # The shims import mooring and checks; from a foreign cwd the source tree must be on the path.
    env["PYTHONPATH"] = str(ROOT)
    return subprocess.run([str(Path(sys.executable).parent / "pyinfra"), str(world.inventory), str(deploy), "--dry", "-y"],
                          capture_output=True, text=True, env=env, cwd=cwd or world.root, timeout=120,
                          stdin=subprocess.DEVNULL)


def test_plain_pyinfra_stops_before_the_first_operation(world):
    world.set_secret("production", "JWT_SECRET", "dev-secret-change-in-production")
    proc = run_pyinfra(world)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 1, output
    assert "stack.env.JWT_SECRET" in output and "well-known development default" in output
    assert "Traceback" not in output and "dev-secret-change-in-production" not in output
    assert "Ready: " not in output


def test_plain_pyinfra_proceeds_when_the_preflight_passes(world):
    proc = run_pyinfra(world)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output
    assert "Ready: " in output and "deploy_check.py" in output



def test_plain_pyinfra_follows_mooring_group_data(world):
    """Run from the source tree (its group_data shims load the real YAML), pyinfra still checks
    the folder MOORING_GROUP_DATA names, like `mooring validate` and `mooring deploy` do."""
    data = world.read("production.yml")
    set_path(data, "stack.backups.retention_days", 0)
    world.write("production.yml", data)
    proc = run_pyinfra(world, cwd=ROOT)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 1, output
    assert f"{world.group_data}/production.yml" in output and "stack.backups.retention_days" in output


@pytest.mark.parametrize("tool, check, other, bound", [
    ("shellcheck", "render.shellcheck", "render.shell_syntax", "1"),
    ("sh", "render.shell_syntax", "render.shellcheck", "5"),  # the real shellcheck, bounded too, needs >1 s on a busy machine
])
def test_a_hung_checker_is_one_finding_and_every_other_stands(world, tmp_path, tool, check, other, bound):
    """A checker that does not finish (a shellcheck, or the ``sh`` of ``sh -n``, that sleeps) is
    bounded: each script it hung on is an ERROR naming it, the other findings are all reported
    (it crashed the whole validation with a bare TimeoutExpired before)."""
    slow = tmp_path / "slowbin"
    slow.mkdir()
    (slow / tool).write_text("#!/bin/sh\nexec sleep 60\n")
    (slow / tool).chmod(0o755)
    env = world.env()
    proc = run_validate(world, "--json", "-", extra_env={"PATH": f"{slow}:{env['PATH']}", "MOORING_CHECKER_TIMEOUT": bound})
    assert proc.returncode == 1, proc.stdout + proc.stderr
    findings = json.loads(proc.stdout)["findings"]
    hung = [f for f in findings if f["outcome"] == "error"]
    assert {f["check"] for f in hung} == {check}, hung
    assert all(f"{tool} did not finish within {bound} s" in f["message"] for f in hung) and len(hung) == 3
    assert "MOORING_CHECKER_TIMEOUT" in hung[0]["fix"]
    passed = {f["check"] for f in findings if f["outcome"] == "passed"}
    assert {other, "render.compose_config", "env.complete"} <= passed, passed


def test_no_secrets_validates_production_without_reading_any_secret(world, validate):
    """CI without production secrets: nothing is read (a secrets file nobody may read stays
    unread, a canary in the environment never shows), each secret is listed as skipped, and the
    rest is checked as usual."""
    secrets_file = world.state / "secrets" / "production.env"
    secrets_file.write_text("POSTGRES_PASSWORD=Canary7NoSecrets3Unique1\n")
    secrets_file.chmod(0o644)  # others may read it: reading it would be refused (an error finding)
    canary = "Canary9FromEnvironment4Unique2"
    ran = validate("--limit", "production", "--no-secrets", "--json", "-", env={"MOORING_SECRET_JWT_SECRET": canary})
    assert ran.returncode == 0, ran.output
    skipped = sorted(f["message"].split()[1] for f in ran.document()["findings"]
                     if f["check"] == "secrets.provided" and f["outcome"] == "skipped")
    assert skipped == ["JWT_SECRET", "POSTGRES_PASSWORD"]
    assert canary not in ran.output and "Canary7NoSecrets3Unique1" not in ran.output

    # Without --no-secrets the same run reads the file and fails on it: the flag is what skipped it.
    assert validate("--limit", "production").returncode == 1


def test_no_secrets_still_reports_what_does_not_need_a_secret(world, validate):
    data = world.read("production.yml")
    set_path(data, "stack.env.DATABASE_URL", "postgresql://${POSTGRES_USER}:${POSTGRES_PASSWORD}@db:5432/wrongdb")
    world.write("production.yml", data)
    ran = validate("--limit", "production", "--no-secrets", "--json", "-")
    assert ran.returncode == 1
    assert [f for f in failed_findings(ran.document()) if f["path"] == "stack.env.DATABASE_URL"], ran.stdout
