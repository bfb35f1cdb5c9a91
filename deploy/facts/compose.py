"""Facts about Docker Compose on a host: the v2 CLI plugin and any Compose v1 left behind."""

from __future__ import annotations

import shlex
from dataclasses import dataclass

from pyinfra.api import FactBase

from mooring.deploy.facts.util import key_values

from mooring.declare.compose import PLUGIN_PATH


@dataclass(frozen=True)
class ComposeState:
    """What Compose a host has. Fields are None when that piece is absent."""

    plugin_version: str | None
    plugin_sha256: str | None
    v1_path: str | None
    v1_version: str | None
    v1_package: str | None

    @property
    def has_v1(self) -> bool:
        """True when a Compose 1.x (`docker-compose`, Python) is on the host."""
        return bool(self.v1_version and self.v1_version.startswith("1."))


class ComposeInstall(FactBase[ComposeState]):
    """
    Returns a ``ComposeState``: the v2 plugin's version and SHA-256, and a Compose v1
    binary found on PATH with the Debian package that owns it. One remote command.

    .. code:: python

        host.get_fact(ComposeInstall).plugin_version  # "2.40.3"
    """

    def command(self, plugin_path: str = PLUGIN_PATH) -> str:
        plugin = shlex.quote(plugin_path)
        return (
            f"if [ -x {plugin} ]; then "
            f"echo plugin_version=$({plugin} version --short 2>/dev/null | sed 's/^v//'); "
            f"echo plugin_sha256=$(sha256sum {plugin} | cut -d' ' -f1); fi; "
            "v1=$(command -v docker-compose 2>/dev/null || true); "
            'if [ -n "$v1" ]; then echo v1_path=$v1; '
            'echo v1_version=$("$v1" version --short 2>/dev/null | sed "s/^v//"); '
            'echo v1_package=$(dpkg -S "$(readlink -f "$v1")" 2>/dev/null | cut -d: -f1); fi; true'
        )

    @staticmethod
    def default() -> ComposeState:
        return ComposeState(None, None, None, None, None)

    def process(self, output: list[str]) -> ComposeState:
        values = key_values(output)
        return ComposeState(*(values.get(key) or None for key in (
            "plugin_version", "plugin_sha256", "v1_path", "v1_version", "v1_package")))
