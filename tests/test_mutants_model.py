"""The typed model, pinned where mutation testing found it loose (docs/mutation.md): defaults
filled from roles, ports and mounts as the host sees them, env references and their errors.

Host-free: a declared world in tmp_path (fake hosts, test secrets), models built in-process.
"""

from __future__ import annotations

import base64
import dataclasses
from pathlib import Path

import pytest

from mooring.declare.errors import ConfigError
from mooring.declare.model import EnvVar, Migration, Mount, PortMapping, Probe, mount_source
from tests.declared_world import delete_path, model_for, set_path

STACK_DIR = "/srv/mooring/solacore"


def edit(world, layer: str, **paths) -> None:
    data = world.read(layer)
    for dotted, value in paths.items():
        set_path(data, dotted.replace("__", "."), value)
    world.write(layer, data)


def remove(world, layer: str, *paths: str) -> None:
    """Delete the dotted ``paths`` from ``layer``."""
    data = world.read(layer)
    for dotted in paths:
        delete_path(data, dotted)
    world.write(layer, data)


def refusal(environment: str = "staging") -> list:
    """Every problem building the ``environment`` host's model and stack reports (it must refuse)."""
    with pytest.raises(ConfigError) as info:
        model_for(environment).stack
    return info.value.problems


def staging(world, **paths):
    """The staging host's stack after setting ``paths`` in staging.yml."""
    edit(world, "staging.yml", **paths)
    return model_for("staging").stack


def problems(world, **paths) -> list[tuple[str, str, str]]:
    """(path, message, fix) of every problem building the staging stack reports."""
    edit(world, "staging.yml", **paths)
    return [(p.path, p.message, p.fix) for p in refusal()]


# --- small value types ----------------------------------------------------------------------------

@pytest.mark.parametrize("port,text", [
    (PortMapping("", 80, 80), "80:80/tcp"),
    (PortMapping("127.0.0.1", 9090, 9091), "127.0.0.1:9090:9091/tcp"),
    (PortMapping("::1", 53, 5353, "udp"), "[::1]:53:5353/udp"),
])
def test_port_mapping_text(port, text):
    assert str(port) == text


def mount(**changes) -> Mount:
    base = Mount("bind", f"{STACK_DIR}/nginx/conf.d", "/etc/nginx/conf.d", True, "root", "root", "0755", "dir",
                 "nginx/default.conf.j2", "stack.services.nginx.volumes.0")
    return dataclasses.replace(base, **changes)


def test_rendered_path_of_a_mount():
    assert mount().rendered_path == f"{STACK_DIR}/nginx/conf.d/default.conf"
    assert mount(kind="file", source=f"{STACK_DIR}/p.yml").rendered_path == f"{STACK_DIR}/p.yml"
    assert mount(template=None).rendered_path is None
    assert mount(template="").rendered_path is None


def test_probe_url_asks_the_loopback_address():
    probe = Probe("ready", "/api/ready", 8080, None, 200, 5.0, 3, 2.0, None, None)
    assert probe.url == "http://127.0.0.1:8080/api/ready"


@pytest.mark.parametrize("source,seen", [
    ("${STACK_DIR}", STACK_DIR),
    ("${STACK_DIR}/", STACK_DIR),
    ("${STACK_DIR}/nginx/./conf.d/", f"{STACK_DIR}/nginx/conf.d"),
    ("${STACK_DIR}x", "${STACK_DIR}x"),
    ("//data//app/", "/data/app"),
    ("//Xfer/in", "/Xfer/in"),  # only the slashes of a leading "//" go
    ("/", "/"),
    ("pgdata", "pgdata"),
])
def test_mount_source_as_the_host_sees_it(source, seen):
    assert mount_source(source, STACK_DIR) == seen


# --- services, ports and mounts in the stack -----------------------------------------------------

def test_port_forms_reach_the_model(world):
    stack = staging(world, stack__services__api__ports=[
        "8080:8000", "[::1]:8443:8443/udp", "127.0.0.1:9000:9000/tcp", {"published": 7000, "target": 7001},
        {"published": 7002, "target": 7003, "host_ip": "10.0.0.1", "protocol": "udp"}])
    assert stack.services["api"].ports == [
        PortMapping("", 8080, 8000, "tcp"), PortMapping("::1", 8443, 8443, "udp"), PortMapping("127.0.0.1", 9000, 9000, "tcp"),
        PortMapping("", 7000, 7001, "tcp"), PortMapping("10.0.0.1", 7002, 7003, "udp")]


def test_mount_defaults(world):
    stack = staging(world, stack__services__api__volumes=[
        {"source": "${STACK_DIR}/conf/app.conf", "target": "/app.conf", "template": "nginx/default.conf.j2",
         "read_only": True, "owner": "101", "mode": "644"},
        {"source": "appdata", "target": "/data"},
        {"source": "/data/uploads", "target": "/uploads", "owner": "www-data", "group": "adm", "mode": "0750", "kind": "dir"},
    ])
    templated, volume, bind = stack.services["api"].volumes
    assert templated == Mount("bind", f"{STACK_DIR}/conf/app.conf", "/app.conf", True, "101", "101", "0644", "file",
                              "nginx/default.conf.j2", "stack.services.api.volumes.0")
    assert volume == Mount("volume", "appdata", "/data", False, None, None, None, "dir", None, "stack.services.api.volumes.1")
    assert bind == Mount("bind", "/data/uploads", "/uploads", False, "www-data", "adm", "0750", "dir", None,
                         "stack.services.api.volumes.2")


