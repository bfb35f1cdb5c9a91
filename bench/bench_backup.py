"""Benchmark: ``mooring backup run`` and ``mooring backup verify`` (the restore drill) on a real
docker box with real Postgres (or MariaDB), for a database of 100k and 1M rows.

    .venv/bin/python bench/bench_backup.py [--rows 100000,1000000] [--engine postgres|mysql]

``--engine mysql`` adds a MariaDB service (``mooring/mariadb:10.11``) beside the stack and points
the backups at it, as tests/test_backup_mysql.py does.

Uses its own sandbox (state in .mooring/bench-backup, ports offset by 4000): one docker box,
bootstrapped and deployed as the demo does. For each size the live database gets a table of that
many rows (an int, a timestamp and ~60 bytes of text each), then the job and the drill run
through mooring's own commands. Prints per size: dump size, backup seconds, drill seconds, the
drill's tables and rows as it counted them, and the ratio drill / backup, all measured in this run.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("MOORING_STATE", str(ROOT / ".mooring" / "bench-backup"))
os.environ.setdefault("MOORING_SANDBOX_PORT_BASE", "4000")
sys.path.insert(0, str(ROOT))

from mooring.sandbox import boxes as sandbox  # noqa: E402
from mooring.sandbox.layers import MYSQL_BACKUPS  # noqa: E402

HOST = "docker-1"
#: Per engine: the shell line that runs SQL ($1) in the live database, the table's name in the
#: drill's report, and the statement that fills it with N rows.
ENGINES = {
    "postgres": ('docker exec solacore-db-1 sh -c \'psql -U "$POSTGRES_USER" -d "$POSTGRES_DB" -q -v ON_ERROR_STOP=1 '
                 '-c "$1"\' sh', "public.bench_rows",
                 "DROP TABLE IF EXISTS bench_rows; CREATE TABLE bench_rows (id bigint PRIMARY KEY, "
                 "at timestamptz NOT NULL, note text NOT NULL); INSERT INTO bench_rows SELECT g, now(), "
                 "md5(g::text) || md5((g * 7)::text) FROM generate_series(1, {rows}) g;"),
    "mysql": ('docker exec solacore-shopdb-1 sh -c \'MYSQL_PWD="$MARIADB_ROOT_PASSWORD" exec mariadb -uroot '
              '"$MARIADB_DATABASE" -e "$1"\' sh', "bench_rows",
              "DROP TABLE IF EXISTS bench_rows; CREATE TABLE bench_rows (id BIGINT PRIMARY KEY, "
              "at TIMESTAMP NOT NULL, note TEXT NOT NULL); INSERT INTO bench_rows SELECT seq, NOW(), "
              "CONCAT(MD5(seq), MD5(seq * 7)) FROM seq_1_to_{rows};"),
}
ENGINE = "postgres"


def mooring(*args: str) -> tuple[subprocess.CompletedProcess, dict, float]:
    """``mooring ARGS --json F`` → (process, report, wall seconds)."""
    with tempfile.TemporaryDirectory() as folder:
        target = Path(folder) / "report.json"
        started = time.monotonic()
        out = subprocess.run([sys.executable, "-m", "mooring", *args, "--json", str(target)], cwd=ROOT,
                             capture_output=True, text=True, stdin=subprocess.DEVNULL)
        seconds = time.monotonic() - started
        report = json.loads(target.read_text()) if target.exists() else {}
    if out.returncode != 0:
        raise SystemExit(f"mooring {' '.join(args)} failed:\n{out.stdout}{out.stderr[-3000:]}")
    return out, report, seconds


def live_sql(state: sandbox.SandboxState, box: sandbox.Box, sql: str) -> None:
    subprocess.run(["ssh", "-p", str(box.ssh_port), "-i", str(state.key_path), "-o", "BatchMode=yes",
                    "-o", f"UserKnownHostsFile={state.known_hosts_path}", "-o", "StrictHostKeyChecking=yes",
                    "root@127.0.0.1", f"{ENGINES[ENGINE][0]} {shlex.quote(sql)}"],
                   check=True, capture_output=True, text=True)


def prepare() -> tuple[sandbox.SandboxState, sandbox.Box]:
    """One docker box running the stack (bootstrap and deploy are no-ops when already done)."""
    state = sandbox.up(docker_boxes=1)
    for command in (("bootstrap", "sandbox", "--limit", HOST), ("deploy", "sandbox", "--limit", HOST)):
        mooring(*command)
    return state, next(b for b in state.boxes if b.name == HOST)


def measure(state: sandbox.SandboxState, box: sandbox.Box, rows: int) -> dict:
    live_sql(state, box, ENGINES[ENGINE][2].format(rows=rows))
    _, ran, backup_seconds = mooring("backup", "run", "sandbox", "--limit", HOST)
    [dump] = ran["hosts"][0]["details"]["dumps"]
    _, verified, drill_seconds = mooring("backup", "verify", "sandbox", "--limit", HOST)
    [drilled] = verified["hosts"][0]["details"]["dumps"]
    counted = {t["table"]: int(t["rows_restored"]) for t in drilled["tables"]}
    assert counted[ENGINES[ENGINE][1]] == rows, counted
    return {"rows": rows, "dump_bytes": dump["bytes"], "backup_s": backup_seconds, "drill_s": drill_seconds,
            "tables": len(counted), "rows_counted": sum(counted.values())}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", default="100000,1000000")
    parser.add_argument("--engine", choices=sorted(ENGINES), default="postgres")
    args = parser.parse_args()
    global ENGINE
    ENGINE = args.engine
    if ENGINE == "mysql":
        layers = Path(tempfile.mkdtemp(prefix="bench-mysql-"))
        shutil.copytree(ROOT / "group_data", layers / "group_data", ignore=shutil.ignore_patterns("__pycache__"))
        (layers / "group_data" / "hosts").mkdir(exist_ok=True)
        (layers / "group_data" / "hosts" / f"{HOST}.yml").write_text(MYSQL_BACKUPS)
        os.environ["MOORING_GROUP_DATA"] = str(layers / "group_data")
    state, box = prepare()
    results = [measure(state, box, int(n)) for n in args.rows.split(",")]
    live_sql(state, box, "DROP TABLE IF EXISTS bench_rows;")
    print(f"engine: {ENGINE}")
    print(f"{'rows':>9} {'dump':>10} {'backup s':>9} {'drill s':>8} {'tables':>6} {'counted':>9} {'drill/backup':>12}")
    for r in results:
        print(f"{r['rows']:>9} {r['dump_bytes'] / 1e6:>8.1f}MB {r['backup_s']:>9.1f} {r['drill_s']:>8.1f} "
              f"{r['tables']:>6} {r['rows_counted']:>9} {r['drill_s'] / r['backup_s']:>11.1f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
