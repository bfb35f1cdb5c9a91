"""``mooring deploy INVENTORY``: converge the declared stack, gate on health, roll back on failure."""

from __future__ import annotations

import argparse

import sys

from mooring.commands import add_confirm_argument, add_target_arguments, confirm_production, write_json

NAME = "deploy"
#: Shown under ``examples:`` in ``--help`` (each one is parsed by tests/test_cli.py).
EXAMPLES = (
    'mooring deploy sandbox',
    'mooring deploy staging --limit api-1.staging.example.com --json deploy.json',
    'mooring deploy production --yes --timeout 900   # CI: no terminal to confirm on',
)
HELP = "push the declared stack to docker hosts: pre-flight, converge, health gate, rollback, record"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``deploy`` command's arguments."""
    from mooring.output import exit_codes_help

    add_target_arguments(parser)
    add_confirm_argument(parser)
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = exit_codes_help(NAME)
    parser.add_argument("--json", metavar="FILE",
                        help="also write the outcome as JSON ('-' for stdout, which then holds only the JSON)")
    parser.add_argument("--timeout", type=float, default=3600, metavar="SECONDS",
                        help="stop the converge after SECONDS; hosts whose new release was not gated are "
                             "rolled back (default 3600)")


def run(args: argparse.Namespace) -> int:
    """Run ``mooring deploy``; returns the exit code."""
    from mooring.deployer import deploy, format_report, record_for
    from mooring.output.progress import Progress
    from mooring.runner import inventory_path

    path = inventory_path(args.inventory)
    refused = confirm_production(path, args.limit, args.yes, NAME)
    if refused:
        print(f"mooring deploy: {refused}", file=sys.stderr)
        return 1
    report = deploy(path, args.limit, timeout=args.timeout, progress=Progress())
    print(format_report(report), file=sys.stderr if args.json == "-" else sys.stdout)  # '-': stdout is only JSON
    if args.verbose and report.apply is not None:
        print(report.shown_log(), file=sys.stderr)
    if args.json:
        payload = {
            "ok": report.ok,
            "findings": [f.to_dict() for f in report.findings],
            "interrupted": report.interrupted,
            "hosts": [record_for(h) if h.plan else {"host": h.host, "outcome": h.outcome.value, "error": h.error}
                      for h in report.hosts],
        }
        write_json(args.json, payload)
    return 0 if report.ok else 1
