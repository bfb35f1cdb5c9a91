"""``mooring check`` and ``mooring drift`` on real docker boxes: a clean deploy checks and drifts
clean; each change injected on a box for real is named by drift (exit 2) with its resource, and
the next deploy heals it (drift 0); a stopped box is an error (exit 1) while the other host is
still reported; drift writes nothing on a host; no secret reaches any output or file.
"""

from __future__ import annotations

import json
import subprocess
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tests.conftest import CANARIES, ROOT, run_mooring, ssh, state_path

pytestmark = [pytest.mark.boxes, pytest.mark.slow]

STACK = "/srv/mooring/solacore"
ENV = f"{STACK}/.env"
CRON = "/etc/cron.d/mooring-solacore"


mooring = run_mooring


def report(tmp_path: Path, command: str, log: list[str], *extra: str) -> tuple[subprocess.CompletedProcess, dict]:
    """``mooring COMMAND sandbox --json F`` → (process, JSON report); the JSON goes into ``log``."""
    target = tmp_path / f"{command}-{time.monotonic_ns()}.json"
    out = mooring(command, "sandbox", "--json", str(target), *extra, log=log)
    text = target.read_text() if target.exists() else ""
    log.append(text)
    assert text, out.stdout + out.stderr[-3000:]
    return out, json.loads(text)


def bad(payload: dict, host: str) -> set[tuple[str, str]]:
    """(check, resource) of every FAILED or ERROR finding about ``host``."""
    return {(f["check"], f["resource"]) for f in payload["findings"]
            if f["host"] == host and f["outcome"] in ("failed", "error")}


def deploy(log: list[str]) -> None:
    out = mooring("deploy", "sandbox", log=log)
    assert out.returncode == 0, out.stdout + out.stderr[-3000:]


@pytest.fixture
def log(tmp_path):
    """Every output and written file of the test; at the end no canary may be in any of them,
    nor in any file under the state folder written during the test."""
    texts: list[str] = []
    start = time.time() - 1
    yield texts
    written = [p.read_text(errors="replace") for p in state_path().rglob("*")
               if p.is_file() and p.stat().st_mtime >= start and p.stat().st_size < 5_000_000
               and "cache" not in p.parts and "secrets" not in p.parts]
    written += [p.read_text(errors="replace") for p in tmp_path.rglob("*") if p.is_file()]
    assert not [c for c in CANARIES if any(c in text for text in texts + written)], "a secret value leaked"


@pytest.fixture(scope="module")
def deployed(bootstrapped, boxes):
    """Both boxes run the declared stack."""
    texts: list[str] = []
    deploy(texts)
    return boxes


def test_a_clean_deploy_checks_and_drifts_clean_in_every_format(deployed, tmp_path, log):
    import jsonschema

    schema = json.loads((ROOT / "docs" / "report-schema.json").read_text())
    junit, prom = tmp_path / "check.xml", tmp_path / "check.prom"
    out, checked = report(tmp_path, "check", log, "--junit", str(junit), "--prometheus", str(prom))
    assert out.returncode == 0, out.stdout + out.stderr[-3000:]
    jsonschema.validate(checked, schema)
    assert {h["name"] for h in checked["hosts"]} == {b.name for b in deployed.boxes}
    assert not any(bad(checked, b.name) for b in deployed.boxes)
    passed = {(f["host"], f["check"]) for f in checked["findings"] if f["outcome"] == "passed"}
    for box in deployed.boxes:
        assert {(box.name, c) for c in ("live.env", "live.services", "live.engine", "live.mounts",
                                        "live.env_file", "live.compose_file")} <= passed
    suites = ET.parse(junit).getroot()
    assert {s.get("name") for s in suites.iter("testsuite")} >= {b.name for b in deployed.boxes}
    assert sum(int(s.get("failures")) for s in suites.iter("testsuite")) == 0
    log += [junit.read_text(), prom.read_text()]
    assert 'mooring_check_exit_code' in prom.read_text()

    out, drifted = report(tmp_path, "drift", log)
    assert out.returncode == 0, out.stdout + out.stderr[-3000:]
    jsonschema.validate(drifted, schema)
    assert not any(bad(drifted, b.name) for b in deployed.boxes)
    # The host holds the snapshot key: values are compared, not skipped.
    assert not [f for f in drifted["findings"] if f["check"] == "drift.values"]


def stack_listing(box) -> str:
    """Every path under the stack folder and in /tmp with its mtime and size (what a write would
    change). The snapshot's private temporary folder, made and removed in /tmp, moves only the
    mtime of /tmp itself, so that one is left out; anything left behind or changed is not. Also
    left out: ``runc-process*``, made and removed in /tmp by the box's own engine whenever it runs
    a container's healthcheck (seen once in CI, listed mid-check)."""
    listed = "-xdev -printf '%p %T@ %s\\n'"
    engine = "! -name 'runc-process*'"
    return ssh(box, f"{{ find {STACK} {listed}; find /tmp /var/tmp -mindepth 1 {engine} {listed}; }} 2>/dev/null "
                    "| sort").stdout


def test_file_changes_are_named_and_a_deploy_heals_them(deployed, tmp_path, log):
    one, two = deployed.boxes
    try:
        changes = " && ".join([
            f"sed -i '/^REDIS_URL=/d' {ENV}",  # a key deleted
            f"sed -i 's/^POSTGRES_DB=.*/POSTGRES_DB=/' {ENV}",  # a key emptied
            f"sed -i 's/^APP_VERSION=.*/APP_VERSION=9.9.9/' {ENV}",  # a key changed
            f"chmod 644 {ENV}",
            f"echo '# edited' >> {STACK}/compose.yml",
            f"echo '# edited' >> {STACK}/nginx/conf.d/default.conf",
            f"rm {CRON}",
            f"chmod 0777 {STACK}/nginx/conf.d",  # a read-only mount source
        ])
        assert ssh(one, changes).returncode == 0
        before = stack_listing(one)
        out, payload = report(tmp_path, "drift", log)
        assert out.returncode == 2, out.stdout + out.stderr[-3000:]
        assert stack_listing(one) == before, "drift wrote on the host"
        moved = bad(payload, one.name)
        expected = {
            ("live.env", "env:REDIS_URL"),
            ("drift.env", "env:POSTGRES_DB"),
            ("drift.env", "env:APP_VERSION"),
            ("drift.file", f"file:{ENV}"),
            ("drift.file", f"file:{STACK}/compose.yml"),
            ("drift.file", f"file:{STACK}/nginx/conf.d/default.conf"),
            ("drift.file", f"file:{CRON}"),
            ("live.backups.cron", f"cron:{CRON}"),
            ("live.mounts", f"file:{STACK}/nginx/conf.d"),
        }
        assert expected <= moved, sorted(moved)
        texts = {f["resource"]: f for f in payload["findings"] if f["host"] == one.name}
        assert texts["env:APP_VERSION"]["actual"] == "differs" and "9.9.9" not in json.dumps(payload)
        assert not bad(payload, two.name), "the other box did not move"
        assert f"{one.name}" in out.stdout and "env:APP_VERSION" in out.stdout
    finally:
        deploy(log)
    out, payload = report(tmp_path, "drift", log)
    assert out.returncode == 0, out.stdout + out.stderr[-3000:]


def test_runtime_changes_are_named_and_a_deploy_heals_them(deployed, tmp_path, log):
    one, _ = deployed.boxes
    try:
        other_image = ssh(one, "docker image inspect --format '{{.Id}}' mooring/redis:7").stdout.strip()
        changes = " && ".join([
            "docker stop -t 5 solacore-api-1 >/dev/null",
            f"docker tag {other_image} mooring/nginx:1",  # the ref now names another image
            "DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends docker-compose >/dev/null",
        ])
        done = ssh(one, changes)
        assert done.returncode == 0, done.stderr
        out, payload = report(tmp_path, "drift", log)
        assert out.returncode == 2, out.stdout + out.stderr[-3000:]
        moved = bad(payload, one.name)
        assert {("live.services", "service:api"), ("live.services", "service:nginx"),
                ("live.engine", "engine:compose-v1")} <= moved, sorted(moved)
        by_resource = {f["resource"]: f for f in payload["findings"]
                       if f["host"] == one.name and f["check"] == "live.services"}
        assert by_resource["service:api"]["actual"] == "exited"
        assert "stale" in by_resource["service:nginx"]["message"]
        checked = mooring("check", "sandbox", "--limit", one.name, log=log)
        assert checked.returncode == 1 and "compose-v1" in checked.stdout
    finally:
        deploy(log)
    out, payload = report(tmp_path, "drift", log)
    assert out.returncode == 0, out.stdout + out.stderr[-3000:]
    assert ssh(one, "command -v docker-compose").returncode != 0


def test_a_stopped_box_is_an_error_and_the_other_is_still_reported(deployed, tmp_path, log):
    from mooring.deploy import local_docker as docker

    one, two = deployed.boxes
    hook_out = tmp_path / "hook.json"
    try:
        assert ssh(one, f"chmod 644 {ENV}").returncode == 0
        docker.run(["stop", "-t", "0", two.container])
        out, payload = report(tmp_path, "drift", log, "--on-drift", f'cp "$1" {hook_out}')
        assert out.returncode == 1, out.stdout + out.stderr[-3000:]
        hosts = {h["name"]: h for h in payload["hosts"]}
        assert hosts[two.name]["error"].startswith("unreachable"), hosts[two.name]
        assert ("drift.file", f"file:{ENV}") in bad(payload, one.name)
        assert two.name in out.stdout
        assert not hook_out.exists(), "the hook runs on drift (2), not on an error (1)"
    finally:
        docker.run(["start", two.container])
        deadline = time.time() + 120
        while time.time() < deadline and ssh(two, "docker info >/dev/null && echo up").stdout.strip() != "up":
            time.sleep(1)
        deploy(log)


def test_the_drift_hook_gets_the_report(deployed, tmp_path, log):
    one, _ = deployed.boxes
    hook_out = tmp_path / "hook.json"
    try:
        assert ssh(one, f"echo '# edited' >> {STACK}/compose.yml").returncode == 0
        out = mooring("drift", "sandbox", "--on-drift", f'cp "$1" {hook_out} && test "$1" = "$MOORING_DRIFT_REPORT"',
                      log=log)
        assert out.returncode == 2, out.stdout + out.stderr[-3000:]
        payload = json.loads(hook_out.read_text())
        assert payload["command"] == "drift" and ("drift.file", f"file:{STACK}/compose.yml") in bad(payload, one.name)
    finally:
        deploy(log)
