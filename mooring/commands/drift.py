"""``mooring drift INVENTORY``: has anything on the hosts moved from the declared state?

Reads one snapshot per host and compares it with what a deploy would write: files (content,
mode, owner), .env keys (missing, empty, another value: never shown), services (stopped,
unhealthy, stale), cron, Compose v1. Executes no operation and writes nothing on a host.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile

from mooring.checks.findings import EXIT_DRIFT
from mooring.commands import add_target_arguments
from mooring.output import add_output_arguments, emit

NAME = "drift"
#: Shown under ``examples:`` in ``--help`` (each one is parsed by tests/test_cli.py).
EXAMPLES = (
    'mooring drift production                  # 0 clean, 2 drift, 1 error',
    "mooring drift production --on-drift 'logger -t mooring drift' -q",
)
HELP = "compare each host with the declared state; writes nothing (exit 0 none, 2 drift, 1 error)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``drift`` command's arguments."""
    add_target_arguments(parser)
    add_output_arguments(parser, NAME)
    parser.add_argument("--on-drift", metavar="CMD",
                        help="when anything drifted, run CMD (with sh) with the JSON report's path as $1 and in "
                             "MOORING_DRIFT_REPORT, e.g. an alert; its failure is reported, the exit code stays 2")


def run(args: argparse.Namespace) -> int:
    """Run ``mooring drift``; returns the exit code."""
    from mooring.inspection import inspect_hosts

    report = inspect_hosts(args.inventory, args.limit, NAME).report
    code = emit(report, args)
    if args.on_drift and report.exit_code == EXIT_DRIFT:
        _run_hook(args.on_drift, report, args)
    return code


def _run_hook(command: str, report, args: argparse.Namespace) -> int:
    """Run the ``--on-drift`` hook with the JSON report: the ``--json`` file, or a private file
    written for it and removed once the hook returned."""
    from mooring.output import render, write_file

    if args.json_file and args.json_file != "-":
        return _call_hook(command, args.json_file)
    with tempfile.TemporaryDirectory(prefix="mooring-drift-") as folder:  # private (0700), removed after
        path = os.path.join(folder, "drift.json")
        write_file(path, render(report, "json"), mode=0o600)
        return _call_hook(command, path)


def _call_hook(command: str, path: str) -> int:
    env = {**os.environ, "MOORING_DRIFT_REPORT": str(path)}
    done = subprocess.run(["sh", "-c", command, "mooring-drift-hook", str(path)], env=env, stdin=subprocess.DEVNULL)
    if done.returncode != 0:
        print(f"mooring: the --on-drift hook exited {done.returncode}", file=sys.stderr)
    return done.returncode
