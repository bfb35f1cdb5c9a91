"""Issue 9 on a box: a stack taken from the team's own compose files (tests/compose_stacks/shop:
two -f files, the `ops` profile, a worker built from the team's Dockerfile, a YAML merge key,
long- and short-form depends_on, a string command, cap_drop, an extra network, a relative
read-only bind mount of the team's nginx config, a Compose secret from a file that mooring writes
from the stack's secrets) deployed through mooring's CLI, converged twice (the second run changes
nothing), serving through nginx, and checked by `mooring check` with the services healthy.

The stack keeps the reference stack's name and database secrets (the box's Postgres volume was
made with them); the module deploys the reference stack back when it is done.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.conftest import CANARIES, DRILL_METRICS, ROOT, SECRET_ENV, run_mooring, ssh

pytestmark = [pytest.mark.boxes, pytest.mark.slow]

SHOP = "tests/compose_stacks/shop"
STACK_DIR = "/srv/mooring/solacore"


mooring = run_mooring


def compose_group_data(tmp: Path) -> Path:
    """group_data/ with the sandbox's stack taken from the shop's compose files."""
    import shutil

    copy = tmp / "group_data"
    shutil.copytree(ROOT / "group_data", copy, ignore=shutil.ignore_patterns("__pycache__"))
    for layer in ("all.yml", "sandbox.yml", "staging.yml", "production.yml"):
        data = yaml.safe_load((copy / layer).read_text())
        stack = data.get("stack", {})
        for key in ("services", "endpoints", "cors", "smoke"):
            stack.pop(key, None)
        if layer == "all.yml":
            stack["compose"] = {
                "files": [f"{SHOP}/docker-compose.yml", f"{SHOP}/docker-compose.ops.yml"], "profiles": ["ops"],
                # The sandbox builds these images on this machine and ships them (no registry here).
                "services": {name: {"image_source": "ship"} for name in ("db", "redis", "nginx", "worker")}
                | {"api": {"role": "app", "image_source": "ship"}},
                "mounts": {"./nginx": {"owner": "root", "group": "root", "mode": "0755"}},
                "secrets": {"pg_password": "POSTGRES_PASSWORD"},
            }
            stack["env"].update({"TZ": "Europe/Berlin", "HTTP_PORT": 80})
            stack["smoke"] = [{"name": "version", "path": "/api/v1/version", "expected_status": 200}]
        (copy / layer).write_text(yaml.safe_dump(data, sort_keys=False))
    return copy


MARIADB_ROOT = "mdbComposeRoot5Pw9q"
MARIADB_SECRETS = {"MOORING_SECRET_MARIADB_ROOT_PASSWORD": MARIADB_ROOT}


def mariadb_group_data(tmp: Path) -> Path:
    """group_data/ with the sandbox's stack taken from tests/compose_stacks/mariadb (backups: MariaDB)."""
    data = compose_group_data(tmp)
    all_yml = yaml.safe_load((data / "all.yml").read_text())
    stack = all_yml["stack"]
    stack["compose"] = {"files": ["tests/compose_stacks/mariadb/compose.yml"],
                        "services": {"web": {"image_source": "ship"}, "db": {"image_source": "ship"}}}
    stack["env"].update({"MARIADB_DATABASE": "blog", "MARIADB_ROOT_PASSWORD": {"secret": "MARIADB_ROOT_PASSWORD"}})
    stack["health"] = [{"name": "web", "path": "/healthz", "expected_status": 200, "retries": 30, "interval": 1}]
    stack["smoke"] = []
    stack.pop("migration", None)
    # nginx (role proxy from its image) is the front the sandbox forwards to this machine; it
    # serves on its own, so it names itself as its upstream.
    stack["proxy"] = {"upstream": "web", "upstream_port": 80}
    stack["backups"] = {**stack.get("backups", {}), "databases": ["${MARIADB_DATABASE}"]}
    (data / "all.yml").write_text(yaml.safe_dump(all_yml, sort_keys=False))
    sandbox = yaml.safe_load((data / "sandbox.yml").read_text())
    sandbox["stack"].pop("migration", None)
    (data / "sandbox.yml").write_text(yaml.safe_dump(sandbox, sort_keys=False))
    return data


