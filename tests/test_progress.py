"""Live progress lines (mooring/output/progress.py) from pyinfra's real log lines and a real
gate: operations as they start, an image shipment with its size and speed, each gate attempt.
The terminal itself (a pseudo-terminal, quiet when piped) is tested on a box in test_operate.py."""

from __future__ import annotations

import http.server
import io
import re
import time

import pytest

from mooring.checks.probes import run_gate
from mooring.output.progress import Progress
from tests.local_http import serving

LINE = re.compile(r"^\[\s*[\d.]+s\] (?P<text>.*)$")


def lines(stream: io.StringIO) -> list[str]:
    return [LINE.match(line).group("text") for line in stream.getvalue().splitlines()]


def feed(progress: Progress, *log: str) -> None:
    for line in log:
        progress.pyinfra_line(line)


def test_an_image_shipment_shows_its_size_hosts_and_speed():
    out = io.StringIO()
    progress = Progress(out, enabled=True)
    progress.shipping({"mooring/api:1.0.0": 30_000_000})
    feed(progress, "--> Starting operation: Stack | Image mooring/api:1.0.0 (shipped)",
         "    [docker-2] \x1b[32mSuccess\x1b[0m", "    [docker-1] Success", "    [docker-3] No changes")
    time.sleep(1.0)  # long enough that the 0.1 s rounding of the time shown moves the speed by < 5 %
    feed(progress, "--> Starting operation: Stack | File /srv/mooring/solacore/compose.yml")
    shown = lines(out)
    assert shown[0] == "  Stack | Image mooring/api:1.0.0 (shipped)" and shown[-1].startswith("  Stack | File ")
    found = re.fullmatch(r"  Stack \| Image mooring/api:1\.0\.0 \(shipped\): 30\.0 MB to docker-1, docker-2 in "
                         r"(?P<s>[\d.]+) s \((?P<speed>[\d.]+) MB/s\)", shown[1])
    assert found, shown
    seconds, speed = float(found["s"]), float(found["speed"])
    assert 1.0 <= seconds < 10 and speed == pytest.approx(60 / seconds, rel=0.1)  # two hosts received 30 MB each


def test_an_image_every_host_has_says_so_and_the_last_operation_is_closed_by_the_run():
    out = io.StringIO()
    progress = Progress(out, enabled=True)
    feed(progress, "--> Starting operation: Stack | Image mooring/api:1.0.0 (shipped)", "    [docker-1] No changes",
         "    [docker-2] No changes")
    progress.operation_done()  # the run ended: no next operation closes it
    assert lines(out)[-1] == "  Stack | Image mooring/api:1.0.0 (shipped): already on docker-1, docker-2"
    progress.operation_done()
    assert len(lines(out)) == 2  # closed once


def test_other_operations_get_no_closing_line_and_a_failed_host_is_named():
    out = io.StringIO()
    progress = Progress(out, enabled=True)
    feed(progress, "--> Starting operation: Stack | Deploy lock", "    [docker-1] Success",
         "    [docker-2] Error: lock held", "--> Starting operation: Stack | File x")
    assert lines(out) == ["  Stack | Deploy lock", "  docker-2: error", "  Stack | File x"]


def test_disabled_progress_writes_nothing():
    out = io.StringIO()
    progress = Progress(out, enabled=False)
    progress.shipping({"a:1": 1})
    feed(progress, "--> Starting operation: Image a:1 (shipped)", "    [h] Success")
    progress.operation_done()
    progress.phase("health gate")
    assert out.getvalue() == ""


class _Starting(http.server.BaseHTTPRequestHandler):
    """An API that answers 503 to its first two requests, then 200 (a container still starting)."""

    answered = 0

    def do_GET(self):  # noqa: N802 (http.server's name)
        type(self).answered += 1
        status = 503 if type(self).answered <= 2 else 200
        self.send_response(status)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args):
        pass


@pytest.fixture
def starting_api():
    _Starting.answered = 0
    with serving(_Starting) as base:
        yield base


def test_each_gate_attempt_shows_as_it_ends(starting_api):
    out = io.StringIO()
    progress = Progress(out, enabled=True, secrets=["Gate7Secret"])
    results = run_gate(starting_api, [{"name": "ready", "path": "/ready", "retries": 5, "interval": 0.05}],
                       on_attempt=lambda result: progress.gate_attempt("docker-1", result))
    assert [r.ok for r in results] == [True] and results[0].attempts == 3
    assert lines(out) == ["  docker-1: ready attempt 1: status 503, expected 200",
                          "  docker-1: ready attempt 2: status 503, expected 200",
                          "  docker-1: ready passed at attempt 3"]


def test_a_gate_that_passes_at_once_adds_no_line_and_secrets_are_redacted(starting_api):
    _Starting.answered = 2  # up already
    out = io.StringIO()
    progress = Progress(out, enabled=True, secrets=["Gate7Secret"])
    run_gate(starting_api, [{"name": "ready", "path": "/ready"}], on_attempt=lambda r: progress.gate_attempt("h", r))
    assert out.getvalue() == ""
    progress.phase("  Stack | Env PASSWORD=Gate7Secret")
    assert "Gate7Secret" not in out.getvalue() and lines(out) == ["  Stack | Env PASSWORD=***"]
