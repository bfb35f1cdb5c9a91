"""Findings: what every check returns. Formatters render them; the CLI computes the exit code."""

from __future__ import annotations

import enum
from dataclasses import asdict, dataclass


class Outcome(str, enum.Enum):
    """The one outcome of a check."""

    PASSED = "passed"
    FAILED = "failed"
    WARNING = "warning"
    SKIPPED = "skipped"


@dataclass(frozen=True)
class Finding:
    """One check's result about one subject (a host or a group), at one declared key path.

    ``message`` never contains a secret's value.
    """

    check: str
    outcome: Outcome
    subject: str
    path: str = ""
    message: str = ""
    fix: str = ""
    file: str = ""

    def to_dict(self) -> dict[str, str]:
        data = asdict(self)
        data["outcome"] = self.outcome.value
        return data

    def __str__(self) -> str:
        where = ": ".join(part for part in (self.file, self.path) if part)
        text = f"[{self.outcome.value}] {self.subject}: {self.check}: {where + ': ' if where else ''}{self.message}"
        return f"{text} (fix: {self.fix})" if self.fix else text


def failed(findings: list[Finding]) -> list[Finding]:
    """The findings that make a run fail."""
    return [f for f in findings if f.outcome is Outcome.FAILED]
