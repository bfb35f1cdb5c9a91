"""The health gate and the HTTP checks against a real HTTP server on 127.0.0.1 (started here, in
a thread; no mocks): expected status, ``contains``, ``max_latency_ms``, ``port`` and retries,
asked with httpx (the controller) and with the host-side script run by a local ``sh`` (curl and
python3, as on a host). Thresholds and the checks' decisions are tested with fake fetch
functions; the declared keys (``probes_from``, ``service``, ``probe_path``) through the schema
and the model. tests/test_probes_live.py runs all of it on a real box."""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from mooring.checks.findings import Outcome
from mooring.checks.probes import (CHECK_ENDPOINTS, CHECK_HEALTH, CHECK_METRICS, CHECK_REMOVED, CHECK_SMOKE, MAX_BODY, Answer,
                           Ask, HostFetch, ProbeResult, controller_fetch, error_rate_outcome, fetch_all, gate_specs,
                           host_fetch_script, http_checks, make_fetch, metrics_finding, parse_host_answers, poll, probe,
                           probe_base, probe_url, pyinfra_runner, run_gate, unreachable)
from mooring.declare.errors import ConfigError

BIG = "x" * (MAX_BODY + 100) + "END"
#: path -> (status, body, delay in seconds)
ROUTES = {
    "/ready": (200, '{"status": "ready"}', 0.0),
    "/starting": (200, '{"status": "starting"}', 0.0),
    "/down": (503, "database unavailable", 0.0),
    "/slow": (200, "slow but fine", 0.4),
    "/lines": (200, "first line\nsecond line \u00e9\n\n", 0.0),
    "/big": (200, BIG, 0.0),
    "/redirect": (302, "", 0.0),
}


def serve(name: str) -> ThreadingHTTPServer:
    """An HTTP server on a free port of 127.0.0.1 answering ROUTES; ``/whoami`` returns ``name``."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            status, body, delay = ROUTES.get(self.path, (404, "not found", 0.0))
            if self.path == "/whoami":
                status, body = 200, name
            time.sleep(delay)
            data = body.encode()
            self.send_response(status)
            if status == 302:
                self.send_header("Location", "/ready")
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args) -> None:
            """Quiet: pytest shows stderr of failing tests only, and these lines say nothing."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture(scope="module")
def servers() -> Iterator[tuple[str, int]]:
    """Two servers on one host: the ``http_base`` one ("proxy") and another port ("metrics").
    They keep no state, so the module's tests share them."""
    proxy, metrics = serve("proxy"), serve("metrics")
    try:
        yield f"http://127.0.0.1:{proxy.server_address[1]}", metrics.server_address[1]
    finally:
        for server in (proxy, metrics):
            server.shutdown()
            server.server_close()


def one(base: str, **spec) -> ProbeResult:
    """Run one probe (one attempt unless ``retries`` says otherwise)."""
    spec = {"name": "p", "retries": 1, "interval": 0.1, **spec}
    [result] = run_gate(base, [spec])
    return result


def test_a_probe_passes_on_the_expected_status(servers):
    base, _ = servers
    result = one(base, path="/ready")
    assert (result.ok, result.status, result.attempts, result.error) == (True, 200, 1, "")
    assert result.url == f"{base}/ready"
    assert result.describe() == f"p {base}/ready: 200 after 1 attempt(s)"


def test_a_probe_fails_on_another_status_after_its_retries(servers):
    base, _ = servers
    result = one(base, path="/down", retries=3)
    assert (result.ok, result.status, result.attempts) == (False, 503, 3)
    assert result.describe() == f"p {base}/down: FAILED after 3 attempt(s): status 503, expected 200; body 'database unavailable'"


def test_expected_status_may_be_an_error_status(servers):
    base, _ = servers
    assert one(base, path="/internal/dev/echo", expected_status=404).ok


def test_contains_needs_the_text_in_the_body(servers):
    base, _ = servers
    assert one(base, path="/ready", contains='"ready"').ok
    result = one(base, path="/starting", contains='"ready"')
    assert (result.ok, result.status) == (False, 200)
    assert result.error == "body does not contain '\"ready\"'"
    assert "body does not contain" in result.describe()


