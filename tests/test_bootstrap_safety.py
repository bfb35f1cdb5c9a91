"""Bootstrap safety on real boxes (issue 7): a drop-in that locks out the next login is put back
(item 8), and host keys are checked strictly through mooring's own pyinfra path (item 9).

Every run goes through ``mooring.runner.run_deploy`` (pyinfra in a subprocess, as ``mooring
bootstrap`` runs it) or the ``mooring`` CLI. Inventories with modified connection settings are
written to a temporary folder; their known_hosts files start empty.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from mooring.deploy.roles.docker_host import SSHD_DROPIN, SSHD_RELOAD, SSHD_SETTINGS
from mooring.runner import run_deploy
from tests.conftest import ROOT, run_deploy_code, ssh, stand_in_on_path

pytestmark = [pytest.mark.boxes, pytest.mark.slow]

HARDEN = "from mooring.deploy.roles import docker_host\ndocker_host.ssh_hardening({args})\n"
#: Parses (sshd -t passes) but refuses the login mooring uses (root, in the sandbox).
LOCKOUT = "PermitRootLogin no\nPasswordAuthentication no\n"


def _dropin(box) -> str | None:
    proc = ssh(box, f"cat {SSHD_DROPIN}")
    return proc.stdout if proc.returncode == 0 else None


# --- item 8: a fresh login proves the sshd change, or the previous drop-in comes back -------------

def _restore_dropin(box) -> None:
    """Put mooring's drop-in back and reload sshd when another one is in place, through the engine
    (``docker exec``, no ssh): a drop-in left behind by a failed assert may refuse every login."""
    script = (f'printf %s "$1" | cmp -s - {SSHD_DROPIN} && exit 0; '
              f'printf %s "$1" >{SSHD_DROPIN}.tmp && mv {SSHD_DROPIN}.tmp {SSHD_DROPIN} && {SSHD_RELOAD}')
    subprocess.run(["docker", "exec", box.container, "sh", "-c", script, "sh", SSHD_SETTINGS], check=True,
                   capture_output=True, timeout=120)


@pytest.fixture
def dropin_restored(boxes):
    """The last box; after the test, mooring's sshd drop-in is on it whatever the test left."""
    box = boxes.boxes[-1]
    yield box
    _restore_dropin(box)


def test_sshd_change_is_proven_by_a_fresh_login_or_rolled_back(dropin_restored):
    box = dropin_restored
    limit = [box.name]
    first = run_deploy_code(HARDEN.format(args=""), limit=limit)
    assert first.rc == 0 and not first.failed_hosts, first.log
    second = run_deploy_code(HARDEN.format(args=""), limit=limit)
    assert second.rc == 0 and second.changed == 0, second.changes_for(box.name)
    assert _dropin(box) == SSHD_SETTINGS

    locked = run_deploy_code(HARDEN.format(args=f"settings={LOCKOUT!r}"), limit=limit)
    assert locked.rc != 0 and box.name in locked.failed_hosts, locked.log
    errors = " ".join(locked.errors_for(box.name)) or locked.log
    assert "a fresh SSH login failed" in errors and "previous sshd drop-in restored" in errors, errors
    assert "login now works" in errors, errors
    # The previous drop-in is back byte for byte, sshd runs it, and root still logs in.
    assert _dropin(box) == SSHD_SETTINGS
    assert ssh(box, "sshd -T | grep -i '^permitrootlogin'").stdout.strip() == "permitrootlogin without-password"

    again = run_deploy_code(HARDEN.format(args=""), limit=limit)
    assert again.rc == 0 and again.changed == 0, again.changes_for(box.name)


# --- item 9: strict host-key checking is the default of every inventory ----------------------------

def _inventory(tmp_path: Path, box, name: str, **changes) -> tuple[Path, Path]:
    """An inventory for ``box`` with sandbox settings, an empty known_hosts file and ``changes``
    (a value of None removes the key)."""
    from mooring.sandbox.boxes import host_data, load_state

    data = host_data(load_state(), box)
    known_hosts = tmp_path / f"{name}_known_hosts"
    known_hosts.write_text("")
    data["ssh_known_hosts_file"] = str(known_hosts)
    for key, value in changes.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    inventory = tmp_path / f"{name}.py"
    inventory.write_text(f"docker_boxes = [({box.name!r}, {data!r})]\nsandbox = docker_boxes\n")
    return inventory, known_hosts


