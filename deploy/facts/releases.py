"""Facts about a stack's releases on a host (``<stack dir>/releases/``)."""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass, field

from pyinfra.api import FactBase

from mooring.checks.snapshot import previous_release
from mooring.declare.render import MaskedFile

#: A release's secret files, masked (``mooring.declare.render.MaskedFile`` as JSON): no secret value in it.
MASKED_FILES = "masked-files.json"
#: In a release folder: ``NNNN-<id>`` of the release that was current when it was staged (the one it replaced).
REPLACES = "replaces"


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
    """The releases kept on a host, the one currently in place (it passed its gate), and the
    one an unfinished run staged (``pending``: saved, never promoted).

    ``current`` is the current release's ID; ``current_number`` its number when the host
    recorded one (IDs recur when a config is reverted, numbers never do). ``replaced`` maps a
    release's number to the number of the release it replaced (its ``replaces`` file; releases
    staged by an older mooring have none). ``digest`` sums up the listing, so a run can tell at
    execution time that another run changed it meanwhile.
    """

    releases: list[Release] = field(default_factory=list)
    current: str | None = None
    current_number: int | None = None
    pending: Release | None = None
    pending_run: str | None = None
    digest: str = ""
    replaced: dict[int, int] = field(default_factory=dict)

    def next_number(self) -> int:
        return max((r.number for r in self.releases), default=0) + 1

    def by_number(self, number: int) -> Release | None:
        return next((r for r in self.releases if r.number == number), None)

    def current_release(self) -> Release | None:
        if self.current_number is not None:
            found = self.by_number(self.current_number)
            return found if found and not found.failed and found.release_id == self.current else None
        return next((r for r in reversed(self.releases) if r.release_id == self.current and not r.failed), None)

    def pending_release(self) -> Release | None:
        """The staged, never promoted release of an unfinished run (still kept, not failed)."""
        if self.pending is None:
            return None
        found = self.by_number(self.pending.number)
        return found if found and not found.failed and found.release_id == self.pending.release_id else None

    def previous_good(self) -> Release | None:
        """The good release that was live before the current one: the one it replaced, or the one
        that one replaced, and so on (``replaces`` files). A release an operator rolled back from
        is never in that line, so it never comes back by default. Where the line ends (a release
        pruned, or staged by an older mooring), the newest good release numbered below it. With
        no current release, the newest good one (``mooring.checks.snapshot.previous_release``).

        >>> h = ReleaseHistory([Release(6, "a"), Release(7, "b"), Release(8, "c")], current="c",
        ...                    current_number=8, replaced={7: 6, 8: 6})
        >>> h.previous_good().number  # 7 was rolled back from (6 was current again when 8 was staged)
        6
        """
        current = self.current_release()
        good = [r.number for r in self.releases if not r.failed]
        found = previous_release(current.number if current else None, good, self.replaced)
        return self.by_number(found) if found is not None else None


class Releases(FactBase[ReleaseHistory]):
    """
    Returns the ``ReleaseHistory`` of the stack in ``directory``. One remote command.

    .. code:: python

        host.get_fact(Releases, directory="/srv/mooring/solacore").current
    """

    def command(self, directory: str) -> str:
        return releases_listing(directory)

    @staticmethod
    def default() -> ReleaseHistory:
        return ReleaseHistory()

    def process(self, output: list[str]) -> ReleaseHistory:
        releases: list[Release] = []
        values: dict[str, str] = {}
        replaced: dict[int, int] = {}
        for line in output:
            key, sep, value = line.partition("=")
            if sep and key in ("current", "pending", "digest"):
                values[key] = value.strip()
                continue
            if sep and key.startswith(f"{REPLACES} "):
                release, older = parse_dirname(key.partition(" ")[2]), parse_dirname(value.strip())
                if release is not None and older is not None:
                    replaced[release.number] = older.number
                continue
            parsed = parse_dirname(line.strip())
            if parsed is not None:
                releases.append(parsed)
        releases.sort(key=lambda r: r.number)
        current, current_number = values.get("current") or None, None
        if current and parse_dirname(current):
            current_number, current = parse_dirname(current).number, parse_dirname(current).release_id
        pending_text, _, pending_run = (values.get("pending") or "").partition(" ")
        return ReleaseHistory(releases, current, current_number, parse_dirname(pending_text),
                              pending_run.strip() or None, values.get("digest", ""), replaced)


