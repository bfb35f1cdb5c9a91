"""HTTP layer of the example API: routes as small functions, served by ``ThreadingHTTPServer``.

:class:`Api` maps a :class:`Request` to a :class:`Response` without sockets (easy to test);
:class:`Handler` adapts it to ``http.server``. Every JSON answer uses the envelope
``{"success": true, "data": ...}`` or ``{"success": false, "error": {"code", "message"}}``.
"""

from __future__ import annotations

import json
import logging
import os
import platform
import re
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable
from urllib.parse import parse_qs, urlsplit

from app import backends, users
from app.access import Address, client_address
from app.config import Settings, redact_url
from app.metrics import Metrics

log = logging.getLogger("api")

MAX_BODY = 1 << 20
HIDDEN_HEADERS = frozenset({"authorization", "cookie", "proxy-authorization", "x-api-key"})


@dataclass
class Request:
    """One parsed HTTP request."""

    method: str
    path: str
    query: dict[str, list[str]] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    client: Address | None = None

    def header(self, name: str) -> str | None:
        """One header, looked up without regard to case."""
        wanted = name.lower()
        return next((value for key, value in self.headers.items() if key.lower() == wanted), None)

    def json(self) -> Any:
        """The body as JSON (``ValueError`` when it is not)."""
        return json.loads(self.body or b"null")


@dataclass
class Response:
    """One HTTP answer; ``body`` is JSON-encoded unless it is already text."""

    status: int
    body: Any
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)

    def payload(self) -> bytes:
        """The encoded body."""
        if isinstance(self.body, str):
            return self.body.encode()
        return json.dumps(self.body, separators=(",", ":")).encode()


def ok(data: Any, status: int = 200, **headers: str) -> Response:
    """A success envelope."""
    return Response(status, {"success": True, "data": data}, headers=dict(headers))


def fail(status: int, code: str, message: str, details: Any = None, **headers: str) -> Response:
    """An error envelope."""
    error: dict[str, Any] = {"code": code, "message": message}
    if details is not None:
        error["details"] = details
    return Response(status, {"success": False, "error": error}, headers=dict(headers))


RouteFunc = Callable[["Api", Request], Response]
ROUTES: list[tuple[re.Pattern[str], dict[str, RouteFunc]]] = []


def route(pattern: str, *methods: str) -> Callable[[RouteFunc], RouteFunc]:
    """Register a handler for ``pattern`` (a full-match regex) and ``methods``."""
    def register(func: RouteFunc) -> RouteFunc:
        compiled = re.compile(pattern)
        for existing, table in ROUTES:
            if existing.pattern == pattern:
                break
        else:
            table = {}
            ROUTES.append((compiled, table))
        for method in methods:
            if method in table:
                raise ValueError(f"duplicate route {method} {pattern}")
            table[method] = func
        return func
    return register


class Api:
    """The application: settings, counters and the Redis client shared by all requests."""

    def __init__(self, settings: Settings, cache: Any = None, metrics: Metrics | None = None) -> None:
        self.settings = settings
        self.metrics = metrics or Metrics()
        self.cache = cache if cache is not None else backends.redis_client(settings)
        self.started = time.time()

    def handle(self, request: Request) -> Response:
        """Answer one request; unexpected failures become a 500 envelope without details."""
        try:
            response = self.preflight(request) or self.dispatch(request)
        except Exception:
            log.exception("unhandled error on %s %s", request.method, request.path)
            response = fail(500, "INTERNAL_ERROR", "internal error")
        response.headers.update(self.settings.cors.response_headers(request.header("Origin")))
        self.metrics.record(response.status)
        return response

    def preflight(self, request: Request) -> Response | None:
        """204 for a CORS preflight (``OPTIONS`` with ``Access-Control-Request-Method``)."""
        if request.method != "OPTIONS" or not request.header("Access-Control-Request-Method"):
            return None
        cors = self.settings.cors
        headers = cors.preflight_headers(request.header("Origin"), request.header("Access-Control-Request-Headers"))
        return Response(204, "", "text/plain", headers)

    def dispatch(self, request: Request) -> Response:
        """Gate the internal endpoints, then find the route."""
        gated = self.gate(request)
        if gated is not None:
            return gated
        for pattern, table in ROUTES:
            match = pattern.fullmatch(request.path)
            if match is None:
                continue
            handler = table.get(request.method) or table.get("*")
            if handler is None:
                return fail(405, "METHOD_NOT_ALLOWED", f"{request.method} is not allowed on {request.path}",
                            Allow=", ".join(sorted(table)))
            return handler(self, request, **match.groupdict())
        return not_found(request)

    def gate(self, request: Request) -> Response | None:
        """404 for a disabled dev/ops family, 403 for a client outside its whitelist."""
        for prefix, gate in (("/internal/dev/", self.settings.dev), ("/internal/ops/", self.settings.ops)):
            if request.path.startswith(prefix):
                decision = gate.decide(request.client)
                if decision == 404:
                    return not_found(request)
                if decision == 403:
                    return fail(403, "FORBIDDEN", f"client {request.client} may not use the {gate.name} endpoints")
        return None