def test_service_details(world):
    stack = staging(world, stack__services__api__env=["PORT", "REDIS_URL", "PORT"],
                    stack__services__api__required_env=["DATABASE_URL", "REDIS_URL"],
                    stack__services__api__metrics={"port": 9100})
    api = stack.services["api"]
    assert api.env_keys == ["PORT", "REDIS_URL", "DATABASE_URL"]  # once each, env first
    assert api.required_env == ["DATABASE_URL", "REDIS_URL"]
    assert (api.metrics.path, api.metrics.port) == ("/metrics", 9100)
    assert api.path == "stack.services.api"
    assert api.healthcheck.test[0] == "CMD" and api.healthcheck.interval == "10s" and api.healthcheck.start_period == "15s"
    assert stack.services["redis"].metrics is None and stack.services["redis"].command is None


def test_disabled_services_are_left_out(world):
    assert "prometheus" not in staging(world).services
    assert "prometheus" in model_for("production").stack.services


# --- proxy, published port, probes ---------------------------------------------------------------

def test_http_port_is_the_tcp_port_onto_listen_port(world):
    stack = staging(world, stack__services__nginx__ports=["8443:443", "8053:80/udp", "8080:80"])
    assert stack.http_port == 8080
    assert [p.port for p in stack.health] == [8080, 8080]


def test_http_port_falls_back_to_the_first_published_port(world):
    assert staging(world, stack__services__nginx__ports=["8443:443", "8444:444"]).http_port == 8443


def test_no_proxy_means_no_http_port_and_no_probe_port(world):
    stack = staging(world, stack__services__nginx__enabled=False)
    assert (stack.proxy.service, stack.http_port) == (None, None)
    assert [p.port for p in stack.health] == [None, None]


def test_declared_proxy_and_upstream_win_over_roles(world):
    stack = staging(world, stack__services__web={"role": "proxy", "image": "nginx:1.25", "ports": ["8081:80"]},
                    stack__proxy__service="web", stack__proxy__upstream="redis")
    assert (stack.proxy.service, stack.proxy.upstream, stack.http_port) == ("web", "redis", 8081)


def test_roles_fill_the_proxy(world):
    stack = staging(world, stack__proxy__upstream=None)
    assert (stack.proxy.service, stack.proxy.upstream) == ("nginx", "api")


def test_probe_values(world):
    stack = staging(world, stack__health=[{"name": "live", "path": "/live", "timeout": 3, "interval": 1, "retries": 4,
                                           "expected_status": 204}])
    assert stack.health == [Probe("live", "/live", 80, None, 204, 3.0, 4, 1.0, None, None)]
    assert isinstance(stack.health[0].timeout, float) and isinstance(stack.health[0].interval, float)


# --- backups ----------------------------------------------------------------------------------------

def test_backup_defaults(world):
    backups = staging(world, stack__backups={"schedule": "  30 3 * * *  "}).backups
    assert (backups.enabled, backups.schedule, backups.retention_days, backups.databases, backups.directory,
            backups.service) == (True, "30 3 * * *", 30, ["readme_to_recover"], "/var/backups/mooring/solacore", "db")


def test_backup_databases_expand_plain_values_only(world):
    backups = staging(world, stack__backups__databases=["${POSTGRES_DB}", "${JWT_SECRET}", "${NOT_DECLARED}", "plain"],
                      stack__backups__directory="/data/backups", stack__backups__service="redis").backups
    assert backups.databases == ["readme_to_recover", "${JWT_SECRET}", "${NOT_DECLARED}", "plain"]
    assert (backups.directory, backups.service, backups.engine) == ("/data/backups", "redis", "postgres")


def test_backups_without_postgres_name_no_database_and_no_service(world):
    data = world.read("all.yml")
    del data["stack"]["env"]["POSTGRES_DB"]
    world.write("all.yml", data)
    edit(world, "staging.yml", stack__services__db__enabled=False, stack__env__DATABASE_URL="postgresql://x@db/x",
         stack__backups__databases=[])
    backups = model_for("staging").stack.backups
    assert (backups.databases, backups.service) == ([], None)


# --- env: scalars, generated keys, references, errors --------------------------------------------

def test_scalar_values_become_the_text_compose_reads(world):
    env = staging(world, stack__env__FLAG_ON=True, stack__env__FLAG_OFF=False, stack__env__COUNT=0,
                  stack__env__NOTE={"value": "a\nb", "multiline": True}, stack__env__PLAIN={"value": "x"}).env
    assert [env[k].value for k in ("FLAG_ON", "FLAG_OFF", "COUNT", "NOTE", "PLAIN")] == ["true", "false", "0", "a\nb", "x"]
    assert (env["NOTE"].multiline, env["PLAIN"].multiline, env["FLAG_ON"].multiline) == (True, False, False)
    assert env["FLAG_ON"] == EnvVar("FLAG_ON", "true", False, "stack.env.FLAG_ON", None, False, (), "true", "true")


