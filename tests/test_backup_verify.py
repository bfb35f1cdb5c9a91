"""``mooring backup verify`` on real docker boxes with real Postgres: the restore drill restores a
dump into a throwaway server started on the box and counts every table's rows against the dump.

Known rows inserted in the live database come back in the drill's counts; the live server is
never connected to (sampled during the drill) and its databases stay as they were; a dump cut
short, a corrupt gzip, a dump of the wrong database and one that does not restore all fail with
their reason; a drill killed midway (the controller, or the script on the box) leaves nothing
behind once the next drill ran; no secret reaches any output.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.conftest import DRILL_METRICS, ROOT, SECRET_ENV, run_mooring, ssh

pytestmark = [pytest.mark.boxes, pytest.mark.slow]

BACKUPS = "/var/backups/mooring/solacore"
DATABASE = "readme_to_recover"
LABEL = "mooring.drill=solacore"
PROBE_ROWS = 1234


mooring = run_mooring


def verify(tmp_path: Path, log: list[str], box, *extra: str) -> tuple[subprocess.CompletedProcess, dict]:
    target = tmp_path / f"verify-{time.monotonic_ns()}.json"
    out = mooring("backup", "verify", "sandbox", "--limit", box.name, "--json", str(target), *extra, log=log)
    text = target.read_text() if target.exists() else ""
    log.append(text)
    assert text, out.stdout + out.stderr[-3000:]
    return out, json.loads(text)


def live_sql(box, sql: str) -> str:
    """``sql`` in the live database, as its POSTGRES_USER (unaligned, tuples only)."""
    script = f'psql -U "$POSTGRES_USER" -d {DATABASE} -At -v ON_ERROR_STOP=1 -c "$1"'
    return ssh(box, f"docker exec solacore-db-1 sh -c {shlex.quote(script)} sh {shlex.quote(sql)}", check=True).stdout


def drill_leftovers(box) -> str:
    return ssh(box, f"docker ps -aq --filter label={LABEL}; docker volume ls -q --filter label={LABEL}").stdout.strip()


@pytest.fixture(scope="module")
def dumped(bootstrapped, boxes):
    """docker-1 runs the stack, its database holds a probe table of known rows, and a fresh dump."""
    texts: list[str] = []
    assert mooring("deploy", "sandbox", log=texts).returncode == 0, texts[-2][-3000:]
    box = boxes.boxes[0]
    live_sql(box, "DROP TABLE IF EXISTS drill_probe; CREATE TABLE drill_probe (id int PRIMARY KEY, note text);"
                  f"INSERT INTO drill_probe SELECT g, 'row ' || g || E'\\nwith a newline' FROM generate_series(1, {PROBE_ROWS}) g;")
    out = mooring("backup", "run", "sandbox", "--limit", box.name, log=texts)
    assert out.returncode == 0, out.stdout
    yield box
    try:
        live_sql(box, "DROP TABLE IF EXISTS drill_probe;")
    finally:
        ssh(box, f"rm -f {DRILL_METRICS}")  # this module's drills failed on purpose: no record of them stays


class LiveSessions:
    """Samples the live server's client sessions (but its own) every 0.2 s while the drill runs."""

    QUERY = ("SELECT coalesce(application_name, '') || '|' || coalesce(datname, '') FROM pg_stat_activity "
             "WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()")

    def __init__(self, box):
        self.box, self.seen, self._stop = box, set(), threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.seen.update(line for line in live_sql(self.box, self.QUERY + ";").splitlines() if line)
            time.sleep(0.2)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(timeout=30)


