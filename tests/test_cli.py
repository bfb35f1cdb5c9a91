"""The command line: registered commands, help for each, clear errors."""

from __future__ import annotations

import subprocess
import sys

import pytest

from mooring.commands import COMMAND_MODULES, load_commands
from tests.conftest import ROOT


def mooring(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mooring", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, stdin=subprocess.DEVNULL)


def test_registered_commands():
    assert sorted(load_commands()) == ["bootstrap", "deploy", "sandbox", "validate"]


def test_duplicate_command_is_refused(monkeypatch):
    import mooring.commands as commands

    monkeypatch.setattr(commands, "COMMAND_MODULES", (*COMMAND_MODULES, "deploy"))
    with pytest.raises(ValueError, match="registered twice"):
        commands.load_commands()


def test_help_lists_every_command():
    out = mooring("--help")
    assert out.returncode == 0
    for name in load_commands():
        assert name in out.stdout


@pytest.mark.parametrize("command", ["sandbox", "bootstrap", "validate", "deploy"])
def test_every_command_has_help(command):
    out = mooring(command, "--help")
    assert out.returncode == 0, out.stderr
    assert "usage: mooring" in out.stdout


def test_unknown_inventory_is_a_clear_error():
    out = mooring("deploy", "nowhere")
    assert out.returncode == 1
    assert "inventory 'nowhere' not found" in out.stderr
    assert "production, sandbox, staging" in out.stderr
    assert "Traceback" not in out.stderr
