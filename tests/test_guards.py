"""Guards on declared input (issue 7): the mount guard (item 4), the reachability of
``production.no_generated_secrets``, bootstrap key validation (item 8) and the host-key policy
(item 9). Host-free; the bad-input corpus (tests/bad_inputs/mount_guard.yml) covers every
refused mount spelling through the pre-flight and the CLI.
"""

from __future__ import annotations

import pytest

from mooring.checks.findings import Outcome
from mooring.declare.model import mount_source
from mooring.checks.preflight import check_model
from tests.declared_world import model_for, set_path

STACK_DIR = "/srv/mooring/solacore"


@pytest.mark.parametrize("declared", ["${STACK_DIR}", "${STACK_DIR}/", "${STACK_DIR}/.", "${STACK_DIR}/./",
                                      "/srv/mooring/solacore/", "/srv/mooring/./solacore", "//srv/mooring/solacore"])
def test_every_spelling_of_the_stack_dir_is_the_stack_dir(declared):
    assert mount_source(declared, STACK_DIR) == STACK_DIR


def test_named_volumes_and_subfolders_keep_their_meaning():
    assert mount_source("pgdata", STACK_DIR) == "pgdata"
    assert mount_source("${STACK_DIR}/nginx/./conf.d/", STACK_DIR) == f"{STACK_DIR}/nginx/conf.d"


def _mount_findings(world, environment: str, volumes: list[dict]) -> list:
    layer = f"{environment}.yml"
    data = world.read(layer)
    set_path(data, "stack.services.api.volumes", volumes)
    world.write(layer, data)
    return [f for f in check_model(model_for(environment)) if f.check.startswith("mounts.")
            and f.outcome is not Outcome.PASSED]


def test_normalised_model_drives_the_rendered_directories(world):
    """The deploy manages what the model says: a `${STACK_DIR}/data/` mount is one folder, not two spellings."""
    from mooring.declare.render import render_stack

    data = world.read("staging.yml")
    set_path(data, "stack.services.api.volumes",
             [{"source": "${STACK_DIR}/data/", "target": "/data", "owner": "1000", "mode": "0750"}])
    world.write("staging.yml", data)
    model = model_for("staging")
    [mount] = model.stack.services["api"].volumes
    assert mount.source == f"{STACK_DIR}/data"
    dirs = {d.path: d for d in render_stack(model).directories}
    assert dirs[f"{STACK_DIR}/data"].mode == "0750" and f"{STACK_DIR}/data/" not in dirs
    assert dirs[STACK_DIR].mode == "0755" and dirs[STACK_DIR].owner == "root"


def test_system_path_mounted_read_only_without_owner_is_the_hosts(world):
    """A read-only mount of a host path mooring never manages needs no owner/mode (and gets none)."""
    found = _mount_findings(world, "staging", [{"source": "/etc/ssl/", "target": "/etc/ssl", "read_only": True},
                                               {"source": "/etc/localtime", "target": "/etc/localtime", "read_only": True,
                                                "kind": "file"}])
    assert found == [], found


def test_a_dedicated_folder_may_be_managed(world):
    found = _mount_findings(world, "staging", [{"source": "/srv/solacore-uploads/", "target": "/uploads", "owner": "1000",
                                                "mode": "0750"},
                                               {"source": "/etc/ssl/solacore", "target": "/certs", "read_only": True,
                                                "owner": "root", "mode": "0755"}])
    assert found == [], found


def test_docker_socket_unmanaged_is_a_warning_even_read_only(world):
    [finding] = _mount_findings(world, "staging", [{"source": "/var/run/docker.sock", "target": "/var/run/docker.sock",
                                                    "read_only": True, "kind": "file"}])
    assert finding.outcome is Outcome.WARNING and finding.check == "mounts.consistent"
    assert "root on the host" in finding.message and finding.path == "stack.services.api.volumes.0.source"


def test_managed_system_path_finding_names_file_key_and_fix(world):
    [finding] = _mount_findings(world, "staging", [{"source": "/etc/", "target": "/host-etc", "owner": "1000",
                                                    "mode": "0777"}])
    assert finding.outcome is Outcome.FAILED and finding.file.endswith("group_data/staging.yml")
    assert finding.path == "stack.services.api.volumes.0.source"
    assert "/etc is a system path" in finding.message and "with owner, group, mode declared" in finding.message
    assert "remove owner, group, mode and template" in finding.fix


def test_another_stacks_folder_is_refused(world):
    found = _mount_findings(world, "staging", [{"source": "/srv/mooring/other", "target": "/other"}])
    assert [(f.check, f.outcome) for f in found] == [("mounts.consistent", Outcome.FAILED)]
    assert "outside this stack's folder" in found[0].message


# --- production.no_generated_secrets is reachable -----------------------------------------------

def test_generated_secrets_outside_the_sandbox_are_a_warning(world):
    data = world.read("staging.yml")
    set_path(data, "stack.secrets_generate_missing", True)
    world.write("staging.yml", data)
    found = [f for f in check_model(model_for("staging")) if f.check == "production.no_generated_secrets"]
    assert [f.outcome for f in found] == [Outcome.WARNING]
    assert found[0].path == "stack.secrets_generate_missing" and "staging" in found[0].message


def test_generated_secrets_in_the_sandbox_pass(world):
    found = [f for f in check_model(model_for("sandbox")) if f.check == "production.no_generated_secrets"]
    assert [f.outcome for f in found] == [Outcome.PASSED]


# --- bootstrap keys (item 8) --------------------------------------------------------------------

