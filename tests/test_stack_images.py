"""The reference stack images and the example API, run together on this machine's engine.

One user-defined network holds Postgres, Redis, the API and nginx (containers labelled
``mooring.test=1`` plus a per-run label, all removed at the end). Only the API's and nginx's
ports are published, on 127.0.0.1 with ports the engine picks.
"""

from __future__ import annotations

import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import httpx
import pytest

from mooring.deploy import local_docker as docker
from mooring.sandbox.images import BASE_IMAGE, INPUTS_LABEL
from mooring.declare.paths import EXAMPLES
from mooring.sandbox.stack_images import SERVICE_IMAGES, api_tag, ensure_stack_images

RUN = uuid.uuid4().hex[:8]
LABELS = ["--label", "mooring.test=1", "--label", f"mooring.test.run={RUN}"]
API_VERSION = "1.0.0"
DB_NAME, DB_USER, DB_PASSWORD = "appdb", "app", f"pw-{uuid.uuid4().hex[:12]}"
REDIS_PASSWORD = f"rp-{uuid.uuid4().hex[:12]}"
NGINX_CONF = """\
upstream api_backend { server api:8000; }
server {
    listen 80;
    location / {
        proxy_pass http://api_backend;
        proxy_set_header Host $host;
        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
    }
}
"""


# --- helpers -----------------------------------------------------------------------------------

def wait_for(what: str, probe: Callable[[], Any], timeout: float = 30, interval: float = 0.2) -> Any:
    """Call ``probe`` until it returns something truthy; fail with ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = probe()
        except (httpx.HTTPError, docker.DockerError) as exc:
            last = exc
        else:
            if last:
                return last
        time.sleep(interval)
    pytest.fail(f"timed out after {timeout}s waiting for {what}; last: {last!r}")


def published(container: str, port: int) -> str:
    """``http://127.0.0.1:PORT`` for a container port published on loopback."""
    out = docker.run(["port", container, f"{port}/tcp"]).stdout.split()
    address = next(line for line in out if line.startswith("127.0.0.1:"))
    return f"http://{address}"


def exec_in(container: str, *command: str, env: dict[str, str] | None = None) -> docker.Result:
    """``docker exec`` without raising; the caller checks ``rc``."""
    flags = [item for key, value in (env or {}).items() for item in ("-e", f"{key}={value}")]
    return docker.run(["exec", *flags, container, *command], check=False, timeout=60)


@dataclass
class Stack:
    """Names of one run's containers and the URLs published on loopback."""

    network: str
    db: str
    cache: str
    api: str
    nginx: str
    conf_dir: Path
    api_url: str = ""
    nginx_url: str = ""

    def client(self, base: str | None = None) -> httpx.Client:
        """An HTTP client on loopback that ignores proxy settings."""
        return httpx.Client(base_url=base or self.api_url, timeout=10, trust_env=False)


def start(name: str, network: str, alias: str, image: str, *args: str, ports: tuple[int, ...] = ()) -> str:
    """``docker run -d`` one labelled container on ``network``; ports go to 127.0.0.1 only."""
    publish = [item for port in ports for item in ("-p", f"127.0.0.1::{port}")]
    docker.run(["run", "-d", "--name", name, "--network", network, "--network-alias", alias, *LABELS,
                *publish, *args, image], timeout=60)
    return name


def remove_run() -> None:
    """Remove every container and network of this run (and their anonymous volumes)."""
    for kind in ("container", "network"):
        listing = docker.run([kind, "ls", "-aq" if kind == "container" else "-q",
                              "--filter", f"label=mooring.test.run={RUN}"], check=False).stdout.split()
        if listing:
            docker.run([kind, "rm", *(["-f", "-v"] if kind == "container" else []), *listing], check=False)


# --- fixtures ----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def images() -> dict[str, str]:
    """Every stack image, built only when its inputs changed."""
    if not docker.engine_running():
        pytest.fail("the Docker engine is not running: run `bin/prepare-host`")
    return ensure_stack_images((API_VERSION,))