def not_found(request: Request) -> Response:
    """The answer for unknown (or disabled) routes."""
    return fail(404, "NOT_FOUND", f"no route for {request.method} {request.path}")


@route(r"/api/v1/health/live", "GET")
def live(api: Api, request: Request) -> Response:
    """The process answers."""
    return ok({"status": "live"})


@route(r"/api/v1/health/ready", "GET")
def ready(api: Api, request: Request) -> Response:
    """Postgres (migrated) and Redis both answer; 503 names what failed."""
    settings = api.settings
    if settings.broken:
        return fail(503, "NOT_READY", "broken build: readiness is forced to fail (BROKEN=1 or APP_VERSION)",
                    {"broken": True})
    problems = {"db": backends.db_problem(settings), "redis": backends.redis_problem(settings, api.cache)}
    checks = {name: problem or "ok" for name, problem in problems.items()}
    failed = [f"{name}: {problem}" for name, problem in problems.items() if problem]
    if failed:
        log.warning("not ready: %s", "; ".join(failed))
        return fail(503, "NOT_READY", "not ready: " + "; ".join(failed), {"checks": checks})
    return ok({"status": "ready", "checks": checks})


@route(r"/api/v1/version", "GET")
def version(api: Api, request: Request) -> Response:
    """The baked-in ``APP_VERSION``."""
    return ok({"version": api.settings.version})


@route(r"/metrics", "GET")
def prometheus(api: Api, request: Request) -> Response:
    """Counters in Prometheus text format."""
    return Response(200, api.metrics.prometheus(api.settings.version), "text/plain; version=0.0.4; charset=utf-8")


@route(r"/internal/metrics", "GET")
def internal_metrics(api: Api, request: Request) -> Response:
    """Counters as plain JSON (no envelope), for scripts and rollback decisions."""
    return Response(200, api.metrics.snapshot())


@route(r"/auth/me", "*")
def auth_me_removed(api: Api, request: Request) -> Response:
    """A removed route that tells callers where to go."""
    return fail(410, "ROUTE_REMOVED", "use /users/me")


@route(r"/internal/dev/echo", "GET", "POST")
def dev_echo(api: Api, request: Request) -> Response:
    """The request as the API saw it (credentials headers left out)."""
    headers = {k: v for k, v in request.headers.items() if k.lower() not in HIDDEN_HEADERS}
    return ok({"method": request.method, "path": request.path, "query": request.query, "headers": headers,
               "client": str(request.client), "bodyBytes": len(request.body)})


@route(r"/internal/ops/info", "GET")
def ops_info(api: Api, request: Request) -> Response:
    """Runtime facts for operators; URLs are shown with their passwords masked."""
    settings = api.settings
    return ok({
        "version": settings.version, "broken": settings.broken, "pid": os.getpid(),
        "python": platform.python_version(), "uptimeSeconds": round(time.time() - api.started, 3),
        "database": redact_url(settings.database_url), "redis": redact_url(settings.redis_url),
        "devEndpoints": settings.dev.enabled, "opsEndpoints": settings.ops.enabled,
    })


@route(r"/api/v1/users", "GET")
def list_users(api: Api, request: Request) -> Response:
    """Users, newest first; X-Cache says whether Redis answered."""
    try:
        found, cache_state = users.listing(api.settings, api.cache)
    except Exception as exc:
        return db_unavailable(api, exc)
    return ok(found, **{"X-Cache": cache_state})