def test_generated_env_from_endpoints_and_cors(world):
    env = staging(world, stack__endpoints__dev__whitelist=["10.1.0.0/16", "10.2.0.0/16"],
                  stack__cors__allowed_origins=["https://a.example.com", "https://b.example.com"],
                  stack__cors__allow_credentials=False).env
    assert (env["DEV_ENDPOINTS_ENABLED"].value, env["DEV_ENDPOINTS_WHITELIST"].value) == ("true", "10.1.0.0/16,10.2.0.0/16")
    assert env["DEV_ENDPOINTS_WHITELIST"].path == "stack.endpoints.dev.whitelist"
    assert env["BACKEND_CORS_ALLOWED_ORIGINS"].value == "https://a.example.com,https://b.example.com"
    assert env["BACKEND_CORS_ALLOWED_ORIGINS"].path == "stack.cors.allowed_origins"
    assert (env["BACKEND_CORS_ALLOW_CREDENTIALS"].value, env["BACKEND_CORS_ALLOW_CREDENTIALS"].path) == (
        "false", "stack.cors.allow_credentials")
    assert not any(env[k].secret for k in env if k.startswith(("DEV_", "OPS_", "BACKEND_")))


def test_a_generated_key_also_declared_in_env_is_refused(world):
    assert problems(world, stack__env__DEV_ENDPOINTS_ENABLED="true") == [(
        "stack.env.DEV_ENDPOINTS_ENABLED", "DEV_ENDPOINTS_ENABLED is also set by stack.endpoints.dev.enabled",
        "remove it from stack.env and set stack.endpoints.dev.enabled instead")]


def test_a_cors_key_named_like_a_gates_is_refused_at_the_cors_key(world):
    assert problems(world, stack__cors__origins_env="DEV_ENDPOINTS_ENABLED") == [(
        "stack.cors.origins_env", "DEV_ENDPOINTS_ENABLED is also generated by stack.endpoints.dev.enabled_env",
        "give stack.cors.origins_env and stack.endpoints.dev.enabled_env different env names")]


def test_cors_credentials_named_like_its_origins_is_refused_at_the_credentials_key(world):
    assert problems(world, stack__cors__credentials_env="BACKEND_CORS_ALLOWED_ORIGINS") == [(
        "stack.cors.credentials_env", "BACKEND_CORS_ALLOWED_ORIGINS is also generated by stack.cors.origins_env",
        "give stack.cors.credentials_env and stack.cors.origins_env different env names")]


def test_two_generated_keys_with_one_name_are_refused(world):
    assert problems(world, stack__endpoints__ops__enabled_env="DEV_ENDPOINTS_ENABLED") == [(
        "stack.endpoints.ops.enabled_env", "DEV_ENDPOINTS_ENABLED is also generated by stack.endpoints.dev.enabled_env",
        "give stack.endpoints.ops.enabled_env and stack.endpoints.dev.enabled_env different env names")]


def test_references_resolve_through_levels_and_carry_secrecy(world):
    env = staging(world, stack__env__AUTH="Bearer ${JWT_SECRET}", stack__env__HEADER="Authorization: ${AUTH}",
                  stack__env__LITERAL="$${HOME} and ${POSTGRES_DB}").env
    jwt = env["JWT_SECRET"].value
    assert env["HEADER"] == EnvVar("HEADER", f"Authorization: Bearer {jwt}", True, "stack.env.HEADER", None, False,
                                   ("AUTH",), "Authorization: Bearer ***", "Authorization: ${AUTH}")
    assert (env["AUTH"].secret, env["AUTH"].masked, env["AUTH"].references) == (True, "Bearer ***", ("JWT_SECRET",))
    assert env["LITERAL"] == EnvVar("LITERAL", "${HOME} and readme_to_recover", False, "stack.env.LITERAL", None, False,
                                    ("POSTGRES_DB",), "${HOME} and readme_to_recover", "$${HOME} and ${POSTGRES_DB}")


def test_an_unknown_reference_is_refused(world):
    assert problems(world, stack__env__GREETING="hello ${WHO}") == [(
        "stack.env.GREETING", "references ${WHO}, which stack.env does not declare",
        "declare WHO in stack.env, give it a default (${WHO:-...}), or write $${WHO} for a literal ${WHO}")]