@pytest.fixture(scope="module")
def stack(images: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """Postgres, Redis, the API (not yet migrated) and nginx on one network."""
    prefix = f"mt-{RUN}"
    conf_dir = tmp_path_factory.mktemp("nginx-conf")
    (conf_dir / "api.conf").write_text(NGINX_CONF)
    (conf_dir / "api.conf").chmod(0o644)
    conf_dir.chmod(0o755)
    s = Stack(f"{prefix}-net", f"{prefix}-db", f"{prefix}-cache", f"{prefix}-api", f"{prefix}-nginx", conf_dir)
    try:
        docker.run(["network", "create", *LABELS, s.network])
        start(s.db, s.network, "db", "mooring/postgres:15", "-e", f"POSTGRES_DB={DB_NAME}",
              "-e", f"POSTGRES_USER={DB_USER}", "-e", f"POSTGRES_PASSWORD={DB_PASSWORD}")
        start(s.cache, s.network, "cache", "mooring/redis:7", "-e", f"REDIS_PASSWORD={REDIS_PASSWORD}")
        start(s.api, s.network, "api", api_tag(API_VERSION), *api_env(), "-e", "OPS_ENDPOINTS_ENABLED=true",
              "-e", "OPS_ENDPOINTS_WHITELIST=127.0.0.1/32", ports=(8000,))
        s.api_url = published(s.api, 8000)
        wait_for("postgres to accept connections",
                 lambda: exec_in(s.db, "pg_isready", "-U", DB_USER, "-d", DB_NAME).rc == 0)
        with s.client() as http:
            wait_for("the API to answer /health/live", lambda: http.get("/api/v1/health/live").status_code == 200)
        start(s.nginx, s.network, "nginx", "mooring/nginx:1", "-v", f"{conf_dir}:/etc/nginx/conf.d:ro", ports=(80,))
        s.nginx_url = published(s.nginx, 80)
        yield s
    finally:
        remove_run()


def api_env(**extra: str) -> list[str]:
    """``-e`` flags for the API: the two required URLs plus ``extra``."""
    env = {"DATABASE_URL": f"postgresql://{DB_USER}:{DB_PASSWORD}@db:5432/{DB_NAME}",
           "REDIS_URL": f"redis://:{REDIS_PASSWORD}@cache:6379/0", **extra}
    return [item for key, value in env.items() for item in ("-e", f"{key}={value}")]


@dataclass
class Migrated:
    """What readiness said before migrating, and both migrate runs."""

    ready_before: httpx.Response
    first: docker.Result
    second: docker.Result


@pytest.fixture(scope="module")
def migrated(stack: Stack) -> Migrated:
    """Readiness before migrating, then ``/app/bin/migrate`` twice inside the API container."""
    with stack.client() as http:
        before = http.get("/api/v1/health/ready")
    return Migrated(before, exec_in(stack.api, "/app/bin/migrate"), exec_in(stack.api, "/app/bin/migrate"))


@pytest.fixture()
def http(stack: Stack, migrated: Migrated) -> Iterator[httpx.Client]:
    """A client of the migrated API."""
    with stack.client() as client:
        yield client


# --- images ------------------------------------------------------------------------------------

@pytest.mark.boxes
def test_images_share_the_base_layer_and_rebuild_only_on_change(images: dict[str, str]) -> None:
    assert set(images) == {*SERVICE_IMAGES, api_tag(API_VERSION)}
    base_layer = docker.run(["image", "inspect", "--format", "{{index .RootFS.Layers 0}}", BASE_IMAGE]).stdout
    for tag, image_id in images.items():
        assert docker.image_id(tag) == image_id
        assert docker.image_label(tag, INPUTS_LABEL), tag
        assert docker.run(["image", "inspect", "--format", "{{index .RootFS.Layers 0}}", tag]).stdout == base_layer
    began = time.monotonic()
    assert ensure_stack_images((API_VERSION,)) == images
    assert time.monotonic() - began < 10, "a no-op ensure_stack_images should only inspect images"


@pytest.mark.boxes
def test_service_images_carry_their_tools(images: dict[str, str]) -> None:
    tools = {"mooring/postgres:15": "pg_isready psql pg_dump pg_restore", "mooring/redis:7": "redis-cli"}
    for tag, names in tools.items():
        result = docker.run(["run", "--rm", *LABELS, "--entrypoint", "sh", tag, "-c", f"for n in {names}; do command -v $n; done"])
        assert len(result.stdout.split()) == len(names.split()), (tag, result.stdout)


# --- postgres and redis ------------------------------------------------------------------------

@pytest.mark.boxes
def test_postgres_honours_postgres_db_and_user(stack: Stack) -> None:
    result = exec_in(stack.db, "psql", "-U", DB_USER, "-d", DB_NAME, "-tAc",
                     "SELECT current_database(), current_user, (SELECT rolsuper FROM pg_roles WHERE rolname = current_user)")
    assert result.rc == 0, result.stderr
    assert result.stdout.strip() == f"{DB_NAME}|{DB_USER}|t"


@pytest.mark.boxes
def test_postgres_requires_the_password_over_the_network(stack: Stack) -> None:
    command = ("psql", "-h", "127.0.0.1", "-U", DB_USER, "-d", DB_NAME, "-tAc", "SELECT 1")
    good = exec_in(stack.db, *command, env={"PGPASSWORD": DB_PASSWORD})
    bad = exec_in(stack.db, *command, env={"PGPASSWORD": "wrong"})
    assert (good.rc, good.stdout.strip()) == (0, "1"), good.stderr
    assert bad.rc != 0 and "password authentication failed" in bad.stderr


@pytest.mark.boxes
def test_redis_requires_its_password(stack: Stack) -> None:
    unauthed = exec_in(stack.cache, "env", "-u", "REDIS_PASSWORD", "redis-cli", "ping")
    assert "NOAUTH" in unauthed.stdout + unauthed.stderr
    wrong = exec_in(stack.cache, "redis-cli", "ping", env={"REDISCLI_AUTH": "wrong"})
    assert "WRONGPASS" in wrong.stdout + wrong.stderr
    # The image's redis-cli takes REDIS_PASSWORD by itself: a plain `redis-cli ping` healthcheck works.
    assert exec_in(stack.cache, "redis-cli", "ping").stdout.strip() == "PONG"


# --- the API -----------------------------------------------------------------------------------

@pytest.mark.boxes
def test_ready_is_503_until_migrated(migrated: Migrated) -> None:
    body = migrated.ready_before.json()
    assert migrated.ready_before.status_code == 503
    assert body["success"] is False and body["error"]["code"] == "NOT_READY"
    assert "schema_migrations" in body["error"]["message"]
    assert body["error"]["details"]["checks"]["redis"] == "ok"


@pytest.mark.boxes
def test_migrate_twice_applies_once(migrated: Migrated) -> None:
    assert migrated.first.rc == 0, migrated.first.stderr
    assert "applied 0001_create_users" in migrated.first.stdout
    assert migrated.second.rc == 0, migrated.second.stderr
    assert "nothing to apply" in migrated.second.stdout and "applied 0" not in migrated.second.stdout


@pytest.mark.boxes
def test_migrate_status_and_json(stack: Stack, migrated: Migrated) -> None:
    status = exec_in(stack.api, "python3", "-m", "app", "migrate", "--status")
    as_json = exec_in(stack.api, "python3", "-m", "app", "migrate", "--json")
    assert status.rc == 0 and "0 pending" in status.stdout
    assert '"changed": false' in as_json.stdout and '"pending": []' in as_json.stdout


@pytest.mark.boxes
@pytest.mark.parametrize("missing", ["DATABASE_URL", "REDIS_URL"])
def test_migrate_names_a_missing_variable(stack: Stack, missing: str) -> None:
    result = exec_in(stack.api, "env", "-u", missing, "/app/bin/migrate")
    assert result.rc == 2
    assert f"missing required environment variable {missing}" in result.stderr


@pytest.mark.boxes
def test_ready_with_db_and_redis(http: httpx.Client) -> None:
    response = http.get("/api/v1/health/ready")
    assert response.status_code == 200, response.text
    assert response.json() == {"success": True, "data": {"status": "ready", "checks": {"db": "ok", "redis": "ok"}}}


@pytest.mark.boxes
def test_live_version_and_removed_route(http: httpx.Client) -> None:
    assert http.get("/api/v1/health/live").json() == {"success": True, "data": {"status": "live"}}
    assert http.get("/api/v1/version").json() == {"success": True, "data": {"version": API_VERSION}}
    removed = http.get("/auth/me")
    assert removed.status_code == 410
    assert removed.json() == {"success": False, "error": {"code": "ROUTE_REMOVED", "message": "use /users/me"}}
    unknown = http.get("/nope")
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "NOT_FOUND"


@pytest.mark.boxes
def test_metrics_json_and_prometheus(http: httpx.Client) -> None:
    http.get("/api/v1/health/live")
    first = http.get("/internal/metrics").json()
    assert set(first) == {"httpRequestsTotal", "httpErrorsTotal", "httpErrorRate", "timestamp"}
    assert first["httpRequestsTotal"] >= 1 and first["httpErrorsTotal"] >= 1  # the 503 before migrating
    assert 0 < first["httpErrorRate"] <= 1 and first["timestamp"].endswith("Z")
    assert http.get("/internal/metrics").json()["httpRequestsTotal"] > first["httpRequestsTotal"]
    text = http.get("/metrics")
    assert text.headers["content-type"].startswith("text/plain")
    lines = dict(line.rsplit(" ", 1) for line in text.text.splitlines() if line and not line.startswith("#"))
    assert int(lines["http_requests_total"]) > first["httpRequestsTotal"]
    assert int(lines["http_errors_total"]) >= first["httpErrorsTotal"]


@pytest.mark.boxes
def test_dev_and_ops_endpoints_are_gated(stack: Stack, http: httpx.Client) -> None:
    assert http.get("/internal/dev/echo").status_code == 404  # disabled by default
    assert http.get("/internal/ops/info").status_code == 403  # enabled, but the host is not 127.0.0.1 inside
    probe = ("import json, urllib.request; print(urllib.request.urlopen("
             "'http://127.0.0.1:8000/internal/ops/info', timeout=5).read().decode())")
    inside = exec_in(stack.api, "python3", "-c", probe)
    assert inside.rc == 0, inside.stderr
    assert f'"version":"{API_VERSION}"' in inside.stdout
    assert DB_PASSWORD not in inside.stdout and ":***@db" in inside.stdout


@pytest.mark.boxes
def test_users_live_in_postgres_and_the_list_is_cached_in_redis(stack: Stack, http: httpx.Client) -> None:
    email = f"{RUN}@example.com"
    created = http.post("/api/v1/users", json={"email": email, "name": "Ada"})
    assert created.status_code == 201, created.text
    assert http.post("/api/v1/users", json={"email": email, "name": "Ada"}).status_code == 409
    assert http.post("/api/v1/users", json={"email": "nope"}).json()["error"]["code"] == "VALIDATION_ERROR"
    assert http.get(f"/api/v1/users/{created.json()['data']['id']}").json()["data"]["email"] == email
    first, second = http.get("/api/v1/users"), http.get("/api/v1/users")
    assert (first.headers["x-cache"], second.headers["x-cache"]) == ("MISS", "HIT")
    assert email in {user["email"] for user in second.json()["data"]}
    count = exec_in(stack.db, "psql", "-U", DB_USER, "-d", DB_NAME, "-tAc",
                    f"SELECT count(*) FROM users WHERE email = '{email}'")
    assert count.stdout.strip() == "1"


@pytest.mark.boxes
def test_nginx_proxies_with_a_read_only_conf_dir(stack: Stack, migrated: Migrated) -> None:
    before = {p.name: (p.stat().st_mode, p.stat().st_mtime_ns) for p in stack.conf_dir.iterdir()}
    with stack.client(stack.nginx_url) as http:
        response = wait_for("nginx to proxy /api/v1/version",
                            lambda: (r := http.get("/api/v1/version")).status_code == 200 and r)
    assert response.json()["data"]["version"] == API_VERSION
    assert exec_in(stack.nginx, "touch", "/etc/nginx/conf.d/x").rc != 0  # really read-only
    assert {p.name: (p.stat().st_mode, p.stat().st_mtime_ns) for p in stack.conf_dir.iterdir()} == before
    assert "GET /api/v1/version HTTP/1.1\" 200" in docker.run(["logs", stack.nginx]).stdout  # access log on stdout


@pytest.mark.boxes
def test_secrets_never_reach_the_logs(stack: Stack, migrated: Migrated) -> None:
    logs = docker.run(["logs", stack.api])
    text = logs.stdout + logs.stderr + migrated.first.stdout + migrated.first.stderr
    assert "listening on 0.0.0.0:8000" in text and f"{DB_USER}:***@db" in text
    assert DB_PASSWORD not in text and REDIS_PASSWORD not in text


@pytest.mark.boxes
def test_ready_is_503_when_redis_stops_and_recovers(stack: Stack, http: httpx.Client) -> None:
    docker.run(["stop", "-t", "2", stack.cache])
    try:
        response = http.get("/api/v1/health/ready")
        body = response.json()
        assert response.status_code == 503
        assert body["success"] is False and body["error"]["code"] == "NOT_READY"
        assert "redis" in body["error"]["message"] and "db:" not in body["error"]["message"]
        assert body["error"]["details"]["checks"]["db"] == "ok"
    finally:
        docker.run(["start", stack.cache])
    wait_for("readiness after redis is back", lambda: http.get("/api/v1/health/ready").status_code == 200)


@pytest.mark.boxes
def test_broken_build_fails_readiness_but_stays_live(stack: Stack, migrated: Migrated) -> None:
    name = start(f"mt-{RUN}-broken", stack.network, "broken", api_tag(API_VERSION), *api_env(BROKEN="1"))
    wait_for("the broken API to be live",
             lambda: exec_in(name, "python3", "-m", "app", "healthcheck", "--live").rc == 0, timeout=15)
    assert exec_in(name, "python3", "-m", "app", "healthcheck").rc == 1
    docker.run(["rm", "-f", name])


# --- the API without containers ----------------------------------------------------------------

@pytest.fixture()
def app_modules(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The example API's ``app`` package, imported from examples/api (drivers not needed)."""
    monkeypatch.syspath_prepend(str(EXAMPLES / "api"))
    import app.config
    import app.server

    yield app
    for name in [n for n in sys.modules if n == "app" or n.startswith("app.")]:
        del sys.modules[name]


def settings_env(**extra: str) -> dict[str, str]:
    """A valid environment for ``app.config.load``."""
    return {"DATABASE_URL": "postgresql://u:pw@db/d", "REDIS_URL": "redis://cache:6379/0", **extra}


@pytest.mark.parametrize(("env", "peer", "status"), [
    ({}, "127.0.0.1", 404),
    ({"DEV_ENDPOINTS_ENABLED": "true"}, "127.0.0.1", 403),
    ({"DEV_ENDPOINTS_ENABLED": "true", "DEV_ENDPOINTS_WHITELIST": "10.0.0.0/8,127.0.0.1"}, "127.0.0.1", 200),
    ({"DEV_ENDPOINTS_ENABLED": "true", "DEV_ENDPOINTS_WHITELIST": "10.0.0.0/8"}, "192.168.1.5", 403),
], ids=["disabled", "no-whitelist", "whitelisted", "outside"])
def test_dev_gate(app_modules: Any, env: dict[str, str], peer: str, status: int) -> None:
    from app.access import normalise

    api = app_modules.server.Api(app_modules.config.load(settings_env(**env)), cache=object())
    response = api.handle(app_modules.server.Request("GET", "/internal/dev/echo", client=normalise(peer)))
    assert response.status == status


def test_broken_version_forces_not_ready(app_modules: Any) -> None:
    api = app_modules.server.Api(app_modules.config.load(settings_env(APP_VERSION="1.1.0-broken")), cache=object())
    response = api.handle(app_modules.server.Request("GET", "/api/v1/health/ready"))
    assert response.status == 503 and response.body["error"]["code"] == "NOT_READY"


@pytest.mark.parametrize(("env", "message"), [
    ({"DATABASE_URL": ""}, "missing required environment variable DATABASE_URL"),
    ({"REDIS_URL": "http://x"}, "REDIS_URL must be a redis:// or rediss:// URL"),
    ({"OPS_ENDPOINTS_WHITELIST": "10.0.0.0/33"}, "OPS_ENDPOINTS_WHITELIST: entry 1"),
    ({"DEV_ENDPOINTS_ENABLED": "maybe"}, "DEV_ENDPOINTS_ENABLED must be true or false"),
], ids=["empty-db-url", "redis-scheme", "bad-cidr", "bad-flag"])
def test_bad_settings_name_the_variable_not_the_value(app_modules: Any, env: dict[str, str], message: str) -> None:
    with pytest.raises(app_modules.errors.SettingsError) as caught:
        app_modules.config.load(settings_env(**env))
    assert message in str(caught.value) and "pw" not in str(caught.value)


@pytest.mark.parametrize(("origin", "allowed"), [("http://localhost:3300", True), ("http://evil.example", False)])
def test_cors_for_listed_origins_only(app_modules: Any, origin: str, allowed: bool) -> None:
    settings = app_modules.config.load(settings_env(BACKEND_CORS_ALLOWED_ORIGINS="http://localhost:3300"))
    api = app_modules.server.Api(settings, cache=object())
    preflight = api.handle(app_modules.server.Request("OPTIONS", "/api/v1/users", headers={
        "Origin": origin, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type"}))
    simple = api.handle(app_modules.server.Request("GET", "/api/v1/version", headers={"origin": origin}))
    assert preflight.status == 204 and simple.status == 200
    assert (preflight.headers.get("Access-Control-Allow-Origin") == origin) is allowed
    assert (simple.headers.get("Access-Control-Allow-Credentials") == "true") is allowed
    if allowed:
        assert preflight.headers["Access-Control-Allow-Headers"] == "content-type"


def test_forwarded_for_is_believed_from_trusted_proxies_only(app_modules: Any) -> None:
    from app.access import client_address, parse_networks

    trusted = parse_networks("TRUSTED_PROXIES", "172.16.0.0/12")
    assert str(client_address("172.18.0.3", "127.0.0.1", ())) == "172.18.0.3"
    assert str(client_address("172.18.0.3", "10.9.8.7, 172.18.0.1", trusted)) == "10.9.8.7"
    assert str(client_address("203.0.113.1", "127.0.0.1", trusted)) == "203.0.113.1"  # untrusted peer
    assert client_address("172.18.0.3", "junk", trusted) is None


def test_api_tag_refuses_bad_versions() -> None:
    assert api_tag("1.2.3-rc.1") == "mooring/api:1.2.3-rc.1"
    with pytest.raises(ValueError, match="not a valid image tag"):
        api_tag("-1/x")
