"""`mooring validate`: the bad-input corpus (tests/bad_inputs/*.yml), the valid reference stack
for every environment, JSON output, the secret canary, and the CLI's exit codes.

Every corpus case runs in-process through the pre-flight (fast); the cases marked ``cli: true``
also run through the real command in a subprocess (exit 1, path in the output, no traceback).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from checks.findings import Outcome
from mooring.commands.validate import format_text
from mooring.preflight import preflight_report
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


def test_corpus_is_big_enough():
    assert len(CASES) >= 40
    assert sum(1 for c in CASES if c.get("cli")) >= 8


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_bad_input_fails_with_path_and_message(world, case):
    apply_case(world, case)
    report = preflight_report(str(world.inventory), case.get("limit"))
    failures = [f for f in report.findings if f.outcome is Outcome.FAILED]
    text = format_text(report.findings, hosts=len(report.hosts))
    assert failures, f"{case['id']}: expected a failure, got:\n{text}"
    expected = case["expect"]
    matching = [line for line in text.splitlines()
                if line.startswith("FAILED") and expected["path"] in line and expected["text"] in line]
    assert matching, f"{case['id']}: no FAILED line with {expected['path']!r} and {expected['text']!r} in:\n{text}"
    assert "Traceback" not in text
    assert "internal error" not in text, text


CLI_CASES = [c for c in CASES if c.get("cli")]


@pytest.mark.parametrize("case", CLI_CASES, ids=[c["id"] for c in CLI_CASES])
def test_bad_input_through_the_cli(world, case):
    apply_case(world, case)
    limit = [arg for item in case.get("limit") or [] for arg in ("--limit", item)]
    proc = run_validate(world, *limit)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 1, output
    assert case["expect"]["path"] in output and case["expect"]["text"] in output, output
    assert "Traceback" not in output


def test_reference_stack_is_valid_in_every_environment(world):
    report = preflight_report(str(world.inventory))
    text = format_text(report.findings, show_passed=True, hosts=len(report.hosts))
    assert report.valid, text
    assert {h.name for h in report.hosts} == {h for hosts in HOSTS.values() for h in hosts}
    assert not [f for f in report.findings if f.outcome is Outcome.SKIPPED], text


@pytest.mark.parametrize("environment", sorted(HOSTS))
def test_reference_stack_is_valid_per_environment_through_the_cli(world, environment):
    proc = run_validate(world, "--limit", environment)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.strip().splitlines()[-1].startswith(f"valid: {len(HOSTS[environment])} host(s) checked")


def test_json_report(world, tmp_path):
    out = tmp_path / "report.json"
    proc = run_validate(world, "--json", str(out))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    document = json.loads(out.read_text())
    assert document["valid"] is True
    assert {"check", "outcome", "subject", "path", "message", "fix", "file"} <= set(document["findings"][0])


def test_json_to_stdout_keeps_stdout_pure_json(world):
    world.set_secret("production", "JWT_SECRET", "changeme")
    proc = run_validate(world, "--json", "-", "--limit", "production")
    assert proc.returncode == 1
    document = json.loads(proc.stdout)
    assert document["valid"] is False
    failed = [f for f in document["findings"] if f["outcome"] == "failed"]
    assert failed and failed[0]["subject"] == "group:production"
    assert failed[0]["path"] == "stack.env.JWT_SECRET"
    assert "INVALID" in proc.stderr


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


def test_secret_from_process_environment_wins(world):
    proc = run_validate(world, "--limit", "production",
                        extra_env={"MOORING_SECRET_JWT_SECRET": "dev-secret-change-in-production"})
    assert proc.returncode == 1
    assert "stack.env.JWT_SECRET" in proc.stdout and "development default" in proc.stdout
    assert "dev-secret-change-in-production" not in proc.stdout + proc.stderr


def test_sandbox_generates_and_keeps_its_secrets(world):
    first = preflight_report(str(world.inventory), ["sandbox"])
    assert first.valid, format_text(first.findings)
    path = world.state / "secrets" / "sandbox.env"
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    content = path.read_text()
    assert "POSTGRES_PASSWORD=" in content and "JWT_SECRET=" in content
    preflight_report(str(world.inventory), ["sandbox"])
    assert path.read_text() == content


def test_missing_inventory_is_a_finding_not_a_traceback(world, tmp_path):
    proc = run_validate(world)  # sanity: the world is valid
    assert proc.returncode == 0
    from tests.declared_world import PYTHON

    command = ["-m", "mooring.commands.validate", str(tmp_path / "nope.py")]
    proc = subprocess.run([PYTHON, *command], capture_output=True, text=True, env=world.env(), cwd=ROOT)
    assert proc.returncode == 1
    assert "does not exist" in proc.stdout and "Traceback" not in proc.stdout + proc.stderr


def test_broken_inventory_is_a_finding(world):
    world.inventory.write_text("production = [\n")
    proc = run_validate(world)
    assert proc.returncode == 1
    assert "inventory" in proc.stdout and "Traceback" not in proc.stdout + proc.stderr


def test_unknown_limit_is_invalid(world):
    report = preflight_report(str(world.inventory), ["nosuchgroup"])
    assert not report.valid
    assert "no hosts matching nosuchgroup" in format_text(report.findings)


# --- plain pyinfra runs the same pre-flight (deploy files call assert_host_ready) -----------

DEPLOY_CHECK = '''from pyinfra import host
from pyinfra.operations import server

from mooring.preflight import assert_host_ready

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
