"""``mooring bootstrap INVENTORY``: bare Debian boxes become docker hosts (deploy/bootstrap.py).

First contact with a new box: its host key is read and recorded in the inventory's known_hosts
file only once its fingerprint is confirmed (``--fingerprint HOST=SHA256:...``, or ``yes`` typed
on a terminal), and the run logs in as the image's first user (``--user root``, ``--user admin``
...). Bootstrap creates the deploy user; every later run logs in as the inventory's user
(``deploy``) with strict host-key checking.
"""

from __future__ import annotations

import argparse
import sys

from mooring.commands import add_target_arguments
from mooring.output import add_output_arguments, emit

NAME = "bootstrap"
#: Shown under ``examples:`` in ``--help`` (each one is parsed by tests/test_cli.py).
EXAMPLES = (
    'mooring bootstrap sandbox',
    'mooring bootstrap staging --limit api-1.staging.example.com --json -',
)
HELP = "turn bare Debian hosts into docker hosts: engine, Compose v2, deploy user, sshd hardening"
EPILOG = """first contact with a new box:
  mooring bootstrap staging --user root --fingerprint api-1.staging.example.com=SHA256:...
      (the fingerprint your provider's console shows; on a terminal, mooring asks instead)
  mooring deploy staging        # later runs log in as the inventory's user (deploy)"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``bootstrap`` command's arguments."""
    add_target_arguments(parser)
    parser.add_argument("--user", metavar="USER",
                        help="log in as USER for this run (the image's first user: root, admin, debian...); "
                             "default: the inventory's ssh_user")
    parser.add_argument("--fingerprint", action="append", default=[], metavar="HOST=SHA256:...",
                        help="the host key fingerprint you checked out of band for a new HOST (repeatable); "
                             "its key is then recorded in the host's ssh_known_hosts_file")
    add_output_arguments(parser, NAME)
    parser.epilog = EPILOG + "\n\n" + parser.epilog


def run(args: argparse.Namespace) -> int:
    """Run ``mooring bootstrap``; returns the exit code."""
    from mooring.checks.preflight import inventory_hosts, select_hosts
    from mooring.hostkeys import first_contact
    from mooring.report import run_report, utc_now
    from mooring.runner import deploy_path, inventory_path, run_deploy

    started = utc_now()
    path = inventory_path(args.inventory)
    confirmed = {}
    for item in args.fingerprint:
        host, sep, fingerprint = item.partition("=")
        if not sep or not fingerprint.startswith("SHA256:"):
            print(f"mooring bootstrap: --fingerprint {item!r}: write HOST=SHA256:...", file=sys.stderr)
            return 1
        confirmed[host] = fingerprint
    ask = input if sys.stdin.isatty() else None
    selected = select_hosts(inventory_hosts(path), args.limit)
    problems = first_contact(selected, confirmed, ask)
    for host, problem in problems.items():  # such a host sits this run out; the others go on
        print(f"mooring bootstrap: {host}: {problem}", file=sys.stderr)
    limit = [h.name for h in selected if h.name not in problems] if problems else args.limit
    if problems and not limit:
        return 1
    extra = ["--data", f"ssh_user={args.user}"] if args.user else None
    result = run_deploy(path, deploy_path("bootstrap"), limit=limit, extra=extra)
    if args.verbose or not result.hosts:
        print(result.log, file=sys.stderr)
    return max(emit(run_report(result, NAME, args.inventory, started), args), 1 if problems else 0)
