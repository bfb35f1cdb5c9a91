"""The HTTP checks of ``mooring check`` and where probes go (checks/probes.py), host-free: fake
fetch functions, and exactly the findings (message, fix, expected, actual) a user reads.
Written for the mutation run (docs/mutation.md)."""

from __future__ import annotations

import dataclasses

import pytest

from mooring.checks.findings import Outcome
from mooring.checks.probes import (CHECK_HEALTH, CHECK_SMOKE, Answer, ProbeResult, gate_specs, http_checks, probe_base,
                           pyinfra_runner)

PROD = ("prod-1.example.invalid", ["production"])
HEALTHY = {"/internal/metrics": Answer(200, '{"httpErrorRate": 0.01}', 2), "/auth/me": Answer(410, "gone", 2),
           "/internal/dev/echo": Answer(404, "no route", 2)}


def production_stack(world, **smoke):
    from mooring.declare.model import build_model

    if smoke:
        data = world.read("production.yml")
        data.setdefault("stack", {})["smoke"] = [{"name": "x", "path": "/x", **smoke}]
        world.write("production.yml", data)
    return build_model(*PROD).stack


def fetch_by_path(routes: dict[str, Answer]):
    def fetch(url, timeout):
        return routes.get("/" + url.split("/", 3)[3], Answer(200, "ok", 3))
    return fetch


def smoke_finding(stack, answer: Answer):
    found = http_checks(stack, fetch_by_path({**HEALTHY, "/x": answer}), "http://10.0.0.5:80", "prod-1")
    [smoke] = [f for f in found if f.check == CHECK_SMOKE]
    return smoke


def test_a_wrong_status_names_the_expected_status_key(world):
    smoke = smoke_finding(production_stack(world, expected_status=200), Answer(503, "down", 7))
    assert (smoke.outcome, smoke.message, smoke.fix, smoke.expected, smoke.actual) == (
        Outcome.FAILED, "GET http://10.0.0.5:80/x: status 503, expected 200 (503 in 7 ms); body 'down'",
        "check the service's logs (docker compose logs) and the release; stack.smoke.0.expected_status says what is "
        "expected", "status 200", "status 503")


def test_a_slow_answer_names_max_latency(world):
    smoke = smoke_finding(production_stack(world, max_latency_ms=100), Answer(200, "ok", 150))
    assert (smoke.message, smoke.fix, smoke.expected) == (
        "GET http://10.0.0.5:80/x: answered in 150 ms, over max_latency_ms 100 (200 in 150 ms); body 'ok'",
        "find why the answer is slow (host load, database), or raise stack.smoke.0.max_latency_ms",
        "status 200, within 100 ms")


def test_a_body_without_the_text_names_contains(world):
    smoke = smoke_finding(production_stack(world, contains="ready"), Answer(200, "starting", 4))
    assert (smoke.message, smoke.fix, smoke.expected) == (
        "GET http://10.0.0.5:80/x: body does not contain 'ready' (200 in 4 ms); body 'starting'",
        "the answer lacks the declared text: check the running release, or stack.smoke.0.contains",
        "status 200, body contains 'ready'")


def test_no_answer_and_no_way_to_ask(world):
    stack = production_stack(world, retries=1)
    silent = smoke_finding(stack, Answer(None, error="ConnectError: refused"))
    assert (silent.outcome, silent.message, silent.fix, silent.actual) == (
        Outcome.FAILED, "GET http://10.0.0.5:80/x: ConnectError: refused",
        "nothing answered: is the service up (docker compose ps) and its port published and open?", "no answer")
    unchecked = smoke_finding(stack, Answer(None, error="the host has no curl", unchecked=True))
    assert (unchecked.outcome, unchecked.fix) == (Outcome.ERROR, "make the probe possible: see the message")


def test_attempts_are_told_only_when_there_were_several(world):
    stack = production_stack(world)
    one = http_checks(stack, fetch_by_path(HEALTHY), "http://h:80", "h")
    [live, *_] = [f for f in one if f.check == CHECK_HEALTH]
    assert live.message == "GET http://h:80/api/v1/health/live: 200 in 3 ms"  # health is asked once
    answers = iter([Answer(503, "a", 1), Answer(200, "ok", 9)])
    smoke = [dataclasses.replace(stack.smoke[0], retries=2, interval=0.01)]
    fetch = fetch_by_path(HEALTHY)

    def twice(url, timeout):
        return next(answers) if url.endswith(stack.smoke[0].path) else fetch(url, timeout)

    found = http_checks(dataclasses.replace(stack, smoke=smoke), twice, "http://h:80", "h")
    [passed] = [f for f in found if f.check == CHECK_SMOKE]
    assert passed.message == f"GET http://h:80{stack.smoke[0].path}: 200 in 9 ms after 2 attempts"


