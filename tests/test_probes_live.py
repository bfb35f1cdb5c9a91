"""The HTTP checks of `mooring check` and the host-side gate on a real docker box (docker-1): the
reference stack deployed by `mooring deploy`, asked from the controller (httpx) and from the box
itself over pyinfra's SSH connection (curl, and python3 where curl is missing).

Every rule passes on the healthy deploy, and each fails or warns for real when its condition
is made true on the box: a stopped database pushes httpErrorRate over 0.05 and 0.10, a paused
API is slower than max_latency_ms, dev endpoints switched on behind mooring's back answer 200,
a proxy that answers /auth/me, port 80 closed to the controller by iptables. The box's
declared state: the sandbox's, plus (hosts/docker-1.yml) dev endpoints off, the API's own
port published on the box's loopback only, and a smoke list that uses every key.
"""

from __future__ import annotations

import dataclasses
import math
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Sequence

import httpx
import pytest

from mooring.checks.findings import Finding, Outcome
from mooring.checks.probes import (CHECK_ENDPOINTS, CHECK_HEALTH, CHECK_METRICS, CHECK_REMOVED, CHECK_SMOKE, HostFetch,
                           controller_fetch, gate_specs, http_checks, probe_base, pyinfra_runner, run_gate)
from mooring.declare.model import Stack, build_model
from tests.conftest import CANARIES, group_data_with, run_deploy_code, run_mooring, ssh

pytestmark = [pytest.mark.boxes, pytest.mark.slow]

BOX = "docker-1"
GROUPS = ["sandbox", "docker_boxes"]
STACK_DIR = "/srv/mooring/solacore"
COMPOSE = f"docker compose --project-name solacore --project-directory {STACK_DIR} -f {STACK_DIR}/compose.yml " \
          f"--env-file {STACK_DIR}/.env"
#: docker-1's own layer: every smoke key in use, dev endpoints off, the API on the box's loopback.
OVERRIDE = """\
stack:
  probes_from: host            # port 80 may be open to a load balancer only: probe from the box
  services:
    api:
      ports: ["127.0.0.1:8000:8000"]   # the API's own port, reachable on the box only
  endpoints:
    dev: {enabled: false, whitelist: []}
  smoke:
    - {name: version, path: /api/v1/version, contains: '"version"', max_latency_ms: 3000}
    - {name: users, path: /api/v1/users, expected_status: 200, max_latency_ms: 3000, timeout: 5}
    - {name: dev_closed, path: /internal/dev/echo, expected_status: 404}
    - {name: api_direct, path: /api/v1/health/live, service: api, contains: '"live"', retries: 2, interval: 0.5}
"""
CHECKS = {CHECK_HEALTH, CHECK_SMOKE, CHECK_METRICS, CHECK_ENDPOINTS, CHECK_REMOVED}


# -- helpers -------------------------------------------------------------------------------------

mooring = run_mooring


@contextmanager
def connected_hosts(inventory: str, names: Sequence[str]) -> Iterator[dict[str, Any]]:
    """The pyinfra hosts ``names`` of ``inventory``, connected over SSH in this process with the
    inventory's own data and strict host-key checking, disconnected afterwards. The same code is
    proposed for mooring/deployer.py, whose gate runs after the pyinfra run. (pyinfra_cli is not
    imported: it monkey-patches the whole process for gevent.)"""
    from pyinfra.api import Config, Inventory, State
    from pyinfra.api.connect import connect_all, disconnect_all

    from mooring.checks.preflight import inventory_hosts
    from mooring.declare.model import HOST_KEY_SETTING, STRICT_HOST_KEYS

    wanted = [h for h in inventory_hosts(inventory) if h.name in names]
    state = State(Inventory(([(h.name, {HOST_KEY_SETTING: STRICT_HOST_KEYS, **h.data}) for h in wanted], {})),
                  Config())
    connect_all(state)
    try:
        yield {host.name: host for host in state.inventory if host.connected}
    finally:
        disconnect_all(state)


