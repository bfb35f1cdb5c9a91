"""The command line: registered commands, help for each, clear errors.

Most tests call ``mooring.cli.main`` in this process; two start the real entry points (the
``mooring`` console script and ``python -m mooring``) to prove they are wired."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from mooring.cli import main
from mooring.commands import COMMAND_MODULES, load_commands
from tests.conftest import ROOT

CONSOLE_SCRIPT = Path(sys.executable).parent / "mooring"


def run_process(*command: str) -> subprocess.CompletedProcess:
    return subprocess.run(list(command), cwd=ROOT, capture_output=True, text=True, timeout=120,
                          stdin=subprocess.DEVNULL)


def run_main(capsys, *args: str) -> tuple[int, str, str]:
    """``mooring ARGS`` in this process: (exit code, stdout, stderr); argparse's exits included."""
    capsys.readouterr()
    try:
        code = main(list(args))
    except SystemExit as exc:  # --help and usage errors leave through argparse
        code = exc.code if isinstance(exc.code, int) else 1
    out = capsys.readouterr()
    return code, out.out, out.err


def test_registered_commands():
    assert sorted(load_commands()) == ["backup", "bootstrap", "check", "deploy", "drift", "init", "sandbox", "unlock",
                                      "validate"]


def test_duplicate_command_is_refused(monkeypatch):
    import mooring.commands as commands

    monkeypatch.setattr(commands, "COMMAND_MODULES", (*COMMAND_MODULES, "deploy"))
    with pytest.raises(ValueError, match="registered twice"):
        commands.load_commands()


def test_help_lists_every_command(capsys):
    code, out, _err = run_main(capsys, "--help")
    assert code == 0
    for name in load_commands():
        assert name in out


@pytest.mark.parametrize("command", ["sandbox", "bootstrap", "validate", "deploy"])
def test_every_command_has_help(capsys, command):
    code, out, err = run_main(capsys, command, "--help")
    assert code == 0, err
    assert out.startswith(f"usage: mooring {command}")
    assert load_commands()[command].HELP.split()[0] in out


def test_a_missing_command_is_a_usage_error(capsys):
    code, _out, err = run_main(capsys)
    assert code == 2 and "usage: mooring" in err and "COMMAND" in err


def test_unknown_inventory_is_a_clear_error(capsys):
    code, _out, err = run_main(capsys, "deploy", "nowhere")
    assert code == 1
    assert "inventory 'nowhere' not found" in err
    assert "production, sandbox, staging" in err
    assert "Traceback" not in err


# --- the real entry points, in child processes ------------------------------------------------

def test_the_console_script_runs_the_cli():
    assert CONSOLE_SCRIPT.exists(), f"{CONSOLE_SCRIPT} is missing: pip install -e '.[test]' (make test does)"
    out = run_process(str(CONSOLE_SCRIPT), "--help")
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("usage: mooring") and all(name in out.stdout for name in load_commands())


def test_python_dash_m_mooring_exits_with_the_commands_code():
    out = run_process(sys.executable, "-m", "mooring", "deploy", "nowhere")
    assert out.returncode == 1
    assert "mooring: error: inventory 'nowhere' not found" in out.stderr
    assert "Traceback" not in out.stderr
