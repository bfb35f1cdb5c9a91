"""The health gate against a real HTTP server on 127.0.0.1 (started here, in a thread; no mocks):
expected status, ``contains``, ``max_latency_ms``, ``port`` and retries."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from mooring.gate import ProbeResult, probe, run_gate

#: path -> (status, body, delay in seconds)
ROUTES = {
    "/ready": (200, '{"status": "ready"}', 0.0),
    "/starting": (200, '{"status": "starting"}', 0.0),
    "/down": (503, "database unavailable", 0.0),
    "/slow": (200, "slow but fine", 0.4),
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
