"""Benchmark: sandbox up (cold/warm), bootstrap and stack deploy (first/no-op) on real boxes.

    .venv/bin/python bench/bench_boxes.py [--repeat 3] [--boxes 2]

Uses its own sandbox (state in .mooring/bench, ports offset by 2000), so a developer's sandbox
and the test sandbox are left alone. "First" runs start from fresh bare boxes (bootstrap) or
from bootstrapped boxes without the stack (deploy); "no-op" runs repeat with nothing to do.
Prints the median of each measure and the no-op/first ratios, all measured in this run.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("MOORING_STATE", str(ROOT / ".mooring" / "bench"))
os.environ.setdefault("MOORING_SANDBOX_PORT_BASE", "2000")
sys.path.insert(0, str(ROOT))

from mooring.sandbox import boxes as sandbox  # noqa: E402
from mooring.deployer import deploy  # noqa: E402
from mooring.runner import run_deploy  # noqa: E402

INVENTORY = str(ROOT / "inventories" / "sandbox.py")
REMOVE_STACK = ("cd /srv/mooring/solacore 2>/dev/null && docker compose --project-name solacore --project-directory . "
                "-f compose.yml --env-file .env down -v --remove-orphans >/dev/null 2>&1; rm -rf /srv/mooring/solacore "
                "/etc/cron.d/mooring-solacore; docker image prune -af >/dev/null 2>&1; true")


def timed(fn) -> tuple[float, object]:
    started = time.perf_counter()
    result = fn()
    return time.perf_counter() - started, result


def ssh_all(state, command: str) -> None:
    for box in state.boxes:
        subprocess.run(["ssh", "-i", str(state.key_path), "-p", str(box.ssh_port), "-o",
                        f"UserKnownHostsFile={state.known_hosts_path}", "-o", "BatchMode=yes",
                        "root@127.0.0.1", command], check=True, capture_output=True, timeout=300)


def must(result, what: str):
    failed = getattr(result, "failed_hosts", None) or (not getattr(result, "ok", True))
    if failed:
        raise SystemExit(f"{what} failed: {getattr(result, 'log', '')[-2000:]}")
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--boxes", type=int, default=2)
    args = parser.parse_args()
    times: dict[str, list[float]] = {k: [] for k in (
        "sandbox up (boxes absent, images present)", "sandbox up (warm)", "bootstrap first", "bootstrap no-op",
        "deploy first", "deploy no-op")}
    for _ in range(args.repeat):
        sandbox.down()
        t, state = timed(lambda: sandbox.up(docker_boxes=args.boxes))
        times["sandbox up (boxes absent, images present)"].append(t)
        times["sandbox up (warm)"].append(timed(lambda: sandbox.up(docker_boxes=args.boxes))[0])
        t, result = timed(lambda: run_deploy(INVENTORY, "deploy/bootstrap.py"))
        must(result, "bootstrap")
        times["bootstrap first"].append(t)
        t, result = timed(lambda: run_deploy(INVENTORY, "deploy/bootstrap.py"))
        assert must(result, "bootstrap").changed == 0, "bootstrap no-op changed something"
        times["bootstrap no-op"].append(t)
    for _ in range(args.repeat):
        ssh_all(state, REMOVE_STACK)
        t, report = timed(lambda: deploy(INVENTORY))
        must(report, "deploy")
        times["deploy first"].append(t)
        t, report = timed(lambda: deploy(INVENTORY))
        assert must(report, "deploy").apply.changed == 0, "deploy no-op changed something"
        times["deploy no-op"].append(t)
    sandbox.down()

    print(f"{args.boxes} docker boxes, {args.repeat} runs each, medians (s):")
    medians = {name: statistics.median(values) for name, values in times.items()}
    for name, values in times.items():
        print(f"  {name:45s} {medians[name]:7.2f}   runs: {', '.join(f'{v:.2f}' for v in values)}")
    for what in ("bootstrap", "deploy"):
        print(f"  {what} no-op / first: {medians[f'{what} no-op'] / medians[f'{what} first']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
