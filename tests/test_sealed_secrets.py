"""Secrets sealed in the team's repo with age (``mooring secrets``), through the real command line
in this process: a canary secret round-trips into a valid pre-flight and is found in no output
and in no file of the project or the controller's state; rotating to other recipients locks the
old key out; a secret given by the environment is used without decrypting anything."""

from __future__ import annotations

import io
import os
import stat
import sys
from pathlib import Path

import pytest

from mooring.cli import main

CANARY_PG = "Canary4SealedPgPass8Unique"
CANARY_JWT = "Canary7SealedJwtSecret2Unique9"


@pytest.fixture
def project(world, monkeypatch):
    """The test world as a project of its own (secrets/ is written there), staging's plaintext
    secrets removed: only the sealed file can give them."""
    monkeypatch.setenv("MOORING_PROJECT", str(world.root))
    monkeypatch.delenv("MOORING_AGE_KEY", raising=False)
    (world.state / "secrets" / "staging.env").unlink()
    return world


def mooring(capsys, monkeypatch, *args: str, stdin: str | None = None) -> tuple[int, str]:
    """``mooring ARGS`` in this process: (exit code, stdout + stderr)."""
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin or ""))
    capsys.readouterr()
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out + out.err


def keygen_and_trust(capsys, monkeypatch, project) -> str:
    code, out = mooring(capsys, monkeypatch, "secrets", "keygen")
    assert code == 0, out
    public = out.strip().rsplit(" ", 1)[-1]
    assert public.startswith("age1")
    (project.root / "secrets").mkdir(exist_ok=True)
    (project.root / "secrets" / "recipients.txt").write_text(f"# ops team\n{public}\n")
    return public


def seal_staging(capsys, monkeypatch) -> None:
    for name, value in (("POSTGRES_PASSWORD", CANARY_PG), ("JWT_SECRET", CANARY_JWT)):
        code, out = mooring(capsys, monkeypatch, "secrets", "set", "staging", name, stdin=value + "\n")
        assert code == 0 and f"{name} added in" in out, out


def every_byte_under(*folders: Path) -> bytes:
    return b"".join(p.read_bytes() for folder in folders for p in folder.rglob("*") if p.is_file())


def test_sealed_secrets_round_trip_into_a_valid_preflight_and_leave_no_trace(capsys, monkeypatch, project):
    keygen_and_trust(capsys, monkeypatch, project)
    key = project.state / "age.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    seal_staging(capsys, monkeypatch)
    sealed = project.root / "secrets" / "staging.age"
    assert sealed.read_text().startswith("-----BEGIN AGE ENCRYPTED FILE-----")

    code, out = mooring(capsys, monkeypatch, "validate", str(project.inventory), "--limit", "staging", "--json", "-")
    assert code == 0, out
    code, listed = mooring(capsys, monkeypatch, "secrets", "check", "staging")
    assert code == 0 and "2 secret(s) sealed: JWT_SECRET, POSTGRES_PASSWORD" in listed
    everything = out + listed
    on_disk = every_byte_under(project.root)  # the project, the controller state, the sealed file
    for canary in (CANARY_PG, CANARY_JWT):
        assert canary not in everything and canary.encode() not in on_disk
    assert not list(Path("/dev/shm").glob("mooring-secrets-*"))


def test_rotating_to_other_recipients_locks_the_old_key_out(capsys, monkeypatch, project, tmp_path):
    keygen_and_trust(capsys, monkeypatch, project)
    seal_staging(capsys, monkeypatch)
    import pyrage

    newcomer = pyrage.x25519.Identity.generate()
    (project.root / "secrets" / "recipients.txt").write_text(f"{newcomer.to_public()}\n")
    code, out = mooring(capsys, monkeypatch, "secrets", "rotate-key", "staging")
    assert code == 0 and "sealed 2 secret(s) again" in out, out

    code, out = mooring(capsys, monkeypatch, "validate", str(project.inventory), "--limit", "staging")
    assert code == 1 and "cannot be decrypted with your age key" in out  # the old key is out

    monkeypatch.setenv("MOORING_AGE_KEY", str(newcomer))  # e.g. CI's key, given as a secret
    code, out = mooring(capsys, monkeypatch, "validate", str(project.inventory), "--limit", "staging")
    assert code == 0, out
    assert str(newcomer) not in out


def test_secrets_the_environment_gives_are_used_without_decrypting(capsys, monkeypatch, project):
    (project.root / "secrets").mkdir()
    (project.root / "secrets" / "staging.age").write_text("not an age file at all\n")  # decrypting it would fail
    monkeypatch.setenv("MOORING_SECRET_POSTGRES_PASSWORD", CANARY_PG)
    monkeypatch.setenv("MOORING_SECRET_JWT_SECRET", CANARY_JWT)
    code, out = mooring(capsys, monkeypatch, "validate", str(project.inventory), "--limit", "staging")
    assert code == 0, out


def test_a_missing_secret_says_how_to_seal_it(capsys, monkeypatch, project):
    code, out = mooring(capsys, monkeypatch, "validate", str(project.inventory), "--limit", "staging")
    assert code == 1 and "seal it in the repo with `mooring secrets set staging JWT_SECRET`" in out


def test_edit_works_on_a_copy_in_memory_and_seals_the_result(capsys, monkeypatch, project, tmp_path):
    keygen_and_trust(capsys, monkeypatch, project)
    seal_staging(capsys, monkeypatch)
    editor = tmp_path / "editor.sh"
    seen = tmp_path / "edited-where"
    # The script joins the value from two halves: its own text must not hold the canary.
    editor.write_text(f'#!/bin/sh\necho "$1" > {seen}\necho "NEW_TOKEN=Canary3Edited""Token5" >> "$1"\n')
    editor.chmod(0o755)
    monkeypatch.setenv("EDITOR", str(editor))
    code, out = mooring(capsys, monkeypatch, "secrets", "edit", "staging")
    assert code == 0 and "sealed 3 secret(s)" in out, out
    assert seen.read_text().startswith("/dev/shm/mooring-secrets-")  # memory, not a disk
    assert not os.path.exists(seen.read_text().strip())  # and gone afterwards
    code, listed = mooring(capsys, monkeypatch, "secrets", "check", "staging")
    assert "JWT_SECRET, NEW_TOKEN, POSTGRES_PASSWORD" in listed
    assert b"Canary3EditedToken5" not in every_byte_under(project.root)


def test_a_value_never_comes_from_the_command_line_and_never_empty(capsys, monkeypatch, project):
    keygen_and_trust(capsys, monkeypatch, project)
    code, out = mooring(capsys, monkeypatch, "secrets", "set", "staging", "JWT_SECRET", stdin="")
    assert code == 1 and "an empty value is not sealed" in out
    code, out = mooring(capsys, monkeypatch, "secrets", "set", "staging", "jwt-secret", stdin="x")
    assert code == 1 and "is no secret name" in out
    code, out = mooring(capsys, monkeypatch, "secrets", "keygen")
    assert code == 1 and "an age key exists already" in out
