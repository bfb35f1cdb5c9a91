"""Issue 9: a stack whose services come from the team's own compose files (stack.compose), read
by Compose itself. Host-free: the real Compose binary on this machine, real files under
tests/compose_stacks/, no mocks. The deploy of such a stack to a box is in tests/test_compose_deploy.py.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from mooring.checks.findings import Outcome
from mooring.checks.preflight import check_hosts, check_model, inventory_hosts, preflight_inventory
from mooring.declare import compose_files
from mooring.declare.compose import local_binary
from mooring.declare.errors import ConfigError
from mooring.declare.render import render_stack
from tests.declared_world import ROOT, model_for

SHOP = Path("tests/compose_stacks/shop")
SHOP_FILES = [str(SHOP / "docker-compose.yml"), str(SHOP / "docker-compose.ops.yml")]


def compose_world(world, files=None, profiles=("ops",), **stack) -> None:
    """Turn the world's reference stack into one taken from ``files`` (the shop stack by default)."""
    data = world.read("all.yml")
    for key in ("services", "migration", "endpoints", "cors"):  # the shop's API has no dev/ops gates
        data["stack"].pop(key, None)
    data["stack"]["compose"] = {"files": list(files or SHOP_FILES), "profiles": list(profiles)}
    if files is None:  # what the shop's files need from mooring
        data["stack"]["compose"].update({"mounts": {"./nginx": {"owner": "root", "group": "root", "mode": "0755"}},
                                         "secrets": {"pg_password": "POSTGRES_PASSWORD"}})
    data["stack"]["env"].update({"TZ": "Europe/Berlin"})
    data["stack"].update(stack)
    world.write("all.yml", data)
    for layer in ("staging.yml", "production.yml", "sandbox.yml"):
        layered = world.read(layer)
        for key in ("services", "endpoints", "cors"):
            layered.get("stack", {}).pop(key, None)
        world.write(layer, layered)


def problems(host: str = "staging") -> list[tuple[str, str, str]]:
    with pytest.raises(ConfigError) as info:
        model_for(host).stack
    return [(p.path, p.message, p.fix) for p in info.value.problems]


def compose_variables(files: list[str], profiles: list[str]) -> dict:
    command = [local_binary(), "--env-file", "/dev/null"]
    for name in files:
        command += ["-f", str(ROOT / name)]
    for profile in profiles:
        command += ["--profile", profile]
    out = subprocess.run(command + ["config", "--variables", "--format", "json"], capture_output=True, text=True,
                         check=True, env={"PATH": "/usr/bin:/bin"})
    return json.loads(out.stdout)


def test_services_come_from_the_compose_files_as_compose_reads_them(world):
    compose_world(world)
    stack = model_for("staging").stack
    assert list(stack.services) == ["api", "db", "nginx", "redis", "worker"]
    assert [s.role for s in stack.services.values()] == ["other", "postgres", "proxy", "redis", "other"]
    api, db, nginx, worker = (stack.services[k] for k in ("api", "db", "nginx", "worker"))
    assert api.image == "mooring/api:1.0.0" and api.depends_on == {"db": "service_healthy", "redis": "service_started"}
    assert worker.depends_on == {"redis": "service_started"}                       # short form
    assert worker.command == ["sh", "-c", "trap 'exit 0' TERM; sleep infinity & wait"]  # a string command, split by Compose
    assert db.restart == "unless-stopped"                                          # from a YAML merge key
    assert db.healthcheck.test == ["CMD-SHELL", "pg_isready -q -U $${POSTGRES_USER} -d $${POSTGRES_DB}"]
    assert [str(p) for p in nginx.ports] == ["8080:80/tcp"]
    (mount,) = nginx.volumes
    assert (mount.type, mount.source, mount.read_only, mount.owner, mount.mode) == (
        "bind", "/srv/mooring/solacore/nginx", True, "root", "0755")
    assert stack.compose.relative_mounts == {"./nginx": (ROOT / SHOP / "nginx").resolve()}
    assert stack.http_port == 8080


