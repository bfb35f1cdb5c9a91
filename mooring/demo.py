"""``make demo``: sandbox boxes → bootstrap → deploy → checks → report, on this machine only.

Run as ``python -m mooring.demo``. Every port is on 127.0.0.1.
"""

from __future__ import annotations

import sys
import time

from checks.findings import failed


def step(title: str) -> float:
    print(f"\n== {title}", flush=True)
    return time.monotonic()


def done(started: float) -> None:
    print(f"   ({time.monotonic() - started:.1f} s)", flush=True)


def main() -> int:
    """Run the whole demo; returns the exit code (0 when every step passed)."""
    from mooring import sandbox
    from mooring.deployer import deploy, format_report
    from mooring.gate import run_probe
    from mooring.preflight import preflight_inventory
    from mooring.report import run_summary
    from mooring.runner import deploy_path, inventory_path, run_deploy, run_fact

    started = step("sandbox: 2 docker boxes on 127.0.0.1")
    sandbox.up(docker_boxes=2)
    print(sandbox.format_status(sandbox.status()))
    done(started)
    inventory = inventory_path("sandbox")

    started = step("bootstrap: bare Debian → docker host (deploy/bootstrap.py)")
    result = run_deploy(inventory, deploy_path("bootstrap"))
    print(run_summary(result, "bootstrap"))
    if result.failed_hosts or result.rc:
        return 1
    for host, versions in sorted(run_fact(inventory, "deploy.facts.docker.EngineVersions").items()):
        print(f"  {host}: docker engine {versions['engine']}, compose {versions['compose']}")
    done(started)

    started = step("validate: the declared state, before any host is touched")
    findings = preflight_inventory(inventory)
    print(f"  {len(findings)} finding(s), {len(failed(findings))} failed")
    for finding in failed(findings):
        print(f"  {finding}")
    if failed(findings):
        return 1
    done(started)

    started = step("deploy: the reference stack (deploy/stack.py), health gate, release record")
    report = deploy(inventory)
    print(format_report(report))
    if not report.ok:
        return 1
    done(started)

    started = step("checks: smoke probes through nginx")
    ok = True
    for outcome in report.hosts:
        for smoke in outcome.plan.smoke:
            result = run_probe(outcome.plan.http_base, {**smoke, "retries": 3})
            ok &= result.ok
            print(f"  {outcome.host}: {'ok  ' if result.ok else 'FAIL'} {result.describe()}")
    done(started)

    print("\n== report")
    for outcome in report.hosts:
        print(f"  {outcome.host}: {outcome.outcome.value}, release {outcome.plan.release_number}, "
              f"open {outcome.plan.http_base}/api/v1/health/ready")
    print("  release records: .mooring/releases/<host>/")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
