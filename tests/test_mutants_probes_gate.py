"""The deploy health gate's plan probes (``run_gate``), where the declared probes of ``mooring check``
go (ports, published addresses, probes out of the controller's reach) and the ``http.metrics``
finding of an unreadable or high error rate (checks/probes.py). Host-free: a real HTTP server
on 127.0.0.1 where timing matters, else the module's ``fetch`` seam and a fake clock.
Written for the mutation run (docs/mutation.md)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from mooring.checks.findings import Finding, Kind, Outcome
from mooring.checks.probes import (CHECK_METRICS, CHECK_SMOKE, UNREACHABLE_FIX, Answer, _declared_checks,
                                   controller_fetch, http_checks, metrics_finding, poll, run_gate, unreachable)
from mooring.declare.model import Probe, Stack, build_model
from tests.local_http import Handler, serving

PROD = ("prod-1.example.invalid", ["production"])
#: The fixed routes answering as a healthy reference API does.
HEALTHY = {"/internal/metrics": Answer(200, '{"httpErrorRate": 0.01}', 2), "/auth/me": Answer(410, "gone", 2),
           "/internal/dev/echo": Answer(404, "no route", 2)}


# -- helpers -------------------------------------------------------------------------------------

class FakeClock:
    """``time`` for the poll loop: ``sleep`` moves the clock and is remembered."""

    def __init__(self) -> None:
        self.now, self.slept = 0.0, []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(round(seconds, 6))
        self.now += seconds


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    """A fake clock under the probes' poll loop (no real waiting between attempts)."""
    from mooring.checks import probes

    fake = FakeClock()
    monkeypatch.setattr(probes, "time", fake)
    return fake


class Recorder:
    """A fetch that remembers every ``(url, timeout)`` asked and answers from ``routes`` by path."""

    def __init__(self, routes: dict[str, Answer] | None = None, default: Answer = Answer(200, "ok", 3)):
        self.asked: list[tuple[str, float]] = []
        self.routes, self.default = routes or {}, default

    def __call__(self, url: str, timeout: float) -> Answer:
        self.asked.append((url, timeout))
        return self.routes.get("/" + url.split("/", 3)[3], self.default)


def declared_stack(world: Any, smoke: list[dict[str, Any]] | None = None,
                   ports: dict[str, list[str]] | None = None) -> Stack:
    """The production stack of the test world, with ``smoke`` and the services' ``ports`` replaced."""
    data = world.read("production.yml")
    stack = data.setdefault("stack", {})
    if smoke is not None:
        stack["smoke"] = smoke
    for service, published in (ports or {}).items():
        stack.setdefault("services", {}).setdefault(service, {})["ports"] = published
    world.write("production.yml", data)
    return build_model(*PROD).stack


def smoke_findings(findings: list[Finding]) -> list[Finding]:
    return [f for f in findings if f.check == CHECK_SMOKE]


class _Slow(Handler):
    """An API that takes ``delay`` seconds to answer 200."""

    delay = 0.6

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        time.sleep(self.delay)
        self.reply(200, b'{"status": "live"}')


@contextmanager
def slow_api() -> Iterator[str]:
    """A real HTTP server on 127.0.0.1 (port 0) answering slowly; yields its base URL."""
    with serving(_Slow) as base:
        yield base


# -- the deploy gate: plan probes (run_gate) -------------------------------------------------------

def test_the_gate_asks_a_probe_on_another_port_at_the_one_address_it_is_published_on():
    fetch = Recorder()
    [result] = run_gate("http://127.0.0.1:28001", [{"name": "prom", "path": "/-/ready", "port": 9090,
                                                    "address": "10.0.0.5", "retries": 1}], fetch)
    assert fetch.asked == [("http://10.0.0.5:9090/-/ready", 5.0)]
    assert (result.ok, result.url, result.describe()) == (
        True, "http://10.0.0.5:9090/-/ready", "prom http://10.0.0.5:9090/-/ready: 200 after 1 attempt(s)")