def test_max_latency_fails_a_slow_answer(servers):
    base, _ = servers
    result = one(base, path="/slow", max_latency_ms=100)
    assert (result.ok, result.status) == (False, 200)
    assert result.elapsed_ms >= 400
    assert result.error == f"answered in {result.elapsed_ms} ms, over max_latency_ms 100"


def test_max_latency_passes_a_fast_enough_answer(servers):
    base, _ = servers
    result = one(base, path="/slow", max_latency_ms=5000)
    assert result.ok and 400 <= result.elapsed_ms <= 5000


def test_port_probes_another_port_of_the_same_host(servers):
    base, metrics_port = servers
    assert one(base, path="/whoami", contains="proxy").ok
    result = one(base, path="/whoami", port=metrics_port, contains="metrics")
    assert result.ok, result.describe()
    assert result.url == f"http://127.0.0.1:{metrics_port}/whoami"


def test_port_none_keeps_the_base_port(servers):
    base, _ = servers
    result = one(base, path="/whoami", port=None, contains="proxy")
    assert result.ok and result.url == f"{base}/whoami"


def test_a_probe_retries_until_the_answer_passes(servers):
    """A slow answer fails the latency bound; a later attempt under a wider bound is not needed:
    the probe stops at its first passing attempt."""
    base, _ = servers
    assert one(base, path="/ready", retries=5).attempts == 1


def test_old_plans_without_the_new_keys_still_run(servers):
    base, _ = servers
    [result] = run_gate(base + "/", [{"name": "ready", "path": "/ready", "expected_status": 200, "timeout": 5,
                                      "retries": 1, "interval": 0.1}])
    assert result.ok and result.url == f"{base}/ready"


def test_a_closed_port_is_a_connection_error_not_a_crash():
    result = probe("ready", "http://127.0.0.1:9/ready", retries=2, interval=0.05)
    assert (result.ok, result.attempts, result.status) == (False, 2, None)
    assert result.error.startswith("ConnectError")
    assert result.describe().endswith(result.error)


def test_probes_due_together_go_to_the_fetch_as_one_batch(servers):
    base, _ = servers
    batches: list[list[str]] = []

    class Counting:
        def __call__(self, url, timeout):
            return self.many([(url, timeout)])[0]

        def many(self, requests):
            batches.append([url for url, _ in requests])
            return [controller_fetch(url, timeout) for url, timeout in requests]

    specs = [{"name": name, "path": path, "retries": 3, "interval": 0.05}
             for name, path in (("ready", "/ready"), ("slow", "/slow"), ("down", "/down"))]
    results = run_gate(base, specs, Counting())
    assert [(r.name, r.ok, r.attempts) for r in results] == [("ready", True, 1), ("slow", True, 1), ("down", False, 3)]
    assert batches == [[f"{base}/ready", f"{base}/slow", f"{base}/down"], [f"{base}/down"], [f"{base}/down"]]


def test_a_probe_is_asked_again_after_its_interval_until_it_passes():
    answers = iter([Answer(None, error="ConnectError: refused"), Answer(503, "starting"), Answer(200, "ready")])
    started = time.monotonic()
    [result] = poll([Ask("ready", "u", retries=5, interval=0.2)], lambda url, timeout: next(answers))
    assert (result.ok, result.attempts, result.status) == (True, 3, 200)
    assert time.monotonic() - started >= 0.4


def test_the_controller_does_not_follow_redirects(servers):
    base, _ = servers
    assert controller_fetch(f"{base}/redirect", 5).status == 302


# --- the host-side script, run by a local sh (as pyinfra runs it on a host) -------------------------

def local_run(command: str, timeout: float) -> tuple[bool, str, str]:
    """A RunCommand on this machine: ``sh -c`` like pyinfra's ssh connector on a host."""
    out = subprocess.run(["sh", "-c", command], capture_output=True, text=True, timeout=timeout)
    return out.returncode == 0, out.stdout, out.stderr


@pytest.fixture(params=["curl", "python3"])
def tool(request) -> str:
    assert shutil.which(request.param), f"{request.param} is needed on this machine to run the host-side script"
    return request.param


