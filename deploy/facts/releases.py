"""Facts about a stack's releases on a host (``<stack dir>/releases/``)."""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass, field

from pyinfra.api import FactBase


@dataclass(frozen=True)
class Release:
    """One kept release: its number, content ID, and whether it failed its health gate."""

    number: int
    release_id: str
    failed: bool = False

    @property
    def dirname(self) -> str:
        return f"{self.number:04d}-{self.release_id}" + ("-failed" if self.failed else "")


@dataclass(frozen=True)
class ReleaseHistory:
    """The releases kept on a host and the one currently in place."""

    releases: list[Release] = field(default_factory=list)
    current: str | None = None

    def next_number(self) -> int:
        return max((r.number for r in self.releases), default=0) + 1

    def by_number(self, number: int) -> Release | None:
        return next((r for r in self.releases if r.number == number), None)

    def current_release(self) -> Release | None:
        return next((r for r in reversed(self.releases) if r.release_id == self.current and not r.failed), None)

    def previous_good(self) -> Release | None:
        """The newest release before the current one that did not fail its gate."""
        current = self.current_release()
        older = [r for r in self.releases if not r.failed and (current is None or r.number < current.number)]
        return older[-1] if older else None


class Releases(FactBase[ReleaseHistory]):
    """
    Returns the ``ReleaseHistory`` of the stack in ``directory``. One remote command.

    .. code:: python

        host.get_fact(Releases, directory="/srv/mooring/solacore").current
    """

    def command(self, directory: str) -> str:
        releases = shlex.quote(f"{directory}/releases")
        return (f"if [ -d {releases} ]; then ls -1 {releases}; "
                f"[ -f {releases}/current ] && echo current=$(cat {releases}/current); fi; true")

    @staticmethod
    def default() -> ReleaseHistory:
        return ReleaseHistory()

    def process(self, output: list[str]) -> ReleaseHistory:
        history = ReleaseHistory()
        current = None
        for line in output:
            if line.startswith("current="):
                current = line.split("=", 1)[1].strip() or None
                continue
            number, _, rest = line.partition("-")
            if number.isdigit() and rest:
                release_id, _, flag = rest.partition("-")
                history.releases.append(Release(int(number), release_id, flag == "failed"))
        history.releases.sort(key=lambda r: r.number)
        return ReleaseHistory(history.releases, current)


class JsonFile(FactBase[dict]):
    """
    Returns the JSON object stored in ``path``, or None when the file is absent or not JSON.

    .. code:: python

        host.get_fact(JsonFile, path="/srv/mooring/solacore/releases/0001-ab12/images.json")
    """

    def command(self, path: str) -> str:
        return f"cat {shlex.quote(path)} 2>/dev/null || true"

    def process(self, output: list[str]) -> dict | None:
        try:
            data = json.loads("\n".join(output))
        except json.JSONDecodeError:
            return None
        return data if isinstance(data, dict) else None
