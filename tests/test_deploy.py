"""Stack deploy on real docker boxes: converge, idempotence, targeted recreation and restarts,
read-only mounts, health gate with rollback of exactly the failed hosts, release records,
backups and restores, and no secret anywhere in the output or in process arguments.

Every test starts from the declared state (the session's ``deployed`` fixture) and leaves it:
a test that changes a box lists it in ``restores``, which deploys the declared state back
after the test, whatever it asserted. The files pass in any order (``MOORING_TEST_ORDER=reverse``
or pytest-randomly)."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shlex
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import (CANARIES, CANARY_DB, CANARY_JWT, ROOT, SECRET_ENV, group_data_with, run_deploy_code,
                            run_mooring, ssh, state_path)

pytestmark = [pytest.mark.boxes, pytest.mark.slow]

STACK_DIR = "/srv/mooring/solacore"
BACKUPS = "/var/backups/mooring/solacore"
DB = "readme_to_recover"
DUMP_NAME = re.compile(r"solacore__readme_to_recover_\d{8}T\d{6}Z\.sql\.gz")



def mooring(*args: str, log: list[str], group_data: Path | None = None, timeout: int = 900) -> subprocess.CompletedProcess:
    """``mooring -v ARGS`` with the canary secrets; its output goes into ``log`` (checked for them)."""
    return run_mooring("-v", *args, log=log, group_data=group_data, timeout=timeout)


def leaked(texts: list[str]) -> list[str]:
    """The canaries found in any of ``texts``."""
    return [canary for canary in CANARIES if any(canary in text for text in texts)]


def deploy_json(tmp: Path, *extra: str, log: list[str], group_data: Path | None = None
                ) -> tuple[subprocess.CompletedProcess, dict]:
    """``mooring deploy sandbox --json`` → (process, payload); the payload goes into ``log`` too."""
    target = tmp / f"deploy-{time.monotonic_ns()}.json"
    out = mooring("deploy", "sandbox", "--json", str(target), *extra, log=log, group_data=group_data)
    text = target.read_text() if target.exists() else ""
    log.append(text)
    return out, json.loads(text) if text else {}


def plain_pyinfra(*args: str, log: list[str], group_data: Path | None = None, timeout: int = 600
                  ) -> subprocess.CompletedProcess:
    """A user's own ``pyinfra ARGS`` (no mooring run dir), with the canary secrets."""
    env = {k: v for k, v in os.environ.items() if k != "MOORING_RUN_DIR"}
    env.update(SECRET_ENV)
    extra = []
    if group_data is not None:
        env["MOORING_GROUP_DATA"] = str(group_data)
        extra = ["--group-data", str(group_data)]
    out = subprocess.run([sys.executable, "-m", "pyinfra", "-y", *extra, *args], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    log.extend([out.stdout, out.stderr])
    return out


def host_of(payload: dict, box) -> dict:
    return next(h for h in payload["hosts"] if h["host"] == box.name)


def op_results(log: str) -> dict[str, dict[str, str]]:
    """pyinfra's log as operation name → host → its outcome ("No changes", "Success", "Error...")."""
    results: dict[str, dict[str, str]] = {}
    current = None
    for line in log.splitlines():
        started = re.match(r"--> Starting operation: (.+?)\s*$", line)
        if started:
            current = results.setdefault(started.group(1), {})
            continue
        said = re.match(r"\s+\[([^\]]+)\] (Success|No changes|Error.*|Skipped.*?)\s*$", line)
        if said and current is not None:
            current[said.group(1)] = said.group(2)
        elif line.startswith("-->"):
            current = None
    return results


def containers(box) -> dict[str, tuple[str, str]]:
    """service → (container ID, StartedAt) of the stack's containers on a box."""
    fmt = '{{index .Config.Labels "com.docker.compose.service"}} {{.Id}} {{.State.StartedAt}}'
    out = ssh(box, f"docker inspect --format '{fmt}' $(docker ps -aq --filter label=com.docker.compose.project=solacore)")
    assert out.returncode == 0, out.stderr
    return {svc: (cid, started) for svc, cid, started in (line.split() for line in out.stdout.splitlines())}


def version(box) -> str:
    return httpx.get(f"http://127.0.0.1:{box.http_port}/api/v1/version", timeout=5).json()["data"]["version"]


def releases(box) -> tuple[list[str], str]:
    """(release dirs, current release ID) on a box."""
    listing = ssh(box, f"ls {STACK_DIR}/releases; echo; cat {STACK_DIR}/releases/current").stdout.split("\n\n")
    return [d for d in listing[0].split() if d[:4].isdigit()], listing[1].strip()


def psql(box, sql: str, db: str = DB) -> subprocess.CompletedProcess:
    """Run ``sql`` in the stack's postgres as POSTGRES_USER (unaligned, tuples only, stop on error)."""
    inner = 'exec psql --username="$POSTGRES_USER" --no-psqlrc -v ON_ERROR_STOP=1 -Atc "$2" "$1"'
    return ssh(box, f"docker exec solacore-db-1 sh -c {shlex.quote(inner)} psql {shlex.quote(db)} {shlex.quote(sql)}")


def databases(box) -> set[str]:
    out = psql(box, "SELECT datname FROM pg_database", db="postgres")
    assert out.returncode == 0, out.stderr
    return set(out.stdout.split())


def fingerprint(box) -> str:
    """sha256 of a plain pg_dump of the live database (schema and rows; without the random
    ``\\restrict`` key pg_dump writes since 15.14)."""
    inner = r'pg_dump --username="$POSTGRES_USER" --no-owner "$1" | grep -v -e "^\\\\restrict " -e "^\\\\unrestrict " | sha256sum'
    out = ssh(box, f"docker exec solacore-db-1 sh -c {shlex.quote(inner)} pg_dump {DB}")
    assert out.returncode == 0, out.stderr
    return out.stdout.split()[0]


def backup_now(box, log: list[str]) -> str:
    """Run the installed backup job; returns the dump it wrote."""
    run = ssh(box, f"{STACK_DIR}/bin/backup.sh")
    log.extend([run.stdout, run.stderr])
    assert run.returncode == 0, run.stderr
    written = run.stdout.split()
    assert len(written) == 1 and DUMP_NAME.fullmatch(Path(written[0]).name), run.stdout
    return written[0]


# -- fixtures ----------------------------------------------------------------------------------

#: A box as bootstrap leaves it: no stack folder, containers, volumes, cron file or stack images.
WITHOUT_STACK = ("if [ -f /srv/mooring/solacore/compose.yml ]; then cd /srv/mooring/solacore && docker compose "
                 "--project-name solacore --project-directory . -f compose.yml --env-file .env down -v "
                 "--remove-orphans >/dev/null 2>&1; fi; cd / && rm -rf /srv/mooring/solacore /etc/cron.d/mooring-solacore "
                 "/var/tmp/mooring-images && docker image prune -af >/dev/null")


@pytest.fixture
def log(tmp_path):
    """Everything this test's commands print or write; at teardown no canary may be in it, nor in
    any release record or run file the test wrote under the state dir."""
    texts: list[str] = []
    start = time.time() - 1
    yield texts
    written = [p.read_text(errors="replace") for folder in ("releases", "runs")
               for p in (state_path() / folder).rglob("*") if p.is_file() and p.stat().st_mtime >= start]
    assert not leaked(texts + written), "a secret value leaked into the output or a record"


class Restores:
    """Boxes a test changed; deployed back to the declared state after it (``settled`` when the
    test itself proved that already)."""

    def __init__(self) -> None:
        self.boxes: dict[str, object] = {}

    def add(self, *boxes) -> None:
        self.boxes.update((box.name, box) for box in boxes)

    def settled(self, *boxes) -> None:
        for box in boxes:
            self.boxes.pop(box.name, None)


@pytest.fixture
def restores(deployed, log, tmp_path):
    touched = Restores()
    yield touched
    if touched.boxes:
        out = mooring("deploy", "sandbox", *[a for name in touched.boxes for a in ("--limit", name)], log=log)
        assert out.returncode == 0, "could not put the declared state back: " + out.stdout + out.stderr[-2000:]


@pytest.fixture(scope="session")
def deployed(bootstrapped, boxes, tmp_path_factory):
    """The declared stack deployed twice on every box (the second run must change nothing)."""
    tmp = tmp_path_factory.mktemp("deploy")
    texts: list[str] = []
    for box in boxes.boxes:  # another module of this session may have deployed first: start bare
        ssh(box, WITHOUT_STACK, check=True)
    first, first_json = deploy_json(tmp, log=texts)
    before = {box.name: containers(box) for box in boxes.boxes}
    second, second_json = deploy_json(tmp, log=texts)
    after = {box.name: containers(box) for box in boxes.boxes}
    assert not leaked(texts), "a secret value leaked into the output of the session's deploys"
    return {"tmp": tmp, "first": (first, first_json), "second": (second, second_json), "before": before,
            "after": after}


# -- converge ----------------------------------------------------------------------------------


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
    assert {h["migration"]["result"] for h in second["hosts"]} == {"already applied for this release"}


def test_second_deploy_changes_nothing_and_restarts_nothing(deployed, boxes):
    out, payload = deployed["second"]
    assert out.returncode == 0, out.stdout + out.stderr[-3000:]
    names = {box.name for box in boxes.boxes}
    assert {h["host"] for h in payload["hosts"]} == names
    for host in payload["hosts"]:
        assert host["changed_operations"] == [], host
    assert deployed["before"] == deployed["after"]
    # pyinfra's own -v log: every operation ran on every box and said "No changes"; the four
    # shipped images among them (a re-shipped image would say "Success").
    results = op_results(out.stderr)
    shipped = sorted(name for name in results if name.endswith("(shipped)"))
    assert shipped == [f"Stack | Image {ref} (shipped)" for ref in
                       ("mooring/api:1.0.0", "mooring/nginx:1", "mooring/postgres:15", "mooring/redis:7")], results
    assert "Stack | Compose up (changed services only)" in results
    for name, said in results.items():
        assert said == {box: "No changes" for box in names}, (name, said)


def test_env_change_recreates_only_the_services_using_it(deployed, boxes, log, restores):
    box = boxes.boxes[0]
    before = containers(box)
    data = group_data_with(deployed["tmp"] / "env", box.name, "stack:\n  env:\n    APP_VERSION: 1.0.0-env-test\n")
    restores.add(box)
    out, payload = deploy_json(deployed["tmp"], "--limit", box.name, log=log, group_data=data)
    assert out.returncode == 0, out.stdout + out.stderr[-3000:]
    host = host_of(payload, box)
    assert host["env_keys_changed"] == ["APP_VERSION"]
    after = containers(box)
    recreated = sorted(svc for svc in before if before[svc] != after.get(svc))
    assert recreated == ["api"]
    # back to the declared state: again only the api moves
    out, payload = deploy_json(deployed["tmp"], "--limit", box.name, log=log)
    assert out.returncode == 0
    assert sorted(svc for svc in after if after[svc] != containers(box).get(svc)) == ["api"]
    restores.settled(box)


def test_disabling_backups_removes_the_job_and_keeps_the_dumps(deployed, boxes, log, restores):
    """backups.enabled: false removes the cron entry and the scripts (a second run: no change);
    the dumps already made stay; enabling them again brings the job back."""
    box = boxes.boxes[0]
    job = f"/etc/cron.d/mooring-solacore {STACK_DIR}/bin/backup.sh {STACK_DIR}/bin/restore.sh"
    dump = f"{BACKUPS}/solacore__readme_to_recover_20261201T020000Z.sql.gz"
    ssh(box, f"echo kept | gzip > {dump}", check=True)
    data = group_data_with(deployed["tmp"] / "nobackups", box.name, "stack:\n  backups:\n    enabled: false\n")
    restores.add(box)
    try:
        out, payload = deploy_json(deployed["tmp"], "--limit", box.name, log=log, group_data=data)
        assert out.returncode == 0, out.stdout + out.stderr[-3000:]
        assert ssh(box, f"ls {job} 2>/dev/null").stdout == "", "the backup job is still installed"
        assert ssh(box, f"test -f {dump}").returncode == 0, "a dump was deleted"
        again, payload = deploy_json(deployed["tmp"], "--limit", box.name, log=log, group_data=data)
        assert again.returncode == 0 and host_of(payload, box)["changed_operations"] == [], host_of(payload, box)
        back, _ = deploy_json(deployed["tmp"], "--limit", box.name, log=log)
        assert back.returncode == 0, back.stdout
        assert ssh(box, f"ls {job}").returncode == 0, "the job did not come back"
        restores.settled(box)
    finally:
        ssh(box, f"rm -f {dump}")


def test_changed_mounted_config_restarts_exactly_its_services(deployed, boxes, log, restores):
    """Compose does not see a changed bind-mounted file: the deploy restarts the services that
    mount it (nginx mounts conf.d) and nothing else, and converges (second run: no change)."""
    box = boxes.boxes[0]
    before = containers(box)
    data = group_data_with(deployed["tmp"] / "mount", box.name, "stack:\n  proxy:\n    client_max_body_size: 11m\n")
    restores.add(box)
    out, payload = deploy_json(deployed["tmp"], "--limit", box.name, log=log, group_data=data)
    assert out.returncode == 0, out.stdout + out.stderr[-3000:]
    changed = host_of(payload, box)["changed_operations"]
    assert f"Stack | File {STACK_DIR}/nginx/conf.d/default.conf" in changed
    assert [name for name in changed if name.startswith("Stack | Restart")] == [
        "Stack | Restart nginx (mounted config changed)"], changed
    assert f"Stack | File {STACK_DIR}/compose.yml" not in changed
    assert "client_max_body_size 11m" in ssh(box, f"cat {STACK_DIR}/nginx/conf.d/default.conf").stdout
    after = containers(box)
    assert after["nginx"][0] == before["nginx"][0] and after["nginx"][1] != before["nginx"][1]  # restarted
    assert {svc: after[svc] for svc in after if svc != "nginx"} == {svc: before[svc] for svc in before if svc != "nginx"}
    assert httpx.get(f"http://127.0.0.1:{box.http_port}/api/v1/health/ready", timeout=5).status_code == 200
    again, payload = deploy_json(deployed["tmp"], "--limit", box.name, log=log, group_data=data)
    assert again.returncode == 0
    assert host_of(payload, box)["changed_operations"] == []
    assert containers(box) == after


def test_read_only_mount_keeps_host_owner_and_mode(deployed, boxes):
    box = boxes.boxes[0]
    out = ssh(box, f"stat -c '%U %G %a' {STACK_DIR}/nginx/conf.d")
    assert out.stdout.split() == ["root", "root", "755"]
    nginx = containers(box)["nginx"][0]
    write = ssh(box, f"docker exec {nginx} touch /etc/nginx/conf.d/probe")
    assert write.returncode != 0 and "Read-only file system" in write.stderr


def test_env_file_is_root_only(deployed, boxes):
    out = ssh(boxes.boxes[0], f"stat -c '%U %G %a' {STACK_DIR}/.env")
    assert out.stdout.split() == ["root", "root", "600"]


def test_deploy_files_write_nothing_outside_a_mooring_run(deployed, boxes, log):
    """A plain ``pyinfra inventories/sandbox.py deploy/stack.py`` converges (nothing to change
    here) and leaves no run dir, plan or record on the controller."""
    def files() -> dict[str, float]:
        found = {}
        for folder in ("runs", "releases"):
            found.update({str(p): p.stat().st_mtime for p in (state_path() / folder).rglob("*")})
        return found

    before = files()
    out = plain_pyinfra("inventories/sandbox.py", "deploy/stack.py", log=log)
    assert out.returncode == 0, out.stderr[-3000:]
    results = op_results(out.stderr)  # it really ran the stack, and found nothing to change
    assert sum(name.startswith("Stack | ") for name in results) >= 10, out.stderr[-3000:]
    assert all(said == {box.name: "No changes" for box in boxes.boxes} for said in results.values()), results
    assert files() == before
    assert "MOORING_RUN_DIR" not in os.environ


# -- health gate and rollback -------------------------------------------------------------------


BROKEN_API = ("stack:\n  services:\n    api:\n      image: mooring/api:1.1.0-broken\n"
              "  health:\n    - {name: ready, path: /api/v1/health/ready, expected_status: 200, timeout: 3, retries: 8,"
              " interval: 1}\n")


def test_broken_release_is_rolled_back(deployed, boxes, log, restores):
    box = boxes.boxes[1]
    data = group_data_with(deployed["tmp"] / "broken", box.name, BROKEN_API)
    restores.add(box)
    out, payload = deploy_json(deployed["tmp"], "--limit", box.name, log=log, group_data=data)
    assert out.returncode == 1
    host = host_of(payload, box)
    assert host["outcome"] == "rolled_back"
    assert f"rolled back to release {host['rolled_back_to']}" in out.stdout
    assert "status 503" in out.stdout  # the failing answer is shown
    assert all(p["ok"] for p in host["rollback_gate"])
    assert version(box) == "1.0.0"
    record = ssh(box, f"cat {STACK_DIR}/releases/{host['release_dirname']}/record.json")
    assert json.loads(record.stdout)["outcome"] == "rolled_back"
    local = state_path() / "releases" / box.name / f"{host['release_dirname']}.md"
    assert "rolled back to release" in local.read_text()


def test_only_the_host_whose_release_failed_is_rolled_back(deployed, boxes, log, restores):
    """Both boxes in one deploy: one new release fails its gate and is rolled back; the other
    new release passes and stays in place."""
    good, bad = boxes.boxes
    data = group_data_with(deployed["tmp"] / "both", bad.name, BROKEN_API,
                           more={good.name: "stack:\n  env:\n    APP_VERSION: 1.0.0-both\n"})
    restores.add(good, bad)
    out, payload = deploy_json(deployed["tmp"], log=log, group_data=data)
    assert out.returncode == 1, out.stdout
    assert payload["ok"] is False
    hosts = {h["host"]: h for h in payload["hosts"]}
    assert set(hosts) == {good.name, bad.name}
    assert hosts[bad.name]["outcome"] == "rolled_back" and hosts[bad.name]["rolled_back_to"] is not None
    assert hosts[good.name]["outcome"] == "deployed", hosts[good.name]
    assert hosts[good.name]["rolled_back_to"] is None and hosts[good.name]["rollback_gate"] == []
    assert version(bad) == "1.0.0"
    assert version(good) == "1.0.0-both"  # still the new release
    dirs, current = releases(good)
    assert hosts[good.name]["release_dirname"] in dirs and not hosts[good.name]["release_dirname"].endswith("-failed")
    assert current in (hosts[good.name]["release_id"], hosts[good.name]["release_dirname"])


def test_failed_gate_without_a_new_release_rolls_nothing_back(deployed, boxes, log):
    """A host whose release did not change but whose gate fails is reported failed and left
    alone: there is nothing of this deploy to roll back (nor any release to mark failed)."""
    box = boxes.boxes[0]
    before_containers, before_releases = containers(box), releases(box)
    data = group_data_with(deployed["tmp"] / "gate", box.name,
                           "stack:\n  health:\n    - {name: nowhere, path: /no/such/page, expected_status: 200,"
                           " timeout: 2, retries: 1, interval: 1}\n")
    out, payload = deploy_json(deployed["tmp"], "--limit", box.name, log=log, group_data=data)
    assert out.returncode == 1
    host = host_of(payload, box)
    assert host["outcome"] == "failed" and host["changed_operations"] == []
    assert host["rolled_back_to"] is None and "health gate failed: nowhere" in host["error"]
    assert releases(box) == before_releases
    assert containers(box) == before_containers


def test_failed_migration_rolls_back_and_keeps_the_good_release(deployed, boxes, log, restores):
    box = boxes.boxes[1]
    before, _ = releases(box)
    data = group_data_with(deployed["tmp"] / "migration", box.name,
                           "stack:\n  migration:\n    service: api\n    command: [python3, -m, app, no-such-step]\n")
    restores.add(box)
    out, payload = deploy_json(deployed["tmp"], "--limit", box.name, log=log, group_data=data)
    assert out.returncode == 1
    host = host_of(payload, box)
    assert host["outcome"] == "rolled_back", out.stdout
    after, _ = releases(box)
    assert f"{host['release']:04d}-{host['release_id']}-failed" in after  # marked failed on the host
    good_before = [d for d in before if not d.endswith("-failed")]
    assert all(d in after for d in good_before), "a good release was pruned or marked failed"
    assert httpx.get(f"http://127.0.0.1:{box.http_port}/api/v1/health/ready", timeout=5).status_code == 200
    # and the declared state converges again
    out, payload = deploy_json(deployed["tmp"], "--limit", box.name, log=log)
    assert out.returncode == 0, out.stdout
    restores.settled(box)


def test_a_release_that_failed_on_every_host_is_recorded_as_failed(deployed, boxes, log, restores):
    box = boxes.boxes[1]
    data = group_data_with(deployed["tmp"] / "migration-record", box.name,
                           "stack:\n  migration:\n    service: api\n    command: [python3, -m, app, no-such-step-2]\n")
    restores.add(box)
    out, payload = deploy_json(deployed["tmp"], "--limit", box.name, log=log, group_data=data)
    host = host_of(payload, box)
    assert out.returncode == 1 and host["outcome"] == "rolled_back", out.stdout
    assert host["release_dirname"] == f"{host['release']:04d}-{host['release_id']}-failed"
    record = ssh(box, f"cat {STACK_DIR}/releases/{host['release_dirname']}/record.json")
    assert record.returncode == 0 and json.loads(record.stdout)["outcome"] == "rolled_back"


def test_invalid_declared_state_touches_no_host(deployed, boxes, log):
    box = boxes.boxes[0]
    snapshot = f"find /srv/mooring /etc/cron.d -xdev -printf '%p %m %s %T@\\n' | sort; cat {STACK_DIR}/.env | sha256sum"
    before = ssh(box, snapshot).stdout
    data = group_data_with(deployed["tmp"] / "invalid", box.name, "stack:\n  backups:\n    retention_days: 0\n")
    out = mooring("deploy", "sandbox", log=log, group_data=data)
    assert out.returncode == 1
    assert "retention_days" in out.stdout + out.stderr
    assert "Traceback" not in out.stdout + out.stderr
    assert ssh(box, snapshot).stdout == before
    plain = plain_pyinfra("inventories/sandbox.py", "deploy/stack.py", log=log, group_data=data, timeout=300)
    assert plain.returncode != 0 and "retention_days" in plain.stderr
    assert ssh(box, snapshot).stdout == before


# -- backups and restores ------------------------------------------------------------------------


def test_backup_and_restore_check_run_on_the_box(deployed, boxes, log):
    """The installed nightly job really dumps, verifies, prunes only its own files and restores."""
    box = boxes.boxes[0]
    cron = ssh(box, "cat /etc/cron.d/mooring-solacore").stdout
    assert "0 2 * * * root umask 077 && /srv/mooring/solacore/bin/backup.sh" in cron
    old, foreign = f"{BACKUPS}/solacore__readme_to_recover_20200101T000000Z.sql.gz", f"{BACKUPS}/someone-elses.sql.gz"
    made = [old, foreign, "/tmp/truncated.sql.gz"]
    try:
        ssh(box, f"touch -d '40 days ago' {old} {foreign}", check=True)
        dump = backup_now(box, log)
        made.append(dump)
        listing = ssh(box, f"ls {BACKUPS}").stdout.split()
        assert Path(old).name not in listing  # its own, old: pruned
        assert Path(foreign).name in listing  # not its own: kept
        trailer = ssh(box, f"gzip -dc {dump} | tail -n 20")
        assert "-- PostgreSQL database dump complete" in trailer.stdout
        check = ssh(box, f"{STACK_DIR}/bin/restore.sh --check {dump}")
        log.extend([check.stdout, check.stderr])
        assert check.returncode == 0, check.stderr
        truncated = ssh(box, f"gzip -dc {dump} | head -n 5 | gzip > /tmp/truncated.sql.gz;"
                             f" {STACK_DIR}/bin/restore.sh --check /tmp/truncated.sql.gz")
        assert truncated.returncode != 0
    finally:
        ssh(box, "rm -f " + " ".join(made))


def test_retention_prunes_exactly_the_dumps_older_than_retention_days(deployed, boxes, log):
    """docs/declared-state.md: backup.sh deletes its dumps *older than* retention_days days.
    Just under the limit is kept, just over it is deleted (an off-by-one either way fails), and
    leftovers of an interrupted dump go after an hour."""
    box = boxes.boxes[0]
    script = ssh(box, f"cat {STACK_DIR}/bin/backup.sh").stdout
    days = int(re.search(r"^RETENTION_DAYS=(\d+)$", script, re.M).group(1))
    assert days == 3  # group_data/sandbox.yml
    name = f"{BACKUPS}/solacore__readme_to_recover_20000101T0000%02dZ.sql.gz"
    ages = {
        name % 1: (f"{24 * days - 1} hours ago", True),  # 1 h younger than the limit: kept
        name % 2: (f"{24 * days + 1} hours ago", False),  # 1 h older than the limit: deleted
        name % 3 + ".partial": ("59 minutes ago", True),
        name % 4 + ".partial": ("61 minutes ago", False),
        name % 5 + ".partial.status": ("61 minutes ago", False),
    }
    made = list(ages)
    try:
        for path, (age, _) in ages.items():
            ssh(box, f"touch -d {shlex.quote(age)} {path}", check=True)
        made.append(backup_now(box, log))
        listing = set(ssh(box, f"ls -a {BACKUPS}").stdout.split())
        assert {Path(p).name: Path(p).name in listing for p in ages} == {Path(p).name: kept for p, (_, kept) in ages.items()}
    finally:
        ssh(box, "rm -f " + " ".join(made))


def test_restore_check_leaves_the_live_database_and_no_scratch_database(deployed, boxes, log):
    """``restore.sh --check`` restores into a throwaway database: the live database keeps a row
    written after the dump (a restore into it would drop it), and no database is left behind."""
    box = boxes.boxes[0]
    made = []
    try:
        assert psql(box, "CREATE TABLE mooring_probe (note text)").returncode == 0
        made.append(backup_now(box, log))
        assert psql(box, "INSERT INTO mooring_probe VALUES ('written after the dump')").returncode == 0
        live, dbs = fingerprint(box), databases(box)
        check = ssh(box, f"{STACK_DIR}/bin/restore.sh --check {made[0]}")
        log.extend([check.stdout, check.stderr])
        assert check.returncode == 0, check.stderr
        assert psql(box, "SELECT note FROM mooring_probe").stdout.split("\n")[0] == "written after the dump"
        assert fingerprint(box) == live
        assert databases(box) == dbs, "the scratch database was left behind"
    finally:
        psql(box, "DROP TABLE IF EXISTS mooring_probe")
        ssh(box, "rm -f " + " ".join(made))


def test_restore_stops_at_the_first_error_and_restores_nothing(deployed, boxes, log):
    """A dump that breaks in the middle (complete gzip and trailer, a failing statement after the
    tables are created) fails, and in one transaction: nothing of it stays, neither in the
    scratch database of ``--check`` nor in a real target (without ON_ERROR_STOP psql would go on
    and exit 0; without --single-transaction the statements before the error would stay)."""
    box = boxes.boxes[0]
    # named like a dump of the live database, so that --check takes it for one
    bad, target, role = f"/tmp/solacore__{DB}_20000101T000000Z.sql.gz", "mooring_restore_target", "mooring_restore_probe"
    made = [bad]
    try:
        made.append(backup_now(box, log))
        broken = ssh(box, f"gzip -dc {made[-1]} | awk '!done && /^COPY /"
                          f" {{print \"CREATE ROLE {role};\"; print \"SELECT mooring_no_such_function();\"; done=1}}"
                          f" {{print}}' | gzip > {bad} && gzip -dc {bad} | grep -o -e '^CREATE TABLE' -e '^CREATE ROLE'"
                          " -e '^SELECT mooring_no_such_function' -e '^-- PostgreSQL database dump complete'")
        kinds = [line for i, line in enumerate(broken.stdout.splitlines()) if i == 0 or line != "CREATE TABLE"]
        assert kinds == ["CREATE TABLE", "CREATE ROLE", "SELECT mooring_no_such_function",
                         "-- PostgreSQL database dump complete"], broken.stdout  # tables, role, error, trailer
        dbs = databases(box)

        check = ssh(box, f"{STACK_DIR}/bin/restore.sh --check {bad}")
        log.extend([check.stdout, check.stderr])
        assert check.returncode != 0, "a dump with an error passed the restore check"
        assert "mooring_no_such_function() does not exist" in check.stderr  # psql ran it and refused it
        assert psql(box, f"SELECT count(*) FROM pg_roles WHERE rolname = '{role}'", db="postgres").stdout.strip() == "0"
        assert databases(box) == dbs

        assert psql(box, f"CREATE DATABASE {target}", db="postgres").returncode == 0
        assert psql(box, "CREATE TABLE keep (n int); INSERT INTO keep VALUES (1)", db=target).returncode == 0
        restore = ssh(box, f"{STACK_DIR}/bin/restore.sh {bad} {target}")
        log.extend([restore.stdout, restore.stderr])
        assert restore.returncode != 0
        assert "mooring_no_such_function() does not exist" in restore.stderr
        tables = psql(box, "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1", db=target)
        assert tables.stdout.split() == ["keep"], "part of the broken dump was restored"
        assert psql(box, "SELECT n FROM keep", db=target).stdout.split() == ["1"]
        assert psql(box, f"SELECT count(*) FROM pg_roles WHERE rolname = '{role}'", db="postgres").stdout.strip() == "0"
    finally:
        psql(box, f"DROP DATABASE IF EXISTS {target}", db="postgres")
        psql(box, f"DROP ROLE IF EXISTS {role}", db="postgres")
        ssh(box, "rm -f " + " ".join(made))


# -- images from a registry ------------------------------------------------------------------------


REGISTRY_UP = (
    "docker rm -f mooring-test-registry >/dev/null 2>&1; "
    "docker run -d --name mooring-test-registry -p 127.0.0.1:5000:5000 mooring/registry:2 >/dev/null && "
    "for i in $(seq 40); do curl -sf http://127.0.0.1:5000/v2/ >/dev/null && break; sleep 0.5; done && "
    "docker tag mooring/redis:7 localhost:5000/solacore/redis:7 && "
    "docker push localhost:5000/solacore/redis:7 >/dev/null && docker rmi localhost:5000/solacore/redis:7"
)


def test_registry_images_are_pulled_once(deployed, boxes, log, restores):
    """``image_source: registry``: a real registry (Debian's docker-registry) runs on the box."""
    box = boxes.boxes[0]
    ref = "localhost:5000/solacore/redis:7"
    restores.add(box)
    try:
        setup = run_deploy_code(
            "from pyinfra.operations import server\n"
            "from mooring.deploy.operations import images\n"
            "from mooring.deploy.roles.stack import shipped_image\n"
            "image_id, archive = shipped_image('mooring/registry:2')\n"
            "images.shipped(name='registry image', ref='mooring/registry:2', image_id=image_id, archive=archive)\n"
            f"server.shell(name='registry with redis pushed', commands=[{REGISTRY_UP!r}])\n",
            limit=[box.name],
        )
        assert setup.rc == 0 and not setup.failed_hosts, setup.log[-2000:]
        assert ssh(box, f"docker image inspect {ref}").returncode != 0  # only the registry has it
        data = group_data_with(deployed["tmp"] / "registry", box.name,
                               f"stack:\n  services:\n    redis:\n      image: {ref}\n      image_source: registry\n")
        out, payload = deploy_json(deployed["tmp"], "--limit", box.name, log=log, group_data=data)
        assert out.returncode == 0, out.stdout + out.stderr[-3000:]
        assert f"Stack | Image {ref} (registry)" in host_of(payload, box)["changed_operations"]
        running = ssh(box, "docker inspect --format '{{.Config.Image}}' solacore-redis-1").stdout.strip()
        assert running == ref
        again, payload = deploy_json(deployed["tmp"], "--limit", box.name, log=log, group_data=data)
        assert again.returncode == 0
        assert host_of(payload, box)["changed_operations"] == []
    finally:
        # back to the declared redis first (restores), then no registry or pulled image left
        out = mooring("deploy", "sandbox", "--limit", box.name, log=log)
        ssh(box, f"docker rm -f mooring-test-registry; docker rmi {ref} mooring/registry:2")
        assert out.returncode == 0, out.stdout
        restores.settled(box)


# -- secrets -----------------------------------------------------------------------------------


class ProcessSampler:
    """Reads every process's arguments (``/proc/*/cmdline``) over and over while it runs: on a
    box through one ssh session, and on the controller itself."""

    BOX_LOOP = ("while [ ! -e /tmp/mooring-sampler-stop ]; do"
                " cat /proc/[0-9]*/cmdline 2>/dev/null | tr '\\0' ' '; echo; echo '--sample--'; sleep 0.05;"
                " done; rm -f /tmp/mooring-sampler-stop")

    def __init__(self, box) -> None:
        self.box = box
        self.local: set[str] = set()
        self.local_samples = 0
        self._stop = threading.Event()
        self._remote: subprocess.CompletedProcess | None = None
        self._threads = [threading.Thread(target=self._sample_box), threading.Thread(target=self._sample_here)]

    def _sample_box(self) -> None:
        self._remote = ssh(self.box, "rm -f /tmp/mooring-sampler-stop; " + self.BOX_LOOP)

    def _sample_here(self) -> None:
        while not self._stop.is_set():
            for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
                try:
                    self.local.add(cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace"))
                except OSError:
                    pass  # the process ended
            self.local_samples += 1
            time.sleep(0.05)

    def __enter__(self) -> ProcessSampler:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        ssh(self.box, "touch /tmp/mooring-sampler-stop")
        for thread in self._threads:
            thread.join(timeout=120)

    @property
    def box_samples(self) -> int:
        return self._remote.stdout.count("--sample--") if self._remote else 0

    def texts(self) -> list[str]:
        return [self._remote.stdout if self._remote else "", *self.local]


def test_secrets_never_leave_the_env_file(deployed, boxes, log, restores):
    """Canary secrets: used on the host, absent from every output, record and process argument
    list, sampled on the box and on the controller all through two deploys that change the .env
    (plain pyinfra with --diff -vv, then mooring back to the declared state)."""
    box = boxes.boxes[0]
    data = group_data_with(deployed["tmp"] / "diff", box.name, "stack:\n  env:\n    APP_VERSION: 1.0.0-diff\n")
    restores.add(box)
    with ProcessSampler(box) as sampler:
        plain = plain_pyinfra("--diff", "-vv", "--limit", box.name, "inventories/sandbox.py", "deploy/stack.py",
                              log=log, group_data=data)
        back = mooring("deploy", "sandbox", "--limit", box.name, log=log)
    assert plain.returncode == 0, plain.stderr[-3000:]
    assert op_results(plain.stderr)[f"Stack | Secret file {STACK_DIR}/.env"] == {box.name: "Success"}
    assert back.returncode == 0, back.stdout
    restores.settled(box)
    assert sampler.box_samples >= 20 and sampler.local_samples >= 20, (sampler.box_samples, sampler.local_samples)
    seen = "\n".join(sampler.local)  # it saw both deploys run, and their commands on the box
    assert "-m pyinfra -y --group-data" in seen and "-m mooring -v deploy sandbox --limit" in seen
    assert "docker compose" in sampler.texts()[0]
    # they were really deployed: the api reads back exactly the canaries (compared by digest)
    digest = ssh(box, "docker exec solacore-api-1 sh -c 'printf %s \"$JWT_SECRET\" | sha256sum';"
                      " docker exec solacore-db-1 sh -c 'printf %s \"$POSTGRES_PASSWORD\" | sha256sum'")
    assert digest.stdout.split()[::2] == [hashlib.sha256(v.encode()).hexdigest() for v in (CANARY_JWT, CANARY_DB)]
    assert not leaked(sampler.texts()), "a secret value was in a process's arguments during a deploy"
    records = "\n".join(p.read_text() for p in (state_path() / "releases").rglob("*") if p.is_file())
    runs = "\n".join(p.read_text() for p in (state_path() / "runs").rglob("*.json"))
    host_records = ssh(box, f"cat {STACK_DIR}/releases/*/record.* 2>/dev/null").stdout
    assert not leaked([records, runs, host_records])
    assert not leaked(log)
