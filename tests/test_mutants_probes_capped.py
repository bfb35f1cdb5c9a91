"""How the controller reads a probe's body (checks/probes.py, ``controller_fetch`` and its capped
read): the answer's declared charset is honoured, bytes that do not decode (a body that is not
UTF-8, or a UTF-8 body cut at MAX_BODY inside a character) become replacement characters instead
of crashing the check, a body that stops right at MAX_BODY is not waited for, the probe's timeout
holds at its very instant, and a body still trickling past it fails with a message that says so.
Host-free but real: a real HTTP server on 127.0.0.1 (port 0) in a thread. Written for the mutation
run (docs/mutation.md)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from mooring.checks import probes
from mooring.checks.probes import MAX_BODY, Answer, ProbeResult, controller_fetch
from tests.local_http import Handler, serving

#: What a probe says of a body still arriving when its timeout is over.
TOO_SLOW = "ReadTimeout: the body was not complete within the probe's timeout"
#: A body bigger than one network read of httpx (64 KiB): it arrives in several chunks.
BIG = b"b" * (200 * 1024)


class _Api(Handler):
    """Routes: /latin1 a Latin-1 body that says so, /undeclared the same bytes with no charset,
    /cut-in-e a UTF-8 body whose MAX_BODY-th byte is the first of an 'é', /stops-at-cap MAX_BODY
    bytes of a longer body then silence, /drip one byte every 0.05 s, /big 200 KiB at once."""

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        if self.path == "/latin1":
            self.typed(b"caf\xe9 ready", "text/plain; charset=iso-8859-1")
        elif self.path == "/undeclared":
            self.typed(b"caf\xe9 ready", "text/plain")
        elif self.path == "/cut-in-e":
            self.typed(b"x" * (MAX_BODY - 1) + "été".encode(), "text/plain; charset=utf-8")
        elif self.path == "/stops-at-cap":
            self.partial(b"s" * MAX_BODY, MAX_BODY + 100, hold=1.5)
        elif self.path == "/drip":
            self.drip(40, every=0.05)
        else:
            self.reply(200, BIG)

    def typed(self, body: bytes, content_type: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def partial(self, sent: bytes, declared: int, hold: float) -> None:
        """Declare ``declared`` bytes, send ``sent``, then say nothing for ``hold`` seconds."""
        self.send_response(200)
        self.send_header("Content-Length", str(declared))
        self.end_headers()
        try:
            self.wfile.write(sent)
            self.wfile.flush()
        except OSError:
            return
        time.sleep(hold)

    def drip(self, count: int, every: float) -> None:
        """``count`` bytes, one every ``every`` seconds (each read of the client waits far less than
        the probe's timeout: only the probe's own deadline can stop it)."""
        self.send_response(200)
        self.send_header("Content-Length", str(count))
        self.end_headers()
        try:
            for _ in range(count):
                self.wfile.write(b"d")
                self.wfile.flush()
                time.sleep(every)
        except OSError:
            pass  # the probe hung up, as it should


@pytest.fixture(scope="module")
def api() -> Iterator[str]:
    """A real HTTP server on 127.0.0.1 (port 0) in a thread; its base URL."""
    with serving(_Api) as base:
        yield base


class ClockAt:
    """``time`` for probes: the first reading is ``start``, every later one is ``then``."""

    def __init__(self, start: float, then: float) -> None:
        self.readings = iter([start])
        self.then = then

    def monotonic(self) -> float:
        return next(self.readings, self.then)


def test_the_charset_an_answer_declares_is_how_its_body_is_read(api: str):
    answer = controller_fetch(f"{api}/latin1", 2.0)
    assert (answer.status, answer.text, answer.error) == (200, "café ready", "")


def test_a_body_that_is_not_utf8_is_read_with_replacement_characters(api: str):
    answer = controller_fetch(f"{api}/undeclared", 2.0)  # no charset: UTF-8, as on the host
    assert (answer.status, answer.text, answer.error) == (200, "caf\ufffd ready", "")


def test_a_utf8_body_cut_at_max_body_inside_a_character_ends_with_a_replacement_character(api: str):
    answer = controller_fetch(f"{api}/cut-in-e", 2.0)
    assert (answer.status, answer.error) == (200, "")
    assert answer.text == "x" * (MAX_BODY - 1) + "\ufffd"


def test_a_body_that_stops_right_at_max_body_is_not_waited_for(api: str):
    started = time.monotonic()
    answer = controller_fetch(f"{api}/stops-at-cap", 0.4)  # the rest would come after 1.5 s, if ever
    assert (answer.status, answer.error) == (200, "")
    assert answer.text == "s" * MAX_BODY
    assert time.monotonic() - started < 1.0


def test_a_body_still_dripping_after_the_timeout_says_so(api: str):
    answer = controller_fetch(f"{api}/drip", 0.3)
    assert (answer.status, answer.text, answer.error) == (None, "", TOO_SLOW)
    result = ProbeResult("live", f"{api}/drip", ok=False, attempts=1, error=answer.error)
    assert result.describe() == f"live {api}/drip: FAILED after 1 attempt(s): {TOO_SLOW}"


def test_a_body_complete_at_the_timeouts_very_instant_is_in_time(api: str, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(probes, "time", ClockAt(100.0, 101.0))  # every chunk read exactly at the deadline
    answer = controller_fetch(f"{api}/big", 1.0)
    assert answer == Answer(200, BIG.decode(), 1000)


def test_a_body_still_coming_a_millisecond_after_the_timeout_is_too_late(api: str, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(probes, "time", ClockAt(100.0, 101.001))
    answer = controller_fetch(f"{api}/big", 1.0)
    assert answer == Answer(None, "", 1001, TOO_SLOW)
