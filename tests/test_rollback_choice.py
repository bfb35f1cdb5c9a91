"""Which hosts a deploy rolls back, host-free: only those whose NEW release failed.

A host can fail a deploy without this run having saved a release on it: its apply failed on
an unchanged release, its health gate failed on the release it already ran, or it failed
before it wrote a plan (and so before it was locked). Rolling such a host back would put back
an older release over the one it was running. The box tests all deploy with ``--limit`` on one
host, so they cannot tell "roll back every failed host" from "roll back the failed new
releases"; this test deploys several hosts at once, on paper.

It drives the real ``_judge`` (the per-host outcome, with a real HTTP gate against a loopback
server), ``_verdict`` and ``_settle`` (verdicts, the rollback run's ``--limit``, records);
only pyinfra is replaced, by a fake ``run_deploy`` that behaves as deploy/rollback.py and
deploy/record.py do for the run directory: it reads each host's verdict and writes back what
it did.
"""

from __future__ import annotations

from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from mooring.deploy.plan import Op, ReleaseRef, RollbackResult, StackPlan, Verdict, read_host_plans, write_plan_in
from mooring import deployer
from mooring.deployer import DeployReport, Result, _judge, _settle, _verdict
from mooring.runner import OpResult, RunResult
from tests.local_http import serving

STAGED_HASH = "hash-staged"
COMPOSE_HASH = "hash-compose"


class _Health(BaseHTTPRequestHandler):
    """``/ok`` answers 200, anything else 503."""

    def do_GET(self):  # noqa: N802 (http.server's name)
        self.send_response(200 if self.path == "/ok" else 503)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):  # quiet
        pass


@pytest.fixture(scope="module")
def http_base():
    """A loopback HTTP server standing in for the hosts' stacks (healthy on /ok only)."""
    with serving(_Health) as base:
        yield base


def plan(new_release: bool, health_path: str, http_base: str) -> StackPlan:
    """A host's stack plan: release 5 (new, replacing 4) or release 4 again (nothing new)."""
    release = ReleaseRef(5, "new5") if new_release else ReleaseRef(4, "old4")
    return StackPlan(stack="solacore", directory="/srv/mooring/solacore", release=release, new_release=new_release,
                     previous=ReleaseRef(4, "old4") if new_release else None,
                     ops={STAGED_HASH: Op.full(Op.RELEASE_STAGED), COMPOSE_HASH: Op.full(Op.COMPOSE_UP)},
                     http_base=http_base,
                     health=({"name": "api", "path": health_path, "retries": 1, "interval": 0, "timeout": 2},))


#: host -> (a new release?, its health path, its apply failed?, it wrote a plan?)
HOSTS = {
    "new-good": (True, "/ok", False, True),            # deployed: promoted, not rolled back
    "new-apply-failed": (True, "/ok", True, True),     # new release, apply failed: rolled back
    "new-gate-failed": (True, "/broken", False, True),  # new release, gate failed: rolled back
    "same-good": (False, "/ok", False, True),           # unchanged: nothing to do
    "same-apply-failed": (False, "/ok", True, True),    # failed on the release it ran: NOT rolled back
    "same-gate-failed": (False, "/broken", False, True),  # gate failed on the release it ran: NOT rolled back
    "no-plan": (True, "/ok", True, False),              # failed before its plan (never locked): NOT rolled back
}
ROLLED_BACK = ["new-apply-failed", "new-gate-failed"]


def apply_result() -> RunResult:
    """The converge run as pyinfra reports it: new releases staged and composed up, some hosts failed."""
    new = [h for h, (is_new, _path, _failed, _plan) in HOSTS.items() if is_new]
    same = [h for h in HOSTS if h not in new]
    failed = [h for h, (_new, _path, did_fail, _plan) in HOSTS.items() if did_fail]
    operations = [OpResult(Op.full(Op.RELEASE_STAGED), changed=new, unchanged=same, failed=[], op_hash=STAGED_HASH),
                  OpResult(Op.full(Op.COMPOSE_UP), changed=[h for h in new if h not in failed],
                           unchanged=[h for h in same if h not in failed], failed=failed, op_hash=COMPOSE_HASH)]
    return RunResult(rc=1, operations=operations, failed_hosts=failed, hosts=list(HOSTS),
                     log="".join(f"[{h}] mooring: compose up failed\n" for h in failed))


