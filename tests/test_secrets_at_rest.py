"""Secrets at rest on the controller (issue 7, item 11): the digest key is written atomically
and never used empty or short; a secrets file that group or others may read is refused.

Host-free: real files in a temporary state folder, no mocks.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys

import pytest

from mooring.errors import ConfigError
from mooring.secrets import DIGEST_KEY_HEX_LENGTH, SecretRef, digest_key, digest_key_path, resolve_secrets, secrets_file
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
    code = ("import os, signal, mooring.secrets as s\n"
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
