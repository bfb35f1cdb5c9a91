"""Schemas, layers and the typed model (the contract deploy code consumes), and secrets."""

from __future__ import annotations

import pytest

from mooring.declare.schema import BLOCKS, is_secret_path, normalize_merged, register_block, validate_layer
from mooring.declare.layers import load_layer, merge, layers_for
from mooring.declare.errors import ConfigError
from mooring.declare.model import EnvVar, Mount, PortMapping, build_model
from mooring.declare.secrets import (SecretRef, format_dotenv, parse_dotenv, quote_env_value, redact, resolve_secrets,
                             secrets_file)
from tests.declared_world import ROOT, SECRETS, make_world, set_path


@pytest.fixture
def world(tmp_path, monkeypatch):
    world = make_world(tmp_path)
    world.activate(monkeypatch)
    return world


def problems(data, file="group_data/all.yml"):
    with pytest.raises(ConfigError) as info:
        validate_layer(data, file)
    return info.value.problems


# --- blocks and layers ---------------------------------------------------------------------------

def test_registered_blocks():
    assert list(BLOCKS) == ["environment", "bootstrap", "stack"]
    with pytest.raises(ValueError, match="already registered"):
        register_block("stack", {})


@pytest.mark.parametrize("path", sorted((ROOT / "group_data").glob("*.yml")), ids=lambda p: p.name)
def test_every_shipped_layer_passes_the_layer_schema(path, tmp_path):
    data = load_layer(path)
    assert data and set(data) <= set(BLOCKS), sorted(data)
    # The same file plus one unknown key: loading reports that key and nothing else, so the
    # schema did check the shipped content, and it found no problem in it.
    copy = tmp_path / path.name
    copy.write_text(path.read_text() + "\nstak: {}\n")
    with pytest.raises(ConfigError) as info:
        load_layer(copy)
    assert [(p.path, p.message) for p in info.value.problems] == [("stak", "unknown key")]


def test_a_layer_may_set_only_some_keys():
    partial = {"stack": {"env": {"APP_VERSION": "2.0.0"}}}
    validate_layer(partial, "group_data/staging.yml")  # no required key is asked for in one layer
    assert partial == {"stack": {"env": {"APP_VERSION": "2.0.0"}}}, "a layer is checked, not filled with defaults"
    # ...but the merged data is checked with the required keys on,
    with pytest.raises(ConfigError) as info:
        normalize_merged(partial, lambda path: "group_data/staging.yml")
    assert "stack.name" in {p.path for p in info.value.problems}
    # ...and the keys a partial layer does set are still checked.
    [problem] = problems({"stack": {"env": {"APP_VERSION": ["2.0.0"]}}}, "group_data/staging.yml")
    assert (problem.file, problem.path) == ("group_data/staging.yml", "stack.env.APP_VERSION")


def test_merged_data_needs_the_required_keys():
    with pytest.raises(ConfigError) as info:
        normalize_merged({"environment": "staging", "stack": {"env": {}}}, lambda path: "group_data/staging.yml")
    paths = {p.path for p in info.value.problems}
    # stack.services or stack.compose: one of the two, which the model checks (tests/test_compose_files.py)
    assert "stack.name" in paths


def test_hosts_sharing_layers_share_one_normalization_and_each_gets_its_own_copy(world):
    first = build_model("staging-1.example.invalid", ["staging"])
    first.merged and first.data["stack"]["services"].clear()  # a caller mutating its document
    second = build_model("staging-1.example.invalid", ["staging"])
    assert second.data["stack"]["services"] and second.stack.services


def test_merged_data_normalizes_in_threads_at_once(world):
    """A cerberus validator keeps the document it checks: one per thread, so concurrent
    normalizations (a bench, a threaded caller) never see each other's documents."""
    import concurrent.futures
    import copy
    import sys

    merged = merge(layers_for("staging-1.example.invalid", ["staging"], None, world.group_data))

    def normalized(n: int) -> dict:
        data = copy.deepcopy(merged.data)
        data["stack"]["releases_keep"] = n + 2  # distinct data: no two share a cached result
        return normalize_merged(data, merged.file_of)

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as the interpreter allows
    try:
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            documents = list(pool.map(normalized, range(64)))
    finally:
        sys.setswitchinterval(interval)
    assert [d["stack"]["releases_keep"] for d in documents] == [n + 2 for n in range(64)]
    assert all(d["stack"]["services"]["api"]["enabled"] is True for d in documents)


