"""Where mooring's files live: the source tree and the untracked ``.mooring/`` state folder."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TEMPLATES = ROOT / "templates"
#: The declared state; MOORING_GROUP_DATA points elsewhere (tests use a copy).
GROUP_DATA = Path(os.environ.get("MOORING_GROUP_DATA", ROOT / "group_data"))
INVENTORIES = ROOT / "inventories"
IMAGES = ROOT / "images"
EXAMPLES = ROOT / "examples"


def state_dir() -> Path:
    """The ignored folder that holds keys, secrets and box state (``MOORING_STATE`` overrides)."""
    return Path(os.environ.get("MOORING_STATE", ROOT / ".mooring"))
