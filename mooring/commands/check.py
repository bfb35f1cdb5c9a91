"""``mooring check INVENTORY``: is each deployment sound? Live rules over one snapshot per
host (env keys, files, services, engine, mounts, backups) plus the stack's HTTP probes."""

from __future__ import annotations

import argparse

from mooring.commands import add_target_arguments
from mooring.output import add_output_arguments, emit

NAME = "check"
#: Shown under ``examples:`` in ``--help`` (each one is parsed by tests/test_cli.py).
EXAMPLES = (
    'mooring check production',
    'mooring check staging --json check.json --junit check.xml',
    'mooring check production --prometheus /var/lib/prometheus/node-exporter/mooring.prom -q',
)
HELP = "check each deployed host: env keys, services, engine, mounts, backups, HTTP probes (exit 0 pass, 1 fail)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``check`` command's arguments."""
    add_target_arguments(parser)
    add_output_arguments(parser, NAME)


def run(args: argparse.Namespace) -> int:
    """Run ``mooring check``; returns the exit code."""
    from mooring.inspection import inspect_hosts

    return emit(inspect_hosts(args.inventory, args.limit, NAME).report, args)
