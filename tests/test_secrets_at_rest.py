"""Secrets at rest (issue 7, item 11): the digest key is written atomically and never used empty
or short; a secrets file that group or others may read is refused; a release keeps its secret
files masked (a placeholder per secret), restored with the secrets declared at rollback time.

Host-free: real files in a temporary state folder, no mocks. The box tests in
tests/test_deploy_safety.py prove the same on hosts (no value under releases/, rollback).
"""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys

import pytest

from mooring.declare.errors import ConfigError
from mooring.declare.render import MASK_MARK, MaskedFile, SecretMaskError, mask_secrets, unmask_secrets
from mooring.declare.secrets import DIGEST_KEY_HEX_LENGTH, SecretRef, digest_key, digest_key_path, resolve_secrets, secrets_file
from tests.conftest import CANARIES, CANARY_DB, CANARY_JWT
from tests.declared_world import ROOT, run_validate

pytestmark = pytest.mark.filterwarnings("ignore")


@pytest.fixture
def state(tmp_path, monkeypatch):
    """An empty controller state folder, active for this test (no MOORING_SECRET_* leaks in)."""
    for key in [k for k in os.environ if k.startswith("MOORING_SECRET_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("MOORING_STATE", str(tmp_path / "state"))
    return tmp_path / "state"


def test_digest_key_is_created_whole_and_private(state):
    key = digest_key()
    path = digest_key_path()
    assert len(key) == DIGEST_KEY_HEX_LENGTH and int(key, 16) >= 0
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert digest_key() == key  # read back, not made again
    assert not [p.name for p in path.parent.iterdir() if p.name != "digest.key"], "temporary files left behind"


def test_empty_digest_key_left_by_a_kill_is_refused(state):
    """The old code created the file first and wrote it later: a kill in between left it empty,
    and every later run used the empty key without a word."""
    path = digest_key_path()
    path.parent.mkdir(parents=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    os.close(fd)
    with pytest.raises(ConfigError) as caught:
        digest_key()
    text = str(caught.value)
    assert str(path) in text and "empty, short or damaged" in text and f"remove {path}" in text
    assert path.read_bytes() == b"", "a refused key is left for the operator, not silently replaced"


@pytest.mark.parametrize("content", ["abc123\n", "z" * 64 + "\n", " \n"], ids=["short", "not-hex", "blank"])
def test_damaged_digest_key_is_refused(state, content):
    path = digest_key_path()
    path.parent.mkdir(parents=True, mode=0o700)
    path.write_text(content)
    path.chmod(0o600)
    with pytest.raises(ConfigError, match="empty, short or damaged"):
        digest_key()


def test_digest_key_readable_by_others_is_refused(state):
    digest_key()
    digest_key_path().chmod(0o644)
    with pytest.raises(ConfigError, match=r"chmod 600 .*digest\.key"):
        digest_key()


def test_digest_key_killed_writer_leaves_no_key(state):
    """A writer killed before the rename leaves no digest.key at all (the next run makes a whole one)."""
    code = ("import os, signal, mooring.declare.secrets as s\n"
            "real = os.link\n"
            "def killed(*args, **kwargs):\n"
            "    os.kill(os.getpid(), signal.SIGKILL)\n"
            "os.link = killed\n"
            "s.digest_key()\n")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env={**os.environ}, capture_output=True, timeout=60)
    assert proc.returncode == -9
    assert not digest_key_path().exists()
    assert len(digest_key()) == DIGEST_KEY_HEX_LENGTH


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660, 0o602])
def test_secrets_file_readable_by_others_is_refused(state, mode):
    path = secrets_file("staging")
    path.parent.mkdir(parents=True, mode=0o700)
    path.write_text("JWT_SECRET=Stag9Jwt3Secret7Value4Y\n")
    path.chmod(mode)
    with pytest.raises(ConfigError) as caught:
        resolve_secrets([SecretRef("JWT_SECRET", "stack.env.JWT_SECRET", "group_data/all.yml")], "staging")
    text = str(caught.value)
    assert str(path) in text and f"chmod 600 {path}" in text and f"mode {mode:04o}" in text
    assert "Stag9Jwt3Secret7Value4Y" not in text


def test_private_secrets_file_is_read(state):
    path = secrets_file("staging")
    path.parent.mkdir(parents=True, mode=0o700)
    path.write_text("JWT_SECRET=Stag9Jwt3Secret7Value4Y\n")
    path.chmod(0o600)
    found = resolve_secrets([SecretRef("JWT_SECRET", "stack.env.JWT_SECRET", "group_data/all.yml")], "staging")
    assert found == {"JWT_SECRET": "Stag9Jwt3Secret7Value4Y"}