def _keygen(folder, kind: str, bits: str | None = None):
    import subprocess

    key = folder / f"id_{kind}{bits or ''}"
    args = ["ssh-keygen", "-q", "-t", kind, "-N", "", "-C", "test@guards", "-f", str(key)]
    subprocess.run([*args, *(["-b", bits] if bits else [])], check=True, capture_output=True, timeout=60)
    return key


def _with_key_files(world, files: list[str], keys: list[str] | None = None, **extra):
    data = world.read("staging.yml")
    set_path(data, "bootstrap.authorized_key_files", files)
    set_path(data, "bootstrap.authorized_keys", keys or [])
    for key, value in extra.items():
        set_path(data, f"bootstrap.{key}", value)
    world.write("staging.yml", data)


@pytest.mark.parametrize("kind,bits", [("ed25519", None), ("rsa", "2048"), ("ecdsa", "256"), ("ecdsa", "384"),
                                       ("ecdsa", "521")])
def test_real_public_keys_of_every_type_are_accepted(world, tmp_path, kind, bits):
    key = _keygen(tmp_path, kind, bits)
    _with_key_files(world, [f"{key}.pub"])
    model = model_for("staging")
    assert model.bootstrap.authorized_keys == (" ".join(key.with_suffix(".pub").read_text().split()),)


def test_private_key_file_is_refused_without_quoting_it(world, tmp_path):
    from mooring.declare.errors import ConfigError

    key = _keygen(tmp_path, "ed25519")
    _with_key_files(world, [str(key)])
    with pytest.raises(ConfigError) as caught:
        model_for("staging")
    [problem] = caught.value.problems
    assert problem.path == "bootstrap.authorized_key_files.0" and problem.file.endswith("group_data/staging.yml")
    assert "holds a private key" in problem.message and f"{key.name}.pub" in problem.fix
    body = "".join(key.read_text().splitlines()[1:-1])
    assert body[:40] not in str(caught.value) and "BEGIN" not in str(caught.value)


def test_pem_private_key_line_inline_is_refused(world):
    from mooring.declare.errors import ConfigError
    from mooring.declare.model import public_key_problem

    assert public_key_problem("-----BEGIN RSA PRIVATE KEY-----") == "is a private key, not a public one"
    assert public_key_problem("PuTTY-User-Key-File-3: ssh-ed25519") == "is a private key, not a public one"
    assert "not base64" in public_key_problem("ssh-ed25519 AAAA*not*base64")
    _with_key_files(world, [], ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHk5c3pQ6wq0p8m1TQmS0V8z9yJXo1X3j1n6cQq2vU9a ok",
                                "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAA ok"])
    with pytest.raises(ConfigError) as caught:
        model_for("staging")
    assert [p.path for p in caught.value.problems] == ["bootstrap.authorized_keys.1"]


def test_empty_key_file_is_refused(world, tmp_path):
    from mooring.declare.errors import ConfigError

    empty = tmp_path / "empty.pub"
    empty.write_text("# nobody yet\n\n")
    _with_key_files(world, [str(empty)])
    with pytest.raises(ConfigError, match="holds no public key"):
        model_for("staging")


def test_no_keys_only_when_declared(world):
    from mooring.declare.errors import ConfigError

    _with_key_files(world, [])
    with pytest.raises(ConfigError, match="lock-out"):
        model_for("staging")
    _with_key_files(world, [], allow_no_keys=True)
    boot = model_for("staging").bootstrap
    assert boot.authorized_keys == () and boot.allow_no_keys is True


# --- host-key policy (item 9; the runs through pyinfra are in test_bootstrap_safety.py) ------------

KH = {"ssh_known_hosts_file": "~/.ssh/known_hosts"}


@pytest.mark.parametrize("data,first_contact_ok,problem", [
    ({"ssh_strict_host_key_checking": "yes"}, False, ""),
    ({}, False, "is unset (pyinfra's default: 'accept-new')"),
    ({"ssh_strict_host_key_checking": "accept-new"}, True, "is 'accept-new'"),
    ({"ssh_strict_host_key_checking": "no", "mooring_first_contact": True, **KH}, True, "is 'no'"),
    ({"ssh_strict_host_key_checking": "ask"}, False, "is 'ask'"),
    ({"ssh_strict_host_key_checking": "accept-new", "mooring_first_contact": True, **KH}, True, ""),
    ({"ssh_strict_host_key_checking": "accept-new", "mooring_first_contact": True, **KH}, False,
     "is for a new box's first bootstrap only"),
    ({"ssh_strict_host_key_checking": "accept-new", "mooring_first_contact": True}, True,
     "needs an explicit ssh_known_hosts_file"),
    ({"ssh_strict_host_key_checking": "accept-new", "mooring_first_contact": "yes", **KH}, True, "is 'accept-new'"),
], ids=["strict", "unset", "accept-new", "no-even-first-contact", "ask", "first-contact-bootstrap",
        "first-contact-not-bootstrap", "first-contact-without-known-hosts", "first-contact-not-boolean"])
def test_host_key_policy(data, first_contact_ok, problem):
    from mooring.declare.model import host_key_problems

    found = host_key_problems("web-1", data, first_contact_ok)
    assert [p.message for p in found if problem in p.message] == [p.message for p in found]
    assert bool(found) == bool(problem)
    assert all(p.fix for p in found)


def test_shipped_group_data_makes_strict_checking_the_default(tmp_path):
    """Group data applies to every inventory: all.py sets "yes" (an inventory or host may override it)."""
    import subprocess
    import sys

    from tests.declared_world import ROOT

    inventory = tmp_path / "plain.py"
    inventory.write_text('staging = ["web-1.example.invalid"]\n')
    proc = subprocess.run([sys.executable, "-m", "pyinfra", str(inventory), "debug-inventory"], cwd=ROOT,
                          capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0 and '"ssh_strict_host_key_checking": "yes"' in output, output