def test_a_service_named_in_compose_services_keeps_the_role_its_image_gives(world):
    compose_world(world)
    data = world.read("all.yml")
    data["stack"]["compose"]["services"] = {"db": {"image_source": "ship"}, "api": {"role": "app"}}
    world.write("all.yml", data)
    services = model_for("staging").stack.services
    assert (services["db"].role, services["db"].image_source, services["api"].role) == ("postgres", "ship", "app")


def test_without_the_profile_its_services_are_left_out(world):
    compose_world(world, profiles=())
    assert "worker" not in model_for("staging").stack.services


@pytest.mark.parametrize("profiles", [[], ["ops"]])
def test_the_variables_mooring_requires_are_composes(world, profiles):
    """For the test compose files, the variables mooring wants declared are exactly those Compose
    says have no default (``config --variables``), required or not."""
    compose_world(world, profiles=profiles)
    stack = model_for("staging").stack
    by_compose = compose_variables(SHOP_FILES, profiles)
    assert set(stack.compose.variables) == set(by_compose)
    assert {n for n, v in stack.compose.variables.items() if v.required} == {
        n for n, v in by_compose.items() if v["Required"] or not v["DefaultValue"]}
    assert {n for n, v in stack.compose.variables.items() if v.demanded} == {"JWT_SECRET"}


def test_a_variable_used_without_a_default_must_be_declared(world):
    compose_world(world)
    data = world.read("all.yml")
    del data["stack"]["env"]["TZ"]
    world.write("all.yml", data)
    assert problems() == [("stack.env.TZ", f"{', '.join(SHOP_FILES)} use ${{TZ}} without a default, but stack.env "
                           "does not declare it", "declare TZ in stack.env (or give it a default in the compose file: "
                           "${TZ:-...})")]


def test_a_demanded_variable_may_not_be_empty_even_if_allowed(world):
    compose_world(world)
    world.set_secret("staging", "JWT_SECRET", "")
    found = problems()
    assert [(p, m) for p, m, _ in found] == [("stack.env.JWT_SECRET", f"JWT_SECRET is empty, but {', '.join(SHOP_FILES)} "
                                              "need it (${JWT_SECRET:?...})")]


def test_an_empty_plain_variable_needs_allow_empty(world):
    compose_world(world)
    data = world.read("all.yml")
    data["stack"]["env"]["TZ"] = ""
    world.write("all.yml", data)
    assert [p for p, _, _ in problems()] == ["stack.env.TZ"]
    data["stack"]["env"]["TZ"] = {"value": "", "allow_empty": True}
    world.write("all.yml", data)
    assert model_for("staging").stack.env["TZ"].value == ""


def test_services_declared_twice_are_refused(world):
    compose_world(world)
    data = world.read("all.yml")
    data["stack"]["services"] = {"api": {"image": "x:1"}}
    world.write("all.yml", data)
    assert [p for p, _, _ in problems()] == ["stack.services"]


def test_no_services_at_all_is_refused(world):
    compose_world(world)
    data = world.read("all.yml")
    del data["stack"]["compose"]
    world.write("all.yml", data)
    (found,) = problems()
    assert found[0] == "stack.services" and "stack.compose.files" in found[2]


def test_a_missing_compose_file_names_the_file(world):
    compose_world(world, files=[SHOP_FILES[0], "compose/nowhere.yml"])
    (found,) = problems()
    assert found[0] == "stack.compose.files" and found[1].startswith("compose/nowhere.yml: no such file")


def test_a_broken_compose_file_is_composes_own_message(world, tmp_path):
    broken = ROOT / "tests" / "compose_stacks" / "broken.yml"
    compose_world(world, files=[str(broken.relative_to(ROOT))], profiles=())
    (found,) = problems()
    assert found[0] == "stack.compose.files"
    assert "tests/compose_stacks/broken.yml" in found[1] and "imag" in found[1], found
    assert str(ROOT) not in found[1]


def test_an_unknown_service_in_compose_services_is_refused(world):
    compose_world(world)
    data = world.read("all.yml")
    data["stack"]["compose"]["services"] = {"apii": {"role": "app"}}
    world.write("all.yml", data)
    assert [p for p, _, _ in problems()] == ["stack.compose.services.apii"]


