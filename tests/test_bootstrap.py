"""Bootstrap of bare Debian boxes into docker hosts, on real boxes, run twice."""

from __future__ import annotations

import subprocess
import sys

import pytest

from mooring.declare.compose import COMPOSE_VERSION
from tests.conftest import ROOT, group_data_with, run_deploy_code, ssh

pytestmark = [pytest.mark.boxes, pytest.mark.slow]


def test_first_run_succeeds_everywhere(bootstrapped, boxes):
    first, _ = bootstrapped
    assert first.rc == 0, first.log[-3000:]
    assert first.failed_hosts == []
    assert sorted(first.hosts) == sorted(b.name for b in boxes.boxes)
    assert first.changed > 0


def test_second_run_reports_zero_changes(bootstrapped):
    _, second = bootstrapped
    assert second.rc == 0, second.log[-3000:]
    assert second.operations, "pyinfra reported no operations"
    changed = {op.name: op.changed for op in second.operations if op.changed}
    assert changed == {}


def test_engine_runs_with_compose_v2_and_no_v1(bootstrapped, boxes):
    for box in boxes.boxes:
        out = ssh(box, "docker info --format '{{.ServerVersion}}' && docker compose version --short"
                       " && ! command -v docker-compose")
        assert out.returncode == 0, out.stderr
        engine, compose = out.stdout.split()
        assert engine
        assert compose.lstrip("v") == COMPOSE_VERSION


def test_deploy_user_logs_in_by_key_and_sudoes(bootstrapped, boxes):
    box = boxes.boxes[0]
    out = ssh(box, "id -nG && sudo -n true && echo SUDO_OK && docker ps -q >/dev/null && echo DOCKER_OK", user="deploy")
    assert out.returncode == 0, out.stderr
    assert "docker" in out.stdout.split("\n")[0].split()
    assert "SUDO_OK" in out.stdout and "DOCKER_OK" in out.stdout


def test_sshd_is_keys_only_and_valid(bootstrapped, boxes):
    out = ssh(boxes.boxes[0], "sshd -t && sshd -T")
    assert out.returncode == 0, out.stderr
    effective = dict(line.split(" ", 1) for line in out.stdout.splitlines() if " " in line)
    assert effective["permitrootlogin"] == "without-password"
    assert effective["passwordauthentication"] == "no"
    assert effective["kbdinteractiveauthentication"] == "no"


def test_unknown_host_key_is_refused(bootstrapped, boxes, tmp_path):
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    out = ssh(boxes.boxes[0], "true", known_hosts=str(empty))
    assert out.returncode != 0
    assert "Host key verification failed" in out.stderr


def test_bad_sshd_config_is_rolled_back(bootstrapped, boxes):
    """validated_put restores the previous file when ``sshd -t`` rejects the new one."""
    box = boxes.boxes[1]
    conf = "/etc/ssh/sshd_config.d/00-mooring.conf"
    saved = ssh(box, f"base64 -w0 {conf}", check=True).stdout.strip()
    try:
        result = run_deploy_code(
            "from mooring.deploy.operations.files import validated_put\n"
            "validated_put(name='bad sshd', content='ThisIsNotAnOption yes\\n',"
            f" dest='{conf}', validate='sshd -t')\n",
            limit=[box.name],
        )
        assert result.failed_hosts == [box.name]
        out = ssh(box, f"cat {conf}; sshd -t && echo VALID")
        assert "PasswordAuthentication no" in out.stdout and "VALID" in out.stdout
        assert "ThisIsNotAnOption" not in out.stdout
    finally:  # a broken sshd config would lock every later test out of the box: put it back without ssh
        from mooring.deploy import local_docker as docker

        docker.run(["exec", box.container, "sh", "-c", f"echo {saved} | base64 -d > {conf}.tmp && mv {conf}.tmp {conf}"])


def _bootstrap_cli(group_data, *extra: str) -> subprocess.CompletedProcess:
    import os

    env = {**os.environ, "MOORING_GROUP_DATA": str(group_data)}
    return subprocess.run([sys.executable, "-m", "mooring", "bootstrap", "sandbox", *extra], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=900, stdin=subprocess.DEVNULL)


def test_compose_v1_is_refused_or_removed_per_policy(bootstrapped, boxes, tmp_path):
    other, target = boxes.boxes[0], boxes.boxes[1]
    try:
        install = ssh(target, "DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends"
                              " docker-compose >/dev/null && docker-compose version --short")
        assert install.stdout.strip().startswith("1."), install.stderr

        refused = _bootstrap_cli(group_data_with(tmp_path / "refuse", target.name, "bootstrap:\n  compose_v1: refuse\n"))
        assert refused.returncode == 1
        lines = refused.stdout.splitlines()
        head = lines.index(f"{target.name}: failed; 1 failed")
        reason = lines[head + 1]
        assert reason.lstrip().startswith("FAILED   bootstrap.run:"), refused.stdout
        assert "refused by bootstrap.compose_v1=refuse" in reason and "ContainerConfig" in reason
        assert f"{other.name}: no changes" in refused.stdout
        assert ssh(target, "docker-compose version --short").stdout.startswith("1."), "refuse must not touch the host"

        removed = _bootstrap_cli(group_data_with(tmp_path / "remove", target.name, "bootstrap:\n  compose_v1: remove\n"))
        assert removed.returncode == 0, removed.stdout + removed.stderr
        assert f"{target.name}: 1 change (Compose v1 | No Compose v1)" in removed.stdout
        assert ssh(target, "command -v docker-compose").returncode != 0
        assert ssh(target, "docker compose version --short").stdout.strip().lstrip("v") == COMPOSE_VERSION
    finally:  # whatever was asserted: no Compose v1 left for the next test
        ssh(target, "dpkg -s docker-compose >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive"
                    " apt-get remove -y -q docker-compose >/dev/null; true")
        assert ssh(target, "command -v docker-compose").returncode != 0


def test_unreachable_host_is_named_and_others_still_bootstrap(bootstrapped, boxes, tmp_path):
    inventory = tmp_path / "inventory.py"
    inventory.write_text(
        "from mooring.sandbox.boxes import host_data, load_state\n"
        "_state = load_state()\n"
        "_box = _state.group('docker')[0]\n"
        "_data = host_data(_state, _box)\n"
        "sandbox = [(_box.name, _data), ('ghost-box', dict(_data, ssh_port=1, ssh_connect_retries=0))]\n"
    )
    out = subprocess.run([sys.executable, "-m", "mooring", "bootstrap", str(inventory)], cwd=ROOT,
                         capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL)
    assert out.returncode == 1
    lines = out.stdout.splitlines()
    assert lines[lines.index("ghost-box: failed; 1 failed") + 1].startswith("  FAILED   bootstrap.run: Could not connect")
    assert f"{boxes.boxes[0].name}: no changes" in out.stdout


def test_timezone_cron_and_directories(bootstrapped, boxes):
    out = ssh(boxes.boxes[0], "readlink /etc/localtime; cat /etc/timezone; pgrep -x cron >/dev/null && echo CRON;"
                              " stat -c '%n %a' /srv/mooring /var/backups/mooring")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.split("\n")
    assert lines[0] == "/usr/share/zoneinfo/UTC" and lines[1] == "UTC" and lines[2] == "CRON"
    assert "/srv/mooring 755" in out.stdout and "/var/backups/mooring 750" in out.stdout
