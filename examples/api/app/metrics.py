"""Request counters, shown as Prometheus text (/metrics) and as JSON (/internal/metrics).

An error is a response with status 500 or above.
"""

from __future__ import annotations

import threading
import time
from datetime import datetime, timezone


class Metrics:
    """Thread-safe request and error counters since the process started."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests = 0
        self.errors = 0
        self.started = time.time()

    def record(self, status: int) -> None:
        """Count one answered request."""
        with self._lock:
            self.requests += 1
            if status >= 500:
                self.errors += 1

    def counts(self) -> tuple[int, int]:
        """(requests, errors), read together."""
        with self._lock:
            return self.requests, self.errors

    def snapshot(self) -> dict[str, object]:
        """The JSON shape of ``/internal/metrics``.

        >>> sorted(Metrics().snapshot())
        ['httpErrorRate', 'httpErrorsTotal', 'httpRequestsTotal', 'timestamp']
        """
        requests, errors = self.counts()
        return {
            "httpRequestsTotal": requests,
            "httpErrorsTotal": errors,
            "httpErrorRate": round(errors / requests, 6) if requests else 0.0,
            "timestamp": datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        }

    def prometheus(self, version: str) -> str:
        """The Prometheus text exposition of ``/metrics``."""
        requests, errors = self.counts()
        label = version.replace("\\", "\\\\").replace('"', '\\"')
        return "".join([
            "# HELP http_requests_total HTTP requests answered since start.\n",
            "# TYPE http_requests_total counter\n",
            f"http_requests_total {requests}\n",
            "# HELP http_errors_total HTTP responses with status >= 500 since start.\n",
            "# TYPE http_errors_total counter\n",
            f"http_errors_total {errors}\n",
            "# HELP app_info Version of the running API.\n",
            "# TYPE app_info gauge\n",
            f'app_info{{version="{label}"}} 1\n',
            "# HELP process_start_time_seconds Start time of the process since the Unix epoch.\n",
            "# TYPE process_start_time_seconds gauge\n",
            f"process_start_time_seconds {self.started:.3f}\n",
        ])