def test_said_of_a_result(world):
    from mooring.checks.probes import _said

    result = ProbeResult("x", "u", ok=True, attempts=1, status=200, elapsed_ms=5)
    assert _said(result) == "200 in 5 ms"
    assert _said(dataclasses.replace(result, attempts=2)) == "200 in 5 ms after 2 attempts"
    assert _said(dataclasses.replace(result, attempts=3)) == "200 in 5 ms after 3 attempts"
    assert _said(dataclasses.replace(result, status=None, error="refused")) == "refused"


@pytest.mark.parametrize(("host_ip", "base"), [("", "http://127.0.0.1:80"), ("0.0.0.0", "http://127.0.0.1:80"),
                                               ("::", "http://127.0.0.1:80"), ("10.0.0.5", "http://10.0.0.5:80"),
                                               ("fd00::5", "http://[fd00::5]:80")])
def test_from_the_host_the_base_is_the_one_address_the_http_port_is_published_on(world, host_ip, base):
    stack = dataclasses.replace(production_stack(world), probes_from="host")
    nginx = stack.services["nginx"]
    bound = dataclasses.replace(nginx, ports=[dataclasses.replace(nginx.ports[0], host_ip=host_ip)])
    assert probe_base(dataclasses.replace(stack, services={**stack.services, "nginx": bound}), "p", {}) == base


def test_from_the_host_only_the_tcp_mapping_of_the_http_port_counts(world):
    stack = dataclasses.replace(production_stack(world), probes_from="host")
    nginx = stack.services["nginx"]
    port = nginx.ports[0]
    udp = dataclasses.replace(port, host_ip="10.0.0.7", protocol="udp")
    other = dataclasses.replace(port, host_ip="10.0.0.8", published=port.published + 1)
    tcp = dataclasses.replace(port, host_ip="10.0.0.9")
    services = {**stack.services, "nginx": dataclasses.replace(nginx, ports=[udp, other, tcp])}
    assert probe_base(dataclasses.replace(stack, services=services), "p", {}) == "http://10.0.0.9:80"
    lone = {**stack.services, "nginx": dataclasses.replace(nginx, ports=[udp, other])}
    assert probe_base(dataclasses.replace(stack, services=lone), "p", {}) == "http://127.0.0.1:80"


def test_without_an_http_port_the_base_is_port_80(world):
    stack = dataclasses.replace(production_stack(world), http_port=None)
    assert probe_base(stack, "prod-1", {}) == "http://prod-1:80"
    assert probe_base(dataclasses.replace(stack, http_port=8080), "prod-1", {"ssh_hostname": "::1"}) == "http://[::1]:8080"


def test_gate_specs_of_a_probe_on_the_http_port_keep_the_base(world):
    stack = production_stack(world)
    health = stack.health[0]
    bound = dataclasses.replace(health, port=stack.http_port, host_ip="10.0.0.5")
    other = dataclasses.replace(health, port=9090, host_ip="0.0.0.0")
    [same, elsewhere] = gate_specs([bound, other], stack.http_port)
    assert (same["port"], same["address"]) == (None, "")
    assert (elsewhere["port"], elsewhere["address"]) == (9090, "")


class FakeOutput:
    stdout, stderr = "out", "err"


class FakeHost:
    def __init__(self, fail: Exception | None = None):
        self.calls, self.fail = [], fail

    def run_shell_command(self, command, **kwargs):
        self.calls.append((command, kwargs))
        if self.fail:
            raise self.fail
        return True, FakeOutput()


def test_the_pyinfra_runner_passes_the_command_and_its_timeout():
    host = FakeHost()
    assert pyinfra_runner(host)("echo hi", 7.5) == (True, "out", "err")
    assert host.calls == [("echo hi", {"_timeout": 7.5})]
    broken = FakeHost(TimeoutError("timed out"))
    assert pyinfra_runner(broken)("x", 1.0) == (False, "", "TimeoutError: timed out")