class FakePyinfra:
    """Stands in for ``run_deploy``: records each run's deploy file and ``--limit``, and writes
    what deploy/rollback.py writes (a RollbackResult from the host's verdict)."""

    def __init__(self, run_dir: Path):
        self.run_dir = run_dir
        self.calls: list[tuple[str, list[str]]] = []

    def __call__(self, inventory, deploy_file, *, limit=None, extra=None, env=None, timeout=3600,
                 on_log_line=None) -> RunResult:
        kind = Path(deploy_file).stem
        hosts = sorted(limit or [])
        self.calls.append((kind, hosts))
        if kind == "rollback":
            verdicts = read_host_plans(self.run_dir, "verdict", Verdict)
            for host in hosts:
                verdict = verdicts.get(host, Verdict())
                write_plan_in(self.run_dir, host, "rollback",
                              RollbackResult(target=verdict.roll_back_to, failed_release=verdict.failed,
                                             failed_release_kept=verdict.failed is not None))
        return RunResult(rc=0, hosts=hosts)


def judged(http_base: str, interrupted: str = "") -> DeployReport:
    """The report after the converge run and the HTTP gate, as ``deploy()`` builds it."""
    apply = apply_result()
    plans = {h: plan(is_new, path, http_base) for h, (is_new, path, _failed, has_plan) in HOSTS.items() if has_plan}
    report = DeployReport(apply=apply, interrupted=interrupted)
    report.hosts = [_judge(h, apply, plans.get(h), [], interrupted) for h in sorted(HOSTS)]
    return report


@pytest.fixture
def settled(world, tmp_path, monkeypatch):
    """Run ``_settle`` on a report; returns (report, the fake pyinfra's calls, the run dir)."""
    def settle(report: DeployReport):
        report.run_dir = tmp_path / "run"
        fake = FakePyinfra(report.run_dir)
        monkeypatch.setattr(deployer, "run_deploy", fake)
        _settle(str(world.inventory), report, {}, None)
        return report, fake.calls, report.run_dir
    return settle


def test_the_judged_outcomes_are_the_scenario(http_base):
    """The scenario holds before any rollback: which hosts failed, and which of them ran a new release."""
    outcomes = {h.host: h for h in judged(http_base).hosts}
    assert {h: o.outcome for h, o in outcomes.items()} == {
        "new-good": Result.DEPLOYED, "new-apply-failed": Result.FAILED, "new-gate-failed": Result.FAILED,
        "same-good": Result.UNCHANGED, "same-apply-failed": Result.FAILED, "same-gate-failed": Result.FAILED,
        "no-plan": Result.FAILED}
    assert outcomes["same-gate-failed"].error.startswith("health gate failed: api")
    assert outcomes["no-plan"].plan is None


def test_only_failed_new_releases_are_rolled_back(http_base, settled):
    report, calls, run_dir = settled(judged(http_base))
    rollbacks = [hosts for kind, hosts in calls if kind == "rollback"]
    assert rollbacks == [ROLLED_BACK], f"the rollback run's --limit: {rollbacks}"
    outcomes = {h.host: h for h in report.hosts}
    for host in ROLLED_BACK:
        assert outcomes[host].outcome is Result.ROLLED_BACK and outcomes[host].rolled_back_to == 4, host
    for host in ("same-apply-failed", "same-gate-failed", "no-plan"):
        assert outcomes[host].outcome is Result.FAILED and outcomes[host].rolled_back_to is None, host
    assert outcomes["new-good"].outcome is Result.DEPLOYED and outcomes["same-good"].outcome is Result.UNCHANGED
    # Every locked host (one with a plan) is unlocked and recorded, rolled back or not.
    assert [hosts for kind, hosts in calls if kind == "record"] == [sorted(h for h in HOSTS if h != "no-plan")]


def test_the_verdicts_left_for_the_hosts(http_base, settled):
    """What deploy/rollback.py and deploy/record.py will read: only failed new releases name a
    release to restore; a failed host on its old release is only unlocked."""
    _report, _calls, run_dir = settled(judged(http_base))
    verdicts = read_host_plans(run_dir, "verdict", Verdict)
    assert set(verdicts) == set(HOSTS) - {"no-plan"}
    assert verdicts["new-good"] == Verdict(promote=5)
    for host in ROLLED_BACK:
        assert verdicts[host].roll_back_to == 4 and verdicts[host].failed == 5 and verdicts[host].promote is None
    for host in ("same-good", "same-apply-failed", "same-gate-failed"):
        assert verdicts[host] == Verdict(), host
    assert set(read_host_plans(run_dir, "rollback", RollbackResult)) == set(ROLLED_BACK)


