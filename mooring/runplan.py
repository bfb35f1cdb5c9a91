"""A run directory where deploy files leave per-host plans for the ``mooring`` command.

``mooring deploy`` sets ``MOORING_RUN_DIR`` before it starts pyinfra; the deploy files (which run
on the controller) write what they decided for each host there: release number and ID, the
previous good release, what changed, where to probe health. A plain ``pyinfra`` run has no run
directory and writes nothing.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

RUN_DIR_ENV = "MOORING_RUN_DIR"


def run_dir() -> Path | None:
    """The current run directory, or None outside ``mooring`` runs."""
    value = os.environ.get(RUN_DIR_ENV)
    return Path(value) if value else None


def write_host_plan(host_name: str, kind: str, plan: dict[str, Any]) -> None:
    """Leave ``plan`` for ``host_name`` (no-op outside a mooring run). Never put secrets in it."""
    directory = run_dir()
    if directory is None:
        return
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"{kind}-{host_name}.json").write_text(json.dumps(plan, indent=2, sort_keys=True))


def read_host_plans(directory: Path, kind: str) -> dict[str, dict[str, Any]]:
    """Every host's plan of ``kind`` left in ``directory``."""
    plans = {}
    for path in sorted(directory.glob(f"{kind}-*.json")):
        plans[path.stem[len(kind) + 1:]] = json.loads(path.read_text())
    return plans


def read_host_plan(host_name: str, kind: str) -> dict[str, Any] | None:
    """The plan of ``kind`` this run left for ``host_name``, or None (outside mooring runs)."""
    directory = run_dir()
    path = directory / f"{kind}-{host_name}.json" if directory else None
    return json.loads(path.read_text()) if path and path.exists() else None