def test_validate_refuses_a_world_readable_secrets_file(world):
    """Through the real CLI: exit 1, the file and the fix named, no traceback, no value."""
    path = world.state / "secrets" / "production.env"
    path.chmod(0o644)
    proc = run_validate(world, "--limit", "production")
    output = proc.stdout + proc.stderr
    assert proc.returncode == 1, output
    assert "readable or writable by group or others" in output and "chmod 600" in output
    assert "Traceback" not in output and "Prod0Pg4Pass9Word7Long" not in output


# --- secret files as releases keep them (masked): no secret value in any release ----------

ROTATED_JWT = "r0tated 'JWT' \"v\" $x \\y kvyp"  # another shape than the canary: quoted differently


def sandbox_files(monkeypatch, jwt: str):
    """(rendered stack, masked secret files, stack) of the sandbox's first host with ``jwt``."""
    from mooring.declare.render import masked_files, render_stack
    from tests.declared_world import model_for

    monkeypatch.setenv("MOORING_SECRET_POSTGRES_PASSWORD", CANARY_DB)
    monkeypatch.setenv("MOORING_SECRET_JWT_SECRET", jwt)
    model = model_for("sandbox")
    rendered = render_stack(model)
    return rendered, masked_files(rendered, model.stack), model.stack


def test_masked_env_holds_no_secret_and_restores_byte_for_byte(world, monkeypatch):
    from mooring.declare.render import declared_secrets

    rendered, masked, stack = sandbox_files(monkeypatch, CANARY_JWT)
    assert [m.path for m in masked] == [stack.env_file] and masked[0].dotenv and masked[0].mode == "0600"
    text = masked[0].content
    for canary in CANARIES:
        assert canary not in text
    assert "JWT_SECRET=@@mooring-secret:JWT_SECRET@@" in text.splitlines()
    assert "@@mooring-secret:POSTGRES_PASSWORD@@" in [line for line in text.splitlines()
                                                     if line.startswith("DATABASE_URL=")][0]
    assert masked[0].restored(declared_secrets(stack)) == rendered.file(stack.env_file).content


def test_masked_env_restored_with_rotated_secrets_is_what_mooring_renders_for_them(world, monkeypatch):
    """A rollback writes the kept release's .env with the secrets declared now: exactly the file a
    deploy of that release's config with today's secrets writes (so the next deploy changes nothing)."""
    from mooring.declare.render import declared_secrets

    _, old_masked, _ = sandbox_files(monkeypatch, CANARY_JWT)
    rendered, _, stack = sandbox_files(monkeypatch, ROTATED_JWT)
    assert old_masked[0].restored(declared_secrets(stack)) == rendered.file(stack.env_file).content


def test_a_secret_no_longer_declared_is_named_with_the_release(world, monkeypatch):
    _, masked, stack = sandbox_files(monkeypatch, CANARY_JWT)
    with pytest.raises(SecretMaskError) as caught:
        masked[0].restored({"POSTGRES_PASSWORD": CANARY_DB}, release="release 0003-ab12cd")
    text = str(caught.value)
    assert "release 0003-ab12cd: /srv/mooring/solacore/.env names secret JWT_SECRET" in text
    assert "no longer declares" in text and "{secret: JWT_SECRET}" in text
    for canary in CANARIES:
        assert canary not in text


# Tests as data: (content, secrets, dotenv, masked). Each masked text restores to the content.
MASK_CASES = {
    "env-bare": ("A=1\nPW=Zk3vQ9xxLong\n", {"PW": "Zk3vQ9xxLong"}, True, "A=1\nPW=@@mooring-secret:PW@@\n"),
    "env-double-quoted": ("PW=\"it's \\$5\"\n", {"PW": "it's $5"}, True, "PW=@@mooring-secret:PW@@\n"),
    "env-embedded": ("URL='u:p w@db'\n", {"PW": "p w"}, True, "URL=u:@@mooring-secret:PW@@@db\n"),
    "env-literal-mark": ("X=@@mooring-x\n", {}, True, "X=@@mooring-literal@@x\n"),
    "env-comment-kept": ("# stack s\nPW=sEcr3tValue\n", {"PW": "sEcr3tValue"}, True,
                         "# stack s\nPW=@@mooring-secret:PW@@\n"),
    "yaml-quoted": ('pw: "a\\"b$c"\n', {"PW": 'a"b$c'}, False, 'pw: "@@mooring-secret:PW/j@@"\n'),
    "compose-escaped": ("pw: a$$b\n", {"PW": "a$b"}, False, "pw: @@mooring-secret:PW/ck@@\n"),
    "shell-word": ("PW='a b'\n", {"PW": "a b"}, False, "PW=@@mooring-secret:PW/s@@\n"),
    "any-form": ("k=Zk3vQ9\n", {"PW": "Zk3vQ9"}, False, "k=@@mooring-secret:PW/*@@\n"),
    "longest-first": ("x=AAbbCCdd y=bbCC\n", {"LONG": "AAbbCCdd", "SHORT": "bbCC"}, False,
                      "x=@@mooring-secret:LONG/*@@ y=@@mooring-secret:SHORT/*@@\n"),
    "same-value-two-names": ("x=sameValue9\n", {"A": "sameValue9", "B": "sameValue9"}, False,
                             "x=@@mooring-secret:A/*,B/*@@\n"),
    "literal-mark-and-token": ("@@mooring-literal@@ pw\n", {"PW": "pw"}, False,
                               "@@mooring-literal@@literal@@ @@mooring-secret:PW/*@@\n"),
}