def host_of(path: Path) -> dict:
    [host] = json.loads(path.read_text())["hosts"]
    return host


@pytest.fixture(scope="module")
def shop(bootstrapped, boxes, tmp_path_factory):
    """The shop stack deployed twice on the first box; the reference stack deployed back after."""
    box = boxes.boxes[0]
    tmp = tmp_path_factory.mktemp("compose")
    data = compose_group_data(tmp)
    # The worker is the team's own build: gone from the controller, so that the deploy builds it.
    subprocess.run(["docker", "rmi", "-f", "shop/worker:1"], capture_output=True, check=False)
    runs = []
    for n in (1, 2):
        out = mooring("deploy", "sandbox", "--limit", box.name, "--json", str(tmp / f"deploy{n}.json"), group_data=data)
        runs.append((out, host_of(tmp / f"deploy{n}.json") if (tmp / f"deploy{n}.json").exists() else {}))
    yield box, data, tmp, runs
    back = mooring("deploy", "sandbox", "--limit", box.name)
    assert back.returncode == 0, back.stdout[-3000:] + back.stderr[-3000:]


def test_the_teams_compose_stack_deploys_and_serves(shop):
    box, _data, _tmp, runs = shop
    (first, host), _second = runs
    assert first.returncode == 0, first.stdout[-4000:] + first.stderr[-4000:]
    assert host["outcome"] in ("deployed", "changed"), host
    # Every service of the files and the profile runs; the worker's string command ran as Compose split it.
    ps = ssh(box, f"docker compose -p solacore ps --format '{{{{.Service}}}} {{{{.State}}}}'").stdout.split("\n")
    assert sorted(line.split()[0] for line in ps if line.strip()) == ["api", "db", "nginx", "redis", "worker"]
    assert all(line.split()[1] == "running" for line in ps if line.strip()), ps
    inspect = json.loads(ssh(box, "docker inspect solacore-worker-1").stdout)[0]
    assert inspect["Config"]["Cmd"] == ["sh", "-c", "trap 'exit 0' TERM; sleep infinity & wait"]
    assert inspect["HostConfig"]["CapDrop"] == ["ALL"]
    # Built on the controller from the team's Dockerfile (docker compose build), shipped, run.
    assert ssh(box, "docker exec solacore-worker-1 cat /etc/shop-worker").stdout.strip() == "shop worker"
    assert "solacore_jobs" in inspect["NetworkSettings"]["Networks"]
    # The team's nginx config was shipped into the stack folder and is what nginx serves with.
    conf = ssh(box, f"stat -c '%U %a' {STACK_DIR}/nginx {STACK_DIR}/nginx/default.conf; cat {STACK_DIR}/nginx/default.conf")
    assert conf.stdout.splitlines()[:2] == ["root 755", "root 644"]
    assert "proxy_pass http://api:8000;" in conf.stdout
    version = ssh(box, "curl -fsS http://127.0.0.1:80/api/v1/version")
    assert version.returncode == 0 and "1.0.0" in version.stdout, version.stdout + version.stderr
    # Compose on the host filled the variables from the stack's .env: the API reached its database.
    assert ssh(box, "curl -fsS -o /dev/null -w '%{http_code}' http://127.0.0.1:80/api/v1/health/ready").stdout == "200"


def test_the_second_deploy_changes_nothing(shop):
    _box, _data, _tmp, runs = shop
    _first, (second, host) = runs
    assert second.returncode == 0, second.stdout[-3000:]
    assert host["changed_operations"] == [], host


def test_check_sees_the_compose_stack_healthy(shop):
    box, data, tmp, _runs = shop
    out = mooring("check", "sandbox", "--limit", box.name, "--json", str(tmp / "check.json"), group_data=data)
    report = json.loads((tmp / "check.json").read_text())
    failed = [f for f in report["findings"] if f["outcome"] == "failed"]
    assert out.returncode == 0 and not failed, failed or out.stdout[-3000:]
    services = [f for f in report["findings"] if f["check"] == "live.services"]
    assert services and all(f["outcome"] == "passed" for f in services)