def test_inventory_without_a_setting_gets_strict_checking(boxes, tmp_path):
    """pyinfra's own default (accept-new) would trust the unknown key and bootstrap the box."""
    box = boxes.boxes[0]
    inventory, known_hosts = _inventory(tmp_path, box, "unset", ssh_strict_host_key_checking=None)
    result = run_deploy(str(inventory), "deploy/bootstrap.py")
    assert result.rc != 0 and result.changed == 0
    assert "No host key for" in result.log and "known_hosts" in result.log, result.log
    assert known_hosts.read_text() == "", "the unknown key was recorded"


@pytest.mark.parametrize("setting", ["accept-new", "no", "off"])
def test_inventory_weakening_host_key_checking_is_refused_before_connecting(boxes, tmp_path, setting):
    box = boxes.boxes[0]
    inventory, known_hosts = _inventory(tmp_path, box, "weak", ssh_strict_host_key_checking=setting)
    result = run_deploy(str(inventory), "deploy/bootstrap.py")
    assert result.rc != 0 and result.changed == 0
    assert f"host-key checking for {box.name} is {setting!r}" in result.log, result.log
    assert "mooring_first_contact" in result.log  # the fix names the documented opt-out
    assert "Connecting to hosts" not in result.log, "refused only after connecting"
    assert known_hosts.read_text() == ""


def test_mooring_bootstrap_refuses_a_weak_inventory(boxes, tmp_path):
    box = boxes.boxes[0]
    inventory, known_hosts = _inventory(tmp_path, box, "weak_cli", ssh_strict_host_key_checking="accept-new")
    proc = subprocess.run([sys.executable, "-m", "mooring", "-v", "bootstrap", str(inventory)], cwd=ROOT,
                          capture_output=True, text=True, timeout=300, env={**os.environ}, stdin=subprocess.DEVNULL)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 1, output
    assert f"host-key checking for {box.name} is 'accept-new'" in output and "Traceback" not in output
    assert known_hosts.read_text() == ""


def test_first_contact_is_for_bootstrap_and_records_the_key(boxes, bootstrapped, tmp_path):
    from mooring.sandbox.boxes import load_state

    box = boxes.boxes[0]
    inventory, known_hosts = _inventory(tmp_path, box, "first", ssh_strict_host_key_checking="accept-new",
                                        mooring_first_contact=True)
    # Not for a stack deploy: refused in the deploy file.
    refused = run_deploy(str(inventory), "deploy/stack.py")
    assert refused.rc != 0 and refused.changed == 0
    assert "mooring_first_contact is for a new box's first bootstrap only" in refused.log, refused.log
    known_hosts.write_text("")
    # Bootstrap: the key is recorded, and it is the box's real key (the sandbox's own record).
    first = run_deploy(str(inventory), "deploy/bootstrap.py")
    assert first.rc == 0 and not first.failed_hosts, first.log
    recorded = {tuple(line.split()[1:3]) for line in known_hosts.read_text().splitlines() if line.strip()}
    sandbox_keys = {tuple(line.split()[1:3]) for line in load_state().known_hosts_path.read_text().splitlines()
                    if line.startswith(f"[127.0.0.1]:{box.ssh_port} ")}
    assert recorded and recorded <= sandbox_keys
    # Afterwards the opt-out goes and strict checking works with the recorded key: no changes.
    strict, _ = _inventory(tmp_path, box, "after", ssh_strict_host_key_checking="yes")
    strict.write_text(strict.read_text().replace(str(tmp_path / "after_known_hosts"), str(known_hosts)))
    again = run_deploy(str(strict), "deploy/bootstrap.py")
    assert again.rc == 0 and again.changed == 0, again.changes_for(box.name)


def test_first_contact_records_only_a_confirmed_fingerprint_then_runs_log_in_as_deploy(boxes, bootstrapped, tmp_path):
    """A new box: bootstrap reads its key, records it only when the fingerprint given matches, logs
    in as the image's first user (--user root) for that run; the next run logs in as deploy with
    strict checking against the recorded key."""
    box = boxes.boxes[0]
    inventory, known_hosts = _inventory(tmp_path, box, "confirm", ssh_user="deploy", _sudo=True)
    real = ssh(box, "ssh-keygen -l -E sha256 -f /etc/ssh/ssh_host_ed25519_key.pub").stdout.split()[1]

    def bootstrap(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "mooring", "bootstrap", str(inventory), *args], cwd=ROOT,
                              capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL)

    unconfirmed = bootstrap("--user", "root")
    assert unconfirmed.returncode == 1 and f"--fingerprint {box.name}=SHA256:" in unconfirmed.stderr, unconfirmed.stderr
    assert real in unconfirmed.stderr and known_hosts.read_text() == ""
    wrong = bootstrap("--user", "root", "--fingerprint", f"{box.name}=SHA256:{'A' * 43}")
    assert wrong.returncode == 1 and "nothing recorded" in wrong.stderr and known_hosts.read_text() == ""

    first = bootstrap("--user", "root", "--fingerprint", f"{box.name}={real}")
    assert first.returncode == 0, first.stdout + first.stderr[-3000:]
    [line] = known_hosts.read_text().splitlines()
    assert line.startswith(f"[127.0.0.1]:{box.ssh_port} ssh-ed25519 ")
    later = bootstrap()  # as deploy, strict checking against the recorded key
    assert later.returncode == 0, later.stdout + later.stderr[-3000:]
    assert known_hosts.read_text().splitlines() == [line]


