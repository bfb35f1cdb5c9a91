"""``mooring init [DIR]``: scaffold a team's ops repo -- the project mooring finds from the
working directory: ``group_data/`` (the reference stack, commented, as a starting point, with
its pyinfra shims), ``inventories/`` (sandbox, staging and production examples), a
``.gitignore`` keeping ``.mooring/`` (keys, secrets, box state) out of git, and a README.

Never overwrites: a folder that already holds any of these files is refused, naming them.
Exit codes: 0 scaffolded, 1 refused.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from mooring.declare.errors import MooringError
from mooring.declare.paths import ROOT

NAME = "init"
HELP = "scaffold a mooring project (group_data/, inventories/, .gitignore, README) in DIR (default: here)"

#: What a project starts with: mooring's own declared state and inventories, as examples.
SCAFFOLD = ("group_data/all.yml", "group_data/all.py", "group_data/staging.yml", "group_data/staging.py",
            "group_data/production.yml", "group_data/production.py", "group_data/sandbox.yml",
            "group_data/sandbox.py", "inventories/staging.py", "inventories/production.py", "inventories/sandbox.py")
GITIGNORE = ".mooring/\n__pycache__/\n"
README = """# Ops repo (mooring)

The declared state of our stack: `group_data/*.yml` (merged all < group < host), the hosts in
`inventories/`. Secrets never live here: export `MOORING_SECRET_<NAME>` or keep them in the
untracked `.mooring/secrets/<environment>.env` (mode 0600).

    mooring validate staging        # the pre-flight: no host is contacted
    mooring deploy staging          # converge, health gate, rollback on failure
    mooring check production        # is each deployment sound? (exit 0 pass, 1 fail)
    mooring drift production        # 0 clean, 2 drift, 1 error (for a schedule)

Try it on local boxes first: `mooring sandbox up`, then `mooring bootstrap sandbox` and
`mooring deploy sandbox`.
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``init`` command's arguments."""
    parser.add_argument("directory", nargs="?", default=".", help="where to create the project (default: here)")


def scaffold(directory: Path) -> list[Path]:
    """Write the project's files into ``directory``; refuse (``MooringError``, nothing written)
    when any of them exists already. Returns the files written."""
    files = {**{name: ROOT / name for name in SCAFFOLD}, ".gitignore": GITIGNORE, "README.md": README}
    present = sorted(name for name in files if (directory / name).exists())
    if present:
        raise MooringError(f"{directory} already holds {', '.join(present)}: mooring init never overwrites "
                           "(move them away, or pick another folder)")
    written = []
    for name, source in files.items():
        target = directory / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(source, Path):
            shutil.copyfile(source, target)
        else:
            target.write_text(source, encoding="utf-8")
        written.append(target)
    return written


def run(args: argparse.Namespace) -> int:
    """Run ``mooring init``; returns the exit code."""
    directory = Path(args.directory).resolve()
    written = scaffold(directory)
    print(f"created a mooring project in {directory}: {len(written)} files "
          "(group_data/, inventories/, .gitignore, README.md)")
    print(f"next: cd {directory} && mooring validate staging (secrets: MOORING_SECRET_<NAME> or .mooring/secrets/)")
    return 0
