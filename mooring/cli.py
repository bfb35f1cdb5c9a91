"""The ``mooring`` command line: a thin face over deploy files, checks and the sandbox."""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
from typing import Iterator

from mooring import __version__
from mooring.commands import load_commands
from mooring.output import exit_codes_help
from mooring.declare.errors import MooringError


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with one sub-parser per registered command."""
    parser = argparse.ArgumentParser(
        prog="mooring",
        description="Keep small docker-compose backends in their declared state.",
    )
    parser.add_argument("--version", action="version", version=f"mooring {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    parser.add_argument("--project", metavar="DIR",
                        help="the mooring project (the ops repo with group_data/ and inventories/); default: "
                             "$MOORING_PROJECT, else the nearest folder at or above the working directory "
                             "holding group_data/all.yml")
    # -v after the command too (`mooring deploy sandbox -v`); SUPPRESS keeps the one given before it.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help="log progress details")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, module in load_commands().items():
        command = sub.add_parser(name, help=module.HELP, description=module.HELP, parents=[common])
        module.add_arguments(command)
        examples = getattr(module, "EXAMPLES", ())
        if examples and "examples:" not in (command.epilog or ""):
            command.formatter_class = argparse.RawDescriptionHelpFormatter
            block = "examples:\n" + "\n".join(f"  {line}" for line in examples)
            command.epilog = "\n\n".join(part for part in (block, command.epilog) if part)
        if "exit codes:" not in (command.epilog or ""):  # every --help lists what its exit codes mean
            command.formatter_class = argparse.RawDescriptionHelpFormatter
            command.epilog = "\n\n".join(part for part in (command.epilog, exit_codes_help(name)) if part)
        command.set_defaults(run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``mooring`` console script; returns the exit code."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(message)s")
    try:
        with project_environment(args.project):
            return args.run(args)
    except MooringError as exc:
        print(f"mooring: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"mooring {args.command}: interrupted (Ctrl-C)", file=sys.stderr)
        return 130


@contextlib.contextmanager
def project_environment(named: str | None) -> Iterator[None]:
    """For one command: ``MOORING_PROJECT`` names the project (``--project``, or the one found
    from the working directory), so that every pyinfra run and helper process this command
    starts -- whatever their own working directory -- reads the same project's files."""
    from mooring.declare.paths import PROJECT_ENV, NotAProject, project_root

    before = os.environ.get(PROJECT_ENV)
    try:
        if named:
            os.environ[PROJECT_ENV] = os.path.abspath(named)
        try:
            os.environ[PROJECT_ENV] = str(project_root())
        except NotAProject:
            if named:
                raise
            os.environ.pop(PROJECT_ENV, None)  # a command that needs a project says so itself
        yield
    finally:
        if before is None:
            os.environ.pop(PROJECT_ENV, None)
        else:
            os.environ[PROJECT_ENV] = before


if __name__ == "__main__":
    sys.exit(main())
