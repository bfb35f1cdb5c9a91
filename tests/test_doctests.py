"""Docstrings that run: the examples in pure modules' docstrings are tests too."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = ["mooring.secrets", "deploy.operations.stack", "checks.cron", "mooring.declared", "mooring.gate",
           "deploy.facts.util"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
