"""MySQL/MariaDB backups on a real docker box with a real MariaDB (``mooring/mariadb:10.11``,
built here from Debian's packages): the stack gains a ``role: mysql`` service and its backups
point at it. The nightly job dumps with mariadb-dump using the container's own credentials (the
password on no command line and in no output), the restore drill restores the dump into a
throwaway MariaDB and counts every table's rows against the dump, a dump cut short fails, and a
restore (checked in a scratch database first) brings the rows back. Deployed twice: the second
run changes nothing.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import time
from pathlib import Path

import pytest

from mooring.sandbox.layers import MYSQL_BACKUPS
from tests.conftest import DRILL_METRICS, SECRET_ENV, group_data_with, run_mooring, ssh

pytestmark = [pytest.mark.boxes, pytest.mark.slow]

BACKUPS = "/var/backups/mooring/solacore"
CONTAINER = "solacore-shopdb-1"
ROOT_PASSWORD = "mdbCanary4Root8Pw2x"
PROBE_ROWS = 777
OVERRIDE = MYSQL_BACKUPS + "    keep_newest: 1\n"
ENV = {**SECRET_ENV, "MOORING_SECRET_MARIADB_ROOT_PASSWORD": ROOT_PASSWORD}


def mooring(*args: str, log: list[str], group_data: Path | None = None) -> subprocess.CompletedProcess:
    return run_mooring(*args, log=log, group_data=group_data, secrets=ENV)


def with_json(tmp_path: Path, log: list[str], *args: str, group_data: Path | None = None):
    target = tmp_path / f"out-{time.monotonic_ns()}.json"
    out = mooring(*args, "--json", str(target), log=log, group_data=group_data)
    text = target.read_text() if target.exists() else ""
    log.append(text)
    assert text, out.stdout + out.stderr[-3000:]
    return out, json.loads(text)


def shop_sql(box, sql: str) -> str:
    """``sql`` in the live ``shop`` database as root (tab-separated, no column names)."""
    script = 'MYSQL_PWD="$MARIADB_ROOT_PASSWORD" exec mariadb -uroot --batch --skip-column-names shop -e "$1"'
    out = ssh(box, f"docker exec {CONTAINER} sh -c {shlex.quote(script)} sh {shlex.quote(sql)}")
    assert out.returncode == 0, out.stderr
    return out.stdout


def dumps_on(box) -> list[str]:
    return ssh(box, f"ls {BACKUPS}/solacore__shop_*.sql.gz 2>/dev/null").stdout.split()


@pytest.fixture(scope="module")
def mysql_stack(bootstrapped, boxes, tmp_path_factory):
    """docker-1 runs the stack with a MariaDB beside Postgres, deployed twice, holding known rows."""
    box = boxes.boxes[0]
    tmp = tmp_path_factory.mktemp("mysql")
    data = group_data_with(tmp, box.name, OVERRIDE)
    texts: list[str] = []
    runs = [with_json(tmp, texts, "deploy", "sandbox", "--limit", box.name, group_data=data) for _ in range(2)]
    for out, _ in runs:
        assert out.returncode == 0, out.stdout + out.stderr[-3000:]
    shop_sql(box, "DROP TABLE IF EXISTS probe; CREATE TABLE probe (id INT PRIMARY KEY, note TEXT);"
                  "INSERT INTO probe SELECT seq, CONCAT('row ', seq, '\\nwith a newline, a '' and (x),(y)') "
                  f"FROM seq_1_to_{PROBE_ROWS}; CREATE TABLE empty_one (id INT);")
    yield {"box": box, "data": data, "tmp": tmp, "runs": runs, "texts": texts}
    # Back to the reference stack for the modules after this one (the MariaDB and its volume go).
    try:
        assert mooring("deploy", "sandbox", "--limit", box.name, log=[]).returncode == 0
    finally:  # even when that deploy failed: a failed drill's record would fail the next module's checks
        ssh(box, "docker volume rm -f solacore_shopdata; "
                 f"rm -f {BACKUPS}/solacore__shop_* {DRILL_METRICS}")


def test_a_mysql_stack_deploys_and_the_second_deploy_changes_nothing(mysql_stack):
    _, (_, second) = mysql_stack["runs"]
    [host] = second["hosts"]
    assert host["changed_operations"] == [], host
    health = ssh(mysql_stack["box"], f"docker inspect --format '{{{{.State.Health.Status}}}}' {CONTAINER}").stdout
    assert health.strip() == "healthy", health
    script = ssh(mysql_stack["box"], "cat /srv/mooring/solacore/bin/backup.sh", check=True).stdout
    assert "mariadb-dump" in script and ROOT_PASSWORD not in script


class Processes:
    """Every command line on the box, sampled by a tight ``ps`` loop on the box itself while a
    backup runs (a dump of a small table lasts less than one ssh round trip)."""

    LOG, STOP = "/tmp/mooring-test-ps.log", "/tmp/mooring-test-ps.stop"

    def __init__(self, box) -> None:
        self.box, self.seen = box, ""

    def __enter__(self) -> "Processes":
        ssh(self.box, f"rm -f {self.STOP}; nohup sh -c 'while [ ! -e {self.STOP} ]; do ps -eo args; done' "
                      f">{self.LOG} 2>&1 </dev/null &", check=True)
        return self

    def __exit__(self, *exc) -> None:
        self.seen = ssh(self.box, f"touch {self.STOP}; sleep 0.5; cat {self.LOG}; rm -f {self.LOG} {self.STOP}").stdout


def test_the_backup_dumps_every_row_with_the_containers_credentials(mysql_stack, tmp_path, log):
    box = mysql_stack["box"]
    with Processes(box) as processes:
        out, payload = with_json(tmp_path, log, "backup", "run", "sandbox", "--limit", box.name,
                                 group_data=mysql_stack["data"])
    assert out.returncode == 0, out.stdout + out.stderr[-3000:]
    assert "mariadb-dump" in processes.seen, "the dump was never sampled running"
    assert ROOT_PASSWORD not in processes.seen, "the password was on a command line"
    assert not any(ROOT_PASSWORD in text for text in log + mysql_stack["texts"])
    newest = dumps_on(box)[-1]
    lines = ssh(box, f"gzip -dc {newest}", check=True).stdout.splitlines()
    assert lines[0] == "-- mooring-backup: stack=solacore database=shop"
    assert lines[-1].startswith("-- Dump completed")
    assert sum(line.startswith("INSERT INTO `probe` VALUES") for line in lines) == PROBE_ROWS
    assert ROOT_PASSWORD not in "\n".join(lines)


def test_the_drill_restores_the_rows_into_a_throwaway_mariadb(mysql_stack, tmp_path, log):
    box = mysql_stack["box"]
    out = mooring("backup", "run", "sandbox", "--limit", box.name, log=log, group_data=mysql_stack["data"])
    assert out.returncode == 0, out.stdout
    containers = ssh(box, "docker ps -aq | sort").stdout
    out, payload = with_json(tmp_path, log, "backup", "verify", "sandbox", "--limit", box.name,
                             group_data=mysql_stack["data"])
    assert out.returncode == 0, out.stdout + out.stderr[-3000:]
    [dump] = payload["hosts"][0]["details"]["dumps"]
    assert dump["ok"] and dump["database"] == "shop", dump
    tables = {t["table"]: (t["rows_in_dump"], t["rows_restored"]) for t in dump["tables"]}
    assert tables["probe"] == (str(PROBE_ROWS), str(PROBE_ROWS)) and tables["empty_one"] == ("0", "0"), tables
    # The drill server is gone; the live one kept running throughout, its rows as they were.
    assert ssh(box, "docker ps -aq | sort").stdout == containers
    assert ssh(box, "docker ps -aq --filter label=mooring.drill=solacore; "
                    "docker volume ls -q --filter label=mooring.drill=solacore").stdout.strip() == ""
    assert shop_sql(box, "SELECT COUNT(*) FROM probe").strip() == str(PROBE_ROWS)


def test_a_dump_cut_short_fails_the_drill_and_the_restore(mysql_stack, tmp_path, log):
    box = mysql_stack["box"]
    assert mooring("backup", "run", "sandbox", "--limit", box.name, log=log,
                   group_data=mysql_stack["data"]).returncode == 0
    newest = dumps_on(box)[-1]
    cut = f"{BACKUPS}/solacore__shop_20200101T000000Z.sql.gz"
    try:
        # A whole gzip stream whose SQL stops half-way: only the missing closing line tells.
        ssh(box, f"gzip -dc {newest} | head -n 40 | gzip -c >{cut}", check=True)
        out, payload = with_json(tmp_path, log, "backup", "verify", "sandbox", "--limit", box.name,
                                 "--file", Path(cut).name, group_data=mysql_stack["data"])
        assert out.returncode == 1
        [dump] = payload["hosts"][0]["details"]["dumps"]
        assert not dump["ok"] and "cut short" in dump["why"], dump
        restore = ssh(box, f"/srv/mooring/solacore/bin/restore.sh --check {cut}")
        assert restore.returncode == 1 and "not a complete dump" in restore.stderr, restore.stderr
    finally:
        ssh(box, f"rm -f {cut}")


def test_restore_check_and_restore_bring_the_rows_back(mysql_stack, tmp_path, log):
    box = mysql_stack["box"]
    assert mooring("backup", "run", "sandbox", "--limit", box.name, log=log,
                   group_data=mysql_stack["data"]).returncode == 0
    good = dumps_on(box)[-1]
    databases = shop_sql(box, "SHOW DATABASES")
    check = ssh(box, f"/srv/mooring/solacore/bin/restore.sh --check {good}")
    assert check.returncode == 0 and "check ok" in check.stderr, check.stderr
    assert shop_sql(box, "SHOW DATABASES") == databases  # the scratch database is gone
    shop_sql(box, "DELETE FROM probe WHERE id > 100")
    try:
        out = mooring("backup", "restore", "sandbox", "--limit", box.name, "--file", Path(good).name, "--yes",
                      log=log, group_data=mysql_stack["data"])
        assert out.returncode == 0, out.stdout + out.stderr[-3000:]
        assert shop_sql(box, "SELECT COUNT(*) FROM probe").strip() == str(PROBE_ROWS)
        assert shop_sql(box, "SHOW DATABASES") == databases
    finally:
        shop_sql(box, "INSERT IGNORE INTO probe SELECT seq, CONCAT('row ', seq) FROM seq_1_to_%d" % PROBE_ROWS)
