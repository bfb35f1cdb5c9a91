"""Helpers shared by mooring's facts."""

from __future__ import annotations


def key_values(output: list[str]) -> dict[str, str]:
    """``key=value`` lines of a fact's output as a dict (other lines are ignored).

    >>> key_values(["engine=20.10.24", "noise", "compose=2.40.3"])
    {'engine': '20.10.24', 'compose': '2.40.3'}
    """
    return dict(line.split("=", 1) for line in output if "=" in line)
