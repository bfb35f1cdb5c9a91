"""A stack taken from a team's compose files (declare/model.py ``_compose_service``), host-free:
the named volumes and healthcheck settings Compose reads are the model's. Written for the
mutation run (docs/mutation.md); the compose-file behaviour itself is tests/test_compose_files.py's."""

from __future__ import annotations

from tests.declared_world import model_for
from tests.test_compose_files import compose_world

def test_named_volumes_and_healthcheck_settings_come_from_compose(world):
    compose_world(world)  # the shop stack, with its ops profile
    services = model_for("staging").stack.services
    db = services["db"]
    assert [(m.type, m.source, m.target) for m in db.volumes] == [("volume", "pgdata", "/var/lib/postgresql/data")]
    assert [(m.type, m.source) for m in services["redis"].volumes] == [("volume", "redisdata")]
    assert (db.healthcheck.interval, db.healthcheck.retries) == ("5s", 10)
    assert (services["api"].healthcheck.timeout, services["api"].healthcheck.retries) == ("5s", 10)


def test_a_bind_mounted_folder_of_the_project_is_a_folder_in_the_stack(world):
    compose_world(world)  # the shop stack, with its ops profile
    stack = model_for("staging").stack
    [nginx] = stack.services["nginx"].volumes
    assert (nginx.type, nginx.kind, nginx.read_only, nginx.owner, nginx.mode) == ("bind", "dir", True, "root", "0755")
    assert nginx.source == f"{stack.dir}/nginx"