def test_compose_default_forms_resolve_like_compose(world):
    """Issue 9: ``${X:-d}``, ``${X-d}`` were copied into .env as written (Compose never saw them)."""
    env = staging(world, stack__env__EMPTY={"value": "", "allow_empty": True},
                  stack__env__A_ONE="${MISSING:-fallback}/${EMPTY:-was-empty}/${EMPTY-kept-empty}/${MISSING-dash}",
                  stack__env__A_TWO="${POSTGRES_DB:-other} ${POSTGRES_DB:?needed} ${EMPTY?declared}",
                  stack__env__A_SECRET="${JWT_SECRET:-none}").env
    assert env["A_ONE"].value == "fallback/was-empty//dash"
    assert env["A_TWO"].value == "readme_to_recover readme_to_recover "
    assert env["A_TWO"].references == ("POSTGRES_DB", "POSTGRES_DB", "EMPTY")
    assert (env["A_SECRET"].secret, env["A_SECRET"].masked) == (True, "***")


def test_a_default_used_in_place_of_a_secret_is_not_a_secret(world):
    world.set_secret("staging", "EMPTY_ONE", "")
    env = staging(world, stack__env__EMPTY_SECRET={"secret": "EMPTY_ONE"}, stack__env__A_ONE="${EMPTY_SECRET:-public}").env
    assert (env["A_ONE"].value, env["A_ONE"].secret, env["A_ONE"].masked) == ("public", False, "public")


@pytest.mark.parametrize("value, message, fix", [
    ("${WHO:?set WHO first}", "references ${WHO:?set WHO first}, which stack.env does not declare (set WHO first)",
     "declare WHO in stack.env, give it a default (${WHO:-...}), or write $${WHO} for a literal ${WHO}"),
    ("${WHO?}", "references ${WHO?}, which stack.env does not declare",
     "declare WHO in stack.env, give it a default (${WHO:-...}), or write $${WHO} for a literal ${WHO}"),
    ("${EMPTY:?EMPTY is needed}", "references ${EMPTY:?EMPTY is needed}, but EMPTY is empty",
     "give EMPTY a value in stack.env (EMPTY is needed)"),
])
def test_a_required_reference_compose_would_refuse_is_refused(world, value, message, fix):
    assert problems(world, stack__env__EMPTY={"value": "", "allow_empty": True}, stack__env__GREETING=value) == [(
        "stack.env.GREETING", message, fix)]


def test_a_reference_cycle_is_refused_once(world):
    assert problems(world, stack__env__A_ONE="${A_TWO}", stack__env__A_TWO="x${A_ONE}") == [(
        "stack.env.A_ONE", "references form a cycle: A_ONE → A_TWO → A_ONE", "make one of these values literal")]


def all_yml_refusal(world, environment: str = "staging", **paths) -> list:
    """Every problem building the ``environment``'s model and stack reports after setting
    ``paths`` in all.yml: the lowest layer, never the last one the host reads."""
    edit(world, "all.yml", **paths)
    return refusal(environment)


def all_yml_problems(world, environment: str = "staging", **paths) -> list[tuple[str, str, str]]:
    """(file name, path, message) of :func:`all_yml_refusal`'s problems."""
    return [(Path(p.file).name, p.path, p.message) for p in all_yml_refusal(world, environment, **paths)]


def test_a_reference_cycle_names_the_layer_that_declares_it(world):
    assert all_yml_problems(world, stack__env__A_ONE="${A_TWO}", stack__env__A_TWO="x${A_ONE}") == [
        ("all.yml", "stack.env.A_ONE", "references form a cycle: A_ONE → A_TWO → A_ONE")]


def test_a_generated_key_declared_in_env_names_the_layer_that_declares_it(world):
    assert all_yml_problems(world, stack__env__DEV_ENDPOINTS_ENABLED="true") == [
        ("all.yml", "stack.env.DEV_ENDPOINTS_ENABLED", "DEV_ENDPOINTS_ENABLED is also set by stack.endpoints.dev.enabled")]


def test_secret_generation_in_production_is_refused_in_the_layer_that_turns_it_on(world):
    found = all_yml_refusal(world, "production", stack__secrets_generate_missing=True)
    assert [(Path(p.file).name, p.path, p.message, p.fix) for p in found] == [
        ("all.yml", "stack.secrets_generate_missing", "secret generation is on in production",
         "remove secrets_generate_missing (sandbox only) and provide the secrets")]


def test_every_generated_name_taken_twice_is_refused_in_its_layer(world):
    assert all_yml_problems(world, stack__endpoints__ops__enabled_env="DEV_ENDPOINTS_ENABLED",
                            stack__endpoints__ops__whitelist_env="DEV_ENDPOINTS_WHITELIST") == [
        ("all.yml", "stack.endpoints.ops.enabled_env",
         "DEV_ENDPOINTS_ENABLED is also generated by stack.endpoints.dev.enabled_env"),
        ("all.yml", "stack.endpoints.ops.whitelist_env",
         "DEV_ENDPOINTS_WHITELIST is also generated by stack.endpoints.dev.whitelist_env")]


def test_a_missing_secret_names_the_layer_and_key_that_ask_for_it(world):
    assert all_yml_problems(world, stack__env__NEW_TOKEN={"secret": "NEW_TOKEN"}) == [
        ("all.yml", "stack.env.NEW_TOKEN", "secret NEW_TOKEN is not provided")]


