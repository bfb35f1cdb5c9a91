"""Benchmark: validate the reference stack for every environment (target: under 1 s).

    .venv/bin/python bench/bench_validate.py [--hosts-per-env N] [--repeat R]

Builds a throw-away world (a copy of group_data/, fake hosts that are never contacted, test
secrets) and measures:

* ``cli``:  wall clock of ``mooring validate INVENTORY`` in a fresh process (imports included);
* ``cold``: the first ``preflight_report`` in a fresh process (templates compiled, compose and
  shellcheck run; imports excluded);
* ``warm``: a second ``preflight_report`` in the same process (layers and tool results cached).

Prints one line per measure (median of ``--repeat`` runs) and exits 1 when ``cli`` misses 1 s.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.declared_world import make_world  # noqa: E402

TARGET_SECONDS = 1.0
IN_PROCESS = """
import json, sys, time
t0 = time.perf_counter()
from mooring.checks.preflight import preflight_report
t1 = time.perf_counter()
cold = preflight_report(sys.argv[1])
t2 = time.perf_counter()
warm = preflight_report(sys.argv[1])
t3 = time.perf_counter()
print(json.dumps({"import": t1 - t0, "cold": t2 - t1, "warm": t3 - t2, "valid": cold.valid and warm.valid,
                  "hosts": len(cold.hosts), "findings": len(cold.findings)}))
"""


def write_inventory(path: Path, hosts_per_env: int) -> None:
    lines = ['"""Benchmark inventory: fake hosts, never contacted."""']
    for environment in ("production", "staging", "sandbox"):
        names = [f"{environment}-{i}.bench.invalid" for i in range(1, hosts_per_env + 1)]
        lines.append(f"{environment} = {names!r}")
    path.write_text("\n".join(lines) + "\n")


def measure(world, repeat: int) -> dict[str, float]:
    results: dict[str, list[float]] = {"cli": [], "import": [], "cold": [], "warm": []}
    env = world.env()
    for _ in range(repeat):
        start = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "mooring.commands.validate", str(world.inventory)],
                              capture_output=True, text=True, env=env, cwd=ROOT)
        results["cli"].append(time.perf_counter() - start)
        if proc.returncode != 0:
            raise SystemExit(f"validation failed:\n{proc.stdout}{proc.stderr}")
        proc = subprocess.run([sys.executable, "-c", IN_PROCESS, str(world.inventory)], capture_output=True,
                              text=True, env=env, cwd=ROOT, check=True)
        data = json.loads(proc.stdout)
        for key in ("import", "cold", "warm"):
            results[key].append(data[key])
    return {key: statistics.median(values) for key, values in results.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts-per-env", type=int, default=1, help="fake hosts per environment (default 1)")
    parser.add_argument("--repeat", type=int, default=5, help="runs per measure; the median is shown (default 5)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="mooring-bench-") as tmp:
        world = make_world(Path(tmp))
        write_inventory(world.inventory, args.hosts_per_env)
        hosts = 3 * args.hosts_per_env
        result = measure(world, args.repeat)
    print(f"validate reference stack: 3 environments, {hosts} hosts, median of {args.repeat}")
    print(f"  cli  (fresh process, wall clock) {result['cli']:.3f} s   target < {TARGET_SECONDS:.1f} s")
    print(f"  import of mooring.checks.preflight      {result['import']:.3f} s")
    print(f"  cold (first preflight_report)    {result['cold']:.3f} s")
    print(f"  warm (second preflight_report)   {result['warm']:.3f} s")
    return 0 if result["cli"] < TARGET_SECONDS else 1


if __name__ == "__main__":
    sys.exit(main())
