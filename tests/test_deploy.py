"""Stack deploy on real docker boxes: converge, idempotence, targeted recreation, read-only
mounts, health gate with rollback, release records, and no secret anywhere in the output."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.conftest import ROOT, TEST_STATE, group_data_with, run_deploy_code, ssh

pytestmark = [pytest.mark.boxes, pytest.mark.slow]

CANARY_DB = "canaryDBpw-7f3c9a1e5b2d4c6e"
CANARY_JWT = "canaryJWT-0a9b8c7d6e5f4a3b2c1d"
SECRET_ENV = {"MOORING_SECRET_POSTGRES_PASSWORD": CANARY_DB, "MOORING_SECRET_JWT_SECRET": CANARY_JWT}
OUTPUTS: list[str] = []  # everything any deploy printed, checked for the canaries


def mooring(*args: str, group_data: Path | None = None, timeout: int = 900) -> subprocess.CompletedProcess:
    env = {**os.environ, **SECRET_ENV}
    if group_data is not None:
        env["MOORING_GROUP_DATA"] = str(group_data)
    out = subprocess.run([sys.executable, "-m", "mooring", "-v", *args], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    OUTPUTS.extend([out.stdout, out.stderr])
    return out


def deploy_json(tmp: Path, *extra: str, group_data: Path | None = None) -> tuple[subprocess.CompletedProcess, dict]:
    target = tmp / f"deploy-{len(OUTPUTS)}.json"
    out = mooring("deploy", "sandbox", "--json", str(target), *extra, group_data=group_data)
    payload = json.loads(target.read_text()) if target.exists() else {}
    OUTPUTS.append(target.read_text() if target.exists() else "")
    return out, payload


def containers(box) -> dict[str, tuple[str, str]]:
    """service → (container ID, StartedAt) of the stack's containers on a box."""
    fmt = '{{index .Config.Labels "com.docker.compose.service"}} {{.Id}} {{.State.StartedAt}}'
    out = ssh(box, f"docker inspect --format '{fmt}' $(docker ps -aq --filter label=com.docker.compose.project=solacore)")
    assert out.returncode == 0, out.stderr
    return {svc: (cid, started) for svc, cid, started in (line.split() for line in out.stdout.splitlines())}


