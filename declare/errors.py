"""Errors that mooring reports to people (no traceback): bad declared input, failed runs."""

from __future__ import annotations

from dataclasses import dataclass

from pyinfra.api.exceptions import PyinfraError


class MooringError(Exception):
    """An error with a message meant for the operator; the CLI prints it without a traceback."""


@dataclass
class ConfigProblem:
    """One problem with declared input: where it is and how to fix it."""

    file: str
    path: str
    message: str
    fix: str = ""

    def __str__(self) -> str:
        where = f"{self.file}: {self.path}" if self.path else self.file
        text = f"{where}: {self.message}"
        return f"{text} (fix: {self.fix})" if self.fix else text


class ConfigError(MooringError, PyinfraError):
    """Declared input is invalid; holds every problem found, each naming file, key path and fix.

    It is a ``PyinfraError`` so that plain ``pyinfra`` prints it without a traceback.
    """

    def __init__(self, problems: list[ConfigProblem] | ConfigProblem):
        self.problems = problems if isinstance(problems, list) else [problems]
        super().__init__("\n".join(str(p) for p in self.problems))


class MooringRunError(MooringError, PyinfraError):
    """A deploy cannot go on for a reason the operator can fix (printed without a traceback)."""
