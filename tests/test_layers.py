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
#: The layers' old top-level names: installed, they would shadow a team's own deploy/ or checks/.
BARE = ("declare", "checks", "deploy")
#: Every folder of Python code in the repository (the layers, the CLI, tests, tools, shims).
CODE = ("declare", "checks", "deploy", "mooring", "tests", "tools", "bench", "group_data", "inventories", "examples")


def imported_packages(path: Path) -> list[tuple[int, str]]:
    """(line, layer) of every import in ``path`` that names one of mooring's layers
    (``mooring.declare...`` is ``declare``; ``mooring.runner`` is ``mooring``)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        found += [(node.lineno, layer) for name in names if (layer := _layer(name))]
    return found


def _layer(module: str) -> str | None:
    """The layer a dotted module name belongs to, or None when it is not mooring's."""
    parts = module.split(".")
    if parts[0] in BARE:
        return parts[0]
    if parts[0] != "mooring":
        return None
    return parts[1] if len(parts) > 1 and parts[1] in LAYERS else "mooring"


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
    module.write_text("def f():\n    from mooring.runner import run_deploy\n    import mooring.checks.live\n")
    assert imported_packages(module) == [(2, "mooring"), (3, "checks")]


def test_no_code_imports_a_layer_by_its_bare_name():
    """``import deploy`` would find a team's own deploy/ folder first: always ``mooring.deploy``."""
    bare = [f"{path.relative_to(ROOT)}:{line} imports {target} (write mooring.{target})"
            for folder in CODE for path in sorted((ROOT / folder).rglob("*.py"))
            for line, target in _bare_imports(path)]
    assert not bare, "\n".join(bare)


def _bare_imports(path: Path) -> list[tuple[int, str]]:
    """(line, name) of every import of a bare layer name in ``path``."""
    tree = ast.parse(path.read_text(), filename=str(path))
    names = [(node.lineno, alias.name) for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names]
    names += [(node.lineno, node.module) for node in ast.walk(tree)
              if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module]
    return [(line, name.split(".")[0]) for line, name in names if name.split(".")[0] in BARE]