def test_every_bad_reference_of_a_value_is_named(world):
    """One value referring to a broken one and to an undeclared key, another to two undeclared
    keys: each undeclared reference is a problem of its own."""
    found = problems(world, stack__env__A_ONE="${MISSING_ONE}", stack__env__B_TWO="${A_ONE}/${MISSING_TWO}",
                     stack__env__C_THREE="${MISSING_THREE}/${MISSING_FOUR}")
    assert [(path, message) for path, message, _ in found] == [
        ("stack.env.A_ONE", "references ${MISSING_ONE}, which stack.env does not declare"),
        ("stack.env.B_TWO", "references ${MISSING_TWO}, which stack.env does not declare"),
        ("stack.env.C_THREE", "references ${MISSING_THREE}, which stack.env does not declare"),
        ("stack.env.C_THREE", "references ${MISSING_FOUR}, which stack.env does not declare")]


def test_a_value_referring_to_a_broken_one_is_not_resolved(world):
    found = problems(world, stack__env__A_ONE="${MISSING}", stack__env__B_TWO="${A_ONE}")
    assert [p[0] for p in found] == ["stack.env.A_ONE"]


# --- the stack's helpers ------------------------------------------------------------------------

def test_secret_values_longest_first_and_env_values(world):
    edit(world, "staging.yml", stack__env__SHORT={"secret": "SHORT_SECRET"}, stack__env__EMPTY={"secret": "EMPTY_SECRET"})
    world.set_secret("staging", "SHORT_SECRET", "Short1")
    world.set_secret("staging", "EMPTY_SECRET", "")
    stack = model_for("staging").stack
    values = stack.secret_values()
    jwt, password = stack.env["JWT_SECRET"].value, stack.env["POSTGRES_PASSWORD"].value
    url = stack.env["DATABASE_URL"].value
    assert values == sorted({url, jwt, password, "Short1"}, key=len, reverse=True)
    assert values[0] == url and values[-1] == "Short1" and "" not in values
    assert stack.env_values()["PORT"] == "8000" and stack.env_values()["SHORT"] == "Short1"
    assert list(stack.env_values()) == list(stack.env)


def test_services_by_role(world):
    stack = staging(world)
    assert [s.name for s in stack.services_with_role("postgres")] == ["db"]
    assert stack.service_with_role("metrics") is None
    assert stack.service_with_role("proxy").name == "nginx"
    assert (stack.compose_file, stack.env_file) == (f"{STACK_DIR}/compose.yml", f"{STACK_DIR}/.env")


# --- pyinfra hosts (host_model runs inside deploy files; here with a stand-in host) ----------------

class FakeHost:
    """What host_model reads of a pyinfra host: name, groups and data.dict()."""

    def __init__(self, name: str, groups: list[str], data: dict):
        self.name, self.groups = name, groups
        self.data = type("Data", (), {"dict": lambda _self: dict(data)})()


def test_host_model_builds_the_model_of_a_strict_host(world):
    from mooring.declare.model import host_model

    model = host_model(FakeHost("staging-1.example.invalid", ["staging"], {"ssh_strict_host_key_checking": "yes"}))
    assert (model.name, model.environment, model.groups) == ("staging-1.example.invalid", "staging", ("staging",))
    assert model.stack.name == "solacore"


@pytest.mark.parametrize("data,first_contact_ok", [
    ({}, False), ({"ssh_strict_host_key_checking": "no"}, True),
    ({"ssh_strict_host_key_checking": "accept-new", "mooring_first_contact": True, "ssh_known_hosts_file": "k"}, False),
])
def test_host_model_refuses_weak_host_key_checking(world, data, first_contact_ok):
    from mooring.declare.model import host_key_problems, host_model

    with pytest.raises(ConfigError) as info:
        host_model(FakeHost("staging-1.example.invalid", ["staging"], data), first_contact_ok)
    assert info.value.problems == host_key_problems("staging-1.example.invalid", data, first_contact_ok)
    assert info.value.problems


def test_first_contact_passes_for_bootstrap_only(world):
    from mooring.declare.model import host_model

    data = {"ssh_strict_host_key_checking": "accept-new", "mooring_first_contact": True, "ssh_known_hosts_file": "k"}
    assert host_model(FakeHost("staging-1.example.invalid", ["staging"], data), True).environment == "staging"


def test_bootstrap_block_defaults_when_no_layer_declares_it(world):
    from mooring.declare.model import _defaults

    assert {k: v for k, v in _defaults("bootstrap").items() if k != "allow_no_keys"} == {
        "docker_source": "debian", "compose_v1": "remove", "timezone": "UTC", "deploy_user": "deploy",
        "authorized_keys": [], "authorized_key_files": [], "base_dir": "/srv/mooring", "backup_dir": "/var/backups/mooring"}


def test_every_declared_bootstrap_field_reaches_the_model(world):
    from mooring.declare.model import Bootstrap
    from tests.declared_world import SANDBOX_PUBKEY

    key = SANDBOX_PUBKEY.strip()
    edit(world, "staging.yml", bootstrap__docker_source="docker-apt", bootstrap__compose_v1="refuse",
         bootstrap__timezone="Europe/Berlin", bootstrap__deploy_user="ops", bootstrap__authorized_keys=[key, key],
         bootstrap__authorized_key_files=[], bootstrap__base_dir="/opt/stacks", bootstrap__backup_dir="/data/dumps")
    assert model_for("staging").bootstrap == Bootstrap("docker-apt", "refuse", "Europe/Berlin", "ops", (key,),
                                                       "/opt/stacks", "/data/dumps", False)


