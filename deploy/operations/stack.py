"""Operations on a compose stack: bring it up only when something changed, migrate once per
release, keep releases, and roll back to a kept one."""

from __future__ import annotations

import json

from pyinfra import host
from pyinfra.api import QuoteString, StringCommand, operation
from pyinfra.facts.files import Sha256File

from deploy.facts.releases import JsonFile, Release, Releases, ReleaseHistory
from deploy.facts.stack import ComposeProject, compose_cmd
from deploy.operations.compose import fail_host


def compose_up(directory: str, project: str) -> list[str]:
    """The argument list of ``docker compose up`` for a stack (detached, orphans removed)."""
    return [compose_cmd(directory, project), "up", "-d", "--remove-orphans", "--quiet-pull"]


@operation()
def up(directory: str, project: str, service_images: dict[str, str], restarts: dict[str, str] | None = None):
    """
    ``docker compose up -d --remove-orphans``, only when a service is out of date.

    + directory: the stack directory (compose.yml and .env in it)
    + project: compose project name
    + service_images: service name → image ref, to compare running image IDs
    + restarts: service name → restart policy (a finished ``restart: "no"`` job is up to date)

    A service is out of date when its container is missing or not running, when compose's
    ``config-hash`` label differs from ``docker compose config --hash`` (compose file, .env
    values it uses), or when it runs another image ID than its ref now names. Compose itself then
    recreates only those services.
    """
    state = host.get_fact(ComposeProject, directory=directory, project=project)
    stale, orphans = state.out_of_date(service_images, restarts), state.orphans()
    if state.desired and not stale and not orphans:
        host.noop(f"{len(state.desired)} services up to date (config-hash and image ID match)")
        return
    yield StringCommand(*compose_up(directory, project))


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
    if host.get_fact(Sha256File, path=marker):
        host.noop(f"migrations already ran for release {release_id}")
        return
    run = [compose_cmd(directory, project), "run", "--rm", "-T", QuoteString(service),
           *(QuoteString(part) for part in command)]
    yield StringCommand("mkdir", "-p", QuoteString(f"{directory}/releases"))
    yield StringCommand(*run, "&&", "date", "-u", "+%FT%TZ", ">", QuoteString(marker))


def keep_set(history: ReleaseHistory, new_number: int, keep: int) -> set[int]:
    """Release numbers to keep when ``new_number`` is saved: the new one, the one it replaces
    (the rollback target; the newest good one when the current one failed), and the newest
    ``keep - 1`` releases that did not fail. Failed releases never count towards ``keep``.

    >>> keep_set(ReleaseHistory([Release(1, "a"), Release(2, "b")], current="b"), 3, keep=2)
    {2, 3}
    """
    keep_numbers = {new_number}
    replaced = history.current_release() or history.previous_good()
    if replaced is not None:
        keep_numbers.add(replaced.number)
    good = [r.number for r in history.releases if not r.failed]
    keep_numbers.update(good[-(keep - 1):] if keep > 1 else [])
    return keep_numbers


@operation()
def release_saved(directory: str, release_id: str, paths: list[str], images: dict[str, str],
                  env_digests: dict[str, str], keep: int = 5):
    """
    Keep what makes up this release under ``releases/NNNN-<id>/`` and make it current.

    + directory: the stack directory
    + release_id: content ID of the release (rendered files, image IDs, migration)
    + paths: the rendered files of the release (compose file, .env, configs, scripts)
    + images: image ref → image ID on the host (rollback re-tags these)
    + env_digests: .env key → keyed digest of its value (never the value): tells the next
      deploy which keys changed
    + keep: releases to keep; the current and the last good one are never pruned

    **Example:**

    .. code:: python

        stack.release_saved(name="Release saved", directory="/srv/mooring/solacore", release_id="0f3a9c",
                            paths=["/srv/mooring/solacore/compose.yml"], images={}, env_digests={})
    """
    history = host.get_fact(Releases, directory=directory)
    if history.current == release_id:
        current = history.current_release()
        host.noop(f"release {current.number if current else '?'} ({release_id}) is already current")
        return
    release = Release(history.next_number(), release_id)
    base = f"{directory}/releases"
    target = f"{base}/{release.dirname}"
    yield StringCommand("mkdir", "-p", "-m", "700", QuoteString(target))
    yield StringCommand("tar", "-czpPf", QuoteString(f"{target}/files.tar.gz"), *(QuoteString(p) for p in paths))
    for name, data in (("images.json", images), ("env-digests.json", env_digests)):
        yield StringCommand("echo", QuoteString(json.dumps(data, sort_keys=True)), ">", QuoteString(f"{target}/{name}"))
    yield StringCommand("echo", release_id, ">", QuoteString(f"{base}/current"))
    kept = keep_set(history, release.number, keep)
    for gone in history.releases:
        if gone.number not in kept:
            yield StringCommand("rm", "-rf", QuoteString(f"{base}/{gone.dirname}"),
                                QuoteString(f"{base}/migrated-{gone.release_id}"))


@operation(is_idempotent=False)
def rolled_back(directory: str, project: str, number: int, failed_release: str | None = None):
    """
    Restore release ``number``: its files and image tags, then recreate the services.

    + directory: the stack directory
    + project: compose project name
    + number: the kept release to restore
    + failed_release: release ID that this deploy created and that failed; it is marked
      ``-failed`` so that later rollbacks skip it (None when the deploy failed before saving one)

    Services are recreated (``--force-recreate``): a restored bind-mounted config does not
    change compose's config hash, so a plain ``up`` would keep the failed config running.
    """
    history = host.get_fact(Releases, directory=directory)
    target = history.by_number(number)
    base = f"{directory}/releases"
    if target is None or target.failed:
        yield fail_host(f"release {number} is not kept (or failed) in {base}: nothing safe to roll back to")
        return
    for release in history.releases:
        if failed_release and release.release_id == failed_release and not release.failed:
            failed = Release(release.number, release.release_id, failed=True)
            yield StringCommand("mv", QuoteString(f"{base}/{release.dirname}"), QuoteString(f"{base}/{failed.dirname}"))
    source = f"{base}/{target.dirname}"
    yield StringCommand("tar", "-xzpPf", QuoteString(f"{source}/files.tar.gz"))
    for ref, image_id in sorted((host.get_fact(JsonFile, path=f"{source}/images.json") or {}).items()):
        yield StringCommand("docker", "tag", QuoteString(image_id), QuoteString(ref))
    yield StringCommand(*compose_up(directory, project), "--force-recreate")
    yield StringCommand("echo", target.release_id, ">", QuoteString(f"{base}/current"))


@operation(is_idempotent=False)
def marked_failed(directory: str, release_id: str):
    """
    Mark a release that failed its health gate ``-failed`` (when nothing could be rolled back to).

    + directory: the stack directory
    + release_id: the failed release
    """
    history = host.get_fact(Releases, directory=directory)
    base = f"{directory}/releases"
    for release in history.releases:
        if release.release_id == release_id and not release.failed:
            failed = Release(release.number, release.release_id, failed=True)
            yield StringCommand("mv", QuoteString(f"{base}/{release.dirname}"), QuoteString(f"{base}/{failed.dirname}"))
