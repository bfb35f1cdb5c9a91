"""mooring's view of one service of a team's compose files (declare/model.py ``_compose_service``),
host-free, with the real Compose: the defaults a service gets for what its file leaves out
(healthcheck timings, restart, image source), the role read from an image reference with a
registry port and a digest, a disabled healthcheck, environment entries without a value, and
what ``stack.compose.services`` adds (required_env, metrics). Written for the mutation run
(docs/mutation.md); the compose-file behaviour itself is tests/test_compose_files.py's."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from mooring.declare.model import Healthcheck, Metrics, Service
from tests.declared_world import ROOT, World, model_for
from tests.test_compose_files import SHOP
from tests.test_mutants_model_compose import refusal, use_files

DIGEST = "sha256:" + "0123456789abcdef" * 4
CACHE_IMAGE = f"registry.example.com:5000/team/redis@{DIGEST}"

#: A team's extra compose file, read after the shop's: one service per corner of the view.
FIELDS: dict[str, Any] = {"services": {
    # no interval/timeout/retries/start_period, no restart; environment as a list, FROM_SHELL without a value
    "cache": {"image": CACHE_IMAGE, "environment": ["FROM_SHELL", "TZ", "LEVEL=debug"],
              "healthcheck": {"test": ["CMD", "redis-cli", "ping"]}},
    # every healthcheck timing written; environment as a mapping, EMPTY with no value
    "timed": {"image": "shop/timed:2", "command": ["serve", "--port", "8000"], "restart": "always",
              "environment": {"EMPTY": None, "MODE": "fast"},
              "healthcheck": {"test": ["CMD-SHELL", "curl -f http://localhost:8000/"], "interval": "10s",
                              "timeout": "2s", "retries": 5, "start_period": "7s"}},
    # a test written but switched off with `disable: true`
    "quiet": {"image": "shop/quiet:1", "healthcheck": {"test": ["CMD", "true"], "disable": True}},
    # the image's own healthcheck switched off with test NONE
    "off": {"image": "shop/off:1", "healthcheck": {"test": ["NONE"]}},
}}


@pytest.fixture
def project(world: World, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The shop's compose files copied into the world's folder, which becomes the project."""
    shutil.copytree(ROOT / SHOP, world.root / "shop")
    monkeypatch.setenv("MOORING_PROJECT", str(world.root))
    return world.root / "shop"


def plain(name: str, image: str, **fields: Any) -> Service:
    """The Service a compose service ``name`` writing only ``image`` (and ``fields``) is."""
    values: dict[str, Any] = {
        "name": name, "role": "other", "image": image, "image_source": "registry", "command": None, "ports": [],
        "env_keys": [], "required_env": [], "volumes": [], "healthcheck": None, "depends_on": {}, "restart": "no",
        "metrics": None, "path": f"services.{name}", "environment": {}, "written": {}}
    return Service(**{**values, **fields})


def test_what_a_compose_service_leaves_out_gets_composes_defaults(world: World, project: Path) -> None:
    """A healthcheck without timings checks every 30s with a 30s timeout, 3 retries and no start
    period; no restart is "no"; an image not named in stack.compose.services is pulled from its
    registry; an entry without a value is empty for the container; the role comes from the
    image's name behind a registry with a port and a digest."""
    use_files(world, project, {"fields.yml": FIELDS})
    services = model_for("staging").stack.services
    assert services["cache"] == plain(
        "cache", CACHE_IMAGE, role="redis", env_keys=["TZ"],
        environment={"FROM_SHELL": "", "LEVEL": "debug", "TZ": "Europe/Berlin"},
        healthcheck=Healthcheck(["CMD", "redis-cli", "ping"], "30s", "30s", 3, "0s"),
        written={"healthcheck.test": ["CMD", "redis-cli", "ping"]})


def test_the_healthcheck_timings_and_restart_written_are_the_services(world: World, project: Path) -> None:
    """interval, timeout, retries, start_period and restart as the file writes them; an
    environment mapping entry without a value is empty."""
    use_files(world, project, {"fields.yml": FIELDS})
    timed = model_for("staging").stack.services["timed"]
    test = ["CMD-SHELL", "curl -f http://localhost:8000/"]
    assert timed == plain("timed", "shop/timed:2", command=["serve", "--port", "8000"], restart="always",
                          environment={"EMPTY": "", "MODE": "fast"},
                          healthcheck=Healthcheck(test, "10s", "2s", 5, "7s"),
                          written={"command": ["serve", "--port", "8000"], "healthcheck.test": test})


def test_a_switched_off_healthcheck_is_none(world: World, project: Path) -> None:
    """``disable: true`` (even with a test written) and ``test: [NONE]`` both mean the service has
    no healthcheck: mooring must not wait for a health state that never comes."""
    use_files(world, project, {"fields.yml": FIELDS})
    services = model_for("staging").stack.services
    assert services["quiet"] == plain("quiet", "shop/quiet:1", written={"healthcheck.test": ["CMD", "true"]})
    assert services["off"] == plain("off", "shop/off:1", written={"healthcheck.test": ["NONE"]})


def test_a_service_without_an_image_is_refused_in_its_file(world: World, project: Path) -> None:
    """A Compose ``provider:`` service runs no image of its own: refused in the file that writes it
    (it once became an image '' that the production rules asked to pin, and a deploy to pull)."""
    use_files(world, project, {"model.yml": {"services": {
        "llm": {"provider": {"type": "model", "options": {"model": "ai/smollm2"}}}}}})
    assert refusal() == [("shop/model.yml", "services.llm.image",
                          "llm has no `image:` (a `provider:` service?): mooring deploys, pins and checks images, "
                          "and has none to give it",
                          "give llm an image, or keep it out of the stack mooring deploys (a profile "
                          "stack.compose.profiles does not list)")]


def test_stack_compose_services_adds_required_env_and_metrics(world: World, project: Path) -> None:
    """What stack.compose.services declares for a service: the env it requires and where
    Prometheus scrapes it; the other services have neither."""
    use_files(world, project, {"fields.yml": FIELDS})
    data = world.read("all.yml")
    data["stack"]["compose"]["services"] = {
        "cache": {"required_env": ["TZ", "LEVEL"], "metrics": {"path": "/stats", "port": 9121}}}
    world.write("all.yml", data)
    services = model_for("staging").stack.services
    cache, timed = services["cache"], services["timed"]
    assert (cache.required_env, cache.metrics) == (["TZ", "LEVEL"], Metrics("/stats", 9121))
    assert (timed.required_env, timed.metrics) == ([], None)