@pytest.mark.parametrize("case", sorted(MASK_CASES))
def test_mask_cases(case):
    content, secrets, dotenv, masked = MASK_CASES[case]
    assert mask_secrets(content, secrets, dotenv) == masked
    assert unmask_secrets(masked, secrets, dotenv) == content
    for value in secrets.values():
        assert value not in masked.replace(MASK_MARK, "\0")


# (masked, new secrets, dotenv, restored or the error's words)
RESTORE_CASES = {
    "env-rotated-to-quoted": ("PW=@@mooring-secret:PW@@\n", {"PW": "n3w $ 'q'"}, True, 'PW="n3w \\$ \'q\'"\n'),
    "env-rotated-to-bare": ("URL=u:@@mooring-secret:PW@@@db\n", {"PW": "plain9"}, True, "URL=u:plain9@db\n"),
    "yaml-rotated": ('pw: "@@mooring-secret:PW/j@@"\n', {"PW": 'n"w'}, False, 'pw: "n\\"w"\n'),
    "any-form-rotated-safely": ("k=@@mooring-secret:PW/*@@\n", {"PW": "Alnum42"}, False, "k=Alnum42\n"),
    "any-form-rotated-ambiguously": ("k=@@mooring-secret:PW/*@@\n", {"PW": "a b"}, False,
                                     SecretMaskError("cannot tell how the kept release wrote secret PW")),
    "two-names-that-now-differ": ("x=@@mooring-secret:A/*,B/*@@\n", {"A": "one1", "B": "two2"}, False,
                                  SecretMaskError("cannot tell how the kept release wrote secret A")),
    "missing": ("x=@@mooring-secret:GONE@@ @@mooring-secret:ALSO/j@@\n", {}, False,
                SecretMaskError("names secrets ALSO, GONE, which the stack no longer declares")),
}


@pytest.mark.parametrize("case", sorted(RESTORE_CASES))
def test_restore_cases(case):
    masked, secrets, dotenv, expected = RESTORE_CASES[case]
    if isinstance(expected, Exception):
        with pytest.raises(type(expected), match=re.escape(str(expected))):
            unmask_secrets(masked, secrets, dotenv, where="release 0002-ab: /s/f")
    else:
        assert unmask_secrets(masked, secrets, dotenv) == expected


def test_masked_file_round_trips_through_json():
    item = MaskedFile("/s/.env", "A=@@mooring-secret:A@@\n", "0600", "root", "root", dotenv=True)
    assert MaskedFile.from_dict(json.loads(json.dumps(item.to_dict()))) == item


def test_a_team_shares_one_digest_key_through_the_environment(state, tmp_path, monkeypatch):
    """A second operator (another state folder) with the team's key in MOORING_DIGEST_KEY gets the
    same keyed digests as the first: their deploys agree on which env values changed."""
    from mooring.checks.snapshot import keyed_digest

    first = digest_key()
    monkeypatch.setenv("MOORING_STATE", str(tmp_path / "second-operator"))
    monkeypatch.setenv("MOORING_DIGEST_KEY", first.decode())
    assert digest_key() == first
    assert keyed_digest(digest_key(), "POSTGRES_DB=app") == keyed_digest(first, "POSTGRES_DB=app")
    assert not digest_key_path().exists(), "with a shared key no key file of its own is made"

    monkeypatch.delenv("MOORING_DIGEST_KEY")
    assert digest_key() != first  # without it, a key of its own: every digest would differ


@pytest.mark.parametrize("value", ["", "abc", "Z" * 64])
def test_a_shared_digest_key_that_is_no_key_is_refused_naming_the_variable(state, monkeypatch, value):
    monkeypatch.setenv("MOORING_DIGEST_KEY", value)
    with pytest.raises(ConfigError) as caught:
        digest_key()
    text = str(caught.value)
    assert "MOORING_DIGEST_KEY is not a digest key" in text and "Z" * 64 not in text  # a key is never echoed
    assert not digest_key_path().exists()
