"""``mooring init [DIR]``: scaffold a team's ops repo -- the project mooring finds from the
working directory: ``group_data/`` (the reference stack, commented, as a starting point, with
its pyinfra shims), ``inventories/`` (sandbox, staging and production examples), ``deploy/``
(thin pyinfra deploy files that run mooring's own, for plain ``pyinfra INVENTORY deploy/stack.py``), a
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
#: Shown under ``examples:`` in ``--help`` (each one is parsed by tests/test_cli.py).
EXAMPLES = (
    'mooring init                            # here: the current folder becomes the ops repo',
    'mooring init ../our-ops                 # then: cd ../our-ops && mooring validate staging',
)
HELP = "scaffold a mooring project (group_data/, inventories/, deploy/, .gitignore, README) in DIR (default: here)"

#: What a project starts with: mooring's own declared state and inventories, as examples.
SCAFFOLD = ("group_data/all.yml", "group_data/all.py", "group_data/staging.yml", "group_data/staging.py",
            "group_data/production.yml", "group_data/production.py", "group_data/sandbox.yml",
            "group_data/sandbox.py", "inventories/staging.py", "inventories/production.py", "inventories/sandbox.py")
GITIGNORE = ".mooring/\n__pycache__/\n"
#: The project's own deploy files: each runs one of mooring's (``mooring.deploy.deploy_file``), so
#: plain pyinfra works from the project as ``mooring deploy`` does (without its gate and rollback).
DEPLOY_FILE = '''"""{what} (mooring's ``deploy/{name}.py``), for plain pyinfra from this project:

    pyinfra inventories/staging.py deploy/{name}.py      # or: mooring {command} staging
"""

from pyinfra import local

from mooring.deploy import deploy_file

local.include(deploy_file("{name}"))
'''
DEPLOY_FILES = {
    "deploy/stack.py": DEPLOY_FILE.format(what="Converge the declared stack on the inventory's docker hosts",
                                          name="stack", command="deploy"),
    "deploy/bootstrap.py": DEPLOY_FILE.format(what="Make bare Debian boxes ready docker hosts", name="bootstrap",
                                              command="bootstrap"),
}
README = """# Ops repo (mooring)

The declared state of our stack: `group_data/*.yml` (merged all < group < host), the hosts in
`inventories/`. Secrets never live here: export `MOORING_SECRET_<NAME>` or keep them in the
untracked `.mooring/secrets/<environment>.env` (mode 0600).

    mooring validate staging        # the pre-flight: no host is contacted
    mooring deploy staging          # converge, health gate, rollback on failure
    mooring check production        # is each deployment sound? (exit 0 pass, 1 fail)
    mooring drift production        # 0 clean, 2 drift, 1 error (for a schedule)
    pyinfra inventories/staging.py deploy/stack.py   # the same converge, plain pyinfra (no gate/rollback)

Try it on local boxes first: `mooring sandbox up`, then `mooring bootstrap sandbox` and
`mooring deploy sandbox`.
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``init`` command's arguments."""
    parser.add_argument("directory", nargs="?", default=".", help="where to create the project (default: here)")


def scaffold(directory: Path) -> list[Path]:
    """Write the project's files into ``directory``; refuse (``MooringError``, nothing written)
    when any of them exists already. Returns the files written."""
    files = {**{name: ROOT / name for name in SCAFFOLD}, **DEPLOY_FILES, ".gitignore": GITIGNORE, "README.md": README}
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
          "(group_data/, inventories/, deploy/, .gitignore, README.md)")
    print(f"next: cd {directory} && mooring validate staging (secrets: MOORING_SECRET_<NAME> or .mooring/secrets/)")
    return 0