def test_the_compose_files_environment_is_the_declared_one_only(world, monkeypatch, tmp_path):
    """Neither the caller's shell nor a .env beside the compose files fills in a variable."""
    project = tmp_path / "repo"
    shutil.copytree(ROOT / SHOP, project)
    (project / ".env").write_text("TZ=from-dotenv\n")
    monkeypatch.setenv("TZ", "from-shell")
    src = compose_files.source(["repo/docker-compose.yml"], [], tmp_path, "group_data/all.yml")
    config = compose_files.normalized(src, "shop", {"TZ": "declared", "JWT_SECRET": "j", "POSTGRES_DB": "d",
                                                     "POSTGRES_USER": "u", "POSTGRES_PASSWORD": "p"})
    assert config["services"]["api"]["environment"]["TZ"] == "declared"


def test_rules_run_on_the_compose_services(world):
    compose_world(world)
    data = world.read("all.yml")
    data["stack"]["compose"]["mounts"] = {}
    world.write("all.yml", data)
    found = [f for f in check_model(model_for("staging")) if f.outcome is Outcome.FAILED]
    assert any(f.check.startswith("mounts.") and "nginx" in f.path for f in found), [str(f) for f in found]


def test_a_clean_compose_stack_passes_every_rule(world):
    compose_world(world)
    found = check_model(model_for("staging"))
    assert not [str(f) for f in found if f.outcome is not Outcome.PASSED]
    assert {f.check for f in found} >= {"render.compose_config", "consistency.db_env", "mounts.read_only_sources", "env.complete"}


def test_the_host_gets_composes_merged_file_and_the_teams_mounted_files(world):
    compose_world(world)
    model = model_for("staging")
    rendered = render_stack(model)
    compose = rendered.file("/srv/mooring/solacore/compose.yml").content
    assert compose.startswith("# Managed by mooring: stack solacore (staging), merged by Compose from "
                              "tests/compose_stacks/shop/docker-compose.yml, tests/compose_stacks/shop/docker-compose.ops.yml")
    data = yaml.safe_load(compose)
    assert data["name"] == "solacore" and "build" not in data["services"]["worker"]
    assert model.stack.compose.built == ()  # the worker's image comes from a registry here: nothing to build
    assert data["services"]["api"]["environment"]["DATABASE_URL"] == (
        "postgresql://${POSTGRES_USER}:${POSTGRES_PASSWORD}@db:5432/${POSTGRES_DB}")     # filled on the host from .env
    assert data["services"]["nginx"]["volumes"][0]["source"] == "./nginx"
    assert data["services"]["worker"]["cap_drop"] == ["ALL"] and "jobs" in data["networks"]  # keys mooring does not model
    conf = rendered.file("/srv/mooring/solacore/nginx/default.conf")
    assert conf.content == (ROOT / SHOP / "nginx" / "default.conf").read_text()
    assert (conf.mode, conf.owner, conf.used_by) == ("0644", "root", ("nginx",))
    assert "/srv/mooring/solacore/nginx" in [d.path for d in rendered.directories]
    for secret in model.stack.secret_values():
        assert secret not in compose


def test_a_compose_secret_file_is_written_on_the_host_from_the_stack_secrets(world):
    compose_world(world)
    model = model_for("staging")
    rendered = render_stack(model)
    password = model.stack.env["POSTGRES_PASSWORD"].value
    secret = rendered.file("/srv/mooring/solacore/secrets/pg_password")
    assert secret.content == password and secret.secret and (secret.mode, secret.owner) == ("0644", "root")
    folder = {d.path: d for d in rendered.directories}["/srv/mooring/solacore/secrets"]
    assert (folder.mode, folder.owner) == ("0700", "root")
    data = yaml.safe_load(rendered.file("/srv/mooring/solacore/compose.yml").content)
    assert data["secrets"]["pg_password"]["file"] == "./secrets/pg_password"
    assert not (ROOT / SHOP / "secrets").exists(), "the test repo must not hold the secret file"


