"""``mooring releases INVENTORY``: each host's kept releases, oldest first, from their records
(when, by whom, outcome, images, rollbacks): the audit trail of what was deployed."""

from __future__ import annotations

import argparse

from mooring.commands import add_target_arguments
from mooring.output import add_output_arguments, emit

NAME = "releases"
#: Shown under ``examples:`` in ``--help`` (each one is parsed by tests/test_cli.py).
EXAMPLES = (
    'mooring releases production',
    'mooring releases staging --json releases.json',
)
HELP = "each host's release history from the release records (exit 0, 1 unreachable)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``releases`` command's arguments."""
    add_target_arguments(parser)
    add_output_arguments(parser, NAME)


def run(args: argparse.Namespace) -> int:
    """Run ``mooring releases``; returns the exit code."""
    from mooring.inspection import inspect_hosts

    report = inspect_hosts(args.inventory, args.limit, NAME, reading=_history).report
    args.show_passed = True
    return emit(report, args)


def _history(view):
    from mooring.checks.findings import Outcome
    from mooring.checks.status import release_history, release_line

    history = release_history(view.snapshot.release)
    findings = [view.finding("releases.release", Outcome.WARNING if entry["failed"] else Outcome.PASSED,
                             f"release:{entry['release']}", release_line(entry)) for entry in history]
    return findings, {"releases": history}
