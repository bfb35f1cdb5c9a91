"""``mooring bootstrap INVENTORY``: bare Debian boxes become docker hosts (deploy/bootstrap.py)."""

from __future__ import annotations

import argparse
import sys

from mooring.commands import add_target_arguments
from mooring.output import add_output_arguments, emit

NAME = "bootstrap"
HELP = "turn bare Debian hosts into docker hosts: engine, Compose v2, deploy user, sshd hardening"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``bootstrap`` command's arguments."""
    add_target_arguments(parser)
    add_output_arguments(parser, NAME)


def run(args: argparse.Namespace) -> int:
    """Run ``mooring bootstrap``; returns the exit code."""
    from mooring.report import run_report, utc_now
    from mooring.runner import deploy_path, inventory_path, run_deploy

    started = utc_now()
    result = run_deploy(inventory_path(args.inventory), deploy_path("bootstrap"), limit=args.limit)
    if args.verbose or not result.hosts:
        print(result.log, file=sys.stderr)
    return emit(run_report(result, NAME, args.inventory, started), args)
