"""``mooring validate INVENTORY``: the pre-flight for every host, without connecting to any.

Prints through the output layer (:mod:`mooring.output`): per host (or group) what did not
pass, then ``valid: 3 hosts checked, 105 checks passed`` or ``INVALID: ...``; ``--json FILE|-``
(docs/report-schema.json), ``--junit FILE``, ``--prometheus FILE``, ``-q``, ``--all``. No
secret's value reaches any of them. Exit 0 when no finding FAILED, 1 otherwise (bad input never
ends in a traceback).

    mooring validate inventories/production.py
    mooring validate inventories/sandbox.py --json report.json --junit validate.xml
"""

from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path
from typing import Any, Iterable, TextIO

from mooring.checks.findings import Finding, Outcome, exit_code
from mooring.output import add_output_arguments, emit, render
from mooring.report import HostResult, Report, secret_values, utc_now

NAME = "validate"
#: Shown under ``examples:`` in ``--help`` (each one is parsed by tests/test_cli.py).
EXAMPLES = (
    'mooring validate staging                  # no host is contacted',
    'mooring validate production --no-secrets --junit report.xml   # CI without production secrets',
    'mooring validate sandbox --limit docker-1 --all',
)
HELP = "check the declared state of every host of INVENTORY (no connection): schema, secrets, rules, rendering"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``INVENTORY [--limit HOST|GROUP ...] [--group-data DIR]`` and the output flags
    (``--json FILE|-``, ``--junit FILE``, ``--prometheus FILE``, ``-q``, ``--all``)."""
    parser.add_argument("inventory", metavar="INVENTORY", help="a pyinfra inventory file, e.g. inventories/production.py")
    parser.add_argument("--limit", action="append", metavar="HOST_OR_GROUP",
                        help="only these hosts or groups (glob patterns; repeatable)")
    parser.add_argument("--group-data", metavar="DIR",
                        help="the declared-state folder (default: $MOORING_GROUP_DATA or group_data/)")
    parser.add_argument("--no-secrets", action="store_true",
                        help="read no secret: check everything else with stand-ins (CI validating production "
                             "config without production secrets); each secret is listed as skipped")
    add_output_arguments(parser, NAME)


def run(args: argparse.Namespace) -> int:
    """Run the pre-flight and report through the output layer; returns 0 (valid) or 1 (invalid)."""
    from mooring.declare.secrets import stand_in_secrets

    if getattr(args, "no_secrets", False):
        with stand_in_secrets():
            return emit(validate_report(args.inventory, args.limit, args.group_data), args)
    return emit(validate_report(args.inventory, args.limit, args.group_data), args)


def validate_report(inventory_arg: str, limit: list[str] | None = None, group_data: str | None = None) -> Report:
    """The pre-flight of ``inventory_arg`` as a :class:`Report` (secret values attached for
    redaction); a crash of mooring itself becomes one FAILED ``internal`` finding.

    >>> validate_report("inventories/nope.py").findings[0].message
    'inventory inventories/nope.py does not exist'
    """
    from mooring.checks.preflight import preflight_report
    from mooring.declare.errors import MooringError
    from mooring.declare.paths import NotAProject
    from mooring.runner import inventory_path

    started = utc_now()
    hosts: tuple[Any, ...] = ()
    secrets: tuple[str, ...] = ()
    try:
        inventory = inventory_path(inventory_arg)
    except NotAProject:
        raise
    except MooringError:
        inventory = inventory_arg  # the pre-flight reports a missing inventory as a finding
    try:
        preflight = preflight_report(inventory, limit, group_data)
        findings, hosts = preflight.findings, preflight.hosts
        secrets = secret_values(hosts, Path(group_data) if group_data else None)
    except Exception as exc:  # a mooring bug: still no traceback, and no value that could be secret
        findings = [Finding("internal", Outcome.FAILED, inventory_arg, "",
                            f"validation crashed: {type(exc).__name__} (report this with the inventory and group_data)",
                            "report this as a mooring bug")]
    return Report(NAME, findings, [HostResult(h.name, tuple(h.groups)) for h in hosts], str(inventory), started,
                  utc_now(), secrets)


def is_valid(findings: list[Finding]) -> bool:
    """True when no finding FAILED."""
    return exit_code(findings) == 0


def format_text(findings: list[Finding], show_passed: bool = False, hosts: Iterable[Any] | int | None = None) -> str:
    """The text report of ``findings`` (passed ones only with ``show_passed``), grouped per
    host or group, and its summary line. ``hosts``: the hosts checked (``InventoryHost``s); a
    count (older callers) is ignored.

    >>> print(format_text([Finding("ports.unique", Outcome.FAILED, "group:production", "stack.services.api.ports.0",
    ...                            "host port 80/tcp is already published by service nginx", "publish another port",
    ...                            "group_data/production.yml")]), end="")
    group:production: 1 failed
      FAILED   ports.unique: group_data/production.yml: stack.services.api.ports.0: host port 80/tcp is already published by service nginx (fix: publish another port)
    INVALID: no hosts checked, 1 failed
    """
    listed = [] if hosts is None or isinstance(hosts, int) else [HostResult(h.name, tuple(h.groups)) for h in hosts]
    return render(Report(NAME, list(findings), listed), "text", show_passed=show_passed)


def write_json(findings: list[Finding], valid: bool, destination: str, stream: TextIO | None = None) -> None:
    """Write the JSON report of ``findings`` (docs/report-schema.json) to ``destination`` ('-' =
    ``stream`` or stdout). ``valid`` is kept for older callers: the report computes it."""
    args = argparse.Namespace(json_file=destination, quiet=True, show_passed=False)
    emit(Report(NAME, list(findings)), args, stdout=stream or sys.stdout, stderr=io.StringIO())


def main(argv: list[str] | None = None) -> int:
    """Stand-alone entry point (``python -m mooring.commands.validate``), same as ``mooring validate``."""
    parser = argparse.ArgumentParser(prog="mooring validate", description=HELP)
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
