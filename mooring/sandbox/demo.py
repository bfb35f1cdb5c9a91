"""``make demo``: sandbox boxes → bootstrap → deploy → backup and restore drill → checks → drift →
status → report, on this machine only.

Run as ``python -m mooring.sandbox.demo``. Every port is on 127.0.0.1.
"""

from __future__ import annotations

import sys
import time


def step(title: str) -> float:
    print(f"\n== {title}", flush=True)
    return time.monotonic()


def done(started: float) -> None:
    print(f"   ({time.monotonic() - started:.1f} s)", flush=True)


def main() -> int:
    """Run the whole demo; returns the exit code (0 when every step passed)."""
    from mooring.checks.status import status_reading
    from mooring.commands.backup import run_report as backup_run, verify_report as backup_verify
    from mooring.commands.validate import validate_report
    from mooring.deployer import deploy
    from mooring.inspection import inspect_hosts
    from mooring.output import render
    from mooring.report import deploy_report, run_report
    from mooring.runner import deploy_path, inventory_path, run_deploy, run_fact
    from mooring.sandbox import boxes as sandbox

    started = step("sandbox: 2 docker boxes on 127.0.0.1")
    sandbox.up(docker_boxes=2)
    print(sandbox.format_status(sandbox.status()))
    done(started)
    inventory = inventory_path("sandbox")

    started = step("bootstrap: bare Debian → docker host (deploy/bootstrap.py)")
    result = run_deploy(inventory, deploy_path("bootstrap"))
    booted = run_report(result, "bootstrap", str(inventory))
    print(render(booted, "text"), end="")
    if not booted.ok:
        return 1
    for host, versions in sorted(run_fact(inventory, "mooring.deploy.facts.docker.EngineVersions").items()):
        print(f"  {host}: docker engine {versions['engine']}, compose {versions['compose']}")
    done(started)

    started = step("validate: the declared state, before any host is touched")
    checked = validate_report(str(inventory))
    print(render(checked, "text"), end="")
    if not checked.ok:
        return 1
    done(started)

    started = step("deploy: the reference stack (deploy/stack.py), health gate, release record")
    report = deploy(str(inventory))
    print(render(deploy_report(report, str(inventory)), "text"), end="")
    if not report.ok:
        return 1
    done(started)

    started = step("backups: the nightly job now, then the restore drill in a throwaway server")
    dumped = backup_run(str(inventory), None)
    print(render(dumped, "text"), end="")
    drilled = backup_verify(str(inventory), None)
    print(render(drilled, "text"), end="")
    if not (dumped.ok and drilled.ok):
        return 1
    done(started)

    started = step("check: each host as it runs (env keys, services, engine, mounts, backups, HTTP)")
    live = inspect_hosts(str(inventory), None, "check").report
    print(render(live, "text"), end="")
    done(started)

    started = step("drift: each host against the declared state (reads only)")
    drift = inspect_hosts(str(inventory), None, "drift").report
    print(render(drift, "text"), end="")
    done(started)

    started = step("status: what runs on each host (release, who deployed it, services, newest backup)")
    status = inspect_hosts(str(inventory), None, "status", reading=status_reading).report
    print(render(status, "text", show_passed=True), end="")
    done(started)

    print("\n== report")
    for outcome in report.hosts:
        print(f"  {outcome.host}: {outcome.outcome.value}, release {outcome.plan.release_number}, "
              f"open {outcome.plan.http_base}/api/v1/health/ready")
    print("  release records: .mooring/releases/<host>/; again: mooring status sandbox, mooring check sandbox, "
          "mooring drift sandbox, mooring releases sandbox, mooring backup verify sandbox")
    return max(live.exit_code, drift.exit_code)


if __name__ == "__main__":
    sys.exit(main())