def test_fixed_routes_are_asked_with_the_check_timeout_and_judged_by_route(world):
    from mooring.checks.probes import CHECK_ENDPOINTS, CHECK_TIMEOUT

    data = world.read("production.yml")
    data["stack"]["endpoints"]["dev"]["enabled"] = True  # dev on (listed first), ops off: ops is still asked
    data["stack"]["endpoints"]["ops"]["enabled"] = False
    world.write("production.yml", data)
    stack = production_stack(world)
    asked = []
    ops = stack.endpoints["ops"]

    def fetch(url, timeout):
        asked.append((url.split("/", 3)[3], timeout))
        return {"/internal/metrics": Answer(200, '{"httpErrorRate": 0.01}', 2), "/auth/me": Answer(410, "gone", 2),
                ops.probe_path: Answer(200, "open", 2)}.get("/" + url.split("/", 3)[3], Answer(200, "ok", 3))

    found = http_checks(stack, fetch, "http://h:80", "h")
    fixed = {path: timeout for path, timeout in asked if "/" + path in ("/internal/metrics", "/auth/me", ops.probe_path)}
    assert fixed == {"internal/metrics": CHECK_TIMEOUT, "auth/me": CHECK_TIMEOUT, ops.probe_path[1:]: CHECK_TIMEOUT}
    [closed] = [f for f in found if f.check == CHECK_ENDPOINTS and f.outcome is not Outcome.SKIPPED]
    assert (closed.outcome, closed.path, closed.resource, closed.message, closed.actual) == (
        Outcome.FAILED, "stack.endpoints.ops.enabled", f"http:{ops.probe_path}",
        f"the ops endpoints are declared off, but GET http://h:80{ops.probe_path}: status 200, expected 403 or 404",
        "status 200")
    assert closed.fix == (f"make sure {ops.enabled_env}=false reaches the app "
                          f"(stack.services.{stack.proxy.upstream or 'api'}.env) and deploy again")


def test_probes_from_the_host_run_through_the_given_command():
    from mooring.checks.probes import HostFetch, make_fetch

    calls = []

    def run(command, timeout):
        calls.append(timeout)
        return True, "mooring-probe 0 200 0.004 - -\n", ""

    fetch = make_fetch("host", run)
    assert isinstance(fetch, HostFetch)
    assert fetch("http://127.0.0.1:80/x", 2.0).status == 200 and len(calls) == 1
    with pytest.raises(ValueError) as info:
        make_fetch("host")
    assert str(info.value) == "probes_from host needs a way to run commands on the host (pyinfra_runner(host))"
    with pytest.raises(ValueError, match="^probes_from 'lb': use controller or host$"):
        make_fetch("lb", run)


def everything(findings):
    return [(f.check, f.outcome.value, f.subject, f.host, f.path, f.resource, f.message, f.fix, f.expected, f.actual)
            for f in findings]


H = ("prod-1", "prod-1")
OPS_ON = ("http.endpoints", "skipped", *H, "stack.endpoints.ops.enabled", "http:/internal/ops/info",
          "the ops endpoints are declared on (whitelist: 10.0.0.0/8): only a family that is off is checked", "", "", "")


def test_everything_a_user_reads_of_a_healthy_stack(world):
    found = http_checks(production_stack(world), fetch_by_path(HEALTHY), "http://h:80", "prod-1")
    assert everything(found) == [
        ("http.health", "passed", *H, "stack.health.0", "http:live", "GET http://h:80/api/v1/health/live: 200 in 3 ms", "",
         "status 200", "status 200"),
        ("http.health", "passed", *H, "stack.health.1", "http:ready", "GET http://h:80/api/v1/health/ready: 200 in 3 ms",
         "", "status 200", "status 200"),
        OPS_ON,
        ("http.smoke", "passed", *H, "stack.smoke.0", "http:version", "GET http://h:80/api/v1/version: 200 in 3 ms", "",
         "status 200, within 1000 ms", "status 200"),
        ("http.smoke", "passed", *H, "stack.smoke.1", "http:users", "GET http://h:80/api/v1/users: 200 in 3 ms", "",
         "status 200, within 2000 ms", "status 200"),
        ("http.smoke", "passed", *H, "stack.smoke.2", "http:dev_endpoints_closed",
         "GET http://h:80/internal/dev/echo: 404 in 2 ms", "", "status 404", "status 404"),
        ("http.metrics", "passed", *H, "", "http:/internal/metrics",
         "httpErrorRate 0.01 (? errors of ? requests) is at most 0.05", "", "httpErrorRate <= 0.05", "httpErrorRate 0.01"),
        ("http.endpoints", "passed", *H, "stack.endpoints.dev.enabled", "http:/internal/dev/echo",
         "GET http://h:80/internal/dev/echo: 404 in 2 ms", "", "", "status 404"),
        ("http.removed_route", "passed", *H, "", "http:/auth/me", "GET http://h:80/auth/me: 410 in 2 ms", "", "",
         "status 410"),
    ]


