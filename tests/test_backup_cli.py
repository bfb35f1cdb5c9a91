"""``mooring backup run`` and ``mooring backup list`` on real docker boxes with real Postgres:
the installed job runs now and reports each database's verified dump (the file is on the box,
its size as reported); the listing shows it; a stopped database fails loudly and keeps the older
dumps; a job already running (its lock held on the box) is refused, not doubled; bad input
touches no host; no secret reaches any output.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT, group_data_with, run_mooring, ssh

pytestmark = [pytest.mark.boxes, pytest.mark.slow]

BACKUPS = "/var/backups/mooring/solacore"
DATABASE = "readme_to_recover"
HOLDER = "61.25"  # the lock holder's sleep: a duration no other process on the box has


mooring = run_mooring


def report(tmp_path: Path, log: list[str], *args: str, group_data: Path | None = None):
    target = tmp_path / f"backup-{time.monotonic_ns()}.json"
    out = mooring(*args, "--json", str(target), log=log, group_data=group_data)
    text = target.read_text() if target.exists() else ""
    log.append(text)
    assert text, out.stdout + out.stderr[-3000:]
    return out, json.loads(text)


def by_host(payload: dict, host: str, check: str) -> dict[str, dict]:
    return {f["resource"]: f for f in payload["findings"] if f["host"] == host and f["check"] == check}


@pytest.fixture(scope="module")
def deployed(bootstrapped, boxes):
    texts: list[str] = []
    out = mooring("deploy", "sandbox", log=texts)
    assert out.returncode == 0, out.stdout + out.stderr[-3000:]
    return boxes


def test_run_reports_each_verified_dump_and_list_shows_it(deployed, tmp_path, log):
    import jsonschema

    schema = json.loads((ROOT / "docs" / "report-schema.json").read_text())
    out, payload = report(tmp_path, log, "backup", "run", "sandbox")
    assert out.returncode == 0, out.stdout + out.stderr[-3000:]
    jsonschema.validate(payload, schema)
    written = {}
    for box in deployed.boxes:
        finding = by_host(payload, box.name, "backup.run")[f"backup:{DATABASE}"]
        assert finding["outcome"] == "passed" and "verified" in finding["message"], finding
        [dump] = next(h for h in payload["hosts"] if h["name"] == box.name)["details"]["dumps"]
        size = ssh(box, f"stat -c %s {dump['path']} && gzip -t {dump['path']}").stdout.split()
        assert size == [str(dump["bytes"])], (size, dump)
        assert Path(dump["path"]).name.startswith(f"solacore__{DATABASE}_")
        written[box.name] = Path(dump["path"]).name
    assert f"1 of 1 dumped" in out.stdout

    out, checked = report(tmp_path, log, "check", "sandbox")
    for box in deployed.boxes:
        metrics = by_host(checked, box.name, "live.backups.metrics")
        assert [f["outcome"] for f in metrics.values()] == ["passed"], metrics

    out, listed = report(tmp_path, log, "backup", "list", "sandbox")
    assert out.returncode == 0, out.stdout + out.stderr[-3000:]
    jsonschema.validate(listed, schema)
    for box in deployed.boxes:
        found = by_host(listed, box.name, "backup.list")
        assert f"file:{written[box.name]}" in found, sorted(found)
        assert written[box.name] in out.stdout


def test_a_stopped_database_fails_loudly_and_keeps_the_older_dumps(deployed, tmp_path, log):
    box = deployed.boxes[0]
    before = ssh(box, f"ls {BACKUPS}").stdout
    try:
        assert ssh(box, "docker stop -t 5 solacore-db-1 >/dev/null").returncode == 0
        out, payload = report(tmp_path, log, "backup", "run", "sandbox", "--limit", box.name)
        assert out.returncode == 1, out.stdout
        finding = by_host(payload, box.name, "backup.run")[f"backup:{DATABASE}"]
        assert finding["outcome"] == "failed" and f"no dump of {DATABASE}" in finding["message"], finding
        assert "older dumps were kept" in finding["fix"]
        assert ssh(box, f"ls {BACKUPS}").stdout == before, "a dump was removed or a partial one left"
        # The job's metrics say so, and mooring check reads them.
        out, checked = report(tmp_path, log, "check", "sandbox", "--limit", box.name)
        metrics = [(f["outcome"], f["message"]) for f in checked["findings"]
                   if f["host"] == box.name and f["check"] == "live.backups.metrics"]
        assert ("failed", "the last 1 backup run(s) failed") in metrics, metrics
        assert {outcome for outcome, _ in metrics} == {"failed"}, metrics  # and "never" when it is the first run
        assert out.returncode == 1
    finally:
        ssh(box, "docker start solacore-db-1 >/dev/null")
        deadline = time.time() + 60
        while time.time() < deadline and ssh(box, "docker exec solacore-db-1 pg_isready -q").returncode != 0:
            time.sleep(1)
        # A good run again: no later test meets a failed job's metrics.
        assert mooring("backup", "run", "sandbox", "--limit", box.name, log=log).returncode == 0


def test_a_job_already_running_is_refused_not_doubled(deployed, tmp_path, log):
    box = deployed.boxes[1]
    holder = subprocess.Popen(["ssh", *ssh_args(box), f"flock {BACKUPS}/.lock sleep {HOLDER}"],
                              stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 20
        while time.time() < deadline and ssh(box, f"flock -n {BACKUPS}/.lock true").returncode == 0:
            time.sleep(0.2)
        before = ssh(box, f"ls {BACKUPS}").stdout
        out, payload = report(tmp_path, log, "backup", "run", "sandbox", "--limit", box.name)
        assert out.returncode == 1, out.stdout
        finding = by_host(payload, box.name, "backup.run")[f"backup:{DATABASE}"]
        assert "another backup is running" in finding["message"], finding
        assert ssh(box, f"ls {BACKUPS}").stdout == before
    finally:
        holder.kill()
        holder.wait()
        ssh(box, f"pkill -f '[s]leep {HOLDER}'")  # the remote flock outlives the ssh client
        deadline = time.time() + 20
        while time.time() < deadline and ssh(box, f"flock -n {BACKUPS}/.lock true").returncode != 0:
            time.sleep(0.2)
        assert ssh(box, f"flock -n {BACKUPS}/.lock true").returncode == 0, "the test's lock holder is still there"


def test_bad_input_touches_no_host(deployed, tmp_path, log):
    box = deployed.boxes[0]
    before = ssh(box, f"ls -la --time-style=+%s {BACKUPS}").stdout
    data = group_data_with(tmp_path, box.name, "stack:\n  backups:\n    retention_days: 0\n")
    out, payload = report(tmp_path, log, "backup", "run", "sandbox", "--limit", box.name, group_data=data)
    assert out.returncode == 1 and "pre-flight failed: no host was touched" in out.stdout, out.stdout
    assert any(f["path"] == "stack.backups.retention_days" for f in payload["findings"])
    assert ssh(box, f"ls -la --time-style=+%s {BACKUPS}").stdout == before


def ssh_args(box) -> list[str]:
    from mooring.sandbox.boxes import load_state

    state = load_state()
    return ["-i", str(state.key_path), "-p", str(box.ssh_port), "-o", f"UserKnownHostsFile={state.known_hosts_path}",
            "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", "root@127.0.0.1"]


def test_the_cron_log_is_capped(deployed, tmp_path, log):
    from mooring.declare.render import LOG_MAX_BYTES

    box = deployed.boxes[0]
    path = "/var/log/mooring-solacore-backup.log"
    try:
        ssh(box, f"head -c {LOG_MAX_BYTES + 1} /dev/zero >{path} && rm -f {path}.1", check=True)
        assert mooring("backup", "run", "sandbox", "--limit", box.name, log=log).returncode == 0
        sizes = ssh(box, f"stat -c %s {path}.1; ls {path} 2>/dev/null").stdout.split()
        assert sizes == [str(LOG_MAX_BYTES + 1)], sizes  # moved aside whole; the next cron run starts a new log
        ssh(box, f"head -c {LOG_MAX_BYTES} /dev/zero >{path}", check=True)
        assert mooring("backup", "run", "sandbox", "--limit", box.name, log=log).returncode == 0
        assert ssh(box, f"stat -c %s {path}").stdout.strip() == str(LOG_MAX_BYTES)  # at the cap: kept
    finally:
        ssh(box, f"rm -f {path} {path}.1")