# --- which key first contact records: one pyinfra can verify -----------------------------------------

def _keyscan_rsa_first(tmp_path: Path, monkeypatch) -> None:
    """Put an ``ssh-keyscan`` on PATH that prints the host's RSA key first: the real one prints
    keys in the order they arrive, so RSA comes first on some runs."""
    import shutil

    stand_in_on_path(tmp_path, monkeypatch, "ssh-keyscan", f'{shutil.which("ssh-keyscan")} "$@" | sort -k2,2r')


def _host_fingerprint(box, kind: str) -> str:
    return ssh(box, f"ssh-keygen -l -E sha256 -f /etc/ssh/ssh_host_{kind}_key.pub").stdout.split()[1]


def _pyinfra_hostname(inventory: Path, cwd: Path) -> subprocess.CompletedProcess:
    """``pyinfra INVENTORY fact server.Hostname``: a login with the inventory's host-key settings."""
    return subprocess.run([str(Path(sys.executable).parent / "pyinfra"), "-y", str(inventory), "fact",
                           "server.Hostname"], cwd=cwd, capture_output=True, text=True, timeout=120,
                          stdin=subprocess.DEVNULL)


def _first_contact(inventory: Path, confirmed: dict[str, str], ask) -> dict[str, str]:
    from mooring.checks.preflight import inventory_hosts
    from mooring.hostkeys import first_contact

    return first_contact(inventory_hosts(inventory), confirmed, ask)


def test_the_key_asked_about_is_one_pyinfra_can_then_verify(boxes, tmp_path, monkeypatch):
    """Confirming the key shown records it; when that was the RSA key, every later run failed:
    paramiko offers the recorded type (ssh-rsa) first, OpenSSH >= 8.8 refuses its SHA-1 form,
    ed25519 is negotiated and compared with the RSA key: "host key changed"."""
    _keyscan_rsa_first(tmp_path, monkeypatch)
    box = boxes.boxes[0]
    inventory, known_hosts = _inventory(tmp_path, box, "asked")
    asked: list[str] = []
    assert _first_contact(inventory, {}, lambda question: asked.append(question) or "yes") == {}
    assert f"Does {_host_fingerprint(box, 'ed25519')} match" in asked[0]
    [line] = known_hosts.read_text().splitlines()
    assert line.split()[1] == "ssh-ed25519"
    fact = _pyinfra_hostname(inventory, tmp_path)
    assert fact.returncode == 0 and f'"{box.name}": "{box.name}"' in fact.stderr + fact.stdout, fact.stderr


def test_a_confirmed_rsa_key_alone_is_refused_with_the_fix(boxes, tmp_path, monkeypatch):
    """The RSA fingerprint matches, but recording it alone would fail every later login (above):
    the operator is asked for the ed25519 one instead, and nothing is recorded."""
    _keyscan_rsa_first(tmp_path, monkeypatch)
    box = boxes.boxes[0]
    inventory, known_hosts = _inventory(tmp_path, box, "rsa")
    problems = _first_contact(inventory, {box.name: _host_fingerprint(box, "rsa")}, None)
    assert "nothing recorded" in problems[box.name] and "ssh-ed25519" in problems[box.name], problems
    assert known_hosts.read_text() == ""
    # Why: with the RSA key recorded alone, pyinfra cannot log in.
    rsa = [line for line in boxes.known_hosts_path.read_text().splitlines()
           if line.startswith(f"[127.0.0.1]:{box.ssh_port} ssh-rsa ")]
    known_hosts.write_text("".join(f"{line}\n" for line in rsa))
    refused = _pyinfra_hostname(inventory, tmp_path)
    assert len(rsa) == 1 and refused.returncode != 0, refused.stderr