def test_the_host_script_answers_like_the_controller(servers, tool):
    base, metrics_port = servers
    paths = ["/ready", "/down", "/lines", "/redirect", "/whoami"]
    remote = HostFetch(local_run, [tool]).many([(base + p, 5.0) for p in paths] +
                                               [(f"http://127.0.0.1:{metrics_port}/whoami", 5.0)])
    local = [controller_fetch(base + p, 5.0) for p in paths] + [controller_fetch(f"http://127.0.0.1:{metrics_port}/whoami", 5)]
    assert [(a.status, a.text) for a in remote] == [(a.status, a.text) for a in local]
    assert remote[2].text == "first line\nsecond line \u00e9\n\n" and remote[-1].text == "metrics"
    assert not any(a.unchecked or a.error for a in remote)


def test_the_host_script_measures_latency_and_reports_a_closed_port(servers, tool):
    base, _ = servers
    slow, closed = HostFetch(local_run, [tool]).many([(base + "/slow", 5.0), ("http://127.0.0.1:9/ready", 2.0)])
    assert slow.status == 200 and 400 <= slow.elapsed_ms < 3000
    assert closed.status is None and not closed.unchecked
    assert ("curl: (7)" if tool == "curl" else "Connection refused") in closed.error


def test_the_host_script_reads_at_most_max_body(servers, tool):
    base, _ = servers
    [big] = HostFetch(local_run, [tool]).many([(base + "/big", 5.0)])
    assert big.status == 200 and len(big.text) == MAX_BODY and big.text == BIG[:MAX_BODY]


def test_a_probe_times_out_on_the_host(servers, tool):
    base, _ = servers
    [late] = HostFetch(local_run, [tool]).many([(base + "/slow", 0.1)])
    assert late.status is None and late.error and not late.unchecked


def test_the_gate_through_the_host_script(servers, tool):
    base, _ = servers
    results = run_gate(base, [{"name": "ready", "path": "/ready", "contains": "ready", "retries": 1},
                              {"name": "starting", "path": "/starting", "contains": '"ready"', "retries": 2,
                               "interval": 0.05}], HostFetch(local_run, [tool]))
    assert [(r.ok, r.attempts, r.error) for r in results] == [
        (True, 1, ""), (False, 2, "body does not contain '\"ready\"'")]


def test_a_host_without_curl_or_python3_is_an_unchecked_answer_naming_the_fix(servers):
    script = host_fetch_script([("http://127.0.0.1:9/", 1.0)], ["curl"]).replace("command -v curl", "command -v nocurl")
    _, stdout, stderr = local_run(script, 10)
    [answer] = parse_host_answers(stdout, stderr, 1)
    assert answer.status is None and answer.unchecked
    assert answer.error.startswith("the host has no curl to run probes with: install curl there (bootstrap)")


@pytest.mark.parametrize("stdout,stderr,expected", [
    ("", "Connection reset", ["the probe command on the host stopped before this request: Connection reset"] * 2),
    ("mooring-probe 0 200 0.1 - -", "", ["", "the probe command on the host stopped before this request: "
                                                "mooring-probe 0 200 0.1 - -"]),
    ("mooring-probe 0 2xx 0.1 - -\nmooring-probe 0 200 0.1 !!! -", "",
     ["unparsable probe output: 'mooring-probe 0 2xx 0.1 - -'", "unparsable probe output: 'mooring-probe 0 200 0.1 !!! -'"]),
], ids=["no-output", "one-line-missing", "garbage"])
def test_host_output_that_does_not_parse_is_an_answer_never_a_crash(stdout, stderr, expected):
    answers = parse_host_answers(stdout, stderr, 2)
    assert [a.error for a in answers] == expected
    assert [a.unchecked for a in answers] == [bool(e) for e in expected]


def test_unknown_tools_are_refused_when_called():
    with pytest.raises(ValueError, match="unknown probe tools \\['wget'\\]"):
        HostFetch(local_run, ["wget"])
    with pytest.raises(ValueError, match="probes_from 'lb'"):
        make_fetch("lb")
    with pytest.raises(ValueError, match="needs a way to run commands"):
        make_fetch("host")
    assert isinstance(make_fetch("host", local_run), HostFetch)