def test_unknown_key_suggests_the_closest():
    [problem] = problems({"stack": {"backups": {"retention_day": 3}}})
    assert (problem.path, problem.message) == ("stack.backups.retention_day", "unknown key")
    assert "did you mean `retention_days`" in problem.fix


def test_every_problem_names_file_path_and_fix():
    found = problems({"stack": {"name": "Bad Name", "releases_keep": 0, "services": {"Api": {}}}})
    assert {p.path for p in found} == {"stack.name", "stack.releases_keep", "stack.services.Api"}
    assert all(p.file == "group_data/all.yml" and p.fix for p in found)
    assert "'Bad Name' has the wrong format" in str(found)


def test_secret_values_are_hidden_in_schema_messages():
    found = problems({"stack": {"env": {"POSTGRES_PASSWORD": ["hunter2hunter2"]}}})
    assert "hunter2" not in str(found) and "(value hidden)" in str(found)
    assert is_secret_path("stack.env.JWT_SECRET") and not is_secret_path("stack.env.REDIS_URL")


def test_check_with_messages_carry_their_fix():
    [problem] = problems({"stack": {"services": {"nginx": {"volumes": [{"source": "conf/", "target": "/etc/x"}]}}}})
    assert problem.path == "stack.services.nginx.volumes.0.source"
    assert "relative path" in problem.message and "${STACK_DIR}" in problem.fix


def test_yaml_octal_mode_gets_a_quoting_fix():
    [problem] = problems({"stack": {"services": {"nginx": {"volumes": [
        {"source": "/etc/x", "target": "/etc/x", "mode": 0o644}]}}}})
    assert "got integer 420" in problem.message and 'mode: "0644"' in problem.fix


def test_layers_merge_with_provenance(world):
    merged = merge(layers_for("prod-1.example.invalid", ["production"]))
    assert merged.file_of("stack.services.api.image").endswith("group_data/production.yml")
    assert merged.file_of("stack.env.POSTGRES_DB").endswith("group_data/all.yml")
    assert merged.data["stack"]["services"]["prometheus"]["enabled"] is True


def test_host_override_wins(world):
    world.write("hosts/prod-2.example.invalid.yml", {"stack": {"releases_keep": 9}})
    assert build_model("prod-2.example.invalid", ["production"]).stack.releases_keep == 9
    assert build_model("prod-1.example.invalid", ["production"]).stack.releases_keep == 5


@pytest.mark.parametrize("kind", ["health", "smoke"])
def test_a_probe_service_must_be_a_service_name(kind):
    """`service:` names the service whose published port is probed (resolved in the model, see
    tests/test_gate.py); anything but a service name is refused here."""
    [problem] = problems({"stack": {kind: [{"name": "ready", "path": "/ready", "service": "Api!", "port": 8000}]}})
    assert (problem.path, problem.message) == (f"stack.{kind}.0.service", "'Api!' has the wrong format")
    assert "name of a service" in problem.fix
    validate_layer({"stack": {kind: [{"name": "ready", "path": "/ready", "service": "prometheus"}]}}, "group_data/all.yml")


def test_probe_options_reach_the_model(world):
    data = world.read("staging.yml")
    set_path(data, "stack.smoke", [{"name": "metrics", "path": "/-/ready", "port": 9090, "contains": "Ready",
                                    "max_latency_ms": 250}, {"name": "version", "path": "/api/v1/version"}])
    world.write("staging.yml", data)
    metrics, version = build_model("staging-1.example.invalid", ["staging"]).stack.smoke
    assert (metrics.port, metrics.contains, metrics.max_latency_ms, metrics.service) == (9090, "Ready", 250, None)
    assert (version.port, version.contains, version.max_latency_ms, version.retries) == (80, None, None, 1)


# --- the model contract ---------------------------------------------------------------------------