def test_a_compose_secret_from_a_repo_file_must_be_filled_by_mooring(world):
    compose_world(world)
    data = world.read("all.yml")
    data["stack"]["compose"]["secrets"] = {}
    world.write("all.yml", data)
    assert problems() == [("stack.compose.secrets.pg_password", "secret pg_password comes from ./secrets/pg_password, "
                           "a file of the repo", "keep the value out of the repo: declare "
                           "`stack.compose.secrets.pg_password: KEY` with KEY a stack env key ({secret: NAME}); mooring "
                           "writes the file on the host")]


@pytest.mark.parametrize("secrets, path, message", [
    ({"pg_password": "NOT_DECLARED"}, "stack.compose.secrets.pg_password", "NOT_DECLARED is not declared in stack.env"),
    ({"pg_password": "POSTGRES_PASSWORD", "other": "JWT_SECRET"}, "stack.compose.secrets.other",
     "other is not a secret of the compose files"),
])
def test_a_compose_secret_mapping_names_what_exists(world, secrets, path, message):
    compose_world(world)
    data = world.read("all.yml")
    data["stack"]["compose"]["secrets"] = secrets
    world.write("all.yml", data)
    assert [(p, m) for p, m, _ in problems()] == [(path, message)]


STACKS = {  # files, profiles, {variable: mooring's verdict} where Compose's one verdict per variable differs
    "shop": (SHOP_FILES, ["ops"], {}),
    "shop-no-profile": (SHOP_FILES, [], {}),
    "shop-wrong-db": ([*SHOP_FILES, "tests/compose_stacks/shop-wrong-db.yml"], ["ops"], {}),
    # ${JWT_SECRET:?...} in the shop, then ${JWT_SECRET} in the override: Compose says "not required"
    "shop-secret-arg": ([*SHOP_FILES, "tests/compose_stacks/shop-secret-arg.yml"], ["ops"], {"JWT_SECRET": "demanded"}),
    "monitoring": (["tests/compose_stacks/monitoring/compose.yaml"], [], {"GF_PLUGINS": "optional"}),  # ${GF_PLUGINS:-}
    "blog": (["tests/compose_stacks/blog/docker-compose.yml"], [], {}),
    "mariadb": (["tests/compose_stacks/mariadb/compose.yml"], [], {}),
    "nameless": (["tests/compose_stacks/nameless.yml"], [], {}),
    # ${LOG_LEVEL} beside ${LOG_LEVEL:-info}: Compose says "default info"; ${API_KEY} before
    # ${API_KEY:?...}: Compose says "not required"; ${PLUGINS-}: an explicit empty default
    "mixed-defaults": (["tests/compose_stacks/mixed-defaults.yml"], [],
                       {"LOG_LEVEL": "required", "API_KEY": "demanded", "PLUGINS": "optional"}),
}
#: Compose refuses it (tests/test_compose_files.py::test_a_broken_compose_file_is_composes_own_message).
REFUSED = {"tests/compose_stacks/broken.yml"}


def test_every_test_compose_file_is_compared_with_compose():
    """A compose file added under tests/compose_stacks/ is in STACKS (or refused by Compose)."""
    named = {name for files, _, _ in STACKS.values() for name in files} | REFUSED
    on_disk = {str(p.relative_to(ROOT)) for p in (ROOT / "tests" / "compose_stacks").rglob("*.y*ml")
               if "services" in (yaml.safe_load(p.read_text()) or {})}
    assert on_disk == named


@pytest.mark.parametrize("name", sorted(STACKS))
def test_every_test_stacks_variables_are_what_compose_says(name):
    """mooring's variables are Compose's (``config --variables``): the same names, and for a
    variable written in one form the same verdict: demanded = Compose's required (``${X:?}``),
    required = that or no default at all, the same default. Where the files write a variable in
    several forms Compose's one verdict is whichever form it met last (it changes between runs):
    mooring's verdict there is the listed one."""
    files, profiles, exceptions = STACKS[name]
    src = compose_files.source(files, profiles, ROOT, "group_data/all.yml")
    ours = compose_files.variables(src, "test")
    theirs = compose_variables(files, profiles)
    assert set(ours) == set(theirs)
    single = set(theirs) - set(exceptions)
    assert {n for n in single if ours[n].demanded} == {n for n in single if theirs[n]["Required"]}
    assert {n for n in single if ours[n].required} == {
        n for n in single if theirs[n]["Required"] or not theirs[n]["DefaultValue"]} - {
        n for n, v in exceptions.items() if v == "optional"}
    assert {n: ours[n].default for n in single} == {n: theirs[n]["DefaultValue"] for n in single}
    verdicts = {"optional": (False, False), "required": (True, False), "demanded": (True, True)}
    assert {n: (ours[n].required, ours[n].demanded) for n in exceptions} == {n: verdicts[v] for n, v in exceptions.items()}