def test_a_pyinfra_host_that_times_out_is_a_failed_command():
    class Host:
        def run_shell_command(self, command, _timeout=None):
            raise TimeoutError("no output in 3 s")

    assert pyinfra_runner(Host())("true", 3) == (False, "", "TimeoutError: no output in 3 s")
    [answer] = HostFetch(pyinfra_runner(Host())).many([("http://127.0.0.1/", 1)])
    assert answer.unchecked and answer.error.endswith("TimeoutError: no output in 3 s")


def test_fetch_all_uses_a_batch_when_the_fetch_has_one():
    calls = []

    class Batch:
        def __call__(self, url, timeout):
            raise AssertionError("asked one by one")

        def many(self, requests):
            calls.append(requests)
            return [Answer(200, url) for url, _ in requests]

    assert [a.text for a in fetch_all(Batch(), [("a", 1), ("b", 2)])] == ["a", "b"] and calls == [[("a", 1), ("b", 2)]]


# --- thresholds -----------------------------------------------------------------------------------

@pytest.mark.parametrize("rate,outcome", [
    (0.0, "passed"), (0.05, "passed"), (0.050001, "warning"), (0.075, "warning"), (0.10, "warning"),
    (0.100001, "failed"), (1.0, "failed"),
])
def test_error_rate_thresholds_of_seed_000(rate, outcome):
    assert error_rate_outcome(rate).value == outcome
    text = f'{{"httpRequestsTotal": 1000, "httpErrorsTotal": {int(rate * 1000)}, "httpErrorRate": {rate}}}'
    assert metrics_finding(text, "http://h/internal/metrics", "h").outcome.value == outcome


def test_metrics_messages_say_the_rate_and_the_counts():
    failed = metrics_finding('{"httpRequestsTotal": 40, "httpErrorsTotal": 12, "httpErrorRate": 0.3}', "u", "h")
    assert (failed.message, failed.expected, failed.actual) == (
        "httpErrorRate 0.3 (12 errors of 40 requests) is above 0.1", "httpErrorRate <= 0.05", "httpErrorRate 0.3")
    assert "roll back" in failed.fix
    assert metrics_finding('{"httpErrorRate": 0}', "u", "h").message == "httpErrorRate 0 (? errors of ? requests) is at most 0.05"


@pytest.mark.parametrize("text", ["<html>", "[]", '{"httpErrorRate": "0.01"}', '{"httpErrorRate": true}', "{}"])
def test_metrics_that_cannot_be_read_warn(text):
    finding = metrics_finding(text, "http://h/internal/metrics", "h")
    assert finding.outcome is Outcome.WARNING
    assert finding.message.startswith("GET http://h/internal/metrics: no numeric httpErrorRate in the answer")


# --- the checks of a declared stack, with fake fetch functions --------------------------------------

PROD = ("prod-1.example.invalid", ["production"])


def fake(routes: dict[str, Answer], asked: list[str] | None = None):
    """A fetch answering by path (200 "ok" for anything else); ``asked`` collects the URLs."""
    def fetch(url, timeout):
        if asked is not None:
            asked.append(url)
        path = "/" + url.split("/", 3)[3]
        return routes.get(path, Answer(200, "ok", 3))
    return fetch


HEALTHY = {"/internal/metrics": Answer(200, '{"httpErrorRate": 0.01}', 2), "/auth/me": Answer(410, "gone", 2),
           "/internal/dev/echo": Answer(404, "no route", 2), "/api/v1/version": Answer(200, '{"version": "1.4.2"}', 5)}


def production_stack(world):
    from mooring.declare.model import build_model

    return build_model(*PROD).stack