@pytest.fixture(scope="session")
def deployed(bootstrapped, boxes, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("deploy")
    first, first_json = deploy_json(tmp)
    before = {box.name: containers(box) for box in boxes.boxes}
    second, second_json = deploy_json(tmp)
    after = {box.name: containers(box) for box in boxes.boxes}
    return {"tmp": tmp, "first": (first, first_json), "second": (second, second_json), "before": before,
            "after": after}


def test_first_deploy_is_healthy_through_nginx(deployed, boxes):
    out, payload = deployed["first"]
    assert out.returncode == 0, out.stdout + out.stderr[-3000:]
    assert payload["ok"] is True
    assert {h["outcome"] for h in payload["hosts"]} == {"deployed"}
    for box in boxes.boxes:
        base = f"http://127.0.0.1:{box.http_port}"
        ready = httpx.get(f"{base}/api/v1/health/ready", timeout=5)
        assert ready.status_code == 200, ready.text
        gone = httpx.get(f"{base}/auth/me", timeout=5)
        assert gone.status_code == 410 and gone.json()["error"]["code"] == "ROUTE_REMOVED"
        assert "httpRequestsTotal" in httpx.get(f"{base}/internal/metrics", timeout=5).json()


def test_first_deploy_ran_migrations_once(deployed, boxes):
    _, payload = deployed["first"]
    assert {h["migration"]["result"] for h in payload["hosts"]} == {"applied"}
    _, second = deployed["second"]
    assert {h["outcome"] for h in second["hosts"]} == {"unchanged"}


def test_second_deploy_changes_nothing_and_restarts_nothing(deployed, boxes):
    out, payload = deployed["second"]
    assert out.returncode == 0, out.stdout + out.stderr[-3000:]
    for host in payload["hosts"]:
        assert host["changed_operations"] == [], host
    assert deployed["before"] == deployed["after"]
    assert "(shipped)" not in "".join(h for h in out.stdout.splitlines() if "change" in h)


def test_env_change_recreates_only_the_services_using_it(deployed, boxes):
    box = boxes.boxes[0]
    before = containers(box)
    data = group_data_with(deployed["tmp"] / "env", box.name, "stack:\n  env:\n    APP_VERSION: 1.0.0-env-test\n")
    out, payload = deploy_json(deployed["tmp"], "--limit", box.name, group_data=data)
    assert out.returncode == 0, out.stdout + out.stderr[-3000:]
    host = next(h for h in payload["hosts"] if h["host"] == box.name)
    assert host["env_keys_changed"] == ["APP_VERSION"]
    after = containers(box)
    recreated = sorted(svc for svc in before if before[svc] != after.get(svc))
    assert recreated == ["api"]
    # back to the declared state: again only the api moves
    out, payload = deploy_json(deployed["tmp"], "--limit", box.name)
    assert out.returncode == 0
    assert sorted(svc for svc in after if after[svc] != containers(box).get(svc)) == ["api"]


def test_read_only_mount_keeps_host_owner_and_mode(deployed, boxes):
    box = boxes.boxes[0]
    out = ssh(box, "stat -c '%U %G %a' /srv/mooring/solacore/nginx/conf.d")
    assert out.stdout.split() == ["root", "root", "755"]
    nginx = containers(box)["nginx"][0]
    write = ssh(box, f"docker exec {nginx} touch /etc/nginx/conf.d/probe")
    assert write.returncode != 0 and "Read-only file system" in write.stderr


def test_env_file_is_root_only(deployed, boxes):
    out = ssh(boxes.boxes[0], "stat -c '%U %G %a' /srv/mooring/solacore/.env")
    assert out.stdout.split() == ["root", "root", "600"]


def test_broken_release_is_rolled_back(deployed, boxes):
    box = boxes.boxes[1]
    data = group_data_with(
        deployed["tmp"] / "broken", box.name,
        "stack:\n  services:\n    api:\n      image: mooring/api:1.1.0-broken\n"
        "  health:\n    - {name: ready, path: /api/v1/health/ready, expected_status: 200, timeout: 3, retries: 8,"
        " interval: 1}\n",
    )
    out, payload = deploy_json(deployed["tmp"], "--limit", box.name, group_data=data)
    assert out.returncode == 1
    host = next(h for h in payload["hosts"] if h["host"] == box.name)
    assert host["outcome"] == "rolled_back"
    assert f"rolled back to release {host['rolled_back_to']}" in out.stdout
    assert "status 503" in out.stdout  # the failing answer is shown
    assert all(p["ok"] for p in host["rollback_gate"])
    version = httpx.get(f"http://127.0.0.1:{box.http_port}/api/v1/version", timeout=5).json()
    assert version["data"]["version"] == "1.0.0"
    record = ssh(box, f"cat /srv/mooring/solacore/releases/{host['release_dirname']}/record.json")
    assert json.loads(record.stdout)["outcome"] == "rolled_back"
    local = TEST_STATE / "releases" / box.name / f"{host['release_dirname']}.md"
    assert "rolled back to release" in local.read_text()


def test_failed_migration_rolls_back_and_keeps_the_good_release(deployed, boxes):
    box = boxes.boxes[1]
    before = ssh(box, "ls /srv/mooring/solacore/releases").stdout.split()
    data = group_data_with(deployed["tmp"] / "migration", box.name,
                           "stack:\n  migration:\n    service: api\n    command: [python3, -m, app, no-such-step]\n")
    out, payload = deploy_json(deployed["tmp"], "--limit", box.name, group_data=data)
    assert out.returncode == 1
    host = next(h for h in payload["hosts"] if h["host"] == box.name)
    assert host["outcome"] == "rolled_back", out.stdout
    assert host["release_dirname"].endswith("-failed")
    after = ssh(box, "ls /srv/mooring/solacore/releases").stdout.split()
    good_before = [d for d in before if d[:4].isdigit() and not d.endswith("-failed")]
    assert all(d in after for d in good_before), "a good release was pruned or marked failed"
    assert httpx.get(f"http://127.0.0.1:{box.http_port}/api/v1/health/ready", timeout=5).status_code == 200
    # and the declared state converges again
    out, payload = deploy_json(deployed["tmp"], "--limit", box.name)
    assert out.returncode == 0, out.stdout


def test_invalid_declared_state_touches_no_host(deployed, boxes):
    box = boxes.boxes[0]
    snapshot = "find /srv/mooring /etc/cron.d -xdev -printf '%p %m %s %T@\\n' | sort; cat /srv/mooring/solacore/.env | sha256sum"
    before = ssh(box, snapshot).stdout
    data = group_data_with(deployed["tmp"] / "invalid", box.name, "stack:\n  backups:\n    retention_days: 0\n")
    out = mooring("deploy", "sandbox", group_data=data)
    assert out.returncode == 1
    assert "retention_days" in out.stdout + out.stderr
    assert "Traceback" not in out.stdout + out.stderr
    assert ssh(box, snapshot).stdout == before
    plain = subprocess.run([sys.executable, "-m", "pyinfra", "-y", "--group-data", str(data), "inventories/sandbox.py",
                            "deploy/stack.py"], cwd=ROOT, capture_output=True, text=True, timeout=300,
                           env={**os.environ, **SECRET_ENV, "MOORING_GROUP_DATA": str(data)}, stdin=subprocess.DEVNULL)
    OUTPUTS.extend([plain.stdout, plain.stderr])
    assert plain.returncode != 0 and "retention_days" in plain.stderr
    assert ssh(box, snapshot).stdout == before


def test_backup_and_restore_check_run_on_the_box(deployed, boxes):
    """The installed nightly job really dumps, verifies, prunes only its own files and restores."""
    box = boxes.boxes[0]
    backups = "/var/backups/mooring/solacore"
    cron = ssh(box, "cat /etc/cron.d/mooring-solacore").stdout
    assert "0 2 * * * root umask 077 && /srv/mooring/solacore/bin/backup.sh" in cron
    ssh(box, f"touch -d '40 days ago' {backups}/solacore__readme_to_recover_20200101T000000Z.sql.gz "
             f"{backups}/someone-elses.sql.gz")
    run = ssh(box, "/srv/mooring/solacore/bin/backup.sh")
    OUTPUTS.extend([run.stdout, run.stderr])
    assert run.returncode == 0, run.stderr
    listing = ssh(box, f"ls {backups}").stdout.split()
    dumps = sorted(name for name in listing if re.fullmatch(r"solacore__readme_to_recover_\d{8}T\d{6}Z\.sql\.gz", name)
                   and name != "solacore__readme_to_recover_20200101T000000Z.sql.gz")
    assert dumps, listing
    assert "solacore__readme_to_recover_20200101T000000Z.sql.gz" not in listing  # its own, old: pruned
    assert "someone-elses.sql.gz" in listing  # not its own: kept
    trailer = ssh(box, f"gzip -dc {backups}/{dumps[-1]} | tail -n 20")
    assert "-- PostgreSQL database dump complete" in trailer.stdout
    check = ssh(box, f"/srv/mooring/solacore/bin/restore.sh --check {backups}/{dumps[-1]}")
    OUTPUTS.extend([check.stdout, check.stderr])
    assert check.returncode == 0, check.stderr
    truncated = ssh(box, f"gzip -dc {backups}/{dumps[-1]} | head -n 5 | gzip > /tmp/truncated.sql.gz;"
                         " /srv/mooring/solacore/bin/restore.sh --check /tmp/truncated.sql.gz")
    assert truncated.returncode != 0


REGISTRY_UP = (
    "docker rm -f mooring-test-registry >/dev/null 2>&1; "
    "docker run -d --name mooring-test-registry -p 127.0.0.1:5000:5000 mooring/registry:2 >/dev/null && "
    "for i in $(seq 40); do curl -sf http://127.0.0.1:5000/v2/ >/dev/null && break; sleep 0.5; done && "
    "docker tag mooring/redis:7 localhost:5000/solacore/redis:7 && "
    "docker push localhost:5000/solacore/redis:7 >/dev/null && docker rmi localhost:5000/solacore/redis:7"
)


def test_registry_images_are_pulled_once(deployed, boxes):
    """``image_source: registry``: a real registry (Debian's docker-registry) runs on the box."""
    box = boxes.boxes[0]
    setup = run_deploy_code(
        "from pyinfra.operations import server\n"
        "from deploy.operations import images\n"
        "from deploy.roles.stack import shipped_image\n"
        "image_id, archive = shipped_image('mooring/registry:2')\n"
        "images.shipped(name='registry image', ref='mooring/registry:2', image_id=image_id, archive=archive)\n"
        f"server.shell(name='registry with redis pushed', commands=[{REGISTRY_UP!r}])\n",
        limit=[box.name],
    )
    assert setup.rc == 0 and not setup.failed_hosts, setup.log[-2000:]
    ref = "localhost:5000/solacore/redis:7"
    assert ssh(box, f"docker image inspect {ref}").returncode != 0  # only the registry has it
    data = group_data_with(deployed["tmp"] / "registry", box.name,
                           f"stack:\n  services:\n    redis:\n      image: {ref}\n      image_source: registry\n")
    try:
        out, payload = deploy_json(deployed["tmp"], "--limit", box.name, group_data=data)
        assert out.returncode == 0, out.stdout + out.stderr[-3000:]
        host = next(h for h in payload["hosts"] if h["host"] == box.name)
        assert f"Stack | Image {ref} (registry)" in host["changed_operations"]
        running = ssh(box, "docker inspect --format '{{.Config.Image}}' solacore-redis-1").stdout.strip()
        assert running == ref
        again, payload = deploy_json(deployed["tmp"], "--limit", box.name, group_data=data)
        assert again.returncode == 0
        assert next(h for h in payload["hosts"] if h["host"] == box.name)["changed_operations"] == []
    finally:
        ssh(box, "docker rm -f mooring-test-registry")
        assert mooring("deploy", "sandbox", "--limit", box.name).returncode == 0


def test_secrets_never_leave_the_env_file(deployed, boxes):
    """Canary secrets: used on the host, absent from every output, record and process list."""
    box = boxes.boxes[0]
    # plain pyinfra with --diff and -vv while the .env really changes: still no value shown
    data = group_data_with(deployed["tmp"] / "diff", box.name, "stack:\n  env:\n    APP_VERSION: 1.0.0-diff\n")
    plain = subprocess.run([sys.executable, "-m", "pyinfra", "-y", "--diff", "-vv", "--limit", box.name,
                            "--group-data", str(data), "inventories/sandbox.py", "deploy/stack.py"], cwd=ROOT,
                           capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL,
                           env={**os.environ, **SECRET_ENV, "MOORING_GROUP_DATA": str(data)})
    OUTPUTS.extend([plain.stdout, plain.stderr])
    assert plain.returncode == 0, plain.stderr[-3000:]
    assert "Secret file /srv/mooring/solacore/.env" in plain.stderr
    assert mooring("deploy", "sandbox", "--limit", box.name).returncode == 0
    env = ssh(box, "cat /srv/mooring/solacore/.env").stdout
    assert CANARY_DB in env and CANARY_JWT in env  # they were really deployed
    everything = "\n".join(OUTPUTS)
    records = "\n".join(p.read_text() for p in (TEST_STATE / "releases").rglob("*") if p.is_file())
    runs = "\n".join(p.read_text() for p in (TEST_STATE / "runs").rglob("*.json"))
    processes = ssh(box, "ps auxww").stdout
    host_records = ssh(box, "cat /srv/mooring/solacore/releases/*/record.* 2>/dev/null").stdout
    for canary in (CANARY_DB, CANARY_JWT):
        assert canary not in everything
        assert canary not in records
        assert canary not in runs
        assert canary not in processes
        assert canary not in host_records
