"""A team's compose files as the stack's source (declare/model.py ``_compose_secret_files`` and
``_built``), host-free, with the real Compose: which Compose secrets mooring writes on the host
and from which stack secret, which it leaves to the host, and the refusals of a bad declaration,
each naming the file to fix, the key and the fix. Written for the mutation run (docs/mutation.md);
the compose-file behaviour itself is tests/test_compose_files.py's."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from mooring.declare.errors import ConfigError
from mooring.declare.layers import display_path
from mooring.declare.render import render_stack
from tests.declared_world import ROOT, SECRETS, World, model_for
from tests.test_compose_files import SHOP, compose_world

SHOP_FILES = ["shop/docker-compose.yml", "shop/docker-compose.ops.yml"]
BUILD_FIX = "name the image it builds, e.g. `image: registry.example.com/team/{0}:${{TAG}}`"
BUILD_MESSAGE = "{0} has `build:` but no `image:`: the host would have nothing to run"


@pytest.fixture
def shop(world: World, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The shop's compose files copied into the world's folder, which becomes the project: the
    test's own compose files are written next to them."""
    shutil.copytree(ROOT / SHOP, world.root / "shop")
    monkeypatch.setenv("MOORING_PROJECT", str(world.root))
    return world.root / "shop"


def use_files(world: World, project: Path, extra: dict[str, dict[str, Any]], secrets: dict[str, str] | None = None,
              ) -> None:
    """The stack takes the shop's files and then ``extra`` (file name → its content), in that
    order; ``stack.compose.secrets`` is ``secrets`` (the shop's one mapping by default), in all.yml."""
    for name, content in extra.items():
        (project / name).write_text(yaml.safe_dump(content))
    compose_world(world, files=SHOP_FILES + [f"shop/{name}" for name in extra])
    data = world.read("all.yml")
    data["stack"]["compose"].update({"mounts": {"./nginx": {"owner": "root", "group": "root", "mode": "0755"}},
                                     "secrets": {"pg_password": "POSTGRES_PASSWORD"} if secrets is None else secrets})
    world.write("all.yml", data)


def refusal(host: str = "staging") -> list[tuple[str, str, str, str]]:
    """Every problem the stack of ``host``'s environment is refused with: (file, key, message, fix)."""
    with pytest.raises(ConfigError) as info:
        model_for(host).stack
    return [(p.file, p.path, p.message, p.fix) for p in info.value.problems]


def all_yml(world: World) -> str:
    """all.yml as a problem names it (the lowest layer: never the last one a staging host reads)."""
    return display_path(world.layer("all.yml"))


# --- Compose secrets: files of the repo, files of the host --------------------------------------

def test_secrets_of_the_hosts_own_are_left_to_the_host_and_need_no_mapping(world, shop):
    """A ``file:`` outside the project (the host's own certificate) and an ``environment:`` secret
    are neither refused without a mapping nor written by mooring; the repo file still is."""
    use_files(world, shop, {"override.yml": {
        "services": {"nginx": {"secrets": ["host_cert", "api_token"]}},
        "secrets": {"host_cert": {"file": "/etc/ssl/private/host.pem"}, "api_token": {"environment": "TZ"}}}})
    model = model_for("staging")
    assert model.stack.compose.secret_files == {"pg_password": ("./secrets/pg_password", "POSTGRES_PASSWORD")}
    written = {f.path: f.content.strip() for f in render_stack(model).files if "/secrets/" in f.path}
    assert written == {"/srv/mooring/solacore/secrets/pg_password": SECRETS["staging"]["POSTGRES_PASSWORD"]}


def test_a_mapping_for_no_secret_of_the_files_names_its_layer_and_the_fix(world, shop):
    """``stack.compose.secrets.other``, declared in all.yml, names no secret of the compose files:
    refused in all.yml (not in the last layer read), with the fix."""
    use_files(world, shop, {}, secrets={"pg_password": "POSTGRES_PASSWORD", "other": "JWT_SECRET"})
    assert refusal() == [(all_yml(world), "stack.compose.secrets.other", "other is not a secret of the compose files",
                          "use a name of their top-level `secrets:`")]


