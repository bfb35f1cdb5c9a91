"""Where mooring's files live: its own (templates, images, deploy files) beside the package,
and the team's project -- the ops repo holding ``group_data/`` and ``inventories/`` -- found
like git finds a repository, with its untracked ``.mooring/`` state folder."""

from __future__ import annotations

import functools
import os
from pathlib import Path

from mooring.declare.errors import MooringError

#: mooring's own tree: templates, images, deploy files, examples (never the team's state).
ROOT = Path(__file__).resolve().parent.parent
TEMPLATES = ROOT / "templates"
IMAGES = ROOT / "images"
EXAMPLES = ROOT / "examples"
#: What makes a folder a mooring project: its declared state.
PROJECT_MARKER = Path("group_data") / "all.yml"
PROJECT_ENV = "MOORING_PROJECT"


class NotAProject(MooringError):
    """The working directory is in no mooring project, or MOORING_PROJECT names none."""


def find_project(start: Path) -> Path | None:
    """The nearest folder at or above ``start`` holding ``group_data/all.yml``, or None.

    >>> find_project(ROOT / "group_data") == ROOT, find_project(Path("/")) is None
    (True, True)
    """
    start = start.resolve()
    return next((folder for folder in (start, *start.parents) if (folder / PROJECT_MARKER).is_file()), None)


def project_root() -> Path:
    """The team's project: ``MOORING_PROJECT`` (``--project``) when set, else the nearest folder
    at or above the working directory that holds ``group_data/all.yml`` -- never the folder
    mooring is installed in. Raises :class:`NotAProject` naming the fix."""
    return _project_root(os.environ.get(PROJECT_ENV) or "", os.getcwd())


@functools.lru_cache(maxsize=32)
def _project_root(named: str, cwd: str) -> Path:
    if named:
        if not (Path(named) / PROJECT_MARKER).is_file():
            raise NotAProject(f"{PROJECT_ENV}={named} is not a mooring project (it has no {PROJECT_MARKER}): "
                              "point --project (or MOORING_PROJECT) at your ops repo, or create one: mooring init DIR")
        return Path(named).resolve()
    found = find_project(Path(cwd))
    if found is None:
        raise NotAProject(f"{cwd} is not inside a mooring project (no {PROJECT_MARKER} here or above): "
                          "cd into your ops repo, pass --project DIR (or MOORING_PROJECT), or create one: mooring init DIR")
    return found


def group_data_default() -> Path:
    """The project's declared state, ``<project>/group_data``."""
    return project_root() / "group_data"


def inventories_dir() -> Path:
    """The project's inventories, ``<project>/inventories``."""
    return project_root() / "inventories"


def state_dir() -> Path:
    """The ignored folder that holds keys, secrets and box state (``MOORING_STATE`` overrides):
    ``<project>/.mooring``."""
    override = os.environ.get("MOORING_STATE")
    return Path(override) if override else project_root() / ".mooring"
