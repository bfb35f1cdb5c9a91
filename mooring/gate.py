"""The health gate: poll a host's declared probes over HTTP until they answer as declared.

Probes run on the controller against the host's ``http_base`` (the URL of the port the proxy
publishes). One attempt passes when it answers ``expected_status``, its body contains
``contains`` (when declared) and it answered within ``max_latency_ms`` (when declared);
``port`` asks another port of the same host instead of the ``http_base`` one.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

BODY_EXCERPT = 300


@dataclass
class ProbeResult:
    """The last answer (or error) of one probe, after its retries.

    ``error`` says why the last attempt failed: a connection error, or what the answer lacked.

    >>> ProbeResult("ready", "http://127.0.0.1:8080/ready", ok=True, attempts=2, status=200).describe()
    'ready http://127.0.0.1:8080/ready: 200 after 2 attempt(s)'
    >>> ProbeResult("ready", "http://127.0.0.1:8080/ready", ok=False, attempts=1, status=200, body="starting",
    ...             error="body does not contain 'ok'").describe()
    "ready http://127.0.0.1:8080/ready: FAILED after 1 attempt(s): body does not contain 'ok'; body 'starting'"
    """

    name: str
    url: str
    ok: bool
    attempts: int
    status: int | None = None
    body: str = ""
    error: str = ""
    elapsed_ms: int = 0

    def describe(self) -> str:
        """One line for people: the status on success, else what was wrong with the last attempt."""
        if self.ok:
            return f"{self.name} {self.url}: {self.status} after {self.attempts} attempt(s)"
        if self.status is None:
            got = self.error
        else:
            got = f"{self.error or f'status {self.status}'}; body {self.body!r}"
        return f"{self.name} {self.url}: FAILED after {self.attempts} attempt(s): {got}"

    def to_dict(self) -> dict[str, Any]:
        """The result as plain data (release records, ``--json``)."""
        return asdict(self)


def answer_problem(status: int, text: str, elapsed_ms: int, expected_status: int = 200, contains: str | None = None,
                   max_latency_ms: int | None = None) -> str:
    """Why one HTTP answer does not pass a probe; "" when it passes.

    + status, text, elapsed_ms: the answer's status code, body and how long it took
    + expected_status: the status it must have
    + contains: text the body must contain (None: any body)
    + max_latency_ms: the slowest acceptable answer, in milliseconds (None: no limit)

    >>> answer_problem(200, '{"status": "ready"}', 12, contains="ready", max_latency_ms=500)
    ''
    >>> answer_problem(503, "", 12)
    'status 503, expected 200'
    >>> answer_problem(200, "starting", 12, contains="ready")
    "body does not contain 'ready'"
    >>> answer_problem(200, "ready", 1500, max_latency_ms=1000)
    'answered in 1500 ms, over max_latency_ms 1000'
    """
    if status != expected_status:
        return f"status {status}, expected {expected_status}"
    if contains is not None and contains not in text:
        return f"body does not contain {contains!r}"
    if max_latency_ms is not None and elapsed_ms > max_latency_ms:
        return f"answered in {elapsed_ms} ms, over max_latency_ms {max_latency_ms}"
    return ""


def probe(name: str, url: str, expected_status: int = 200, timeout: float = 5.0, retries: int = 30,
          interval: float = 1.0, contains: str | None = None, max_latency_ms: int | None = None) -> ProbeResult:
    """GET ``url`` until an answer passes (see :func:`answer_problem`) or ``retries`` run out.

    + name: the probe's declared name (for messages)
    + url: the full URL to GET (redirects are not followed)
    + expected_status, contains, max_latency_ms: what a passing answer looks like
    + timeout: seconds one attempt may take; retries: attempts at most; interval: seconds between them

    Nothing listens on port 9 of 127.0.0.1 here, so this probe fails after its one attempt:

    >>> result = probe("ready", "http://127.0.0.1:9/api/v1/health/ready", retries=1)
    >>> result.ok, result.attempts, result.status, result.error.startswith("ConnectError")
    (False, 1, None, True)
    """
    result = ProbeResult(name, url, ok=False, attempts=0)
    with httpx.Client(timeout=timeout, follow_redirects=False) as client:
        for attempt in range(1, max(retries, 1) + 1):
            result.attempts = attempt
            started = time.monotonic()
            try:
                response = client.get(url)
                result.elapsed_ms = int((time.monotonic() - started) * 1000)
                result.status, result.body = response.status_code, response.text[:BODY_EXCERPT]
                result.error = answer_problem(response.status_code, response.text, result.elapsed_ms, expected_status,
                                              contains, max_latency_ms)
                if not result.error:
                    result.ok = True
                    return result
            except httpx.HTTPError as exc:
                result.status, result.body, result.error = None, "", f"{type(exc).__name__}: {exc}"
            if attempt < retries:
                time.sleep(interval)
    return result


def probe_url(http_base: str, path: str, port: int | None = None) -> str:
    """The URL of ``path`` on the host of ``http_base``; ``port`` replaces the base's port.

    >>> probe_url("http://10.0.0.5:8080/", "/api/v1/version")
    'http://10.0.0.5:8080/api/v1/version'
    >>> probe_url("http://10.0.0.5:8080", "/metrics", port=9090)
    'http://10.0.0.5:9090/metrics'
    >>> probe_url("http://[::1]", "/ready", port=8000)
    'http://[::1]:8000/ready'
    """
    base = http_base.rstrip("/")
    if port is None:
        return base + path
    parts = urlsplit(base)
    host = parts.hostname or ""
    host = f"[{host}]" if ":" in host else host
    return urlunsplit((parts.scheme, f"{host}:{port}", parts.path, "", "")) + path


def run_gate(http_base: str, probes: list[dict[str, Any]]) -> list[ProbeResult]:
    """Run every probe of one host, in order (plan format from deploy/stack.py).

    Each probe is a dict with ``name`` and ``path``, and optionally ``expected_status`` (200),
    ``timeout`` (5), ``retries`` (30), ``interval`` (1), ``contains``, ``max_latency_ms`` and
    ``port`` (None: the port of ``http_base``).

    >>> run_gate("http://127.0.0.1:9", [])
    []
    """
    return [run_probe(http_base, p) for p in probes]


def run_probe(http_base: str, spec: dict[str, Any]) -> ProbeResult:
    """Run one probe dict of the plan against the host of ``http_base``."""
    return probe(spec["name"], probe_url(http_base, spec["path"], spec.get("port")), spec.get("expected_status", 200),
                 spec.get("timeout", 5.0), spec.get("retries", 30), spec.get("interval", 1.0), spec.get("contains"),
                 spec.get("max_latency_ms"))
