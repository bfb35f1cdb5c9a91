"""mooring: keep small docker-compose backends in their declared state.

Its layers are ``mooring.declare`` (YAML → schema → model → render), ``mooring.checks`` (rules,
snapshot, drift, probes) and ``mooring.deploy`` (pyinfra deploy files, roles, facts and
operations). Installed from a wheel they are sub-packages of this one; the repository keeps them
at its top (``declare/``, ``checks/``, ``deploy/`` beside ``mooring/``), where they are found
through this package's path, so that no top-level name of mooring's can shadow a team's own
``deploy/`` or ``checks/`` folder.
"""

from pathlib import Path

__version__ = "0.1.0"

_HERE = Path(__file__).resolve().parent
if not (_HERE / "deploy").is_dir() and (_HERE.parent / "deploy" / "__init__.py").is_file():
    __path__.append(str(_HERE.parent))  # a checkout (or `pip install -e .`): the layers sit beside us