def test_stack_model_contract(world):
    model = build_model("prod-1.example.invalid", ["production"])
    stack = model.stack
    assert (stack.name, stack.dir, stack.http_port, stack.releases_keep) == ("solacore", "/srv/mooring/solacore", 80, 5)
    assert stack.compose_file == "/srv/mooring/solacore/compose.yml" and stack.env_file == "/srv/mooring/solacore/.env"
    assert list(stack.services) == ["api", "db", "redis", "nginx", "prometheus"]
    api = stack.services["api"]
    assert (api.image, api.image_source, api.role) == ("registry.example.com/solacore/api:1.4.2", "registry", "app")
    assert api.required_env == ["DATABASE_URL", "REDIS_URL"] and "DATABASE_URL" in api.env_keys
    assert api.depends_on == {"db": "service_healthy", "redis": "service_healthy"}
    assert api.healthcheck.retries == 5 and api.restart == "unless-stopped"
    assert stack.services["nginx"].ports == [PortMapping("", 80, 80, "tcp")]
    assert stack.services["prometheus"].ports == [PortMapping("127.0.0.1", 9090, 9090, "tcp")]
    conf = stack.services["nginx"].volumes[0]
    assert conf == Mount("bind", "/srv/mooring/solacore/nginx/conf.d", "/etc/nginx/conf.d", True, "root", "root",
                         "0755", "dir", "nginx/default.conf.j2", "stack.services.nginx.volumes.0")
    assert conf.rendered_path == "/srv/mooring/solacore/nginx/conf.d/default.conf"
    assert stack.services["db"].volumes[0].type == "volume"
    assert (stack.migration.service, stack.migration.command) == ("api", ["alembic", "upgrade", "head"])
    backups = stack.backups
    assert (backups.schedule, backups.retention_days, backups.databases, backups.directory, backups.service) == \
        ("0 2 * * *", 30, ["readme_to_recover"], "/var/backups/mooring/solacore", "db")
    assert [p.name for p in stack.health] == ["live", "ready"]
    assert stack.health[1].url == "http://127.0.0.1:80/api/v1/health/ready" and stack.health[1].retries == 30
    assert stack.smoke[2].expected_status == 404
    assert stack.endpoints["dev"].enabled is False and stack.endpoints["ops"].whitelist == ["10.0.0.0/8"]
    assert stack.proxy.upstream == "api" and stack.proxy.upstream_port == 8000


def test_env_values_and_secret_flags(world):
    env = build_model("prod-1.example.invalid", ["production"]).stack.env
    password = SECRETS["production"]["POSTGRES_PASSWORD"]
    assert env["POSTGRES_PASSWORD"] == EnvVar("POSTGRES_PASSWORD", password, True, "stack.env.POSTGRES_PASSWORD",
                                              "POSTGRES_PASSWORD", False, (), "***", "{secret: POSTGRES_PASSWORD}")
    url = env["DATABASE_URL"]
    assert url.secret and url.value == f"postgresql://solacore:{password}@db:5432/readme_to_recover"
    assert url.masked == "postgresql://solacore:***@db:5432/readme_to_recover"
    assert password not in repr(url)
    assert not env["POSTGRES_DB"].secret and env["PORT"].value == "8000"
    assert env["DEV_ENDPOINTS_ENABLED"].value == "false" and env["DEV_ENDPOINTS_ENABLED"].path == "stack.endpoints.dev.enabled"
    assert env["OPS_ENDPOINTS_WHITELIST"].value == "10.0.0.0/8"
    assert env["BACKEND_CORS_ALLOWED_ORIGINS"].value == "https://app.example.com"
    assert list(env) == sorted(env)


def test_sandbox_images_are_shipped(world):
    stack = build_model("docker-1", ["sandbox"]).stack
    assert {s.image for s in stack.services.values()} == {"mooring/api:1.0.0", "mooring/postgres:15", "mooring/redis:7",
                                                          "mooring/nginx:1"}
    assert {s.image_source for s in stack.services.values()} == {"ship"}
    assert stack.migration.command == ["python3", "-m", "app", "migrate"]
    assert stack.services["api"].command is None
    assert stack.env["POSTGRES_DB"].value != stack.name


def test_bootstrap_does_not_need_the_stacks_secrets(world):
    world.set_secret("production", "JWT_SECRET", None)
    model = build_model("prod-1.example.invalid", ["production"])
    assert model.bootstrap.compose_v1 == "refuse"
    with pytest.raises(ConfigError, match="secret JWT_SECRET is not provided"):
        model.stack


def test_literal_dollar_brace_in_values(world):
    data = world.read("staging.yml")
    set_path(data, "stack.env.TEMPLATE", "hello $${NAME} and $HOME")
    world.write("staging.yml", data)
    assert build_model("staging-1.example.invalid", ["staging"]).stack.env["TEMPLATE"].value == "hello ${NAME} and $HOME"


# --- secrets ------------------------------------------------------------------------------------

