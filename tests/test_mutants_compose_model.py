"""A stack taken from a team's compose files (declare/model.py ``_compose_service``), host-free:
the named volumes and healthcheck settings Compose reads are the model's. Written for the
mutation run (docs/mutation.md); the compose-file behaviour itself is tests/test_compose_files.py's."""

from __future__ import annotations

from tests.declared_world import model_for

SHOP = ["tests/compose_stacks/shop/docker-compose.yml", "tests/compose_stacks/shop/docker-compose.ops.yml"]


def shop_world(world) -> None:
    data = world.read("all.yml")
    for key in ("services", "migration", "endpoints", "cors"):
        data["stack"].pop(key, None)
    data["stack"]["compose"] = {"files": SHOP, "profiles": ["ops"],
                                "mounts": {"./nginx": {"owner": "root", "group": "root", "mode": "0755"}},
                                "secrets": {"pg_password": "POSTGRES_PASSWORD"}}
    data["stack"]["env"].update({"TZ": "Europe/Berlin"})
    world.write("all.yml", data)
    for layer in ("staging.yml", "production.yml", "sandbox.yml"):
        layered = world.read(layer)
        for key in ("services", "endpoints", "cors"):
            layered.get("stack", {}).pop(key, None)
        world.write(layer, layered)


def test_named_volumes_and_healthcheck_settings_come_from_compose(world):
    shop_world(world)
    services = model_for("staging").stack.services
    db = services["db"]
    assert [(m.type, m.source, m.target) for m in db.volumes] == [("volume", "pgdata", "/var/lib/postgresql/data")]
    assert [(m.type, m.source) for m in services["redis"].volumes] == [("volume", "redisdata")]
    assert (db.healthcheck.interval, db.healthcheck.retries) == ("5s", 10)
    assert (services["api"].healthcheck.timeout, services["api"].healthcheck.retries) == ("5s", 10)


def test_a_bind_mounted_folder_of_the_project_is_a_folder_in_the_stack(world):
    shop_world(world)
    stack = model_for("staging").stack
    [nginx] = stack.services["nginx"].volumes
    assert (nginx.type, nginx.kind, nginx.read_only, nginx.owner, nginx.mode) == ("bind", "dir", True, "root", "0755")
    assert nginx.source == f"{stack.dir}/nginx"