def test_no_bootstrap_block_anywhere_is_the_lock_out_refusal(world):
    """With no bootstrap block in any layer the defaults apply: no key, and no allow_no_keys."""
    remove(world, "all.yml", "bootstrap")
    remove(world, "staging.yml", "bootstrap")
    assert [(Path(p.file).name, p.path, p.message) for p in refusal()] == [(
        "staging.yml", "bootstrap.authorized_keys",
        "no authorized key is declared: bootstrap would empty the deploy user's authorized_keys (lock-out)")]


def test_a_host_with_no_environment_is_refused_in_its_last_layer(world):
    remove(world, "staging.yml", "environment")
    assert [(Path(p.file).name, p.path, p.message, p.fix) for p in refusal()] == [(
        "staging.yml", "environment", "required key is missing",
        "set `environment:` in the group file of staging-1.example.invalid")]


def test_a_merged_schema_problem_names_the_layer_of_its_key(world):
    """The layer schema requires nothing; the merged one finds a service without an image, and
    names all.yml, where the service is declared."""
    assert all_yml_problems(world, stack__services__worker={"role": "worker"}) == [
        ("all.yml", "stack.services.worker.image", "required key is missing")]


# --- host-key settings, exactly -------------------------------------------------------------------

def test_host_key_problems_exactly():
    from mooring.declare.model import HOST_KEY_FIX, host_key_problems
    from mooring.declare.errors import ConfigProblem

    first = {"ssh_strict_host_key_checking": "accept-new", "mooring_first_contact": True}
    assert host_key_problems("web-1", {**first, "ssh_known_hosts_file": "k"}) == [ConfigProblem(
        "inventory", "web-1.mooring_first_contact", "mooring_first_contact is for a new box's first bootstrap only",
        "remove mooring_first_contact and ssh_strict_host_key_checking from web-1's data: "
        "bootstrap recorded its key in the known_hosts file")]
    assert host_key_problems("web-1", first, True, where="inventories/x.py") == [ConfigProblem(
        "inventories/x.py", "web-1.ssh_known_hosts_file",
        "mooring_first_contact needs an explicit ssh_known_hosts_file to record the new key in",
        "set ssh_known_hosts_file for the host, e.g. ~/.ssh/known_hosts")]
    assert host_key_problems("web-1", {}) == [ConfigProblem(
        "inventory", "web-1.ssh_strict_host_key_checking",
        "host-key checking for web-1 is unset (pyinfra's default: 'accept-new'): an unknown or changed host key "
        "would be trusted (man in the middle)", HOST_KEY_FIX)]
    assert host_key_problems("web-1", {"ssh_strict_host_key_checking": "yes"}) == []


# --- authorized key files ---------------------------------------------------------------------------

def key_file_problems(world, name: str) -> list[tuple[str, str, str, str]]:
    edit(world, "staging.yml", bootstrap__authorized_keys=[], bootstrap__authorized_key_files=[name])
    return [(p.file.rsplit("/", 1)[-1], p.path, p.message, p.fix) for p in refusal()]


def test_a_missing_key_file_is_named_as_declared(world):
    assert key_file_problems(world, "keys/missing.pub") == [(
        "staging.yml", "bootstrap.authorized_key_files.0", "public key file 'keys/missing.pub' cannot be read",
        "create it (the sandbox's key appears after `mooring sandbox up`) or fix the path")]


def test_a_binary_key_file_is_refused_without_its_bytes(world):
    from mooring.declare.model import KEY_FIX

    binary = world.root / "key.pub"
    binary.write_bytes(b"ssh-ed25519 \xff\xfe\n")
    assert key_file_problems(world, str(binary)) == [(
        "staging.yml", "bootstrap.authorized_key_files.0", f"key file {binary} is not UTF-8 text (a binary file?)", KEY_FIX)]


def test_a_relative_key_file_is_read_from_the_project_root(world, monkeypatch):
    import os

    from tests.declared_world import SANDBOX_PUBKEY

    key = world.root / "keys" / "ops.pub"  # the world is a project (it holds group_data/all.yml)
    key.parent.mkdir()
    key.write_text("# the ops key\n\n" + SANDBOX_PUBKEY)
    monkeypatch.chdir(world.root / "keys")  # inside the project, but not where a relative name is looked up
    edit(world, "staging.yml", bootstrap__authorized_keys=[],
         bootstrap__authorized_key_files=[os.path.relpath(key, world.root)])
    assert model_for("staging").bootstrap.authorized_keys == (SANDBOX_PUBKEY.strip(),)