def test_environment_variable_beats_the_file(world, monkeypatch):
    refs = [SecretRef("JWT_SECRET", "stack.env.JWT_SECRET", "group_data/all.yml")]
    assert resolve_secrets(refs, "production") == {"JWT_SECRET": SECRETS["production"]["JWT_SECRET"]}
    monkeypatch.setenv("MOORING_SECRET_JWT_SECRET", "From5Env7Var9Value1")
    assert resolve_secrets(refs, "production") == {"JWT_SECRET": "From5Env7Var9Value1"}


def test_missing_secret_names_both_ways_and_never_a_value(world):
    refs = [SecretRef("API_TOKEN", "stack.env.API_TOKEN", "group_data/production.yml")]
    with pytest.raises(ConfigError) as info:
        resolve_secrets(refs, "production")
    [problem] = info.value.problems
    assert (problem.file, problem.path) == ("group_data/production.yml", "stack.env.API_TOKEN")
    assert "MOORING_SECRET_API_TOKEN" in problem.fix and str(secrets_file("production")) in problem.fix


def test_generated_secrets_are_random_persistent_and_private(world):
    refs = [SecretRef("A_SECRET", "stack.env.A_SECRET", "x"), SecretRef("B_SECRET", "stack.env.B_SECRET", "x")]
    first = resolve_secrets(refs, "sandbox", generate_missing=True)
    assert len(first["A_SECRET"]) == 32 and first["A_SECRET"] != first["B_SECRET"]
    assert resolve_secrets(refs, "sandbox", generate_missing=True) == first
    path = secrets_file("sandbox")
    assert oct(path.stat().st_mode & 0o777) == "0o600" and oct(path.parent.stat().st_mode & 0o777) == "0o700"


def test_malformed_secrets_file_is_a_config_error_without_values(world):
    secrets_file("staging").write_text("JWT_SECRET='unterminated-Secret-Value\n")
    with pytest.raises(ConfigError) as info:
        resolve_secrets([SecretRef("JWT_SECRET", "p", "f")], "staging")
    assert "line 1" in str(info.value) and "Secret-Value" not in str(info.value)


def test_dotenv_codec():
    text = format_dotenv({"B": "2", "A": "x y", "C": "it's"}, header="hello")
    assert text == "# hello\nA='x y'\nB=2\nC=\"it's\"\n"
    assert parse_dotenv(text) == {"A": "x y", "B": "2", "C": "it's"}
    assert quote_env_value("") == ""
    assert redact("a Secret1 b Secret12", ["Secret1", "Secret12"]) == "a *** b ***"


# --- review fixes -------------------------------------------------------------------------------

def test_production_refuses_secret_generation_before_writing_secrets(world):
    """B1: the model refuses the flag in production before resolving (and so writing) any secret."""
    path = secrets_file("production")
    path.unlink()
    data = world.read("production.yml")
    set_path(data, "stack.secrets_generate_missing", True)
    world.write("production.yml", data)
    model = build_model("prod-1.example.invalid", ["production"])
    with pytest.raises(ConfigError) as info:
        model.stack
    [problem] = info.value.problems
    assert problem.file.endswith("group_data/production.yml") and problem.path == "stack.secrets_generate_missing"
    assert "remove secrets_generate_missing" in problem.fix
    assert not path.exists()


def test_env_values_are_hidden_in_schema_messages_whatever_the_key():
    """L3: a value under stack.env.* is never echoed, even when its key does not look secret."""
    found = problems({"stack": {"env": {"SENTRY_HOST": ["https://Leak3Value9@o1.sentry.io/1"]}}})
    assert "Leak3Value9" not in str(found) and "(value hidden)" in str(found)


@pytest.mark.parametrize("key", ["PGPASSWORD", "SECRET_KEY_BASE", "STRIPE_KEY", "SENTRY_DSN", "GCP_CREDENTIALS",
                                 "DB_PASSWD", "API_TOKEN", "PRIVATE_PEM"])
def test_secret_like_keys(key):
    """B14: one predicate for the schema and the static rules."""
    from mooring.declare.secrets import looks_secret

    assert looks_secret(key) and is_secret_path(f"stack.env.{key}")


@pytest.mark.parametrize("key", ["POSTGRES_DB", "REDIS_URL", "KEYBOARD_LAYOUT", "PORT"])
def test_not_secret_like_keys(key):
    from mooring.declare.secrets import looks_secret

    assert not looks_secret(key)