def test_everything_a_user_reads_of_failing_routes(world):
    routes = {**HEALTHY, "/auth/me": Answer(404, "no", 2), "/internal/dev/echo": Answer(200, "echo", 2),
              "/internal/metrics": Answer(503, "x", 2)}
    found = http_checks(production_stack(world), fetch_by_path(routes), "http://h:80", "prod-1")
    assert everything(found)[5:] == [
        ("http.smoke", "failed", *H, "stack.smoke.2", "http:dev_endpoints_closed",
         "GET http://h:80/internal/dev/echo: status 200, expected 404 (200 in 2 ms); body 'echo'",
         "check the service's logs (docker compose logs) and the release; stack.smoke.2.expected_status says what is "
         "expected", "status 404", "status 200"),
        ("http.metrics", "warning", *H, "", "http:/internal/metrics",
         "GET http://h:80/internal/metrics: status 503, expected 200: the error rate cannot be judged",
         "serve /internal/metrics with httpErrorRate (seed 000's metrics contract)", "", ""),
        ("http.endpoints", "failed", *H, "stack.endpoints.dev.enabled", "http:/internal/dev/echo",
         "the dev endpoints are declared off, but GET http://h:80/internal/dev/echo: status 200, expected 403 or 404",
         "make sure DEV_ENDPOINTS_ENABLED=false reaches the app (stack.services.api.env) and deploy again", "",
         "status 200"),
        ("http.removed_route", "failed", *H, "", "http:/auth/me",
         "/auth/me is a removed route, but GET http://h:80/auth/me: status 404, expected 410",
         "the API must answer 410 ROUTE_REMOVED on /auth/me (callers move to /users/me)", "", "status 404"),
    ]


def test_everything_a_user_reads_when_nothing_answers(world):
    found = http_checks(production_stack(world), lambda url, timeout: Answer(None, error="refused"), "http://h:80",
                        "prod-1")
    nothing = "nothing answered: is the service up (docker compose ps) and its port published and open?"
    skipped = "skipped: no health probe got an answer (refused)"
    assert everything(found) == [
        ("http.health", "failed", *H, "stack.health.0", "http:live", "GET http://h:80/api/v1/health/live: refused",
         nothing, "status 200", "no answer"),
        ("http.health", "failed", *H, "stack.health.1", "http:ready", "GET http://h:80/api/v1/health/ready: refused",
         nothing, "status 200", "no answer"),
        OPS_ON,
        ("http.smoke", "skipped", *H, "stack.smoke.0", "http:version", skipped, "", "", ""),
        ("http.smoke", "skipped", *H, "stack.smoke.1", "http:users", skipped, "", "", ""),
        ("http.smoke", "skipped", *H, "stack.smoke.2", "http:dev_endpoints_closed", skipped, "", "", ""),
        ("http.metrics", "skipped", *H, "", "http:/internal/metrics", skipped, "", "", ""),
        ("http.endpoints", "skipped", *H, "stack.endpoints.dev.enabled", "http:/internal/dev/echo", skipped, "", "", ""),
        ("http.removed_route", "skipped", *H, "", "http:/auth/me", skipped, "", "", ""),
    ]
    closed = http_checks(production_stack(world), fetch_by_path({**HEALTHY, "/auth/me": Answer(None, error="reset")}),
                         "http://h:80", "prod-1")
    assert everything(closed)[-1] == ("http.removed_route", "failed", *H, "", "http:/auth/me",
                                      "/auth/me is a removed route, but GET http://h:80/auth/me: reset",
                                      "the API must answer 410 ROUTE_REMOVED on /auth/me (callers move to /users/me)",
                                      "", "no answer")