def test_one_use_without_a_default_makes_the_variable_required():
    """``${LOG_LEVEL}`` next to ``${LOG_LEVEL:-info}``: Compose's one verdict often says "default
    info", but the command gets an empty string when LOG_LEVEL is not declared; ``${API_KEY}``
    next to ``${API_KEY:?...}``: Compose often says "not required", but it refuses an empty API_KEY."""
    src = compose_files.source(STACKS["mixed-defaults"][0], [], ROOT, "group_data/all.yml")
    for _ in range(5):  # Compose's own verdict on these two changes between runs; mooring's does not
        found = compose_files.variables(src, "test")
        assert (found["LOG_LEVEL"].required, found["LOG_LEVEL"].demanded) == (True, False)
        assert (found["API_KEY"].required, found["API_KEY"].demanded) == (True, True)
        assert (found["APP_TAG"].required, found["PLUGINS"].required) == (False, False)


def test_a_variable_written_with_and_without_a_default_must_be_declared(world):
    compose_world(world, files=STACKS["mixed-defaults"][0], profiles=())
    data = world.read("all.yml")
    data["stack"]["compose"] = {"files": STACKS["mixed-defaults"][0]}
    data["stack"]["env"]["API_KEY"] = {"secret": "JWT_SECRET"}
    world.write("all.yml", data)
    assert [p for p, _, _ in problems()] == ["stack.env.LOG_LEVEL"]


def test_a_mariadb_stack_from_compose_gets_mysql_backups(world):
    compose_world(world, files=STACKS["blog"][0], profiles=())
    data = world.read("all.yml")
    data["stack"]["compose"] = {"files": STACKS["blog"][0]}
    data["stack"]["env"].update({"BLOG_VERSION": "2.3.1", "MARIADB_DATABASE": "blog", "MARIADB_USER": "blog",
                                 "MARIADB_PASSWORD": {"secret": "POSTGRES_PASSWORD"},
                                 "MARIADB_ROOT_PASSWORD": {"secret": "JWT_SECRET"}})
    data["stack"].pop("health", None)
    for key in ("smoke", "proxy"):  # no nginx in front: the web service publishes its own port
        data["stack"].pop(key, None)
    world.write("all.yml", data)
    staging = world.read("staging.yml")
    staging["stack"].pop("smoke")
    world.write("staging.yml", staging)
    stack = model_for("staging").stack
    assert stack.services["db"].role == "mysql" and stack.backups.enabled and stack.backups.service == "db"
    assert stack.backups.engine == "mysql"
    assert stack.services["worker"].command == ["bin/worker", "--queue", "default", "--concurrency", "2"]
    failed = [str(f) for f in check_model(model_for("staging")) if f.outcome is Outcome.FAILED]
    assert not failed, failed


def test_a_monitoring_stack_demands_its_admin_password(world):
    compose_world(world, files=STACKS["monitoring"][0], profiles=())
    data = world.read("all.yml")
    data["stack"]["compose"] = {"files": STACKS["monitoring"][0]}
    data["stack"]["env"]["GRAFANA_HOST"] = "grafana.example.com"
    data["stack"]["backups"] = {"enabled": False}
    data["stack"].pop("health", None)
    world.write("all.yml", data)
    found = problems()
    assert [(p, m.split(",")[0]) for p, m, _ in found] == [
        ("stack.env.GF_ADMIN_PASSWORD", "tests/compose_stacks/monitoring/compose.yaml use ${GF_ADMIN_PASSWORD} without a default")]