def test_the_compose_secret_file_is_written_private_and_read_by_the_container(shop):
    import hashlib

    box, _data, _tmp, _runs = shop
    expected = hashlib.sha256(SECRET_ENV["MOORING_SECRET_POSTGRES_PASSWORD"].encode()).hexdigest()
    listing = ssh(box, f"stat -c '%U %a' {STACK_DIR}/secrets {STACK_DIR}/secrets/pg_password").stdout.split("\n")
    assert listing[:2] == ["root 700", "root 644"]
    on_host = ssh(box, f"sha256sum < {STACK_DIR}/secrets/pg_password").stdout.split()[0]
    in_container = ssh(box, "docker exec solacore-db-1 sh -c 'sha256sum < /run/secrets/pg_password'").stdout.split()[0]
    assert on_host == in_container == expected  # digests only: the value never leaves the box


def test_no_secret_reaches_the_compose_file_or_any_output(shop):
    box, _data, tmp, runs = shop
    compose = ssh(box, f"cat {STACK_DIR}/compose.yml").stdout
    assert "${POSTGRES_PASSWORD}" in compose
    outputs = [compose, *(out.stdout + out.stderr for out, _ in runs), *(p.read_text() for p in tmp.glob("*.json"))]
    assert not [c for c in CANARIES if any(c in text for text in outputs)]


@pytest.fixture(scope="module")
def blog(bootstrapped, boxes, tmp_path_factory):
    """The MariaDB stack from tests/compose_stacks/mariadb on the second box, deployed twice,
    holding known rows; the reference stack deployed back after (the MariaDB volume removed)."""
    box = boxes.boxes[1]
    tmp = tmp_path_factory.mktemp("mariadb")
    data = mariadb_group_data(tmp)
    runs = []
    for n in (1, 2):
        out = mooring("deploy", "sandbox", "--limit", box.name, "--json", str(tmp / f"deploy{n}.json"),
                      group_data=data, secrets=MARIADB_SECRETS)
        assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-3000:]
        runs.append(host_of(tmp / f"deploy{n}.json"))
    # The container's own root password, read inside it: never on a command line here.
    ssh(box, "docker exec solacore-db-1 sh -c 'MYSQL_PWD=\"$MARIADB_ROOT_PASSWORD\" mariadb -uroot -h127.0.0.1 blog -e "
             "\"CREATE TABLE posts (id INT PRIMARY KEY); INSERT INTO posts SELECT seq FROM seq_1_to_321;\"'", check=True)
    yield box, data, tmp, runs
    back = mooring("deploy", "sandbox", "--limit", box.name)
    assert back.returncode == 0, back.stdout[-3000:] + back.stderr[-3000:]
    ssh(box, f"docker volume rm -f solacore_dbdata; rm -f /var/backups/mooring/solacore/solacore__blog_* {DRILL_METRICS}")


def test_a_mariadb_compose_stack_converges_and_its_backups_restore(blog):
    box, data, tmp, runs = blog
    assert runs[1]["changed_operations"] == [], runs[1]
    backup = mooring("backup", "run", "sandbox", "--limit", box.name, group_data=data, secrets=MARIADB_SECRETS)
    assert backup.returncode == 0, backup.stdout[-3000:] + backup.stderr[-3000:]
    dumps = ssh(box, "ls /var/backups/mooring/solacore/ | grep '^solacore__blog_'").stdout.split()
    assert dumps, "no dump of the blog database"
    verify = mooring("backup", "verify", "sandbox", "--limit", box.name, "--json", str(tmp / "verify.json"),
                     group_data=data, secrets=MARIADB_SECRETS)
    assert verify.returncode == 0, verify.stdout[-3000:]
    [host] = json.loads((tmp / "verify.json").read_text())["hosts"]
    rows = {t["table"]: t["rows_restored"] for d in host["details"]["dumps"] for t in d.get("tables", [])}
    assert rows.get("posts") == "321", host["details"]
    check = mooring("check", "sandbox", "--limit", box.name, "--json", str(tmp / "check.json"), group_data=data,
                    secrets=MARIADB_SECRETS)
    failed = [f for f in json.loads((tmp / "check.json").read_text())["findings"] if f["outcome"] == "failed"]
    assert check.returncode == 0 and not failed, failed
    outputs = [backup.stdout, backup.stderr, verify.stdout, check.stdout, (tmp / "verify.json").read_text()]
    assert not [text for text in outputs if MARIADB_ROOT in text]
