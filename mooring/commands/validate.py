"""``mooring validate INVENTORY``: the pre-flight for every host, without connecting to any.

Prints one line per finding that is not a pass (never a secret's value) and a summary; with
``--json FILE`` ('-' for stdout) writes ``{"valid": bool, "findings": [...]}``. Exit 0 when no
finding FAILED, 1 otherwise (bad input never ends in a traceback).

    mooring validate inventories/production.py
    mooring validate inventories/sandbox.py --json report.json
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from typing import TextIO

from checks.findings import Finding, Outcome

NAME = "validate"
HELP = "check the declared state of every host of INVENTORY (no connection): schema, secrets, rules, rendering"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``INVENTORY [--limit HOST|GROUP ...] [--json FILE] [--group-data DIR] [--all]``."""
    parser.add_argument("inventory", metavar="INVENTORY", help="a pyinfra inventory file, e.g. inventories/production.py")
    parser.add_argument("--limit", action="append", metavar="HOST_OR_GROUP",
                        help="only these hosts or groups (glob patterns; repeatable)")
    parser.add_argument("--json", metavar="FILE", dest="json_file",
                        help="also write the findings as JSON to FILE ('-' for stdout; the text report then goes to stderr)")
    parser.add_argument("--group-data", metavar="DIR",
                        help="the declared-state folder (default: $MOORING_GROUP_DATA or group_data/)")
    parser.add_argument("--all", action="store_true", dest="show_passed", help="also print the passed checks")


def run(args: argparse.Namespace) -> int:
    """Run the pre-flight and report; returns 0 (valid) or 1 (invalid)."""
    from mooring.preflight import preflight_report
    from mooring.errors import MooringError
    from mooring.runner import inventory_path

    hosts = 0
    try:
        inventory = inventory_path(args.inventory)
    except MooringError:
        inventory = args.inventory  # the pre-flight reports a missing inventory as a finding
    try:
        report = preflight_report(inventory, args.limit, args.group_data)
        findings, hosts = report.findings, len(report.hosts)
    except Exception as exc:  # a mooring bug: still no traceback, and no value that could be secret
        findings = [Finding("internal", Outcome.FAILED, args.inventory, "",
                            f"validation crashed: {type(exc).__name__} (report this with the inventory and group_data)",
                            "report this as a mooring bug")]
    valid = is_valid(findings)
    text_out = sys.stderr if args.json_file == "-" else sys.stdout
    text_out.write(format_text(findings, show_passed=args.show_passed, hosts=hosts))
    if args.json_file:
        try:
            write_json(findings, valid, args.json_file)
        except OSError as exc:
            print(f"mooring validate: cannot write {args.json_file}: {exc.strerror}", file=sys.stderr)
            return 1
    return 0 if valid else 1


def is_valid(findings: list[Finding]) -> bool:
    """True when no finding FAILED."""
    return not any(f.outcome is Outcome.FAILED for f in findings)


def format_text(findings: list[Finding], show_passed: bool = False, hosts: int | None = None) -> str:
    """One line per finding (passed ones only with ``show_passed``) and a summary line.

    >>> format_text([Finding("ports.unique", Outcome.FAILED, "group:production", "stack.services.api.ports.0",
    ...                      "host port 80/tcp is already published by service nginx", "publish another port",
    ...                      "group_data/production.yml")], hosts=2).splitlines()[0]
    'FAILED   group:production: ports.unique: group_data/production.yml: stack.services.api.ports.0: host port 80/tcp is already published by service nginx (fix: publish another port)'
    """
    lines = [_line(f) for f in findings if show_passed or f.outcome is not Outcome.PASSED]
    lines.append(summary(findings, hosts))
    return "\n".join(lines) + "\n"


def _line(finding: Finding) -> str:
    where = ": ".join(part for part in (finding.file, finding.path) if part)
    text = f"{finding.outcome.value.upper():<8} {finding.subject}: {finding.check}: {where + ': ' if where else ''}{finding.message}"
    return f"{text} (fix: {finding.fix})" if finding.fix else text


def summary(findings: list[Finding], hosts: int | None = None) -> str:
    """``valid: 5 host(s) checked: 0 failed, 1 warning(s), 0 skipped, 75 passed`` (or ``INVALID: ...``).

    >>> summary([], 2)
    'valid: 2 host(s) checked: 0 failed, 0 warning(s), 0 skipped, 0 passed'
    """
    counts = Counter(f.outcome for f in findings)
    state = "valid" if is_valid(findings) else "INVALID"
    checked = f"{hosts} host(s) checked" if hosts is not None else f"{len({f.subject for f in findings})} subject(s)"
    return (f"{state}: {checked}: {counts[Outcome.FAILED]} failed, {counts[Outcome.WARNING]} warning(s), "
            f"{counts[Outcome.SKIPPED]} skipped, {counts[Outcome.PASSED]} passed")


def write_json(findings: list[Finding], valid: bool, destination: str, stream: TextIO | None = None) -> None:
    """Write ``{"valid": ..., "findings": [...]}`` to ``destination`` ('-' = stdout)."""
    document = json.dumps({"valid": valid, "findings": [f.to_dict() for f in findings]}, indent=2, sort_keys=True) + "\n"
    if destination == "-":
        (stream or sys.stdout).write(document)
        return
    with open(destination, "w", encoding="utf-8") as handle:
        handle.write(document)


def main(argv: list[str] | None = None) -> int:
    """Stand-alone entry point (``python -m mooring.commands.validate``), same as ``mooring validate``."""
    parser = argparse.ArgumentParser(prog="mooring validate", description=HELP)
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