def test_a_shipped_build_service_is_built_here_and_must_name_its_image(world):
    compose_world(world)
    data = world.read("all.yml")
    data["stack"]["compose"]["services"] = {"worker": {"image_source": "ship"}}
    world.write("all.yml", data)
    assert model_for("staging").stack.compose.built == ("worker",)
    compose_world(world, files=["tests/compose_stacks/nameless.yml"], profiles=())
    assert problems() == [("services.job.image", "job has `build:` but no `image:`: the host would have nothing to run",
                           "name the image it builds, e.g. `image: registry.example.com/team/job:${TAG}`")]


def test_a_database_url_in_the_compose_environment_is_checked_against_the_database(world):
    """DATABASE_URL is composed in the compose file: it must name the database Postgres creates
    from its own environment there (seed 003: solacore vs readme_to_recover)."""
    compose_world(world, files=[*SHOP_FILES, "tests/compose_stacks/shop-wrong-db.yml"])
    data = world.read("all.yml")
    data["stack"]["compose"].update({"mounts": {"./nginx": {"owner": "root", "group": "root", "mode": "0755"}},
                                     "secrets": {"pg_password": "POSTGRES_PASSWORD"}})
    world.write("all.yml", data)
    model = model_for("staging")
    found = [f for f in check_model(model) if f.check == "consistency.database_url" and f.outcome is Outcome.FAILED]
    assert [(f.path, f.message, f.file) for f in found] == [(
        "services.api.environment.DATABASE_URL",
        "DATABASE_URL: database 'solacore' is not POSTGRES_DB 'readme_to_recover'",
        "tests/compose_stacks/shop/docker-compose.yml")]
    assert not [s for s in model.stack.secret_values() if any(s in f.message for f in found)]


def test_a_secret_in_a_compose_command_is_found_in_the_files_own_words(world):
    """Compose interpolates ``${JWT_SECRET}`` before mooring reads the command, so the rule reads
    the uninterpolated one (it found nothing in a compose stack before); the finding names the
    compose file that writes the service and shows no secret."""
    compose_world(world, files=STACKS["shop-secret-arg"][0])
    data = world.read("all.yml")
    data["stack"]["compose"].update({"mounts": {"./nginx": {"owner": "root", "group": "root", "mode": "0755"}},
                                     "secrets": {"pg_password": "POSTGRES_PASSWORD"}})
    world.write("all.yml", data)
    model = model_for("staging")
    redis = model.stack.services["redis"]
    assert "${JWT_SECRET}" not in " ".join(redis.command)  # Compose's interpolated command holds the value
    found = [f for f in check_model(model) if f.check == "secrets.not_in_args" and f.outcome is Outcome.FAILED]
    assert [(f.path, f.file) for f in found] == [("services.redis.command", "tests/compose_stacks/shop/docker-compose.yml"),
                                                 ("services.redis.healthcheck.test", "tests/compose_stacks/shop/docker-compose.yml")]
    assert "services.redis.environment: {JWT_SECRET: ${JWT_SECRET}}" in found[0].fix
    secrets = model.stack.secret_values()
    assert not [s for s in secrets for f in found if s in f.message + f.fix]


def test_the_shop_without_a_secret_in_its_commands_passes_secrets_not_in_args(world):
    compose_world(world)
    found = [f for f in check_model(model_for("staging")) if f.check == "secrets.not_in_args"]
    assert [f.outcome for f in found] == [Outcome.PASSED]


def hung_compose(tmp_path, monkeypatch) -> Path:
    """A Compose binary that never answers (it notes each call in the returned file); a 1 s bound."""
    calls = tmp_path / "compose-calls"
    fake = tmp_path / "docker-compose"
    fake.write_text(f"#!/bin/sh\necho \"$*\" >> {calls}\nexec sleep 30\n")
    fake.chmod(0o755)
    monkeypatch.setattr(compose_files, "local_binary", lambda: str(fake))
    monkeypatch.setattr(compose_files, "_HUNG", {})
    monkeypatch.setenv("MOORING_CHECKER_TIMEOUT", "1")
    return calls