def test_a_repo_secret_file_without_a_mapping_is_refused_where_stack_compose_is_declared(world, shop):
    """``pg_password`` comes from ``./secrets/pg_password`` and stack.compose (in all.yml) maps no
    stack secret to it: refused in all.yml, with the mapping to write."""
    use_files(world, shop, {}, secrets={})
    assert refusal() == [(all_yml(world), "stack.compose.secrets.pg_password",
                          "secret pg_password comes from ./secrets/pg_password, a file of the repo",
                          "keep the value out of the repo: declare `stack.compose.secrets.pg_password: KEY` with KEY "
                          "a stack env key ({secret: NAME}); mooring writes the file on the host")]


def test_a_repo_secret_mapped_to_an_undeclared_env_key_names_its_layer_and_the_declaration(world, shop):
    """``stack.compose.secrets.pg_password: PG_SECRET`` (in all.yml) with no PG_SECRET in stack.env:
    refused in all.yml, with the stack.env entry to add."""
    use_files(world, shop, {}, secrets={"pg_password": "PG_SECRET"})
    assert refusal() == [(all_yml(world), "stack.compose.secrets.pg_password", "PG_SECRET is not declared in stack.env",
                          "declare `PG_SECRET: {secret: PG_SECRET}` in stack.env")]


# --- build: services --------------------------------------------------------------------------

def test_a_build_service_without_an_image_is_refused_in_the_compose_file_that_writes_it(world, shop):
    """``job`` is written by the third compose file only: the refusal names that file (not the
    first one, Compose's project file)."""
    use_files(world, shop, {"jobs.yml": {"services": {"job": {"build": "./worker"}}}})
    assert refusal() == [("shop/jobs.yml", "services.job.image", BUILD_MESSAGE.format("job"), BUILD_FIX.format("job"))]


def test_a_build_service_of_an_included_file_is_refused_in_the_included_file(world, shop):
    """``job`` comes from a file the third one ``include:``s: the refusal names that file, the one
    the team edits (as the including file is shown: relative to the project)."""
    (shop / "jobs").mkdir()
    (shop / "jobs" / "included.yml").write_text(yaml.safe_dump({"services": {"job": {"build": "./worker"}}}))
    use_files(world, shop, {"jobs.yml": {"include": [{"path": "jobs/included.yml"}]}})
    assert refusal() == [("shop/jobs/included.yml", "services.job.image", BUILD_MESSAGE.format("job"),
                          BUILD_FIX.format("job"))]


def test_a_service_written_under_compose_s_own_tags_is_refused_in_its_file(world, shop):
    """A file using Compose's ``!reset``/``!override`` tags is still read for where a service is
    written (a plain safe YAML load fails on them, and the refusal named the first file)."""
    (shop / "jobs.yml").write_text("services:\n  job:\n    build: ./worker\n    ports: !reset []\n"
                                   "    environment: !override {A: b}\n")
    use_files(world, shop, {})
    data = world.read("all.yml")
    data["stack"]["compose"]["files"].append("shop/jobs.yml")
    world.write("all.yml", data)
    assert refusal() == [("shop/jobs.yml", "services.job.image", BUILD_MESSAGE.format("job"), BUILD_FIX.format("job"))]


def test_services_declared_beside_compose_files_are_refused_in_their_layer(world: World, shop: Path) -> None:
    """Services come from one place: stack.services next to compose files is refused in the layer
    declaring the services (all.yml, not the last layer read), with the fix naming both ways out."""
    services = world.read("all.yml")["stack"]["services"]
    use_files(world, shop, {})
    data = world.read("all.yml")
    data["stack"]["services"] = services
    world.write("all.yml", data)
    assert refusal() == [(
        all_yml(world), "stack.services",
        "services are declared here and taken from stack.compose.files",
        "keep one: remove stack.services (the compose files declare the services; stack.compose.services adds "
        "what mooring needs) or remove stack.compose")]


def test_a_stack_without_services_or_compose_files_is_refused_with_both_ways(world: World) -> None:
    for layer in ("all.yml", "staging.yml"):
        data = world.read(layer)
        data["stack"].pop("services", None)
        world.write(layer, data)
    assert refusal() == [(
        all_yml(world), "stack.services", "required key is missing",
        "declare the services under stack.services, or name the team's compose files in stack.compose.files")]
