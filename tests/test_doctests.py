"""Docstrings that run: the examples in modules' docstrings are tests too.

Every listed module must attempt at least one example: a module whose examples are all
skipped (or gone) fails here instead of passing with nothing checked. The examples run in a
throw-away declared world (``world`` fixture), so those that build a model write nothing
into the developer's state.
"""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "declare.cron", "declare.schema", "checks.registry", "deploy.facts.util", "deploy.operations.stack",
    "mooring.commands.validate", "declare.layers", "checks.probes", "declare.render", "declare.secrets",
    "mooring.commands.backup", "mooring.report", "mooring.output.text", "declare.dumps", "declare.interpolation",
    "checks.rules.common",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name, world, monkeypatch):
    monkeypatch.delenv("MOORING_GROUP_DATA")  # declare.layers's example sets and unsets it itself
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS, report=True)
    assert result.failed == 0, f"{name}: {result.failed} of {result.attempted} example(s) failed (see the output above)"
    assert result.attempted >= 1, f"{name}: no example ran (all skipped or none written)"
