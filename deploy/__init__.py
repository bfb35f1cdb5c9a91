"""mooring's pyinfra side: its deploy files (``stack.py``, ``bootstrap.py``...), reusable
``@deploy`` roles, and its own facts (which read) and operations (which write). Pure pyinfra: no
argument parsing here."""

from __future__ import annotations

from pathlib import Path

from mooring.declare.errors import MooringError


def deploy_file(name: str) -> str:
    """The absolute path of mooring's deploy file ``name``, for a team's own deploy file to run
    with ``pyinfra.local.include`` (``mooring init`` writes such files).

    >>> Path(deploy_file("stack")).name, Path(deploy_file("stack")).is_absolute()
    ('stack.py', True)
    """
    path = Path(__file__).resolve().parent / f"{name}.py"
    if not path.is_file():
        shipped = sorted(p.stem for p in path.parent.glob("*.py") if not p.stem.startswith("_"))
        raise MooringError(f"mooring has no deploy file {name!r}: use one of {', '.join(shipped)}")
    return str(path)
