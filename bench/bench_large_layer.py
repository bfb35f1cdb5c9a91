"""Benchmark: ``mooring validate`` on a world whose staging layer is a generated 5 MB file.

    .venv/bin/python bench/bench_large_layer.py [--mb 5] [--shape env|text] [--profile]

Builds a throw-away world (a copy of group_data/, fake hosts that are never contacted, test
secrets), writes ``staging.yml`` to about ``--mb`` megabytes and prints the seconds of one
``mooring validate INVENTORY --limit staging-1.example.invalid`` in a fresh process. Shapes:

* ``env``: many ``stack.env`` keys (``BULK_00001: ...``), each a short one-line value;
* ``text``: one large multi-line value (``{value: ..., multiline: true}``, as a PEM bundle is).

``--profile`` runs the same pre-flight in this process under cProfile instead and prints the
functions with the most cumulative time. Not a test: nothing is asserted.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.declared_world import make_world  # noqa: E402

HOST = "staging-1.example.invalid"


def large_layer(world, megabytes: float, shape: str) -> int:
    """Write the staging layer to about ``megabytes`` MB; return its size in bytes."""
    data = world.read("staging.yml")
    env = data.setdefault("stack", {}).setdefault("env", {})
    target = int(megabytes * 1_000_000)
    if shape == "env":
        line = 40  # "  BULK_00001: value-...\n" written by safe_dump
        for index in range(target // line):
            env[f"BULK_{index:07d}"] = f"value-{index:07d}-abcdefghij"
    else:
        row = "MIIFazCCA1OgAwIBAgIUbulkbulkbulkbulkbulkbulkbulkbulkbulkbulkbulk\n"
        env["BULK_BUNDLE"] = {"value": row * (target // len(row)), "multiline": True}
    world.write("staging.yml", data)
    return world.layer("staging.yml").stat().st_size


def cli_seconds(world) -> tuple[float, int]:
    """Wall clock of ``mooring validate`` in a fresh process (imports included), and its exit code."""
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "mooring.commands.validate", str(world.inventory), "--limit", HOST,
                           "-q"], cwd=ROOT, env=world.env(), capture_output=True, text=True)
    return time.perf_counter() - start, proc.returncode


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=5.0)
    parser.add_argument("--shape", choices=("env", "text"), default="env")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mooring-bench-") as tmp:
        world = make_world(Path(tmp))
        size = large_layer(world, args.mb, args.shape)
        if args.profile:
            import os

            os.environ.update(MOORING_GROUP_DATA=str(world.group_data), MOORING_STATE=str(world.state))
            from mooring.checks.preflight import preflight_report

            profiler = cProfile.Profile()
            start = time.perf_counter()
            profiler.runcall(preflight_report, str(world.inventory), [HOST])
            print(f"in-process pre-flight under cProfile: {time.perf_counter() - start:.1f} s")
            out = io.StringIO()
            pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(args.top)
            print(out.getvalue())
            return 0
        seconds, code = cli_seconds(world)
        print(f"staging.yml {size / 1e6:.1f} MB ({args.shape}): mooring validate {seconds:.1f} s (exit {code})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