def parse_dirname(name: str) -> Release | None:
    """``0003-ab12cd`` or ``0003-ab12cd-failed`` → Release; anything else → None.

    >>> parse_dirname("0003-ab12cd-failed")
    Release(number=3, release_id='ab12cd', failed=True)
    >>> parse_dirname("current") is None
    True
    """
    number, _, rest = name.partition("-")
    if not number.isdigit() or not rest:
        return None
    release_id, _, flag = rest.partition("-")
    if not release_id.isalnum() or flag not in ("", "failed"):
        return None
    return Release(int(number), release_id, flag == "failed")


def releases_listing(directory: str) -> str:
    """Shell that lists ``<directory>/releases`` with ``current=``, ``pending=``, ``digest=`` and
    ``replaces NNNN-<id>=MMMM-<id>`` lines (one per release folder holding a ``replaces`` file).

    The digest covers exactly what the listing shows; the deploy lock recomputes it at execution
    time with :func:`releases_digest_sh` to see whether another run changed the history meanwhile.
    """
    releases = shlex.quote(f"{directory}/releases")
    return (f"if [ -d {releases} ]; then ls -1 {releases}; "
            f"[ -f {releases}/current ] && echo current=$(cat {releases}/current); "
            f"[ -f {releases}/pending ] && echo pending=$(cat {releases}/pending); "
            f"for f in {releases}/*/{REPLACES}; do [ -f \"$f\" ] || continue; d=${{f%/{REPLACES}}}; "
            f"echo \"{REPLACES} ${{d##*/}}=$(cat \"$f\")\"; done; fi; "
            f"echo digest=$({releases_digest_sh(directory)}); true")


def releases_digest_sh(directory: str) -> str:
    """Shell printing a short digest of the release listing, ``current`` and ``pending``."""
    releases = shlex.quote(f"{directory}/releases")
    return (f"{{ ls -1 {releases} 2>/dev/null; cat {releases}/current {releases}/pending 2>/dev/null; }}"
            f" | cksum | tr ' ' -")


class DeployLock(FactBase[dict]):
    """
    Returns the owner record of the stack's deploy lock (run, operator, controller, pids,
    command, started), ``{}`` for a lock without a readable owner, or None when unlocked.

    .. code:: python

        host.get_fact(DeployLock, directory="/srv/mooring/solacore")
    """

    def command(self, directory: str) -> str:
        lock = shlex.quote(f"{directory}/.mooring/lock")
        return f"if [ -d {lock} ]; then echo locked; cat {lock}/owner 2>/dev/null; fi; true"

    @staticmethod
    def default() -> None:
        return None

    def process(self, output: list[str]) -> dict | None:
        if not output or output[0].strip() != "locked":
            return None
        try:
            owner = json.loads("\n".join(output[1:]))
        except json.JSONDecodeError:
            return {}
        return owner if isinstance(owner, dict) else {}


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


class MaskedFiles(FactBase[tuple]):
    """
    Returns the masked secret files a release keeps (``releases/NNNN-<id>/masked-files.json``)
    as a tuple of ``mooring.declare.render.MaskedFile``, or None when the release keeps none (staged by
    a mooring that kept ``secret-files.tar.gz``) or the file is unreadable. Nothing secret is read.

    .. code:: python

        host.get_fact(MaskedFiles, release_dir="/srv/mooring/solacore/releases/0003-0f3a9c")
    """

    def command(self, release_dir: str) -> str:
        return f"cat {shlex.quote(release_dir + '/' + MASKED_FILES)} 2>/dev/null || true"

    @staticmethod
    def default() -> None:
        return None

    def process(self, output: list[str]) -> tuple | None:
        try:
            data = json.loads("\n".join(output))
            return tuple(MaskedFile.from_dict(item) for item in data["files"])
        except (json.JSONDecodeError, KeyError, TypeError, ValueError):
            return None
