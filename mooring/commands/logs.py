"""``mooring logs INVENTORY SERVICE``: one service's logs from every host (``docker compose logs``
in the stack's folder, through pyinfra and the inventory's connection), every secret value
masked; ``-f`` keeps asking for newer lines until Ctrl-C."""

from __future__ import annotations

import argparse
import sys
import time

from mooring.commands import add_target_arguments

NAME = "logs"
#: Shown under ``examples:`` in ``--help`` (each one is parsed by tests/test_cli.py).
EXAMPLES = (
    'mooring logs production api --since 10m',
    'mooring logs staging db --tail 50 -f',
)
HELP = "one service's logs from each host, secrets masked (-f follows; exit 0, 1 when a host could not be read)"
FOLLOW_EVERY_S = 2.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``logs`` command's arguments."""
    add_target_arguments(parser)
    parser.add_argument("service", help="the compose service, e.g. api")
    parser.add_argument("--since", default="", metavar="WHEN", help="from WHEN: a duration (10m, 2h) or an RFC 3339 time")
    parser.add_argument("--tail", type=int, default=200, metavar="N", help="at most N lines per host (default 200)")
    parser.add_argument("-f", "--follow", action="store_true", help="keep printing new lines until Ctrl-C")


def run(args: argparse.Namespace) -> int:
    """Run ``mooring logs``; returns the exit code."""
    from mooring.checks.preflight import inventory_hosts, select_hosts
    from mooring.report import secret_forms
    from mooring.runner import inventory_path

    inventory = inventory_path(args.inventory)
    hosts = select_hosts(inventory_hosts(inventory), args.limit)
    if not hosts:
        print(f"mooring logs: no hosts{' matching ' + ', '.join(args.limit) if args.limit else ''} in {inventory}",
              file=sys.stderr)
        return 1
    found = _stacks(hosts, args.service)
    if isinstance(found, str):
        print(f"mooring logs: {found}", file=sys.stderr)
        return 1
    stacks, secrets = found
    forms = secret_forms(secrets)
    seen: dict[str, str] = {}  # host -> newest timestamp printed
    code = _print_new(inventory, stacks, args.service, args.since, args.tail, seen, forms)
    while args.follow:
        time.sleep(FOLLOW_EVERY_S)
        code = _print_new(inventory, stacks, args.service, "", args.tail, seen, forms) or code
    return code


def _stacks(hosts, service: str) -> tuple[dict[tuple[str, str], list[str]], list[str]] | str:
    """((stack dir, project) → the hosts running it, the stacks' secret values to mask); or why
    ``service`` cannot be read."""
    from mooring.declare.model import build_model

    stacks: dict[tuple[str, str], list[str]] = {}
    secrets: set[str] = set()
    for host in hosts:
        stack = build_model(host.name, host.groups).stack
        if stack is None:
            continue
        if service not in stack.services:
            return f"{host.name} has no service {service!r} (its services: {', '.join(sorted(stack.services))})"
        stacks.setdefault((stack.dir, stack.name), []).append(host.name)
        secrets.update(stack.secret_values())
    return (stacks, sorted(secrets)) if stacks else "no host of the inventory has a stack"


def _print_new(inventory: str, stacks: dict[tuple[str, str], list[str]], service: str, since: str, tail: int,
               seen: dict[str, str], forms: list[str]) -> int:
    """Print each host's lines newer than the last one printed for it; 1 when a host could not be read."""
    from mooring.declare.errors import MooringError
    from mooring.declare.secrets import redact
    from mooring.runner import run_fact

    code = 0
    for (directory, project), names in stacks.items():
        args = [f"directory={directory}", f"project={project}", f"service={service}", f"tail={tail}"]
        newest = min((seen[n] for n in names if n in seen), default="")
        if newest or since:
            args.append(f"since={newest or since}")
        try:
            lines = run_fact(inventory, "mooring.deploy.facts.stack.ComposeLogs", *args, limit=names)
        except MooringError as exc:
            print(f"mooring logs: {redact(str(exc), forms)}", file=sys.stderr)
            return 1
        for name in names:
            if lines.get(name) is None:
                print(f"mooring logs: {name}: could not be read", file=sys.stderr)
                code = 1
                continue
            first = name not in seen
            for line in lines[name]:
                stamp = log_stamp(line)
                if stamp is None and not first or stamp is not None and stamp <= seen.get(name, ""):
                    continue  # --since is inclusive, and hosts share one query
                print(f"{name} | {redact(line, forms)}", flush=True)
                seen[name] = max(seen.get(name, ""), stamp or "")
    return code


def log_stamp(line: str) -> str | None:
    """The line's Docker timestamp, its fraction padded to nanoseconds so that stamps compare as
    text (Docker drops trailing zeros); None for a line without one.

    >>> log_stamp("2026-12-05T10:00:01.5Z started") < log_stamp("2026-12-05T10:00:01.25Z next")
    False
    >>> log_stamp("2026-12-05T10:00:01.5Z started"), log_stamp("no such service")
    ('2026-12-05T10:00:01.500000000Z', None)
    """
    head = line.split(" ", 1)[0]
    if len(head) < 20 or head[4] != "-" or head[10] != "T" or not head.endswith("Z"):
        return None
    base, _, fraction = head[:-1].partition(".")
    return f"{base}.{fraction.ljust(9, '0')[:9]}Z"
