"""The command line: registered commands, help for each, clear errors.

Most tests call ``mooring.cli.main`` in this process; two start the real entry points (the
``mooring`` console script and ``python -m mooring``) to prove they are wired."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from mooring.cli import build_parser, main
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
    assert sorted(load_commands()) == ["backup", "bootstrap", "check", "completion", "deploy", "drift", "init",
                                      "logs", "releases", "rollback", "sandbox", "secrets", "status", "unlock",
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


@pytest.mark.parametrize("command", ["sandbox", "bootstrap", "validate", "deploy", "status", "releases", "rollback"])
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


def test_rollback_to_something_that_is_no_release_number_is_refused(capsys):
    code, _out, err = run_main(capsys, "rollback", "sandbox", "--to", "latest")
    assert code == 1 and "--to 'latest': give a release number (mooring releases lists them) or 'previous'" in err


@pytest.mark.parametrize("command", ["deploy", "rollback"])
def test_production_needs_yes_without_a_terminal_and_asks_on_one(world, capsys, monkeypatch, command):
    import mooring.deployer as deployer

    contacted = []
    monkeypatch.setattr(deployer, command, lambda *a, **k: contacted.append(a) or pytest.fail("a host was contacted"))
    read = []  # the rollback's question names each host's target from a snapshot: never a real one here
    monkeypatch.setattr(deployer, "_snapshots", lambda inventory, hosts: read.append(hosts) or {})
    monkeypatch.setattr("sys.stdin.isatty", lambda: False)
    code, _out, err = run_main(capsys, command, "production")
    assert code == 1 and not contacted
    assert f"api-1.production.example.com, api-2.production.example.com in production: add --yes to {command}" in err

    monkeypatch.setattr("sys.stdin.isatty", lambda: True)
    monkeypatch.setattr("builtins.input", lambda prompt: "no")
    assert not read  # no terminal: nothing asked, nothing read
    code, _out, err = run_main(capsys, command, "production")
    assert code == 1 and "not confirmed" in err and not contacted
    assert len(read) == (command == "rollback")


@pytest.mark.parametrize("to, api1", [
    ("previous", "api-1.production.example.com: from release 7 (0007-cc) to release 5 (0005-aa), "
                 "2026-12-01T10:00:00+00:00 by ana: deployed; images mooring/api:1.0.0"),
    ("6", "api-1.production.example.com: from release 7 (0007-cc) to release 6 (0006-bb-failed): no record; "
          "marked failed (refused without --force)"),
])
def test_a_production_rollback_names_what_it_restores_on_each_host_before_asking(world, capsys, monkeypatch,
                                                                                  to, api1):
    """The question comes after one line per host read from its snapshot; a host that could not
    be read says so; nothing is rolled back when the answer is no."""
    import json

    import mooring.deployer as deployer
    from mooring.checks.snapshot import HostSnapshot, ReleasePointer, ReleaseRecord

    record = json.dumps({"time": "2026-12-01T10:00:00+00:00", "operator": "ana", "outcome": "deployed",
                         "images": {"mooring/api:1.0.0": "sha256:aa"}})
    pointer = ReleasePointer(current="0007-cc", kept=("0005-aa", "0006-bb-failed", "0007-cc"),
                             records=(ReleaseRecord("0005-aa", record),), replaced=(("0007-cc", "0005-aa"),))
    asked: list[list[str]] = []

    def snapshots(inventory, hosts):
        asked.append(hosts)
        return {"api-1.production.example.com": HostSnapshot("api-1.production.example.com", 1, 0, release=pointer)}

    monkeypatch.setattr(deployer, "_snapshots", snapshots)
    monkeypatch.setattr(deployer, "rollback", lambda *a, **k: pytest.fail("a host was rolled back"))
    monkeypatch.setattr("sys.stdin.isatty", lambda: True)
    monkeypatch.setattr("builtins.input", lambda prompt: print(prompt) or "no")
    code, out, err = run_main(capsys, "rollback", "production", "--to", to)
    assert code == 1 and "not confirmed" in err
    assert asked == [["api-1.production.example.com", "api-2.production.example.com"]]
    inventory = str(ROOT / "inventories" / "production.py")
    assert out.splitlines() == [
        f"  {api1}",
        f"  api-2.production.example.com: its releases could not be read (mooring status {inventory} --limit "
        "api-2.production.example.com says why)",
        "rollback production host(s) api-1.production.example.com, api-2.production.example.com? "
        "Type 'rollback' to go on: "]


def test_staging_is_not_asked(world, capsys, monkeypatch):
    from mooring.commands import confirm_production
    from mooring.runner import inventory_path

    monkeypatch.setattr("sys.stdin.isatty", lambda: False)
    assert confirm_production(inventory_path("staging"), None, False, "deploy") == ""
    assert confirm_production(inventory_path("production"), None, True, "deploy") == ""


@pytest.mark.parametrize("argv", [["-v", "validate", "sandbox"], ["validate", "sandbox", "-v"],
                                  ["validate", "-v", "sandbox"]])
def test_verbose_is_accepted_before_and_after_the_command(argv):
    args = build_parser().parse_args(argv)
    assert args.verbose is True and args.command == "validate"


def test_without_verbose_it_is_off():
    assert build_parser().parse_args(["validate", "sandbox"]).verbose is False


def test_ctrl_c_ends_with_130_and_a_line_not_a_traceback(capsys, monkeypatch):
    import mooring.commands.validate as validate

    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(validate, "run", interrupted)
    code, _out, err = run_main(capsys, "validate", "sandbox")
    assert code == 130 and err == "mooring validate: interrupted (Ctrl-C)\n"


@pytest.mark.parametrize("line, expected", [("mooring rol", "rollback"), ("mooring deploy sandbox --li", "--limit"),
                                            ("mooring validate sandbox --no-", "--no-secrets")])
def test_bash_completion_completes_commands_and_their_options(capsys, tmp_path, line, expected):
    code, script, _err = run_main(capsys, "completion", "bash")
    assert code == 0
    (tmp_path / "mooring.bash").write_text(script)
    words = line.split(" ")
    probe = (f"source {tmp_path / 'mooring.bash'}; COMP_WORDS=({' '.join(words)}); COMP_CWORD={len(words) - 1}; "
             f"COMP_LINE='{line}'; COMP_POINT={len(line)}; _shtab_mooring; echo \"${{COMPREPLY[@]}}\"")
    done = subprocess.run(["bash", "-c", probe], capture_output=True, text=True, timeout=30)
    assert expected in done.stdout.split(), done.stdout + done.stderr


def test_every_command_help_lists_its_exit_codes(capsys):
    for name in load_commands():
        code, out, _err = run_main(capsys, name, "--help")
        assert code == 0 and "exit codes:\n  0  " in out, name


def _examples(help_text: str) -> list[str]:
    """The command lines of a ``--help``'s ``examples:`` block (comments dropped)."""
    block = help_text.split("\nexamples:\n", 1)[1].split("\n\n", 1)[0]
    lines = [line.strip().split("  #")[0].strip() for line in block.splitlines() if line.strip().startswith("mooring ")]
    return [line.split(" > ")[0].split(" | ")[0] for line in lines]  # the shell's redirections and pipes left out


@pytest.mark.parametrize("name", sorted(COMMAND_MODULES))
def test_every_command_s_help_shows_examples_that_parse(name, capsys):
    """Each ``--help`` has an ``examples:`` block; each example is a valid command line for this
    parser (a renamed option would leave a broken example behind)."""
    import shlex

    with pytest.raises(SystemExit):
        build_parser().parse_args([name, "--help"])
    text = capsys.readouterr().out
    assert "\nexamples:\n" in text, text
    examples = _examples(text)
    assert [line for line in examples if shlex.split(line)[1] == name], examples
    for line in examples:  # another command's example too (rollback's help starts with `mooring releases`)
        args = build_parser().parse_args(shlex.split(line)[1:])
        assert args.command == shlex.split(line)[1], line