def test_an_interrupted_run_rolls_back_only_the_new_releases(http_base, settled):
    """Ctrl-C before the gate: every host fails, but only those with a new release are rolled back."""
    report, calls, _run_dir = settled(judged(http_base, interrupted="interrupted (Ctrl-C)"))
    assert all(h.outcome is not Result.DEPLOYED for h in report.hosts)
    assert [hosts for kind, hosts in calls if kind == "rollback"] == [["new-apply-failed", "new-gate-failed", "new-good"]]
    outcomes = {h.host: h for h in report.hosts}
    assert outcomes["same-good"].outcome is Result.FAILED and outcomes["same-good"].rolled_back_to is None


def test_verdict_of_a_failed_host_without_a_new_release_restores_nothing(http_base):
    outcome = _judge("same-gate-failed", apply_result(), plan(False, "/broken", http_base), [])
    assert outcome.outcome is Result.FAILED
    assert _verdict(outcome, apply_result()) == Verdict()
    failed_new = _judge("new-gate-failed", apply_result(), plan(True, "/broken", http_base), [])
    assert _verdict(failed_new, apply_result()) == Verdict(roll_back_to=4, failed=5, containers_touched=True)


@pytest.mark.parametrize("previous, expected", [(None, "  2 env keys set"),
                                                (ReleaseRef(4, "old4"), "  env keys changed: APP_VERSION, JWT_SECRET")])
def test_a_first_release_sets_its_env_keys_and_a_later_one_changes_them(previous, expected):
    plan = StackPlan(stack="solacore", directory="/srv/mooring/solacore", release=ReleaseRef(5, "new5"),
                     new_release=True, previous=previous, env_keys_changed=("APP_VERSION", "JWT_SECRET"))
    outcome = deployer.HostOutcome("docker-1", deployer.Result.DEPLOYED, changes=["Stack | Compose up"], plan=plan)
    lines = deployer.format_report(deployer.DeployReport(hosts=[outcome])).splitlines()
    assert lines[0] == "docker-1: deployed (release 5, 1 change)"
    assert lines[1] == expected


@pytest.mark.parametrize("state, said", [
    ("restarting", "services not running and healthy: redis is restarting"),
    ("running", ""),
])
def test_a_rollback_that_passed_its_http_probes_is_gated_by_the_restored_services(http_base, world, tmp_path,
                                                                                 monkeypatch, state, said):
    """Only a host whose rollback answered HTTP gets the services look; a crash there is a
    FAILED ``deploy.rollback_gate`` finding, in the record and in the text, never a silent pass."""
    from mooring.checks.snapshot import HostSnapshot, ServiceState
    from mooring.report import _deploy_host

    looked: list[list[str]] = []

    def snapshots(inventory, hosts):
        looked.append(hosts)
        redis = ServiceState("redis", "solacore-redis-1", "r1", state, "none", "sha256:r", "mooring/redis:7")
        return {host: HostSnapshot(host, 1, 0, services=(redis,)) for host in hosts}

    monkeypatch.setattr(deployer, "_snapshots", snapshots)
    monkeypatch.setattr(deployer, "SERVICES_POLL_S", 0.01)
    report = judged(http_base)
    report.run_dir = tmp_path / "run"
    monkeypatch.setattr(deployer, "run_deploy", FakePyinfra(report.run_dir))
    _settle(str(world.inventory), report, {}, None, {host: ["sandbox"] for host in HOSTS})
    assert looked[0] == ["new-apply-failed"]  # new-gate-failed's rollback already failed its HTTP probe
    assert len(looked) == (1 if said else 2)  # a crash at once; a pass confirmed by a second look
    outcomes = {h.host: h for h in report.hosts}
    held = outcomes["new-apply-failed"]
    assert held.rollback_services == said
    assert outcomes["new-gate-failed"].rollback_services is None and outcomes["new-good"].rollback_services is None
    findings, result = _deploy_host(held)
    [services] = [f for f in findings if f.resource == "services"]
    assert (services.check, services.outcome.name, services.message) == (
        "deploy.rollback_gate", "FAILED" if said else "PASSED", said or "every service running and healthy")
    assert ("mooring rollback --to N" in services.fix) == bool(said)
    assert result.details["rollback_services"] == said
    assert f"  after rollback: {said or 'every service running and healthy'}" in \
        deployer.format_report(report).splitlines()