def test_a_healthy_production_stack_passes_every_check(world):
    asked: list[str] = []
    findings = http_checks(production_stack(world), fake(HEALTHY, asked), "http://10.0.0.5:80", "prod-1")
    assert {(f.check, f.outcome.value) for f in findings} == {
        (CHECK_HEALTH, "passed"), (CHECK_SMOKE, "passed"), (CHECK_METRICS, "passed"), (CHECK_ENDPOINTS, "passed"),
        (CHECK_ENDPOINTS, "skipped"), (CHECK_REMOVED, "passed")}
    assert [f.message for f in findings if f.outcome is Outcome.SKIPPED] == [
        "the ops endpoints are declared on (whitelist: 10.0.0.0/8): only a family that is off is checked"]
    assert asked == ["http://10.0.0.5:80/api/v1/health/live", "http://10.0.0.5:80/api/v1/health/ready",
                     "http://10.0.0.5:80/api/v1/version", "http://10.0.0.5:80/api/v1/users",
                     "http://10.0.0.5:80/internal/dev/echo", "http://10.0.0.5:80/internal/metrics",
                     "http://10.0.0.5:80/internal/dev/echo", "http://10.0.0.5:80/auth/me"]
    assert all((f.subject, f.host, f.kind.value) == ("prod-1", "prod-1", "probe") for f in findings)


def test_each_check_fails_on_its_own_condition(world):
    routes = {**HEALTHY, "/internal/metrics": Answer(200, '{"httpErrorRate": 0.07}', 2),
              "/auth/me": Answer(404, "no route", 2), "/internal/dev/echo": Answer(200, "echo", 2),
              "/api/v1/health/ready": Answer(503, "not ready", 2), "/api/v1/users": Answer(200, "[]", 2500)}
    findings = http_checks(production_stack(world), fake(routes), "http://10.0.0.5:80", "prod-1")
    failing = {(f.check, f.path, f.outcome.value) for f in findings if f.outcome is not Outcome.PASSED}
    assert failing == {
        (CHECK_HEALTH, "stack.health.1", "failed"), (CHECK_SMOKE, "stack.smoke.1", "failed"),
        (CHECK_SMOKE, "stack.smoke.2", "failed"), (CHECK_METRICS, "", "warning"),
        (CHECK_ENDPOINTS, "stack.endpoints.dev.enabled", "failed"), (CHECK_ENDPOINTS, "stack.endpoints.ops.enabled", "skipped"),
        (CHECK_REMOVED, "", "failed")}
    users = next(f for f in findings if f.path == "stack.smoke.1")
    assert users.message.startswith("GET http://10.0.0.5:80/api/v1/users: answered in 2500 ms, over max_latency_ms 2000")


def test_no_answer_to_any_health_probe_skips_the_other_checks(world):
    findings = http_checks(production_stack(world), lambda url, timeout: Answer(None, error="ConnectError: refused"),
                           "http://10.0.0.5:80", "prod-1")
    assert {f.outcome for f in findings if f.check == CHECK_HEALTH} == {Outcome.FAILED}
    others = [f for f in findings if f.check != CHECK_HEALTH]
    assert {f.outcome for f in others} == {Outcome.SKIPPED} and len(others) == 7  # 3 smoke, 4 fixed
    assert {f.message for f in others if f.check == CHECK_SMOKE} == {
        "skipped: no health probe got an answer (ConnectError: refused)"}


def test_a_probe_that_could_not_be_made_is_an_error_not_a_failure(world):
    findings = http_checks(production_stack(world), lambda url, timeout: Answer(None, error="no curl", unchecked=True),
                           "http://10.0.0.5:80", "prod-1")
    assert {f.outcome for f in findings if f.check == CHECK_HEALTH} == {Outcome.ERROR}


def test_smoke_retries_and_interval_take_effect(world):
    stack = production_stack(world)
    smoke = [dataclasses.replace(stack.smoke[0], retries=3, interval=0.05)]
    answers = iter([Answer(503, "starting"), Answer(503, "starting"), Answer(200, '{"version": "1"}', 4)])
    routes = dict(HEALTHY)

    def fetch(url, timeout):
        return next(answers) if url.endswith("/api/v1/version") else fake(routes)(url, timeout)

    [finding] = [f for f in http_checks(dataclasses.replace(stack, smoke=smoke), fetch, "http://h:80", "h")
                 if f.check == CHECK_SMOKE]
    assert finding.outcome is Outcome.PASSED and finding.message == "GET http://h:80/api/v1/version: 200 in 4 ms after 3 attempts"