def test_an_open_family_names_its_whitelist_or_nobody(world):
    import dataclasses as dc

    from mooring.checks.probes import _gate_on

    gate = production_stack(world).endpoints["ops"]
    two = _gate_on(dc.replace(gate, whitelist=["10.0.0.0/8", "192.168.0.0/16"]), "h")
    assert (two.resource, two.message) == (
        "http:/internal/ops/info",
        "the ops endpoints are declared on (whitelist: 10.0.0.0/8, 192.168.0.0/16): only a family that is off is checked")
    assert _gate_on(dc.replace(gate, whitelist=[]), "h").message == (
        "the ops endpoints are declared on (whitelist: nobody): only a family that is off is checked")


def test_a_closed_family_without_a_proxy_upstream_names_the_api_service(world):
    stack = production_stack(world)
    stack = dataclasses.replace(stack, proxy=dataclasses.replace(stack.proxy, upstream=None))
    found = http_checks(stack, fetch_by_path({**HEALTHY, "/internal/dev/echo": Answer(200, "open", 2)}), "http://h:80",
                        "h")
    [closed] = [f for f in found if f.check == "http.endpoints" and f.outcome is Outcome.FAILED]
    assert closed.fix == "make sure DEV_ENDPOINTS_ENABLED=false reaches the app (stack.services.api.env) and deploy again"


class FakeClock:
    def __init__(self):
        self.now, self.slept = 0.0, []

    def monotonic(self):
        return self.now

    def sleep(self, seconds):
        self.slept.append(round(seconds, 6))
        self.now += seconds


def test_one_probe_with_its_defaults(monkeypatch):
    from mooring.checks import probes

    clock = FakeClock()
    monkeypatch.setattr(probes, "time", clock)
    asked = []

    def fetch(url, timeout):
        asked.append((url, timeout))
        return Answer(503, "starting", 4)

    result = probes.probe("ready", "http://h/ready", fetch=fetch)
    assert (result.name, result.url, result.ok, result.attempts, result.status, result.error) == (
        "ready", "http://h/ready", False, 30, 503, "status 503, expected 200")
    assert asked == [("http://h/ready", 5.0)] * 30 and set(clock.slept) == {1.0} and len(clock.slept) == 29
    ok = probes.probe("ready", "http://h/ready", fetch=lambda url, timeout: Answer(200, "ok", 4))
    assert (ok.ok, ok.attempts) == (True, 1)


def test_one_probe_with_every_key(monkeypatch):
    from mooring.checks import probes

    clock = FakeClock()
    monkeypatch.setattr(probes, "time", clock)
    asked = []

    def fetch(url, timeout):
        asked.append(timeout)
        return Answer(201, "all ready", 40)

    result = probes.probe("r", "http://h/r", expected_status=201, timeout=2.5, retries=3, interval=0.5,
                          contains="ready", max_latency_ms=50, fetch=fetch)
    assert (result.ok, result.attempts, asked) == (True, 1, [2.5])
    slow = probes.probe("r", "http://h/r", 201, 2.5, 3, 0.5, "ready", 30, fetch=fetch)
    assert (slow.ok, slow.attempts, slow.error) == (False, 3, "answered in 40 ms, over max_latency_ms 30")
    assert clock.slept == [0.5, 0.5]
    lacking = probes.probe("r", "http://h/r", 201, 2.5, 1, 0.5, "gone", None, fetch=fetch)
    assert lacking.error == "body does not contain 'gone'"


def test_metrics_that_cannot_be_asked_or_read(world):
    stack = production_stack(world)
    unchecked = fetch_by_path({**HEALTHY, "/internal/metrics": Answer(None, error="no curl", unchecked=True)})
    [error] = [f for f in http_checks(stack, unchecked, "http://h:80", "h") if f.check == "http.metrics"]
    assert (error.outcome, error.resource, error.message) == (
        Outcome.ERROR, "http:/internal/metrics", "GET http://h:80/internal/metrics: no curl: the error rate cannot be judged")
    html = fetch_by_path({**HEALTHY, "/internal/metrics": Answer(200, "<html>", 2)})
    [warning] = [f for f in http_checks(stack, html, "http://h:80", "h") if f.check == "http.metrics"]
    assert (warning.outcome, warning.message) == (
        Outcome.WARNING, "GET http://h:80/internal/metrics: no numeric httpErrorRate in the answer (JSONDecodeError: "
                         "Expecting value: line 1 column 1 (char 0)); body '<html>'")