def test_host_model_uses_the_layers_pyinfra_loaded(world):
    """A shim's layer in host data (the same file this world holds) is used as loaded, not re-read."""
    from mooring.declare.model import host_model

    loaded = world.read("staging.yml")
    set_path(loaded, "stack.releases_keep", 7)
    data = {"ssh_strict_host_key_checking": "yes", "mooring_layer_staging": loaded,
            "mooring_layer_staging_file": str(world.layer("staging.yml"))}
    assert host_model(FakeHost("staging-1.example.invalid", ["staging"], data)).stack.releases_keep == 7
    assert model_for("staging").stack.releases_keep == 5


def test_an_inventory_weakening_host_keys_is_refused_while_pyinfra_loads_it():
    from pyinfra.api import Inventory
    from pyinfra.context import ctx_inventory

    from mooring.declare.model import check_inventory_host_keys, host_key_problems

    check_inventory_host_keys()  # outside pyinfra's inventory loading: nothing to check
    weak = {"ssh_strict_host_key_checking": "no"}
    first = {"ssh_strict_host_key_checking": "accept-new", "mooring_first_contact": True}
    inventory = Inventory((["web-1", ("web-2", weak), ("web-3", {"ssh_strict_host_key_checking": "yes"}), ("web-4", first)], {}))
    with ctx_inventory.use(inventory):
        with pytest.raises(ConfigError) as info:
            check_inventory_host_keys()
        assert info.value.problems == host_key_problems("web-2", weak) + host_key_problems("web-4", first, True)
        with pytest.raises(ConfigError) as info:
            check_inventory_host_keys(first_contact_ok=False)
        assert [p.path for p in info.value.problems] == ["web-2.ssh_strict_host_key_checking", "web-4.mooring_first_contact"]
    with ctx_inventory.use(Inventory((["web-1", ("web-3", {"ssh_strict_host_key_checking": "yes"})], {}))):
        check_inventory_host_keys()  # unset (mooring's default applies) and strict pass


def ssh_blob(*fields: bytes) -> str:
    """Base64 of length-prefixed strings: an SSH public key's key data."""
    return base64.b64encode(b"".join(len(f).to_bytes(4, "big") + f for f in fields)).decode()


ED25519 = ssh_blob(b"ssh-ed25519", bytes(range(32)))
#: The key data cut inside the key: its type string whole, the key's length promising more.
TRUNCATED = base64.b64encode(base64.b64decode(ED25519)[:-5]).decode()


@pytest.mark.parametrize("blob,fields", [
    (b"", []),
    (b"\0\0\0\0", [b""]),
    (b"\0\0\0\1a\0\0\0\2bc", [b"a", b"bc"]),
    (b"\0\0\0", None),
    (b"\0\0\0\1a\0", None),
    (b"\0\0\0\5ab", None),
])
def test_ssh_strings_split_length_prefixed_strings_or_refuse(blob, fields):
    from mooring.declare.model import _ssh_strings

    assert _ssh_strings(blob) == fields


@pytest.mark.parametrize("line,why", [
    (f"ssh-ed25519 {ED25519} me@x", ""),
    (f"  ssh-ed25519   {ED25519}  ", ""),
    ("ssh-ed25519", "is not an OpenSSH public key line (TYPE BASE64 [comment])"),
    (f"ssh-dss {ED25519}", "does not start with a known key type (ssh-ed25519, ssh-rsa, ecdsa-sha2-nistp256/384/521, sk-...)"),
    (f"ssh-ed25519 {ED25519[:20]}!{ED25519[20:]}", "says ssh-ed25519 but its key data is not base64"),
    (f"ssh-rsa {ED25519}", "says ssh-rsa but its key data is of another type"),
    (f"ssh-ed25519 {ssh_blob(b'ssh-ed25519', bytes(31))}", "says ssh-ed25519 but its key data is damaged (truncated or padded)"),
    (f"ssh-ed25519 {ssh_blob(b'ssh-ed25519', bytes(32), b'x')}",
     "says ssh-ed25519 but its key data is damaged (truncated or padded)"),
    (f"ssh-ed25519 {TRUNCATED}", "says ssh-ed25519 but its key data is damaged (truncated or padded)"),
    (f"ssh-rsa {TRUNCATED}", "says ssh-rsa but its key data is of another type"),
])
def test_public_key_problem_says_exactly_what_is_wrong(line, why):
    from mooring.declare.model import public_key_problem

    assert public_key_problem(line) == why


def test_key_file_contents_are_checked_line_by_line(world):
    from mooring.declare.model import KEY_FIX, public_key_problem
    from tests.declared_world import SANDBOX_PUBKEY

    keys = world.root / "keys.pub"
    keys.write_text("# ops\n" + SANDBOX_PUBKEY + "not a key\nssh-ed25519 !!!\nssh-rsa\n")
    why = public_key_problem("not a key")
    assert why and key_file_problems(world, str(keys)) == [(
        "staging.yml", "bootstrap.authorized_key_files.0", f"key file {keys}, line 3: the line {why} (and 2 more line(s))",
        KEY_FIX)]
    keys.write_text(SANDBOX_PUBKEY + "not a key\n")
    assert key_file_problems(world, str(keys))[0][2] == f"key file {keys}, line 2: the line {why}"
    keys.write_text("not a key\nnot a key either\n")
    assert key_file_problems(world, str(keys))[0][2] == f"key file {keys}, line 1: the line {why} (and 1 more line(s))"
    keys.write_text("# nothing here\n\n")
    assert key_file_problems(world, str(keys)) == [(
        "staging.yml", "bootstrap.authorized_key_files.0", f"key file {keys} holds no public key", KEY_FIX)]