def test_the_gate_asks_a_probe_without_an_address_at_the_host_of_the_base():
    fetch = Recorder()
    run_gate("http://10.0.0.7:80", [{"name": "prom", "path": "/-/ready", "port": 9090, "address": "", "retries": 1},
                                    {"name": "live", "path": "/live", "retries": 1}], fetch)
    assert [url for url, _ in fetch.asked] == ["http://10.0.0.7:9090/-/ready", "http://10.0.0.7:80/live"]


def test_the_gate_gives_each_request_the_declared_timeout():
    fetch = Recorder()
    run_gate("http://h:80", [{"name": "live", "path": "/live", "timeout": 2.5, "retries": 1},
                             {"name": "ready", "path": "/ready", "retries": 1}], fetch)
    assert fetch.asked == [("http://h:80/live", 2.5), ("http://h:80/ready", 5.0)]


def test_a_declared_timeout_cuts_a_slow_answer_of_a_real_server():
    with slow_api() as base:
        [slow] = run_gate(base, [{"name": "live", "path": "/live", "timeout": 0.2, "retries": 1}], controller_fetch)
        [patient] = run_gate(base, [{"name": "live", "path": "/live", "timeout": 3, "retries": 1}], controller_fetch)
    assert (slow.ok, slow.attempts, slow.status) == (False, 1, None)
    assert slow.error.startswith("ReadTimeout"), slow.error
    assert (patient.ok, patient.status, patient.body) == (True, 200, '{"status": "live"}')


def test_the_gate_waits_the_declared_interval_between_attempts(clock: FakeClock):
    fetch = Recorder(default=Answer(503, "starting", 4))
    [result] = run_gate("http://h:80", [{"name": "ready", "path": "/ready", "retries": 3, "interval": 0.25}], fetch)
    assert (result.ok, result.attempts, result.error) == (False, 3, "status 503, expected 200")
    assert clock.slept == [0.25, 0.25]


def test_the_gate_defaults_to_30_attempts_one_second_apart(clock: FakeClock):
    fetch = Recorder(default=Answer(503, "starting", 4))
    [result] = run_gate("http://h:80", [{"name": "ready", "path": "/ready"}], fetch)
    assert (result.ok, result.attempts) == (False, 30)
    assert fetch.asked == [("http://h:80/ready", 5.0)] * 30
    assert clock.slept == [1.0] * 29


# -- mooring check: where the declared probes go -------------------------------------------------

def test_a_smoke_probe_on_a_port_of_the_host_itself_is_asked_on_that_port(world):
    stack = declared_stack(world, smoke=[{"name": "exporter", "path": "/metrics", "port": 9100}])
    fetch = Recorder(HEALTHY)
    [smoke] = smoke_findings(http_checks(stack, fetch, "http://10.0.0.7:80", "prod-1"))
    assert ("http://10.0.0.7:9100/metrics", 5.0) in fetch.asked
    assert (smoke.outcome, smoke.path, smoke.message) == (
        Outcome.PASSED, "stack.smoke.0", "GET http://10.0.0.7:9100/metrics: 200 in 3 ms")


def test_a_smoke_probe_of_a_service_is_asked_at_the_address_its_port_is_published_on(world):
    stack = declared_stack(world, smoke=[{"name": "prom", "path": "/-/ready", "service": "prometheus"}],
                           ports={"prometheus": ["10.0.0.5:9090:9090"]})
    fetch = Recorder(HEALTHY)
    [smoke] = smoke_findings(http_checks(stack, fetch, "http://h:80", "prod-1"))
    assert ("http://10.0.0.5:9090/-/ready", 5.0) in fetch.asked
    assert (smoke.outcome, smoke.resource, smoke.message) == (
        Outcome.PASSED, "http:prom", "GET http://10.0.0.5:9090/-/ready: 200 in 3 ms")


