"""The health gate: poll a host's declared health endpoints over HTTP until they answer."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any

import httpx

BODY_EXCERPT = 300


@dataclass
class ProbeResult:
    """The last answer (or error) of one probe, after its retries."""

    name: str
    url: str
    ok: bool
    attempts: int
    status: int | None = None
    body: str = ""
    error: str = ""
    elapsed_ms: int = 0

    def describe(self) -> str:
        if self.ok:
            return f"{self.name} {self.url}: {self.status} after {self.attempts} attempt(s)"
        got = f"status {self.status}, body {self.body!r}" if self.status is not None else self.error
        return f"{self.name} {self.url}: FAILED after {self.attempts} attempt(s): {got}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def probe(name: str, url: str, expected_status: int = 200, timeout: float = 5.0, retries: int = 30,
          interval: float = 1.0) -> ProbeResult:
    """GET ``url`` until it answers ``expected_status`` or ``retries`` run out.

    >>> probe("ready", "http://127.0.0.1:28001/api/v1/health/ready").ok  # doctest: +SKIP
    True
    """
    result = ProbeResult(name, url, ok=False, attempts=0)
    with httpx.Client(timeout=timeout, follow_redirects=False) as client:
        for attempt in range(1, max(retries, 1) + 1):
            result.attempts = attempt
            started = time.monotonic()
            try:
                response = client.get(url)
                result.status, result.body, result.error = response.status_code, response.text[:BODY_EXCERPT], ""
                result.elapsed_ms = int((time.monotonic() - started) * 1000)
                if response.status_code == expected_status:
                    result.ok = True
                    return result
            except httpx.HTTPError as exc:
                result.status, result.body, result.error = None, "", f"{type(exc).__name__}: {exc}"
            if attempt < retries:
                time.sleep(interval)
    return result


def run_gate(http_base: str, probes: list[dict[str, Any]]) -> list[ProbeResult]:
    """Probe every declared health endpoint of one host (plan format from deploy/stack.py)."""
    return [
        probe(p["name"], http_base.rstrip("/") + p["path"], p.get("expected_status", 200), p.get("timeout", 5.0),
              p.get("retries", 30), p.get("interval", 1.0))
        for p in probes
    ]
