"""``mooring bootstrap INVENTORY``: bare Debian boxes become docker hosts (deploy/bootstrap.py)."""

from __future__ import annotations

import argparse

from mooring.commands import add_target_arguments
import sys

NAME = "bootstrap"
HELP = "turn bare Debian hosts into docker hosts: engine, Compose v2, deploy user, sshd hardening"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``bootstrap`` command's arguments."""
    add_target_arguments(parser)


def run(args: argparse.Namespace) -> int:
    """Run ``mooring bootstrap``; returns the exit code."""
    from mooring.report import run_summary
    from mooring.runner import deploy_path, inventory_path, run_deploy

    result = run_deploy(inventory_path(args.inventory), deploy_path("bootstrap"), limit=args.limit)
    print(run_summary(result, "bootstrap"))
    if args.verbose or not result.hosts:
        print(result.log, file=sys.stderr)
    return 0 if result.rc == 0 and not result.failed_hosts else 1
