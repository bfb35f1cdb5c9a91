"""A probe reads at most MAX_BODY of an answer: an endpoint that streams without end (a
misrouted log tail, an event stream) must give a cut answer within the probe's time, not hold the
check or the deploy gate for ever nor fill the controller's memory. Real HTTP server on 127.0.0.1."""

from __future__ import annotations

import threading
import time

from mooring.checks.probes import MAX_BODY, Ask, controller_fetch, poll
from tests.local_http import Handler, serving


class Endless(Handler):
    """200 with a chunked body that never ends (until the client goes away)."""

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        chunk = b"y" * 8192
        try:
            while True:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        except OSError:
            pass  # the probe hung up, as it should


def in_thread(call, wait: float) -> list:
    """``[call()]``, or ``[]`` when it has not returned within ``wait`` seconds (the bug: for ever)."""
    got: list = []
    thread = threading.Thread(target=lambda: got.append(call()), daemon=True)
    thread.start()
    thread.join(wait)
    return got


def fetch_in_thread(url: str, timeout: float, wait: float) -> list:
    return in_thread(lambda: controller_fetch(url, timeout), wait)


def test_an_endless_body_is_cut_at_max_body_and_the_probe_returns():
    with serving(Endless) as base:
        started = time.monotonic()
        got = fetch_in_thread(f"{base}/stream", 2.0, wait=15)
        assert got, "controller_fetch did not return from an endless body within 15 s"
        [answer] = got
        assert (answer.status, answer.error) == (200, "")
        assert answer.text == "y" * MAX_BODY
        assert time.monotonic() - started < 15


def test_the_gate_passes_on_an_endless_200():
    with serving(Endless) as base:
        got = in_thread(lambda: poll([Ask("live", f"{base}/live", retries=1)], controller_fetch), wait=15)
        assert got, "the gate did not return from an endless 200 within 15 s"
    [[result]] = got
    assert (result.ok, result.status) == (True, 200)


class Trickle(Handler):
    """200, then one byte of body every 0.2 s, for 20 s."""

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "100")
        self.end_headers()
        try:
            for _ in range(100):
                self.wfile.write(b"z")
                self.wfile.flush()
                time.sleep(0.2)
        except OSError:
            pass


def test_a_body_still_trickling_after_the_timeout_fails_the_probe():
    with serving(Trickle) as base:
        started = time.monotonic()
        got = fetch_in_thread(f"{base}/slow", 1.0, wait=10)
        assert got, "controller_fetch did not return from a trickling body within 10 s"
        [answer] = got
    assert answer.status is None and answer.error.startswith("ReadTimeout")
    assert time.monotonic() - started < 5