def test_probes_on_the_http_port_keep_the_base_even_when_it_is_published_on_one_address(world):
    stack = declared_stack(world, ports={"nginx": ["10.0.0.5:80:80"]})
    assert stack.health[0].host_ip == "10.0.0.5"  # the base (e.g. the sandbox's port mapping) still wins
    fetch = Recorder(HEALTHY)
    http_checks(stack, fetch, "http://127.0.0.1:28001", "docker-1")
    assert [url for url, _ in fetch.asked[:2]] == ["http://127.0.0.1:28001/api/v1/health/live",
                                                   "http://127.0.0.1:28001/api/v1/health/ready"]


def test_a_smoke_probe_is_asked_with_its_declared_timeout(world):
    stack = declared_stack(world, smoke=[{"name": "slowpoke", "path": "/slow", "timeout": 2.5},
                                         {"name": "version", "path": "/api/v1/version"}])
    fetch = Recorder(HEALTHY)
    http_checks(stack, fetch, "http://h:80", "prod-1")
    asked = dict(fetch.asked)
    assert (asked["http://h:80/slow"], asked["http://h:80/api/v1/version"]) == (2.5, 5.0)


def test_a_smoke_probe_waits_its_declared_interval_between_attempts(world, clock: FakeClock):
    stack = declared_stack(world, smoke=[{"name": "flaky", "path": "/flaky", "retries": 3, "interval": 0.25}])
    fetch = Recorder({**HEALTHY, "/flaky": Answer(503, "down", 5)})
    [smoke] = smoke_findings(http_checks(stack, fetch, "http://h:80", "prod-1"))
    assert [url for url, _ in fetch.asked].count("http://h:80/flaky") == 3
    assert clock.slept == [0.25, 0.25]
    assert smoke.message == "GET http://h:80/flaky: status 503, expected 200 (503 in 5 ms after 3 attempts); body 'down'"


def test_the_asks_of_declared_probes_carry_each_probes_name_url_and_keys(world):
    stack = declared_stack(world, smoke=[{"name": "flaky", "path": "/flaky", "timeout": 2.5, "retries": 4,
                                          "interval": 0.5, "contains": "ok", "max_latency_ms": 900}])
    findings: list[Finding] = []
    [(ask, _judge)] = _declared_checks(CHECK_SMOKE, "stack.smoke", stack, "http://h:80", "prod-1", findings)
    assert findings == []
    assert (ask.name, ask.url, ask.expected_status, ask.contains, ask.max_latency_ms, ask.timeout, ask.retries,
            ask.interval) == ("flaky", "http://h:80/flaky", 200, "ok", 900, 2.5, 4, 0.5)
    [result] = poll([ask], lambda url, timeout: Answer(200, "all ok", 12))
    assert result.describe() == "flaky http://h:80/flaky: 200 after 1 attempt(s)"


# -- mooring check: probes out of the controller's reach -----------------------------------------

def test_a_smoke_probe_on_a_loopback_port_names_its_port_key(world):
    stack = declared_stack(world, smoke=[{"name": "prom", "path": "/-/ready", "port": 9090}])
    assert (stack.smoke[0].service, stack.smoke[0].host_ip) == (None, "127.0.0.1")
    fetch = Recorder(HEALTHY)
    [smoke] = smoke_findings(http_checks(stack, fetch, "http://h:80", "prod-1"))
    assert (smoke.outcome, smoke.path, smoke.resource, smoke.message, smoke.fix) == (
        Outcome.FAILED, "stack.smoke.0.port", "http:prom",
        "probe prom: port 9090 is published on 127.0.0.1 only: the controller cannot reach it", UNREACHABLE_FIX)
    assert not any(":9090" in url for url, _ in fetch.asked)  # never asked