def test_the_drill_restores_known_rows_and_never_touches_the_live_server(dumped, tmp_path, log):
    box = dumped
    databases = live_sql(box, "SELECT datname FROM pg_database ORDER BY 1;")
    with LiveSessions(box) as sessions:
        out, payload = verify(tmp_path, log, box)
    assert out.returncode == 0, out.stdout + out.stderr[-3000:]
    [finding] = [f for f in payload["findings"] if f["check"] == "backup.verify"]
    assert finding["outcome"] == "passed" and finding["resource"] == f"backup:{DATABASE}", finding
    [dump] = payload["hosts"][0]["details"]["dumps"]
    tables = {t["table"]: (t["rows_in_dump"], t["rows_restored"]) for t in dump["tables"]}
    assert tables["public.drill_probe"] == (str(PROBE_ROWS), str(PROBE_ROWS)), tables
    assert all(in_dump == restored for in_dump, restored in tables.values()), tables
    newest = ssh(box, f"ls -1 {BACKUPS}/solacore__{DATABASE}_*.sql.gz | sort | tail -n 1").stdout.strip()
    assert dump["file"] == newest and "restored" in out.stdout

    assert not [s for s in sessions.seen if s.startswith("psql|")], sessions.seen  # no drill connection
    assert live_sql(box, "SELECT datname FROM pg_database ORDER BY 1;") == databases
    assert live_sql(box, "SELECT count(*) FROM drill_probe;").strip() == str(PROBE_ROWS)
    assert drill_leftovers(box) == ""
    metrics = ssh(box, "cat /var/lib/prometheus/node-exporter/mooring-backup-verify-solacore.prom").stdout
    assert 'mooring_backup_last_verify_success{stack="solacore"} 1' in metrics


BROKEN = {
    # name stamp: how the file is made from the newest good dump $GOOD (on the box)
    "20200101T000001Z": ('gzip -dc "$GOOD" | head -n -8 | gzip -c', "no closing line (-- PostgreSQL database dump complete)"),
    "20200101T000002Z": ('head -c $(($(stat -c %s "$GOOD") / 2)) "$GOOD"', "not an intact gzip stream"),
    "20200101T000003Z": ("{ echo '-- mooring-backup: stack=solacore database=postgres'; docker exec solacore-db-1 "
                         "sh -c 'pg_dump -U \"$POSTGRES_USER\" --no-owner postgres'; } | gzip -c",
                         "a dump of database postgres of stack solacore, not of readme_to_recover"),
    "20200101T000004Z": ("gzip -dc \"$GOOD\" | sed '2i SELECT no_such_function();' | gzip -c", "does not restore: ERROR"),
}


@pytest.mark.parametrize("stamp", sorted(BROKEN))
def test_a_dump_that_does_not_restore_whole_fails_with_its_reason(dumped, tmp_path, log, stamp):
    box = dumped
    make, reason = BROKEN[stamp]
    name = f"solacore__{DATABASE}_{stamp}.sql.gz"
    good = f"$(ls -1 {BACKUPS}/solacore__{DATABASE}_2*.sql.gz | sort | tail -n 1)"
    try:
        ssh(box, f'GOOD={good}; ({make}) >{BACKUPS}/{name}', check=True)
        out, payload = verify(tmp_path, log, box, "--file", name)
        assert out.returncode == 1, out.stdout
        [finding] = [f for f in payload["findings"] if f["check"] == "backup.verify"]
        assert finding["outcome"] == "failed" and reason in finding["message"], finding
        assert "mooring backup run" in finding["fix"]
        assert drill_leftovers(box) == ""
        metrics = ssh(box, "cat /var/lib/prometheus/node-exporter/mooring-backup-verify-solacore.prom").stdout
        assert 'mooring_backup_last_verify_success{stack="solacore"} 0' in metrics
    finally:
        ssh(box, f"rm -f {BACKUPS}/{name}")


def test_a_drill_killed_midway_leaves_nothing_once_the_next_one_ran(dumped, tmp_path, log):
    box = dumped
    # kill -9 of the script on the box: no trap runs, its server and volume stay behind.
    runner = subprocess.Popen([sys.executable, "-m", "mooring", "backup", "verify", "sandbox", "--limit", box.name],
                              cwd=ROOT, env={**os.environ, **SECRET_ENV}, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        waited = ssh(box, f"for i in $(seq 600); do [ -n \"$(docker ps -q --filter label={LABEL})\" ] && exit 0; "
                          "sleep 0.1; done; exit 1")
        assert waited.returncode == 0, "the drill never started its server"
        ssh(box, "pkill -9 -f '[b]in/drill.sh'")
        out, err = runner.communicate(timeout=300)
        log += [out, err]
        assert runner.returncode == 1
        assert drill_leftovers(box) != "", "the killed drill should have left its server (no trap ran)"
    finally:
        if runner.poll() is None:
            os.killpg(runner.pid, signal.SIGKILL)
            runner.wait()

    # kill -9 of the controller midway: the box's drill is cut off; the next drill cleans up.
    runner = subprocess.Popen([sys.executable, "-m", "mooring", "backup", "verify", "sandbox", "--limit", box.name],
                              cwd=ROOT, env={**os.environ, **SECRET_ENV}, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL, start_new_session=True)
    ssh(box, f"for i in $(seq 600); do [ -n \"$(docker ps -q --filter label={LABEL})\" ] && exit 0; sleep 0.1; done")
    os.killpg(runner.pid, signal.SIGKILL)
    runner.wait()
    # Without a terminal the box's drill may outlive the connection: it holds its lock until done.
    assert ssh(box, f"flock -w 300 {BACKUPS}/.drill.lock true").returncode == 0

    out, payload = verify(tmp_path, log, box)
    assert out.returncode == 0, out.stdout + out.stderr[-3000:]
    deadline = time.time() + 30  # the drill cut off with the controller may still be ending
    while time.time() < deadline and drill_leftovers(box):
        time.sleep(1)
    assert drill_leftovers(box) == ""


def dumps_on(box) -> list[str]:
    return ssh(box, f"ls -1 {BACKUPS}/solacore__{DATABASE}_*.sql.gz | sort").stdout.split()


def test_a_restore_is_confirmed_locked_and_keeps_what_it_replaced(dumped, tmp_path, log):
    box = dumped
    [*_, good] = dumps_on(box)
    name = Path(good).name
    live_sql(box, "DELETE FROM drill_probe WHERE id > 1000;")
    try:
        before = dumps_on(box)
        # Not confirmed (no terminal, no --yes): refused before any host is touched.
        target = tmp_path / "refused.json"
        out = mooring("backup", "restore", "sandbox", "--limit", box.name, "--file", name, "--json", str(target), log=log)
        assert out.returncode == 1 and "add --yes" in out.stdout, out.stdout
        assert json.loads(target.read_text())["hosts"][0]["note"] == "not confirmed: not contacted"
        assert dumps_on(box) == before and live_sql(box, "SELECT count(*) FROM drill_probe;").strip() == "1000"

        # Another run holds the deploy lock: refused, nothing dumped or restored.
        owner = json.dumps({"run": "other-run", "operator": "ana", "controller": "elsewhere", "pids": [1],
                            "command": "mooring deploy", "started": "2026-12-03T10:00:00+00:00"})
        ssh(box, f"mkdir -p /srv/mooring/solacore/.mooring/lock && echo {shlex.quote(owner)} "
                 ">/srv/mooring/solacore/.mooring/lock/owner", check=True)
        try:
            out = mooring("backup", "restore", "sandbox", "--limit", box.name, "--file", name, "--yes", log=log)
            assert out.returncode == 1 and "another deploy holds the lock" in out.stdout, out.stdout
            assert "by ana@elsewhere" in out.stdout
            assert dumps_on(box) == before and live_sql(box, "SELECT count(*) FROM drill_probe;").strip() == "1000"
        finally:
            ssh(box, "rm -rf /srv/mooring/solacore/.mooring/lock")

        target = tmp_path / "restored.json"
        out = mooring("backup", "restore", "sandbox", "--limit", box.name, "--file", name, "--yes",
                      "--json", str(target), log=log)
        assert out.returncode == 0, out.stdout + out.stderr[-3000:]
        assert live_sql(box, "SELECT count(*) FROM drill_probe;").strip() == str(PROBE_ROWS)
        details = json.loads(target.read_text())["hosts"][0]["details"]
        [replaced] = details["dumped_before"]
        assert replaced not in before and replaced in dumps_on(box)
        # What the restore replaced (1000 rows) is in that dump: the drill says so.
        out, payload = verify(tmp_path, log, box, "--file", Path(replaced).name)
        assert out.returncode == 0, out.stdout
        tables = {t["table"]: t["rows_in_dump"] for t in payload["hosts"][0]["details"]["dumps"][0]["tables"]}
        assert tables["public.drill_probe"] == "1000"

        [record] = [json.loads(line) for line in
                    ssh(box, "cat /srv/mooring/solacore/.mooring/restores.log").stdout.splitlines()][-1:]
        assert record["file"] == good and record["result"] == "restored" and record["dumped_before"] == [replaced]
        assert ssh(box, "ls -d /srv/mooring/solacore/.mooring/lock 2>/dev/null").stdout == ""  # released
    finally:
        live_sql(box, f"INSERT INTO drill_probe SELECT g, 'row ' || g FROM generate_series(1, {PROBE_ROWS}) g "
                      "ON CONFLICT DO NOTHING;")
        assert mooring("backup", "run", "sandbox", "--limit", box.name, log=log).returncode == 0  # newest: all rows