def test_a_hung_compose_is_one_problem_naming_the_files_and_the_bound(world, tmp_path, monkeypatch):
    """``docker compose config`` that does not answer is bounded by MOORING_CHECKER_TIMEOUT (it
    was a fixed 60 s), and the problem names the compose files and how to find out why."""
    compose_world(world)
    hung_compose(tmp_path, monkeypatch)
    started = time.monotonic()
    (found,) = problems()
    assert time.monotonic() - started < 20
    files = " ".join(f"-f {name}" for name in SHOP_FILES)
    assert found == ("stack.compose.files", f"docker compose config did not answer within 1 s on {', '.join(SHOP_FILES)}",
                     f"run `docker compose {files} config --no-interpolate --format json` by hand to see where it "
                     "hangs; if the machine is only slow, allow more time (MOORING_CHECKER_TIMEOUT=SECONDS)")


def merged(base: dict, over: dict) -> dict:
    """``over`` laid on ``base`` the way mooring's layers merge (mappings key by key)."""
    out = dict(base)
    for key, value in over.items():
        out[key] = merged(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def test_a_hung_compose_is_waited_for_once_and_the_other_hosts_findings_stand(world, tmp_path, monkeypatch):
    """Staging takes its services from the shop's compose files, production and sandbox declare
    theirs: a Compose that hangs is one finding for staging; every finding of the other hosts is
    there as without the hang."""
    data = world.read("all.yml")
    moved = {k: data["stack"].pop(k) for k in ("services", "migration", "endpoints", "cors") if k in data["stack"]}
    data["stack"]["env"]["TZ"] = "Europe/Berlin"
    world.write("all.yml", data)
    for layer in ("production.yml", "sandbox.yml"):
        layered = world.read(layer)
        layered["stack"] = merged(moved, layered.get("stack", {}))
        world.write(layer, layered)
    staging = world.read("staging.yml")
    for key in ("services", "endpoints", "cors"):
        staging["stack"].pop(key, None)
    staging["stack"]["compose"] = {"files": SHOP_FILES, "profiles": ["ops"], "secrets": {"pg_password": "POSTGRES_PASSWORD"},
                                   "mounts": {"./nginx": {"owner": "root", "group": "root", "mode": "0755"}}}
    world.write("staging.yml", staging)
    hosts = inventory_hosts(str(world.inventory))
    others = [h for h in hosts if h.name != "staging-1.example.invalid"]
    clean = check_hosts(others)
    assert len(others) == 4 and not [str(f) for f in clean if f.outcome in (Outcome.FAILED, Outcome.ERROR)]
    calls = hung_compose(tmp_path, monkeypatch)
    findings = check_hosts(hosts)
    assert calls.exists()
    (hung,) = [f for f in findings if f.subject == "staging-1.example.invalid"]
    assert (hung.outcome, hung.path) == (Outcome.FAILED, "stack.compose.files") and "did not answer" in hung.message
    assert sorted(map(str, [f for f in findings if f is not hung])) == sorted(map(str, clean))


def test_a_hung_compose_is_asked_once_for_every_host_sharing_the_files(world, tmp_path, monkeypatch):
    """Five hosts, one set of compose files: one wait, one finding for the group of all hosts."""
    compose_world(world)
    calls = hung_compose(tmp_path, monkeypatch)
    findings = preflight_inventory(str(world.inventory))
    assert len(calls.read_text().splitlines()) == 1
    assert [(f.subject, f.path, f.outcome) for f in findings] == [("group:test_hosts", "stack.compose.files", Outcome.FAILED)]


def test_a_compose_that_answers_no_json_is_a_problem_not_a_crash(world, tmp_path, monkeypatch):
    compose_world(world)
    fake = tmp_path / "docker-compose"
    fake.write_text("#!/bin/sh\nexit 0\n")
    fake.chmod(0o755)
    monkeypatch.setattr(compose_files, "local_binary", lambda: str(fake))
    (found,) = problems()
    assert found[:2] == ("stack.compose.files", f"docker compose config gave no JSON on {', '.join(SHOP_FILES)}")