def test_a_stack_without_an_http_port_skips_the_fixed_routes(world):
    stack = dataclasses.replace(production_stack(world), http_port=None, health=[], smoke=[])
    findings = http_checks(stack, fake(HEALTHY), "http://h:80", "h")
    assert [(f.check, f.outcome.value) for f in findings] == [(CHECK_METRICS, "skipped"), (CHECK_REMOVED, "skipped")]


# --- the declared keys: probes_from, service, probe_path ---------------------------------------------

def edit_layer(world, name: str, **stack) -> None:
    data = world.read(name)
    data.setdefault("stack", {}).update(stack)
    world.write(name, data)


def test_probes_from_accepts_controller_and_host_only(world):
    from mooring.declare.model import build_model

    assert build_model(*PROD).stack.probes_from == "controller"
    edit_layer(world, "production.yml", probes_from="host")
    assert build_model(*PROD).stack.probes_from == "host"
    edit_layer(world, "production.yml", probes_from="load-balancer")
    with pytest.raises(ConfigError) as info:
        build_model(*PROD)
    [problem] = info.value.problems
    assert (problem.path, problem.message, problem.fix) == (
        "stack.probes_from", "'load-balancer' is not allowed", "use one of: controller, host")
    assert problem.file.endswith("production.yml")


def test_a_probe_on_a_service_asks_the_port_it_publishes(world):
    """prometheus publishes 127.0.0.1:9090 in production; the API publishes nothing and is the
    proxy's upstream, so a probe on it goes through the proxy."""
    from mooring.declare.model import build_model

    edit_layer(world, "production.yml", probes_from="host", smoke=[
        {"name": "prometheus", "path": "/-/ready", "service": "prometheus"},
        {"name": "api", "path": "/api/v1/version", "service": "api"},
        {"name": "by_container_port", "path": "/-/ready", "service": "prometheus", "port": 9090}])
    prometheus, api, by_port = build_model(*PROD).stack.smoke
    assert (prometheus.port, prometheus.host_ip, prometheus.url) == (9090, "127.0.0.1", "http://127.0.0.1:9090/-/ready")
    assert (api.port, api.host_ip, api.url) == (80, "", "http://127.0.0.1:80/api/v1/version")
    assert (by_port.port, by_port.host_ip) == (9090, "127.0.0.1")


@pytest.mark.parametrize("smoke,path,message,fix", [
    ({"service": "db"}, "stack.smoke.0.service", "service db publishes no port, so no probe can reach it",
     'publish one, e.g. ports: ["127.0.0.1:8000:8000"] (with probes_from: host), or remove service: to probe through '
     "the proxy"),
    ({"service": "prometheus", "port": 9091}, "stack.smoke.0.port",
     "service prometheus publishes no host port for its container port 9091 (it publishes 127.0.0.1:9090:9090/tcp)",
     'publish it, e.g. ports: ["127.0.0.1:9091:9091"] (with probes_from: host), or name a container port it publishes'),
], ids=["no-port", "wrong-container-port"])
def test_a_service_probe_without_a_port_to_ask_is_refused(world, smoke, path, message, fix):
    from mooring.declare.model import build_model

    edit_layer(world, "production.yml", smoke=[{"name": "x", "path": "/x", **smoke}])
    with pytest.raises(ConfigError) as info:
        build_model(*PROD).stack
    [problem] = info.value.problems
    assert (problem.path, problem.message, problem.fix) == (path, message, fix)
    assert problem.file.endswith("production.yml")


def test_a_service_publishing_several_ports_needs_port(world):
    from mooring.declare.model import build_model

    data = world.read("production.yml")
    data["stack"]["services"]["prometheus"]["ports"] = ["127.0.0.1:9090:9090", "127.0.0.1:9091:9091"]
    data["stack"]["smoke"] = [{"name": "x", "path": "/x", "service": "prometheus"}]
    world.write("production.yml", data)
    with pytest.raises(ConfigError, match=r"stack.smoke.0.service: service prometheus publishes several ports "
                                          r"\(127.0.0.1:9090:9090/tcp, 127.0.0.1:9091:9091/tcp\) \(fix: say which"):
        build_model(*PROD).stack