def by_check(findings: list[Finding]) -> dict[str, list[tuple[str, str]]]:
    """check -> [(outcome, resource)] (for readable assertions)."""
    found: dict[str, list[tuple[str, str]]] = {}
    for finding in findings:
        found.setdefault(finding.check, []).append((finding.outcome.value, finding.resource))
    return found


def bad(findings: list[Finding]) -> list[str]:
    """Every finding that is neither passed nor skipped, as text."""
    return [str(f) for f in findings if f.outcome not in (Outcome.PASSED, Outcome.SKIPPED)]


def one(findings: list[Finding], resource: str) -> Finding:
    [found] = [f for f in findings if f.resource == resource]
    return found


def wait_ready(base: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/api/v1/health/ready", timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise AssertionError(f"{base} did not get ready in {seconds} s")


# -- fixtures ------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def world(bootstrapped, boxes, tmp_path_factory):
    """docker-1 deployed twice with OVERRIDE (the second run changes nothing); its model and box."""
    box = next(b for b in boxes.boxes if b.name == BOX)
    data = group_data_with(tmp_path_factory.mktemp("probes"), BOX, OVERRIDE)
    log: list[str] = []
    first = mooring("deploy", "sandbox", "--limit", BOX, group_data=data, log=log)
    assert first.returncode == 0, first.stdout + first.stderr[-3000:]
    second = mooring("deploy", "sandbox", "--limit", BOX, group_data=data, log=log)
    assert second.returncode == 0 and f"{BOX}: unchanged" in second.stdout, second.stdout
    assert not [c for c in CANARIES if any(c in text for text in log)]
    stack = build_model(BOX, GROUPS, group_data=data).stack
    return {"box": box, "stack": stack, "data": data, "base": f"http://127.0.0.1:{box.http_port}"}


@pytest.fixture(scope="module")
def pyhost(world):
    """docker-1 as a connected pyinfra host (in this process)."""
    with connected_hosts("inventories/sandbox.py", [BOX]) as hosts:
        yield hosts[BOX]


def from_controller(world, stack: Stack | None = None) -> list[Finding]:
    stack = dataclasses.replace(stack or world["stack"], probes_from="controller")
    return http_checks(stack, controller_fetch, probe_base(stack, BOX, {"mooring_http_base": world["base"]}), BOX)


def from_host(world, pyhost, stack: Stack | None = None, tools=("curl", "python3"), commands: list | None = None
              ) -> list[Finding]:
    stack = stack or world["stack"]
    run = pyinfra_runner(pyhost)

    def counted(command: str, timeout: float):
        if commands is not None:
            commands.append(command)
        return run(command, timeout)

    return http_checks(stack, HostFetch(counted, tools), probe_base(stack, BOX, pyhost.data), BOX)


# -- a healthy deploy ----------------------------------------------------------------------------

def test_every_rule_passes_from_the_host_in_two_commands(world, pyhost):
    commands: list[str] = []
    findings = from_host(world, pyhost, commands=commands)
    assert not bad(findings), bad(findings)
    assert set(by_check(findings)) == CHECKS
    assert [f.outcome for f in findings if f.outcome is Outcome.SKIPPED] == [Outcome.SKIPPED]  # ops: on
    assert ": 404 in " in one(findings, "http:/internal/dev/echo").message
    assert one(findings, "http:api_direct").message.startswith("GET http://127.0.0.1:8000/api/v1/health/live: 200")
    assert one(findings, "http:version").message.startswith("GET http://127.0.0.1:80/api/v1/version: 200")
    assert one(findings, "http:/auth/me").outcome is Outcome.PASSED
    assert len(commands) == 2  # health, then everything else: one remote command per batch
    assert all(f.host == BOX and f.kind.value == "probe" for f in findings)


def test_every_rule_passes_from_the_host_with_python3_instead_of_curl(world, pyhost):
    findings = from_host(world, pyhost, tools=("python3",))
    assert not bad(findings), bad(findings)
    assert set(by_check(findings)) == CHECKS


def test_every_rule_passes_from_the_controller_except_a_port_only_the_box_reaches(world):
    findings = from_controller(world)
    assert [(f.check, f.path, f.message) for f in findings if f.outcome is Outcome.FAILED] == [
        (CHECK_SMOKE, "stack.smoke.3.service",
         "probe api_direct: port 8000 is published on 127.0.0.1 only: the controller cannot reach it")]
    assert "probes_from: host" in one(findings, "http:api_direct").fix
    passed = [f for f in findings if f.outcome is Outcome.PASSED]
    assert {f.check for f in passed} == CHECKS
    assert one(findings, "http:version").message.startswith(f"GET {world['base']}/api/v1/version: 200")


# -- each rule, made to fail for real --------------------------------------------------------------

def test_smoke_keys_fail_when_the_answer_differs(world, pyhost):
    stack = world["stack"]
    version, users, closed, direct = stack.smoke
    smoke = [dataclasses.replace(version, name="wrong_text", contains='"no-such-version"'),
             dataclasses.replace(version, name="wrong_status", expected_status=201),
             dataclasses.replace(closed, name="open_expected", expected_status=200),
             dataclasses.replace(version, name="closed_port", port=9),
             dataclasses.replace(direct, name="direct_wrong_text", contains='"ready"')]
    findings = from_host(world, pyhost, dataclasses.replace(stack, smoke=smoke))
    said = {f.resource: (f.outcome, f.message) for f in findings if f.check == CHECK_SMOKE}
    assert said["http:wrong_text"][0] is Outcome.FAILED
    assert said["http:wrong_text"][1].startswith(
        "GET http://127.0.0.1:80/api/v1/version: body does not contain '\"no-such-version\"' (200 in ")
    assert said["http:wrong_status"][0] is Outcome.FAILED
    assert "status 200, expected 201" in said["http:wrong_status"][1]
    assert said["http:open_expected"][0] is Outcome.FAILED and "status 404, expected 200" in said["http:open_expected"][1]
    assert said["http:closed_port"][0] is Outcome.FAILED
    assert said["http:closed_port"][1].startswith("GET http://127.0.0.1:9/api/v1/version: curl: (7)")
    assert said["http:direct_wrong_text"][0] is Outcome.FAILED
    assert said["http:direct_wrong_text"][1].startswith("GET http://127.0.0.1:8000/api/v1/health/live: body does not "
                                                        "contain '\"ready\"' (200 in ")
    # declared retries take effect: api_direct_wrong_text was asked twice, 0.5 s apart
    assert "after 2 attempts" in said["http:direct_wrong_text"][1]


def while_the_api_is_paused(world, pyhost, probe) -> Finding:
    """The smoke finding of ``probe`` asked while the API container is paused for 1.5 s (its
    answers come late, but they come)."""
    box, stack = world["box"], world["stack"]
    paused = ssh(box, "docker pause solacore-api-1")
    assert paused.returncode == 0, paused.stderr
    resume = threading.Thread(target=ssh, args=(box, "sleep 1.5; docker unpause solacore-api-1"))
    resume.start()
    try:
        findings = from_host(world, pyhost, dataclasses.replace(stack, health=[], smoke=[probe]))
    finally:
        resume.join()
        ssh(box, "docker unpause solacore-api-1")
    wait_ready(world["base"])
    return one(findings, f"http:{probe.name}")


def test_max_latency_fails_a_slow_api_and_passes_a_patient_probe(world, pyhost):
    version = world["stack"].smoke[0]
    hurried = while_the_api_is_paused(world, pyhost, dataclasses.replace(version, name="hurried", max_latency_ms=500))
    assert hurried.outcome is Outcome.FAILED, hurried
    assert "over max_latency_ms 500" in hurried.message and "stack.smoke.0.max_latency_ms" in hurried.fix
    patient = while_the_api_is_paused(world, pyhost, dataclasses.replace(version, name="patient", max_latency_ms=8000,
                                                                       timeout=10))
    assert patient.outcome is Outcome.PASSED, patient
    assert int(patient.message.split(": 200 in ")[1].split(" ms")[0]) >= 1000


def test_error_rate_fails_above_010_warns_above_005_and_passes_below(world, pyhost):
    """Errors are real: the database is stopped and the users route answers 503. Then the rate
    is diluted with good requests into each band."""
    box, base = world["box"], world["base"]
    client = httpx.Client(timeout=10)
    # The counters run since the API started: a restart keeps the request count (and the test) small.
    assert ssh(box, "docker restart solacore-api-1").returncode == 0
    wait_ready(base)
    now = client.get(f"{base}/internal/metrics").json()
    requests, errors = now["httpRequestsTotal"], now["httpErrorsTotal"]
    wanted = max(30, math.ceil((0.3 * requests - errors) / 0.7))  # brings the rate to about 0.3
    assert ssh(box, "docker stop solacore-db-1").returncode == 0
    try:
        codes = {client.get(f"{base}/api/v1/users/1").status_code for _ in range(wanted)}
    finally:
        assert ssh(box, "docker start solacore-db-1").returncode == 0
    assert codes == {503}
    wait_ready(base)

    def dilute_to(rate: float) -> None:
        now = client.get(f"{base}/internal/metrics").json()
        for _ in range(max(0, math.ceil(now["httpErrorsTotal"] / rate - now["httpRequestsTotal"]))):
            client.get(f"{base}/api/v1/version")

    seen = {}
    for band, rate in (("failed", None), ("warning", 0.075), ("passed", 0.02)):
        if rate:
            dilute_to(rate)
        finding = one(from_host(world, pyhost), "http:/internal/metrics")
        seen[band] = (finding.outcome.value, finding.message)
    assert [outcome for outcome, _ in seen.values()] == ["failed", "warning", "passed"], seen
    assert " is above 0.1" in seen["failed"][1] and " is above 0.05" in seen["warning"][1]
    assert " is at most 0.05" in seen["passed"][1]


def test_dev_endpoints_switched_on_and_a_proxy_answering_auth_me_fail_until_a_deploy(world, pyhost, tmp_path):
    """Behind mooring's back: the .env switches the dev endpoints on for everybody, nginx answers
    /auth/me itself. Both fail the check; a deploy puts the declared state back."""
    box, log = world["box"], []
    conf = f"{STACK_DIR}/nginx/conf.d/default.conf"
    edit = (f"sed -i -e 's/^DEV_ENDPOINTS_ENABLED=.*/DEV_ENDPOINTS_ENABLED=true/' "
            f"-e 's|^DEV_ENDPOINTS_WHITELIST=.*|DEV_ENDPOINTS_WHITELIST=0.0.0.0/0|' {STACK_DIR}/.env && "
            f"{COMPOSE} up -d api >/dev/null 2>&1 && "
            f"sed -i 's|    location / {{|    location = /auth/me {{ return 200 \"still here\"; }}\\n    location / {{|' {conf} && "
            "docker exec solacore-nginx-1 nginx -s reload")
    try:
        out = ssh(box, edit)
        assert out.returncode == 0, out.stderr
        wait_ready(world["base"])
        findings = from_host(world, pyhost)
        endpoint, removed = one(findings, "http:/internal/dev/echo"), one(findings, "http:/auth/me")
        assert (endpoint.outcome, removed.outcome) == (Outcome.FAILED, Outcome.FAILED), (endpoint, removed)
        assert endpoint.message == ("the dev endpoints are declared off, but GET http://127.0.0.1:80/internal/dev/echo: "
                                    "status 200, expected 403 or 404")
        assert endpoint.path == "stack.endpoints.dev.enabled" and "DEV_ENDPOINTS_ENABLED" in endpoint.fix
        assert removed.message == "/auth/me is a removed route, but GET http://127.0.0.1:80/auth/me: status 200, expected 410"
        assert bad(from_controller(world, dataclasses.replace(world["stack"], smoke=world["stack"].smoke[:3])))
    finally:
        healed = mooring("deploy", "sandbox", "--limit", BOX, group_data=world["data"], log=log)
    assert healed.returncode == 0, healed.stdout + healed.stderr[-3000:]
    assert not bad(from_host(world, pyhost))


# -- probes from the host when the controller cannot reach port 80 ----------------------------------

BLOCK = "iptables -I DOCKER-USER -i eth0 -p tcp --dport 80 -j DROP"
UNBLOCK = "iptables -D DOCKER-USER -i eth0 -p tcp --dport 80 -j DROP"


@pytest.fixture
def port_80_closed_to_the_controller(world):
    """The box drops every packet for its published port 80 that comes from outside (as a box
    whose port 80 is open to a load balancer only); the box itself still reaches it."""
    box = world["box"]
    out = ssh(box, BLOCK)
    assert out.returncode == 0, out.stderr
    try:
        with pytest.raises(httpx.HTTPError):
            httpx.get(f"{world['base']}/api/v1/health/live", timeout=2)
        yield
    finally:
        ssh(box, f"while {UNBLOCK} 2>/dev/null; do :; done")


def test_checks_from_the_host_pass_while_the_controller_gets_no_answer(world, pyhost, port_80_closed_to_the_controller):
    remote = from_host(world, pyhost)
    assert not bad(remote), bad(remote)
    stack = world["stack"]
    hurried = [dataclasses.replace(p, timeout=1.0) for p in stack.health]  # dropped packets: wait 1 s, not 5
    local = from_controller(world, dataclasses.replace(stack, health=hurried, smoke=stack.smoke[:3]))
    health = [f for f in local if f.check == CHECK_HEALTH]
    assert {f.outcome for f in health} == {Outcome.FAILED}
    skipped = [f for f in local if f.check not in (CHECK_HEALTH, CHECK_ENDPOINTS) or f.resource == "http:/internal/dev/echo"]
    assert {f.outcome for f in skipped} == {Outcome.SKIPPED}
    assert all(f.message.startswith("skipped: no health probe got an answer") for f in skipped)


def test_the_gate_from_the_host_passes_while_the_controller_gets_no_answer(world, pyhost,
                                                                           port_80_closed_to_the_controller):
    stack = world["stack"]
    specs = [{**spec, "retries": 2, "interval": 0.2, "timeout": 1.0} for spec in gate_specs(stack.health, stack.http_port)]
    remote = run_gate(probe_base(stack, BOX, pyhost.data), specs, HostFetch(pyinfra_runner(pyhost)))
    assert [(r.name, r.ok, r.status, r.url) for r in remote] == [
        ("live", True, 200, "http://127.0.0.1:80/api/v1/health/live"),
        ("ready", True, 200, "http://127.0.0.1:80/api/v1/health/ready")]
    local = run_gate(world["base"], specs)
    assert [(r.ok, r.attempts) for r in local] == [(False, 2), (False, 2)]


def test_the_gate_inside_a_pyinfra_run_asks_from_the_host(world, port_80_closed_to_the_controller):
    """What deploy/roles/stack.py's _plain_gate does in a plain pyinfra run: the gate through the
    run's own host object (host.run_shell_command), with the controller shut out."""
    code = '''
from pyinfra.operations import python
from mooring.checks.probes import HostFetch, pyinfra_runner, run_gate


def gate(state, host):
    specs = [{"name": "ready", "path": "/api/v1/health/ready", "retries": 3, "interval": 0.5}]
    [result] = run_gate("http://127.0.0.1:80", specs, HostFetch(pyinfra_runner(host)))
    host.log("mooring: host gate: " + result.describe())
    return result.ok


python.call(name="Health gate from the host", function=gate)
'''
    result = run_deploy_code(code, limit=[BOX])
    assert result.rc == 0 and not result.failed_hosts, result.log[-3000:]
    assert "mooring: host gate: ready http://127.0.0.1:80/api/v1/health/ready: 200 after 1 attempt(s)" in result.log