def test_non_utf8_layer_is_a_config_error_without_bytes(world):
    """B6/L4: no traceback, no byte, no position."""
    path = world.layer("staging.yml")
    path.write_bytes(b"environment: staging\nstack:\n  env:\n    NOTE: caf\xe9-S3cretish\n")
    with pytest.raises(ConfigError) as info:
        load_layer(path)
    [problem] = info.value.problems
    assert (problem.message, problem.fix) == ("not UTF-8 text", "save it as UTF-8")
    assert "xe9" not in str(info.value) and "position" not in str(info.value)


def test_non_utf8_secrets_file_is_a_config_error_without_bytes(world):
    secrets_file("staging").write_bytes(b"JWT_SECRET=Abc\xff\xfeSecretValue\n")
    with pytest.raises(ConfigError) as info:
        resolve_secrets([SecretRef("JWT_SECRET", "p", "f")], "staging")
    text = str(info.value)
    assert "not UTF-8 text" in text and "save it as UTF-8" in text
    assert "xff" not in text and "SecretValue" not in text and "position" not in text


def test_non_utf8_key_file_is_a_config_error(world):
    (world.state / "sandbox" / "id_ed25519.pub").write_bytes(b"ssh-ed25519 AAAA\xff\n")
    with pytest.raises(ConfigError, match="not UTF-8 text"):
        build_model("docker-1", ["sandbox"])


def test_yaml_1_1_scalars_keep_their_text(world):
    """B5: ZIP 0123, AT 12:30, COUNTRY NO, HEX 0x1F stay the strings written (YAML 1.2 core)."""
    from mooring.declare.layers import read_yaml

    sample = world.root / "sample.yml"
    sample.write_text("stack:\n  env:\n    ZIP: 0123\n    AT: 12:30\n    COUNTRY: NO\n    HEX: 0x1F\n    FLAG: yes\n"
                      "    ON: true\n    N: 42\n    NEG: -7\n")
    env = read_yaml(sample)["stack"]["env"]
    assert env == {"ZIP": "0123", "AT": "12:30", "COUNTRY": "NO", "HEX": "0x1F", "FLAG": "yes", "ON": True,
                   "N": 42, "NEG": -7}
    world.layer("hosts/staging-1.example.invalid.yml").parent.mkdir(exist_ok=True)
    world.layer("hosts/staging-1.example.invalid.yml").write_text(
        "stack:\n  env:\n    ZIP: 0123\n    AT: 12:30\n    COUNTRY: NO\n")
    stack = build_model("staging-1.example.invalid", ["staging"]).stack
    assert [stack.env[k].value for k in ("ZIP", "AT", "COUNTRY")] == ["0123", "12:30", "NO"]


def test_float_env_value_asks_to_quote():
    [problem] = problems({"stack": {"env": {"V": 1.1}}})
    assert problem.path == "stack.env.V" and "quote it" in problem.fix


@pytest.mark.parametrize(("data", "path", "said"), [
    ({"stack": {"secrets": {}}}, "stack.secrets", "{secret: NAME}"),
    ({"stack": {"services": {"web": {"image": "nginx:1", "networks": ["front"]}}}}, "stack.services.web.networks",
     "the stack's own network"),
    ({"stack": {"services": {"web": {"image": "nginx:1", "env_file": ".env"}}}}, "stack.services.web.env_file",
     "`stack.services.web.env`"),
])
def test_a_compose_key_says_where_it_goes_in_mooring_and_never_guesses_a_typo(data, path, said):
    with pytest.raises(ConfigError) as raised:
        validate_layer(data, "group_data/staging.yml")
    [problem] = raised.value.problems
    assert problem.path == path and said in problem.fix and "did you mean" not in problem.fix, problem


@pytest.mark.parametrize(("data", "path"), [
    ({"stack": {"services": {"web": {"image": "nginx:1", "build": "."}}}}, "stack.services.web.build"),
    ({"stack": {"services": {"web": {"image": "nginx:1", "networks": ["front"]}}}}, "stack.services.web.networks"),
    ({"stack": {"services": {"web": {"image": "nginx:1", "container_name": "web"}}}}, "stack.services.web.container_name"),
    ({"stack": {"networks": {"front": {}}}}, "stack.networks"),
])
def test_a_compose_only_key_points_to_the_teams_compose_file(data, path):
    """Keys a team's compose file needs are kept by naming the file in stack.compose.files."""
    with pytest.raises(ConfigError) as raised:
        validate_layer(data, "group_data/staging.yml")
    [problem] = raised.value.problems
    assert problem.path == path and "`stack.compose.files` (docs/compose-files.md)" in problem.fix, problem
