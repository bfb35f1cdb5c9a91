"""mooring's commands: one module each, registered in :data:`COMMANDS` (strict: no duplicates).

A command module defines ``NAME``, ``HELP``, ``add_arguments(parser)`` and ``run(args) -> int``.
"""

from __future__ import annotations

import argparse
import importlib
from types import ModuleType
from typing import Callable

COMMAND_MODULES = ("init", "sandbox", "bootstrap", "validate", "deploy", "check", "drift", "status", "releases",
                   "rollback", "logs", "backup", "secrets", "unlock",
                   "completion")


def load_commands() -> dict[str, ModuleType]:
    """Import every command module; refuse two commands with one name."""
    commands: dict[str, ModuleType] = {}
    for module_name in COMMAND_MODULES:
        module = importlib.import_module(f"mooring.commands.{module_name}")
        if module.NAME in commands:
            raise ValueError(f"command {module.NAME!r} is registered twice")
        commands[module.NAME] = module
    return commands


def add_target_arguments(parser: argparse.ArgumentParser) -> None:
    """INVENTORY and ``--limit``, the same for every command that reaches hosts."""
    parser.add_argument("inventory", help="inventory file or name (sandbox, staging, production)")
    parser.add_argument("--limit", action="append", metavar="HOST", help="only these hosts or groups (repeatable)")


def add_confirm_argument(parser: argparse.ArgumentParser) -> None:
    """``--yes``: go on without asking (production hosts ask on a terminal, and need it without one)."""
    parser.add_argument("--yes", action="store_true",
                        help="do not ask for confirmation (hosts in the production group ask on a terminal, "
                             "and need --yes without one, e.g. in CI)")


def confirm_production(inventory, limit: list[str] | None, yes: bool, action: str,
                       describe: Callable[[list[str]], list[str]] | None = None) -> str:
    """Why not to go on ("" to go on): hosts in the ``production`` group need the operator to
    type ``action`` on a terminal, or ``--yes``. Reads the inventory only; ``describe`` (production
    host names → lines shown above the question) may read the hosts, only when a terminal asks."""
    import sys

    from mooring.checks.preflight import inventory_hosts, select_hosts

    if yes:
        return ""
    production = [h.name for h in select_hosts(inventory_hosts(str(inventory)), limit) if "production" in h.groups]
    if not production:
        return ""
    names = ", ".join(production)
    if not sys.stdin.isatty():
        return f"{names} in production: add --yes to {action} (no terminal to ask on)"
    for line in describe(production) if describe else ():
        print(f"  {line}")
    answer = input(f"{action} production host(s) {names}? Type '{action}' to go on: ")
    return "" if answer.strip() == action else "not confirmed"


def write_json(destination: str, payload: dict) -> None:
    """``--json FILE|-`` of the commands with a JSON of their own (deploy, rollback): '-' prints it
    on stdout (which then holds nothing else)."""
    import json

    text = json.dumps(payload, indent=2, sort_keys=True)
    if destination == "-":
        print(text)
        return
    with open(destination, "w") as fh:
        fh.write(text + "\n")