@route(r"/api/v1/users", "POST")
def create_user(api: Api, request: Request) -> Response:
    """Create a user from ``{"email", "name"}``."""
    try:
        user = users.create(api.settings, api.cache, request.json())
    except ValueError as exc:
        if isinstance(exc, users.Conflict):
            return fail(409, "CONFLICT", str(exc))
        return fail(400, "VALIDATION_ERROR", str(exc) if isinstance(exc, users.Invalid) else "body is not JSON")
    except Exception as exc:
        return db_unavailable(api, exc)
    return ok(user, 201)


@route(r"/api/v1/users/(?P<user_id>[0-9]{1,18})", "GET")
def get_user(api: Api, request: Request, user_id: str) -> Response:
    """One user by id."""
    try:
        user = users.get(api.settings, int(user_id))
    except Exception as exc:
        return db_unavailable(api, exc)
    if user is None:
        return fail(404, "USER_NOT_FOUND", f"no user with id {user_id}")
    return ok(user)


def db_unavailable(api: Api, exc: Exception) -> Response:
    """503 for a database failure; the reason goes to the log, not to the client."""
    log.error("database unavailable: %s", backends.describe(exc, api.settings.secrets()))
    return fail(503, "DB_UNAVAILABLE", "the database is unavailable")


class Handler(BaseHTTPRequestHandler):
    """Adapts ``http.server`` to :class:`Api`; one access-log line per request."""

    protocol_version = "HTTP/1.1"
    server_version = "mooring-api"
    sys_version = ""
    timeout = 30
    server: "Server"

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        self.respond("GET")

    def do_HEAD(self) -> None:  # noqa: N802
        self.respond("GET", head=True)

    def do_POST(self) -> None:  # noqa: N802
        self.respond("POST")

    def do_PUT(self) -> None:  # noqa: N802
        self.respond("PUT")

    def do_PATCH(self) -> None:  # noqa: N802
        self.respond("PATCH")

    def do_DELETE(self) -> None:  # noqa: N802
        self.respond("DELETE")

    def do_OPTIONS(self) -> None:  # noqa: N802
        self.respond("OPTIONS")

    def respond(self, method: str, head: bool = False) -> None:
        """Parse, answer, write, log."""
        began = time.monotonic()
        request, early = self.parse(method)
        if early is not None:
            self.server.api.metrics.record(early.status)
        response = early or self.server.api.handle(request)
        payload = response.payload()
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        if response.status != 204:
            self.send_header("Content-Length", str(len(payload)))
        self.send_header("Cache-Control", "no-store")
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.end_headers()
        if not head:
            self.wfile.write(payload)
        log.info("%s %s %s %d %.1fms", request.client, method, request.path, response.status,
                 (time.monotonic() - began) * 1000)

    def parse(self, method: str) -> tuple[Request, Response | None]:
        """The request, or an early answer when its body is unacceptable."""
        url = urlsplit(self.path)
        headers = {name: value for name, value in self.headers.items()}
        client = client_address(self.client_address[0], self.headers.get("X-Forwarded-For"),
                                self.server.api.settings.trusted_proxies)
        request = Request(method, url.path or "/", parse_qs(url.query), headers, b"", client)
        length = self.headers.get("Content-Length", "0")
        if not length.isdigit():
            self.close_connection = True
            return request, fail(400, "BAD_REQUEST", "Content-Length must be a number")
        if int(length) > MAX_BODY:
            self.close_connection = True
            return request, fail(413, "PAYLOAD_TOO_LARGE", f"bodies are limited to {MAX_BODY} bytes")
        request.body = self.rfile.read(int(length)) if int(length) else b""
        return request, None

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """Silenced: :meth:`respond` writes the access log."""

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (http.server's signature)
        """Route http.server's own messages (bad requests, timeouts) to the logger."""
        log.warning("%s %s", self.address_string(), format % args)


class Server(ThreadingHTTPServer):
    """A threading HTTP server that carries the :class:`Api`."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], api: Api) -> None:
        self.api = api
        super().__init__(address, Handler)
