"""Operations on a compose stack: bring it up only when something changed, migrate once per
release, keep releases, and roll back to a kept one."""

from __future__ import annotations

import json

from pyinfra import host
from pyinfra.api import QuoteString, StringCommand, operation
from pyinfra.facts.files import File

from deploy.facts.releases import JsonFile, Release, Releases
from deploy.facts.stack import ComposeProject, compose_cmd


@operation()
def up(directory: str, project: str, service_images: dict[str, str]):
    """
    ``docker compose up -d --remove-orphans``, only when a service is out of date.

    + directory: the stack directory (compose.yml and .env in it)
    + project: compose project name
    + service_images: service name → image ref, to compare running image IDs

    A service is out of date when its container is missing or not running, when compose's
    ``config-hash`` label differs from ``docker compose config --hash`` (compose file, .env
    values it uses), or when it runs another image ID than its ref now names. Compose itself then
    recreates only those services.
    """
    state = host.get_fact(ComposeProject, directory=directory, project=project)
    stale, orphans = state.out_of_date(service_images), state.orphans()
    if state.desired and not stale and not orphans:
        host.noop(f"{len(state.desired)} services up to date (config-hash and image ID match)")
        return
    yield StringCommand(compose_cmd(directory, project), "up", "-d", "--remove-orphans", "--quiet-pull")


@operation()
def migrated(directory: str, project: str, service: str, command: list[str], release_id: str):
    """
    Run the stack's migration command once per release, before traffic moves to it.

    + service: the service whose image runs it (dependencies start first, e.g. the db)
    + command: the migration command, e.g. ``["python3", "-m", "app", "migrate"]``
    + release_id: migrations run again only for a new release

    **Example:**

    .. code:: python

        stack.migrated(name="Migrations", directory="/srv/mooring/solacore", project="solacore",
                       service="api", command=["alembic", "upgrade", "head"], release_id="0f3a...")
    """
    marker = f"{directory}/releases/migrated-{release_id}"
    if host.get_fact(File, path=marker):
        host.noop(f"migrations already ran for release {release_id}")
        return
    run = [compose_cmd(directory, project), "run", "--rm", "-T", QuoteString(service),
           *(QuoteString(part) for part in command)]
    yield StringCommand("mkdir", "-p", f"{directory}/releases")
    yield StringCommand(*run, "&&", "date", "-u", "+%FT%TZ", ">", marker)


@operation()
def release_saved(directory: str, release_id: str, paths: list[str], images: dict[str, str], keep: int = 5):
    """
    Keep what makes up this release (files and image IDs) under ``releases/NNNN-<id>/``.

    + paths: the rendered files of the release (compose file, .env, configs, scripts)
    + images: image ref → image ID on the host
    + keep: how many releases to keep (the current one is never pruned)
    """
    history = host.get_fact(Releases, directory=directory)
    if history.current == release_id:
        current = history.current_release()
        host.noop(f"release {current.number if current else '?'} ({release_id}) is already current")
        return
    release = Release(history.next_number(), release_id)
    target = f"{directory}/releases/{release.dirname}"
    yield StringCommand("mkdir", "-p", "-m", "700", target)
    yield StringCommand("tar", "-czpPf", f"{target}/files.tar.gz", *(QuoteString(p) for p in paths))
    yield StringCommand("echo", QuoteString(json.dumps(images, sort_keys=True)), ">", f"{target}/images.json")
    yield StringCommand("echo", release_id, ">", f"{directory}/releases/current")
    old = [r for r in history.releases if r.number <= release.number - keep]
    for gone in old:
        yield StringCommand("rm", "-rf", f"{directory}/releases/{gone.dirname}")


@operation()
def rolled_back(directory: str, project: str, number: int):
    """
    Restore release ``number``: its files, its image tags, then compose up; it becomes current.

    The release being left is marked ``-failed`` so that later rollbacks skip it.
    """
    history = host.get_fact(Releases, directory=directory)
    target, current = history.by_number(number), history.current_release()
    if target is None:
        raise ValueError(f"release {number} is not kept on {host.name}")
    base = f"{directory}/releases"
    if current is not None and current.number != number:
        failed = Release(current.number, current.release_id, failed=True)
        yield StringCommand("mv", f"{base}/{current.dirname}", f"{base}/{failed.dirname}")
    source = f"{base}/{target.dirname}"
    yield StringCommand("tar", "-xzpPf", f"{source}/files.tar.gz")
    for ref, image_id in sorted((host.get_fact(JsonFile, path=f"{source}/images.json") or {}).items()):
        yield StringCommand("docker", "tag", QuoteString(image_id), QuoteString(ref))
    yield StringCommand(compose_cmd(directory, project), "up", "-d", "--remove-orphans", "--quiet-pull")
    yield StringCommand("echo", target.release_id, ">", f"{base}/current")
