"""Docstrings that run: the examples in modules' docstrings are tests too.

Every module of the packages below whose source holds a docstring example (``>>>``) is found
by walking the packages, not listed by hand: a new module's examples run without anyone
remembering to add it here. For each, every example not marked ``+SKIP`` must be attempted
(a module with runnable examples attempts at least one), and none may fail. A module with
examples that cannot be imported fails here instead of being passed over.

Modules are found by reading their source, never by importing them first: the pyinfra deploy
files (``deploy/stack.py``...) run operations at import and hold no examples. The examples run
in a throw-away declared world (``world`` fixture), so those that build a model write nothing
into the developer's state.
"""

from __future__ import annotations

import doctest
import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGES = ("mooring", "declare", "checks", "deploy")
ROOT = Path(__file__).resolve().parent.parent


def _module_name(path: Path) -> str:
    """The dotted module name of a source file below ROOT (a package is named by its folder)."""
    parts = path.relative_to(ROOT).with_suffix("").parts
    if parts[0] != "mooring":  # the layers beside the package are its sub-packages (mooring.checks...)
        parts = ("mooring", *parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _in_package(path: Path, top: Path) -> bool:
    """Whether ``path`` is a module of the package at ``top``: every folder on the way holds an
    ``__init__.py`` (an installed mooring keeps data folders, such as examples/, beside its code)."""
    return all((folder / "__init__.py").is_file() for folder in [path.parent, *path.parent.parents]
               if folder.is_relative_to(top))


def _sources(package: str) -> dict[str, str]:
    """Module name -> source text, for ``package`` and every module below it (read, never imported)."""
    files = sorted(path for path in (ROOT / package).rglob("*.py") if _in_package(path, ROOT / package))
    return {_module_name(path): path.read_text(encoding="utf-8") for path in files}


def modules_with_examples() -> list[str]:
    """Every module of PACKAGES whose source holds a docstring example."""
    return [name for package in PACKAGES for name, source in _sources(package).items() if ">>>" in source]


def example_counts(module) -> tuple[int, int]:
    """(all examples, examples not marked +SKIP) that doctest finds in ``module``."""
    tests = doctest.DocTestFinder().find(module)
    examples = [example for test in tests for example in test.examples]
    runnable = [example for example in examples if not example.options.get(doctest.SKIP)]
    return len(examples), len(runnable)


def test_discovery_finds_the_modules_with_examples():
    """The walk sees modules of every package (a broken walk would pass every case vacuously)."""
    found = modules_with_examples()
    assert {"mooring.declare.model", "mooring.deploy.plan", "mooring.checks.preflight", "mooring.sandbox.stack_images"} <= set(found)
    assert "mooring.deploy.stack" not in found  # a pyinfra deploy file: never imported here


#: Importing these modules monkey-patches the whole process for gevent (as the pyinfra CLI does):
#: run in this test worker, the patched threads would break pytest-xdist's own channel later on.
PATCHES_ON_IMPORT = "import pyinfra_cli"


def run_examples(name: str) -> tuple[int, int, doctest.TestResults]:
    """(examples, runnable examples, doctest's result) of module ``name``, run in this process."""
    module = importlib.import_module(name)
    total, runnable = example_counts(module)
    return total, runnable, doctest.testmod(module, optionflags=doctest.ELLIPSIS, report=True)


def run_examples_apart(name: str) -> tuple[int, int, doctest.TestResults]:
    """The same as :func:`run_examples`, in a child Python (for modules that patch their process)."""
    code = ("import json, sys, tests.test_doctests as t\n"
            "total, runnable, result = t.run_examples(sys.argv[1])\n"
            "print(json.dumps([total, runnable, result.failed, result.attempted]))")
    done = subprocess.run([sys.executable, "-c", code, name], capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    total, runnable, failed, attempted = json.loads(done.stdout.strip().splitlines()[-1])
    return total, runnable, doctest.TestResults(failed, attempted)


def test_a_module_that_patches_its_process_runs_apart():
    sources = {name: source for package in PACKAGES for name, source in _sources(package).items()}
    assert PATCHES_ON_IMPORT in sources["mooring.snapshots"]  # else the name below no longer says why
    total, runnable, result = run_examples_apart("mooring.snapshots")
    assert (total, runnable, result.failed) == (1, 0, 0)


@pytest.mark.parametrize("name", modules_with_examples())
def test_docstring_examples(name, world, monkeypatch):
    monkeypatch.delenv("MOORING_GROUP_DATA")  # mooring.declare.layers's example sets and unsets it itself
    source = next(source for package in PACKAGES for module, source in _sources(package).items() if module == name)
    total, runnable, result = (run_examples_apart if PATCHES_ON_IMPORT in source else run_examples)(name)
    assert result.failed == 0, f"{name}: {result.failed} of {result.attempted} example(s) failed (see the output above)"
    assert total > 0, f"{name}: `>>>` in the source, but doctest finds no example (in a string that is no docstring?)"
    assert result.attempted >= runnable, f"{name}: {result.attempted} of {runnable} runnable example(s) attempted"
    if runnable:
        assert result.attempted > 0, f"{name}: no example ran"
