"""``mooring status INVENTORY``: what runs on each host, from one snapshot per host: the current
release (number, when, by whom, images), the last deploy's outcome, a deploy still pending, each
service's state, health and image, and the newest backup's age."""

from __future__ import annotations

import argparse

from mooring.commands import add_target_arguments
from mooring.output import add_output_arguments, emit

NAME = "status"
#: Shown under ``examples:`` in ``--help`` (each one is parsed by tests/test_cli.py).
EXAMPLES = (
    'mooring status production',
    'mooring status staging --limit api-1.staging.example.com --json -',
)
HELP = "what runs on each host: current release, last deploy, services, newest backup (exit 0, 1 unreachable)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``status`` command's arguments."""
    add_target_arguments(parser)
    add_output_arguments(parser, NAME)


def run(args: argparse.Namespace) -> int:
    """Run ``mooring status``; returns the exit code."""
    from mooring.checks.status import status_reading
    from mooring.inspection import inspect_hosts

    report = inspect_hosts(args.inventory, args.limit, NAME, reading=status_reading).report
    args.show_passed = True  # a status lists what is, not only what is wrong
    return emit(report, args)
