"""Facts about a host's Docker engine."""

from __future__ import annotations

from typing import Optional, TypedDict

from pyinfra.api import FactBase

from mooring.deploy.facts.util import key_values


class Versions(TypedDict):
    """Engine and Compose versions; None when that piece does not answer.

    A TypedDict (not a dataclass) so that ``pyinfra --json INVENTORY fact`` can print it.
    """

    engine: Optional[str]
    compose: Optional[str]


class EngineVersions(FactBase[Versions]):
    """
    Returns the running engine's version and the Compose v2 plugin's version. One command.

    .. code:: python

        host.get_fact(EngineVersions)["engine"]  # "20.10.24+dfsg1"
    """

    def command(self) -> str:
        return ("echo engine=$(docker version --format '{{.Server.Version}}' 2>/dev/null); "
                "echo compose=$(docker compose version --short 2>/dev/null | sed 's/^v//')")

    @staticmethod
    def default() -> Versions:
        return Versions(engine=None, compose=None)

    def process(self, output: list[str]) -> Versions:
        values = key_values(output)
        return Versions(engine=values.get("engine") or None, compose=values.get("compose") or None)