def test_a_health_probe_out_of_reach_is_a_finding_not_a_request(world):
    data = world.read("production.yml")
    data["stack"]["health"] = [{"name": "prom", "path": "/-/ready", "service": "prometheus"}]
    world.write("production.yml", data)
    found = http_checks(production_stack(world), fetch_by_path(HEALTHY), "http://h:80", "prod-1")
    [health] = [f for f in found if f.check == CHECK_HEALTH]
    assert (health.outcome, health.path, health.resource, health.message) == (
        Outcome.FAILED, "stack.health.0.service", "http:prom",
        "probe prom: port 9090 is published on 127.0.0.1 only: the controller cannot reach it")


def test_probes_on_the_http_port_keep_the_base_port(world):
    stack = production_stack(world)
    asked = []

    def fetch(url, timeout):
        asked.append(url)
        return fetch_by_path(HEALTHY)(url, timeout)

    http_checks(stack, fetch, "http://127.0.0.1:28001", "docker-1")
    assert asked[:2] == ["http://127.0.0.1:28001/api/v1/health/live", "http://127.0.0.1:28001/api/v1/health/ready"]


def test_skipped_checks_name_the_first_health_probes_error(world):
    def fetch(url, timeout):
        return Answer(None, error="refused" if url.endswith("/live") else "timed out")

    found = http_checks(production_stack(world), fetch, "http://h:80", "h")
    assert {f.message for f in found if f.outcome is Outcome.SKIPPED and f.check != "http.endpoints"} == {
        "skipped: no health probe got an answer (refused)"}


def test_run_probe_asks_one_plan_probe_through_the_given_fetch():
    from mooring.checks.probes import run_probe

    asked = []
    result = run_probe("http://h:80", {"name": "live", "path": "/live", "retries": 1},
                       lambda url, timeout: asked.append((url, timeout)) or Answer(200, "ok", 2))
    assert (result.name, result.ok, result.url, asked) == ("live", True, "http://h:80/live", [("http://h:80/live", 5.0)])


def test_a_stack_without_an_http_port_says_why_its_fixed_routes_are_skipped(world):
    stack = dataclasses.replace(production_stack(world), http_port=None, smoke=[])
    found = http_checks(stack, fetch_by_path(HEALTHY), "http://h:80", "h")
    assert everything(found)[-2:] == [
        ("http.metrics", "skipped", "h", "h", "stack.proxy", "http:/internal/metrics",
         "the stack publishes no HTTP port (its proxy publishes none): nothing to ask", "", "", ""),
        ("http.removed_route", "skipped", "h", "h", "stack.proxy", "http:/auth/me",
         "the stack publishes no HTTP port (its proxy publishes none): nothing to ask", "", "", ""),
    ]
    assert [f.check for f in found[:2]] == [CHECK_HEALTH, CHECK_HEALTH]  # the health findings stay


def test_health_is_asked_once_at_check_time(world):
    answers = iter([Answer(503, "starting", 2), Answer(200, "ok", 2)])
    fetch = fetch_by_path(HEALTHY)

    def flaky(url, timeout):
        return next(answers) if url.endswith("/health/live") else fetch(url, timeout)

    [live, _ready] = [f for f in http_checks(production_stack(world), flaky, "http://h:80", "h")
                      if f.check == CHECK_HEALTH]
    assert (live.outcome, live.message) == (Outcome.FAILED,
                                            "GET http://h:80/api/v1/health/live: status 503, expected 200 (503 in 2 ms); "
                                            "body 'starting'")


def test_an_unreachable_probe_finding_is_about_the_host(world):
    data = world.read("production.yml")
    data["stack"]["smoke"] = [{"name": "prom", "path": "/-/ready", "service": "prometheus"}]
    world.write("production.yml", data)
    [smoke] = [f for f in http_checks(production_stack(world), fetch_by_path(HEALTHY), "http://h:80", "prod-1")
               if f.check == CHECK_SMOKE]
    assert (smoke.subject, smoke.host, smoke.kind.value) == ("prod-1", "prod-1", "probe")