def test_a_private_key_file_is_refused(world):
    private = world.root / "id_ed25519"
    private.write_text("-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----\n")
    assert key_file_problems(world, str(private)) == [(
        "staging.yml", "bootstrap.authorized_key_files.0",
        f"key file {private} holds a private key: it would become an authorized key on every host",
        f"point at the public half (id_ed25519.pub, or `ssh-keygen -y -f {private}` prints it); "
        "never copy a private key into declared state")]


def test_a_key_file_problem_names_the_layer_that_declared_it(world):
    edit(world, "all.yml", bootstrap__authorized_key_files=["keys/missing.pub"])
    edit(world, "staging.yml", bootstrap__authorized_keys=[])
    assert [(p.file.rsplit("/", 1)[-1], p.path) for p in refusal()] == [
        ("all.yml", "bootstrap.authorized_key_files.0")]


def test_host_model_refuses_first_contact_unless_asked(world):
    from mooring.declare.model import host_model

    data = {"ssh_strict_host_key_checking": "accept-new", "mooring_first_contact": True, "ssh_known_hosts_file": "k"}
    with pytest.raises(ConfigError):
        host_model(FakeHost("staging-1.example.invalid", ["staging"], data))


def test_secret_values_are_ordered_by_length_not_by_text(world):
    # "zz" sorts first as text (reverse) but is the shortest secret: it must come last, or a
    # redaction would replace it inside a longer secret first.
    edit(world, "staging.yml", stack__env__TINY={"secret": "TINY_SECRET"})
    world.set_secret("staging", "TINY_SECRET", "zz")
    values = model_for("staging").stack.secret_values()
    assert values[-1] == "zz"
    assert [len(v) for v in values] == sorted((len(v) for v in values), reverse=True)


def test_the_migration_and_what_undoes_it_reach_the_model(world):
    """``down`` is what `mooring rollback --migrate-down` runs; without it a rollback cannot undo."""
    assert staging(world).migration == Migration("api", ["alembic", "upgrade", "head"], ["alembic", "downgrade", "-1"])
    data = world.read("all.yml")
    del data["stack"]["migration"]["down"]
    world.write("all.yml", data)
    assert model_for("staging").stack.migration == Migration("api", ["alembic", "upgrade", "head"], None)


def test_a_probe_with_no_port_to_ask_is_refused_in_the_layer_that_declares_it(world):
    """The probe is declared in all.yml and read by a staging host (staging.yml declares none):
    the refusal names all.yml."""
    data = world.read("all.yml")
    data["stack"]["smoke"] = [{"name": "redis-up", "path": "/", "service": "redis", "port": 6379}]
    world.write("all.yml", data)
    remove(world, "staging.yml", "stack.smoke")
    assert [(p.file.rsplit("/", 1)[-1], p.path, p.message) for p in refusal()] == [
        ("all.yml", "stack.smoke.0.port", "service redis publishes no host port for its container port 6379")]


# --- bootstrap keys: the lines written, the layer a refusal names --------------------------------

VALID_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHk5c3pQ6wq0p8m1TQmS0V8z9yJXo1X3j1n6cQq2vU9a ok"


def bootstrap_problems_in_all_yml(world, **bootstrap) -> list[tuple[str, str, str]]:
    """(file name, path, message) of the bootstrap's problems with ``bootstrap`` set in all.yml
    (and no keys anywhere else)."""
    data = world.read("staging.yml")
    data.get("bootstrap", {}).pop("authorized_keys", None)
    data.get("bootstrap", {}).pop("authorized_key_files", None)
    world.write("staging.yml", data)
    return all_yml_problems(world, **{f"bootstrap__{key}": value for key, value in bootstrap.items()})


def test_inline_keys_reach_the_model_once_each(world):
    edit(world, "staging.yml", bootstrap__authorized_key_files=[], bootstrap__authorized_keys=[VALID_KEY, VALID_KEY])
    assert model_for("staging").bootstrap.authorized_keys == (VALID_KEY,)


def test_a_bad_inline_key_is_refused_in_its_layer(world):
    found = bootstrap_problems_in_all_yml(world, authorized_key_files=[], authorized_keys=["ssh-ed25519 AAAA ok"])
    assert [(file, path) for file, path, _ in found] == [("all.yml", "bootstrap.authorized_keys.0")]


def test_no_key_at_all_is_refused_in_the_layer_of_the_keys(world):
    assert bootstrap_problems_in_all_yml(world, authorized_key_files=[], authorized_keys=[]) == [(
        "all.yml", "bootstrap.authorized_keys",
        "no authorized key is declared: bootstrap would empty the deploy user's authorized_keys (lock-out)")]