def test_the_probes_after_one_out_of_reach_are_still_asked(world):
    stack = declared_stack(world, smoke=[{"name": "prom", "path": "/-/ready", "service": "prometheus"},
                                         {"name": "version", "path": "/api/v1/version"}])
    fetch = Recorder(HEALTHY)
    found = smoke_findings(http_checks(stack, fetch, "http://h:80", "prod-1"))
    assert [(f.path, f.outcome) for f in found] == [("stack.smoke.0.service", Outcome.FAILED),
                                                    ("stack.smoke.1", Outcome.PASSED)]
    assert ("http://h:80/api/v1/version", 5.0) in fetch.asked


def test_a_port_published_on_the_ipv6_loopback_is_out_of_the_controllers_reach():
    probe = Probe("metrics", "/-/ready", 9090, None, 200, 5.0, 1, 2.0, None, None, "::1")
    assert unreachable(probe, "controller") == "port 9090 is published on ::1 only: the controller cannot reach it"
    assert unreachable(probe, "host") == ""
    assert unreachable(Probe("m", "/m", 9090, None, 200, 5.0, 1, 2.0, None, None, "10.0.0.5"), "controller") == ""


# -- mooring check: the http.metrics finding -----------------------------------------------------

NO_RATE_FIX = "serve /internal/metrics as JSON with httpErrorRate (seed 000)"


def test_a_non_numeric_error_rate_is_a_warning_that_quotes_it():
    finding = metrics_finding('{"httpErrorRate": "high"}', "http://h:80/internal/metrics", "prod-1")
    assert (finding.check, finding.outcome, finding.subject, finding.host, finding.path, finding.resource,
            finding.kind) == (CHECK_METRICS, Outcome.WARNING, "prod-1", "prod-1", "", "http:/internal/metrics",
                              Kind.PROBE)
    assert finding.message == ("GET http://h:80/internal/metrics: no numeric httpErrorRate in the answer "
                               "(TypeError: httpErrorRate is 'high'); body '{\"httpErrorRate\": \"high\"}'")
    assert finding.fix == NO_RATE_FIX


def test_metrics_without_an_error_rate_tell_what_to_serve():
    finding = metrics_finding('{"httpRequestsTotal": 5}', "http://h:80/internal/metrics", "prod-1")
    assert (finding.outcome, finding.subject, finding.host, finding.path, finding.resource, finding.fix) == (
        Outcome.WARNING, "prod-1", "prod-1", "", "http:/internal/metrics", NO_RATE_FIX)
    assert finding.message == ("GET http://h:80/internal/metrics: no numeric httpErrorRate in the answer "
                               "(KeyError: 'httpErrorRate'); body '{\"httpRequestsTotal\": 5}'")
    assert str(finding) == (
        "[warning] prod-1: http.metrics: http:/internal/metrics: GET http://h:80/internal/metrics: no numeric "
        "httpErrorRate in the answer (KeyError: 'httpErrorRate'); body '{\"httpRequestsTotal\": 5}' "
        f"(fix: {NO_RATE_FIX})")


@pytest.mark.parametrize(("rate", "outcome", "limit"), [(0.07, Outcome.WARNING, "0.05"), (0.2, Outcome.FAILED, "0.1")])
def test_a_high_error_rate_says_where_to_look_and_when_to_roll_back(rate: float, outcome: Outcome, limit: str):
    finding = metrics_finding(f'{{"httpErrorRate": {rate}, "httpErrorsTotal": 7, "httpRequestsTotal": 100}}', "u",
                              "prod-1")
    assert (finding.outcome, finding.message, finding.expected, finding.actual) == (
        outcome, f"httpErrorRate {rate:g} (7 errors of 100 requests) is above {limit}", "httpErrorRate <= 0.05",
        f"httpErrorRate {rate:g}")
    assert finding.fix == ("find the failing requests (status >= 500) in the API's log; above 0.10 for 3 minutes, "
                           "roll back (seed 000)")
