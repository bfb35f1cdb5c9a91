"""How probes fetch (checks/probes.py): from the controller with httpx, and on the host with the
POSIX sh script of ``host_fetch_script`` (curl, else python3) whose output ``parse_host_answers``
reads. Host-free but real: a real HTTP server on 127.0.0.1 (port 0) in a thread, the host script
run by the local ``sh`` with the local curl and python3. Written for the mutation run
(docs/mutation.md)."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Iterator
from typing import Sequence

import httpx
import pytest

from mooring.checks import probes
from mooring.checks.probes import (Answer, Ask, HostFetch, answer_problem, controller_fetch, host_fetch_script,
                                   parse_host_answers, poll, probe_url)
from tests.local_http import Handler, serving

#: What the host says when it has no tool to probe with.
NO_TOOL = ("the host has no curl or python3 to run probes with: install curl there (bootstrap), or probe from the "
           "controller")
STOPPED = "the probe command on the host stopped before this request: "
SH = "/bin/sh"


# -- a real API on 127.0.0.1 ------------------------------------------------------------------------

class _Api(Handler):
    """Routes: /live 200, /moved 302 to /live, /slow 200 after 1 s, /stuck headers and 5 of 100
    bytes then silence, /latin1 200 with a body that is not UTF-8."""

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        if self.path == "/moved":
            self.send_response(302)
            self.send_header("Location", "/live")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if self.path == "/stuck":
            self.send_response(200)
            self.send_header("Content-Length", "100")
            self.end_headers()
            self.wfile.write(b"start")
            self.wfile.flush()
            time.sleep(1.5)
            return
        if self.path == "/slow":
            time.sleep(1.0)
        self.reply(200, b"caf\xe9 ready" if self.path == "/latin1" else b'{"status": "live"}')


@pytest.fixture(scope="module")
def api() -> Iterator[str]:
    """A real HTTP server on 127.0.0.1 (port 0) in a thread; its base URL."""
    with serving(_Api) as base:
        yield base


@pytest.fixture
def closed_port() -> int:
    """A port of 127.0.0.1 that nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def fresh_client(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No controller client yet: the next probe makes it (closed afterwards)."""
    monkeypatch.setattr(probes, "_CLIENT", None)
    yield
    if isinstance(probes._CLIENT, httpx.Client):
        probes._CLIENT.close()


class ScriptedClock:
    """``time`` for controller_fetch: ``monotonic`` gives the scripted instants in order."""

    def __init__(self, *instants: float) -> None:
        self.instants = list(instants)

    def monotonic(self) -> float:
        return self.instants.pop(0)


def run_here(script: str, timeout: float, path: str | None = None) -> tuple[bool, str, str]:
    """A RunCommand on this machine: the host script run by the real ``sh`` (``path``: its PATH)."""
    env = {**os.environ, "PATH": path} if path is not None else None
    done = subprocess.run([SH, "-c", script], capture_output=True, text=True, timeout=timeout, env=env)
    return done.returncode == 0, done.stdout, done.stderr


def on_host(requests: Sequence[tuple[str, float]], tool: str) -> list[Answer]:
    """The answers of the host script run for real here with ``tool``."""
    return HostFetch(run_here, (tool,)).many(list(requests))


# -- the controller's fetch (httpx) -----------------------------------------------------------------

def test_the_controller_keeps_one_client_for_every_probe(api: str, fresh_client: None):
    answer = controller_fetch(f"{api}/live", 2.0)
    assert (answer.status, answer.text) == (200, '{"status": "live"}')
    client = probes._client()
    assert isinstance(client, httpx.Client)
    assert probes._client() is client  # its connection pool is reused, not rebuilt per probe


def test_the_controller_does_not_follow_a_redirect(api: str, fresh_client: None):
    answer = controller_fetch(f"{api}/moved", 2.0)
    assert (answer.status, answer.text, answer.error) == (302, "", "")


def test_the_controller_gives_up_after_the_requests_timeout(api: str):
    answer = controller_fetch(f"{api}/slow", 0.3)
    assert answer.status is None and answer.error.startswith("ReadTimeout"), answer  # not the late 200


def test_a_refused_connection_is_an_answer_without_status_or_body(closed_port: int):
    answer = controller_fetch(f"http://127.0.0.1:{closed_port}/live", 1.0)
    assert (answer.status, answer.text, answer.unchecked) == (None, "", False)
    assert answer.error.startswith("ConnectError: ")
    assert isinstance(answer.elapsed_ms, int) and 0 <= answer.elapsed_ms < 5000


def test_the_controller_times_a_failed_request_in_milliseconds(closed_port: int, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(probes, "time", ScriptedClock(100.0, 102.5))
    answer = controller_fetch(f"http://127.0.0.1:{closed_port}/live", 1.0)
    assert (answer.status, answer.elapsed_ms) == (None, 2500)


def test_the_controller_times_an_answer_in_milliseconds(api: str, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(probes, "time", ScriptedClock(100.0, 102.5))
    answer = controller_fetch(f"{api}/live", 2.0)
    assert (answer.status, answer.elapsed_ms) == (200, 2500)


# -- the host's fetch: the sh script, run for real here --------------------------------------------

@pytest.mark.parametrize("tool", ["curl", "python3"])
def test_the_host_script_runs_clean_under_sh(api: str, tool: str):
    script = host_fetch_script([(f"{api}/live", 2.0), (f"{api}/moved", 2.0)], (tool,))
    ok, stdout, stderr = run_here(script, 20)
    assert (ok, stderr) == (True, "")  # no shell error on the way
    first, second = parse_host_answers(stdout, stderr, 2)
    assert (first.status, first.text, first.error) == (200, '{"status": "live"}', "")
    assert (second.status, second.text) == (302, "")  # not followed on the host either


@pytest.mark.parametrize("tool", ["curl", "python3"])
def test_a_body_that_is_not_utf8_is_read_with_replacement_characters(api: str, tool: str):
    [answer] = on_host([(f"{api}/latin1", 2.0)], tool)
    assert (answer.status, answer.text, answer.unchecked) == (200, "caf\ufffd ready", False)


def test_an_answer_cut_by_the_timeout_is_no_answer_even_with_its_status_line(api: str):
    [answer] = on_host([(f"{api}/stuck", 0.5)], "curl")  # curl: exit 28, http_code 200
    assert (answer.status, answer.text, answer.unchecked) == (None, "", False)
    assert answer.error.startswith("curl: (28) "), answer.error


def test_a_refused_connection_on_the_host_says_curls_error(closed_port: int):
    [answer] = on_host([(f"http://127.0.0.1:{closed_port}/live", 2.0)], "curl")
    assert (answer.status, answer.text, answer.unchecked) == (None, "", False)
    assert answer.error.startswith("curl: (7) "), answer.error
    assert isinstance(answer.elapsed_ms, int) and 0 <= answer.elapsed_ms < 5000


def test_a_host_without_curl_or_python3_leaves_every_request_unchecked(api: str):
    script = host_fetch_script([(f"{api}/live", 2.0), (f"{api}/live", 2.0)])
    ok, stdout, stderr = run_here(script, 20, path="/nonexistent")
    assert ok and stdout == "mooring-probe-no-tool curl python3\n"
    assert parse_host_answers(stdout, stderr, 2) == [Answer(None, error=NO_TOOL, unchecked=True)] * 2


def test_one_host_command_gets_the_sum_of_the_timeouts_plus_15_seconds(api: str):
    given: list[float] = []

    def run(script: str, timeout: float) -> tuple[bool, str, str]:
        given.append(timeout)
        return run_here(script, timeout)

    answers = HostFetch(run).many([(f"{api}/live", 2.0), (f"{api}/live", 3.5)])
    assert [a.status for a in answers] == [200, 200]
    assert given == [20.5]


def test_unknown_probe_tools_are_refused_by_name():
    with pytest.raises(ValueError) as info:
        HostFetch(run_here, ("curl", "wget"))
    assert str(info.value) == "unknown probe tools ['wget']: use some of curl, python3"
    with pytest.raises(ValueError) as info:
        host_fetch_script([("http://127.0.0.1:80/live", 5.0)], ())
    assert str(info.value) == "unknown probe tools []: use some of curl, python3"


# -- reading the host's output ------------------------------------------------------------------------

def test_a_host_command_that_stopped_early_says_the_last_three_lines_of_its_errors():
    stderr = "debug1: a\nssh: connect to host\n  Connection reset  \nkex_exchange_identification: closed\n"
    answers = parse_host_answers("mooring-probe 0 200 0.004 - -\n", stderr, 2)
    assert answers == [Answer(200, "", 4),
                       Answer(None, error=STOPPED + "ssh: connect to host | Connection reset | "
                                                    "kex_exchange_identification: closed", unchecked=True)]


def test_a_host_command_that_said_nothing_says_so():
    answers = HostFetch(lambda script, timeout: (False, "", "")).many([("http://127.0.0.1:80/live", 1.0)])
    assert answers == [Answer(None, error=STOPPED + "no output", unchecked=True)]


def test_seconds_are_read_as_milliseconds():
    [answer] = parse_host_answers("mooring-probe 0 200 2.000000 - -", "", 1)
    assert answer == Answer(200, "", 2000)


def test_a_failed_request_has_no_body_and_keeps_its_time():
    [answer] = parse_host_answers("mooring-probe 7 000 0.250 aWdub3JlZA== Y29ubmVjdCBmYWlsZWQ=", "", 1)
    assert answer == Answer(None, "", 250, "connect failed")


def test_status_000_is_no_answer_even_when_the_tool_exited_0():
    [answer] = parse_host_answers("mooring-probe 0 000 0.001 - -", "", 1)
    assert answer == Answer(None, "", 1, "the request failed (exit 0)")


def test_a_line_with_an_empty_field_is_unparsable_not_read_with_its_fields_moved():
    line = "mooring-probe 0  200 0.004 - -"  # RC, then an empty STATUS: nothing says 200 is the status
    [answer] = parse_host_answers(line, "", 1)
    assert answer == Answer(None, error=f"unparsable probe output: {line!r}", unchecked=True)


def test_fields_after_err_are_ignored():
    [answer] = parse_host_answers("mooring-probe 0 200 0.004 b2s= - extra", "", 1)
    assert answer == Answer(200, "ok", 4)


def test_an_unparsable_line_is_quoted_up_to_200_characters():
    line = "mooring-probe " + "x" * 300
    [answer] = parse_host_answers(line, "", 1)
    assert answer.error == f"unparsable probe output: {line[:200]!r}" and answer.unchecked


# -- what an answer means --------------------------------------------------------------------------

def test_an_answer_exactly_at_max_latency_passes():
    assert answer_problem(200, "ok", 500, max_latency_ms=500) == ""
    assert answer_problem(200, "ok", 501, max_latency_ms=500) == "answered in 501 ms, over max_latency_ms 500"


def test_no_answer_after_a_bad_one_leaves_no_stale_body():
    answers = iter([Answer(503, "starting", 2), Answer(None, error="ConnectError: refused", elapsed_ms=3)])
    [result] = poll([Ask("ready", "http://h:80/ready", retries=2, interval=0.0)], lambda url, timeout: next(answers))
    assert result.to_dict() == {"name": "ready", "url": "http://h:80/ready", "ok": False, "attempts": 2,
                                "status": None, "body": "", "error": "ConnectError: refused", "elapsed_ms": 3,
                                "unchecked": False}


# -- URLs --------------------------------------------------------------------------------------------

def test_a_base_url_is_kept_as_written_but_for_trailing_slashes():
    assert probe_url("http://EDGE-BOX//", "/live") == "http://EDGE-BOX/live"
    assert probe_url("http://edge", "/live") == "http://edge/live"  # no port invented


def test_an_address_alone_keeps_the_bases_port():
    assert probe_url("http://127.0.0.1:28001", "/live", address="10.0.0.5") == "http://10.0.0.5:28001/live"
    assert probe_url("http://edge", "/live", address="10.0.0.5") == "http://10.0.0.5:80/live"
