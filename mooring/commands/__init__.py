"""mooring's commands: one module each, registered in :data:`COMMANDS` (strict: no duplicates).

A command module defines ``NAME``, ``HELP``, ``add_arguments(parser)`` and ``run(args) -> int``.
"""

from __future__ import annotations

import argparse
import importlib
from types import ModuleType

COMMAND_MODULES = ("init", "sandbox", "bootstrap", "validate", "deploy", "check", "drift", "status", "releases", "backup",
                   "unlock")


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
