"""``mooring rollback INVENTORY [--to N]``: put back an earlier release on demand, through the same
lock, restore, health gate and record as a deploy's automatic rollback."""

from __future__ import annotations

import argparse
import sys

from mooring.commands import add_confirm_argument, add_target_arguments, confirm_production, write_json

NAME = "rollback"
HELP = "put back an earlier release (default: the previous good one) under the lock, gated and recorded"
EPILOG = """examples:
  mooring releases production                          # which releases are kept
  mooring rollback staging --limit docker-1            # the good release live before the current one
  mooring rollback production --to 12 --yes            # release 12 (production asks, or needs --yes)
  mooring rollback staging --migrate-down              # undo the current release's migrations first

exit codes:
  0  every host was rolled back and passed its health gate
  1  pre-flight failed, a host was refused (no such release, a failed one without --force, the lock
     held) or failed its gate,
     the run was interrupted, or it was not confirmed"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``rollback`` command's arguments."""
    add_target_arguments(parser)
    parser.add_argument("--to", default="previous", metavar="N",
                        help="the release number to restore (default: previous, the good release that was live "
                             "before the current one, never one rolled back from); a release marked failed "
                             "is refused")
    parser.add_argument("--force", action="store_true",
                        help="restore a release marked failed (its mark is removed): you know why it failed")
    parser.add_argument("--migrate-down", action="store_true",
                        help="first run the declared stack.migration.down of the current release (in its image) "
                             "when it ran migrations; without it the schema stays as it is, with a warning")
    add_confirm_argument(parser)
    parser.add_argument("--json", metavar="FILE", help="also write the outcome as JSON ('-' for stdout)")
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = EPILOG


def run(args: argparse.Namespace) -> int:
    """Run ``mooring rollback``; returns the exit code."""
    from mooring.declare.errors import ConfigError
    from mooring.deployer import format_report, rollback, rollback_previews
    from mooring.output.progress import Progress
    from mooring.runner import inventory_path

    if args.to != "previous" and not args.to.isdigit():
        raise ConfigError(f"--to {args.to!r}: give a release number (mooring releases lists them) or 'previous'")
    path = inventory_path(args.inventory)
    refused = confirm_production(path, args.limit, args.yes, NAME,
                                 describe=lambda hosts: rollback_previews(str(path), hosts, args.to))
    if refused:
        print(f"mooring rollback: {refused}", file=sys.stderr)
        return 1
    report = rollback(str(path), args.limit, to=args.to, force=args.force, progress=Progress(),
                      migrate_down=args.migrate_down)
    text_out = sys.stderr if args.json == "-" else sys.stdout
    print(format_report(report), file=text_out)
    if args.json:
        payload = {"ok": report.rolled_back, "interrupted": report.interrupted,
                   "findings": [f.to_dict() for f in report.findings],
                   "hosts": [{"host": h.host, "outcome": h.outcome.value, "rolled_back_to": h.rolled_back_to,
                              "error": h.error, "warnings": h.warnings,
                              "gate": [p.to_dict() for p in h.rollback_gate]} for h in report.hosts]}
        write_json(args.json, payload)
    return 0 if report.rolled_back else 1