def test_a_loopback_port_from_the_controller_is_a_finding_not_a_request(world):
    from mooring.declare.model import build_model

    edit_layer(world, "production.yml", smoke=[{"name": "prometheus", "path": "/-/ready", "service": "prometheus"}])
    stack = build_model(*PROD).stack
    assert unreachable(stack.smoke[0], "controller") and not unreachable(stack.smoke[0], "host")
    asked: list[str] = []
    [finding] = [f for f in http_checks(stack, fake(HEALTHY, asked), "http://10.0.0.5:80", "prod-1")
                 if f.check == CHECK_SMOKE]
    assert (finding.outcome, finding.path, finding.message) == (
        Outcome.FAILED, "stack.smoke.0.service",
        "probe prometheus: port 9090 is published on 127.0.0.1 only: the controller cannot reach it")
    assert "probes_from: host" in finding.fix and not [u for u in asked if ":9090" in u]


def test_an_endpoint_family_names_the_endpoint_checked_when_off(world):
    from mooring.declare.model import build_model

    assert build_model(*PROD).stack.endpoints["dev"].probe_path == "/internal/dev/echo"
    data = world.read("production.yml")
    data["stack"]["endpoints"]["dev"]["probe_path"] = "/internal/dev/tools"
    world.write("production.yml", data)
    asked: list[str] = []
    http_checks(build_model(*PROD).stack, fake(HEALTHY, asked), "http://h:80", "h")
    assert "http://h:80/internal/dev/tools" in asked
    data["stack"]["endpoints"]["dev"]["probe_path"] = "internal/dev/tools"
    world.write("production.yml", data)
    with pytest.raises(ConfigError, match="stack.endpoints.dev.probe_path: 'internal/dev/tools' has the wrong format"):
        build_model(*PROD)


# --- where probes go ------------------------------------------------------------------------------

def test_the_base_url_from_each_side(world):
    stack = production_stack(world)
    assert probe_base(stack, "prod-1", {}) == "http://prod-1:80"
    assert probe_base(stack, "prod-1", {"ssh_hostname": "10.0.0.5"}) == "http://10.0.0.5:80"
    assert probe_base(stack, "prod-1", {"mooring_http_base": "http://127.0.0.1:28001"}) == "http://127.0.0.1:28001"
    on_host = dataclasses.replace(stack, probes_from="host")
    assert probe_base(on_host, "prod-1", {"mooring_http_base": "http://127.0.0.1:28001"}) == "http://127.0.0.1:80"
    nginx = stack.services["nginx"]
    bound = dataclasses.replace(nginx, ports=[dataclasses.replace(nginx.ports[0], host_ip="10.0.0.5")])
    assert probe_base(dataclasses.replace(on_host, services={**stack.services, "nginx": bound}), "p", {}) == \
        "http://10.0.0.5:80"


def test_gate_specs_send_other_ports_to_their_published_address(world):
    from mooring.declare.model import build_model

    edit_layer(world, "production.yml", probes_from="host",
               health=[{"name": "live", "path": "/live"}, {"name": "prom", "path": "/-/ready", "service": "prometheus"}])
    stack = build_model(*PROD).stack
    live, prom = gate_specs(stack.health, stack.http_port)
    assert (live["port"], live["address"], prom["port"], prom["address"]) == (None, "", 9090, "127.0.0.1")
    assert probe_url("http://127.0.0.1:80", prom["path"], prom["port"], prom["address"]) == "http://127.0.0.1:9090/-/ready"


def test_the_host_script_is_shellcheck_clean(tmp_path):
    script = tmp_path / "probe.sh"
    script.write_text(host_fetch_script([("http://127.0.0.1:80/api/v1/health/live", 5.0),
                                         ("http://[::1]:8000/x?a=1&b='2'", 2.5)]))
    assert shutil.which("shellcheck"), "shellcheck is installed by bin/prepare-host"
    out = subprocess.run(["shellcheck", "-s", "sh", str(script)], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout
