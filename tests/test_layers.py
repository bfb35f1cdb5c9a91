"""The packages form layers: declare → checks → deploy → mooring (the command line).

An import that runs back up (the check layer reaching into the command line, a deploy file
importing the CLI's glue) would tie the lower layer to everything above it; this test reads
every module's imports, including those inside functions, and names the offending line.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
#: Each package and the packages it may import from (besides itself).
LAYERS = {
    "declare": set(),
    "checks": {"declare"},
    "deploy": {"declare", "checks"},
    "mooring": {"declare", "checks", "deploy"},
}


def imported_packages(path: Path) -> list[tuple[int, str]]:
    """(line, top-level package) of every import in ``path`` that names one of the layers."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        found += [(node.lineno, name.split(".")[0]) for name in names if name.split(".")[0] in LAYERS]
    return found


def test_the_layers_are_the_packages_on_disk():
    for package in LAYERS:
        assert (ROOT / package / "__init__.py").is_file(), package


@pytest.mark.parametrize("package", sorted(LAYERS))
def test_no_import_runs_back_up(package):
    allowed = LAYERS[package] | {package}
    wrong = [f"{path.relative_to(ROOT)}:{line} imports {target}"
             for path in sorted((ROOT / package).rglob("*.py"))
             for line, target in imported_packages(path) if target not in allowed]
    assert not wrong, f"{package} may import only {sorted(allowed)}:\n" + "\n".join(wrong)


def test_the_check_finds_an_import_running_back_up(tmp_path):
    module = tmp_path / "rule.py"
    module.write_text("def f():\n    from mooring.runner import run_deploy\n")
    assert imported_packages(module) == [(2, "mooring")]
