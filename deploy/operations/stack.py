"""Operations on a compose stack: bring it up only when something changed, migrate once per
release, keep releases, and roll back to a kept one.

Release bookkeeping on the host, under ``<stack dir>/releases/``:

- ``NNNN-<id>/`` one kept release: ``files.tar.gz`` (rendered files without secrets),
  ``masked-files.json`` (the secret files, ``.env`` included, with a placeholder naming each
  secret in place of its value), ``images.json``, ``env-digests.json``, ``replaces`` (the release
  current when it was staged: what ``mooring rollback`` puts back by default); ``-failed``
  appended once its gate failed. No release holds a secret value: a rollback fills the
  placeholders with the secrets declared at that time (``rolled_back``).
- ``pending``: ``NNNN-<id> <run>`` of a release that was staged and not yet gated. It becomes
  ``current`` only after its health gate passed (``release_promoted``).
- ``current``: ``NNNN-<id>`` of the release in place, which passed its gate.

Every bookkeeping file is written to a temporary name and renamed; archives are checked with
``tar -t`` before anything is extracted, and restored files are swapped in one by one.
``secret-files.tar.gz`` (kept by older mooring versions) is removed by the next run, under the lock.
"""

from __future__ import annotations

import hashlib
import json
import shlex

from pyinfra import host, logger
from pyinfra.api import QuoteString, StringCommand, operation
from pyinfra.facts.files import Sha256File

from mooring.declare.render import MaskedFile, SecretMaskError
from mooring.deploy.facts.releases import (MASKED_FILES, REPLACES, JsonFile, MaskedFiles, Release, Releases,
                                          ReleaseHistory)
from mooring.deploy.facts.stack import ComposeProject, compose_cmd
from mooring.deploy.operations.compose import fail_host
from mooring.deploy.operations.files import atomic_put


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
    yield StringCommand("mkdir", "-p", QuoteString(f"{directory}/releases"))
    yield StringCommand(*_compose_run(directory, project, service, command), "&&", "date", "-u", "+%FT%TZ", ">",
                        QuoteString(marker))


@operation()
def migrated_down(directory: str, project: str, service: str, command: list[str], release_id: str):
    """
    Undo the migrations of release ``release_id`` (the current one, before a rollback puts an
    older one back): its down-migration command in its own image, then its migration marker
    removed, so that a later deploy of that release runs its migrations again. A release that
    ran no migrations (no marker) has nothing to undo.

    + service: the service whose image runs it (the current release's compose file)
    + command: the declared ``stack.migration.down``, e.g. ``["alembic", "downgrade", "-1"]``
    + release_id: the release whose migrations are undone

    **Example:**

    .. code:: python

        stack.migrated_down(name="Down-migration", directory="/srv/mooring/solacore", project="solacore",
                            service="api", command=["alembic", "downgrade", "-1"], release_id="0f3a...")
    """
    marker = f"{directory}/releases/migrated-{release_id}"
    if not host.get_fact(Sha256File, path=marker):
        host.noop(f"release {release_id} ran no migrations: nothing to undo")
        return
    yield StringCommand(*_compose_run(directory, project, service, command), "&&", "rm", "-f", QuoteString(marker))


def _compose_run(directory: str, project: str, service: str, command: list[str]) -> list:
    """``docker compose run --rm -T SERVICE COMMAND...`` in the stack's folder (a one-off container
    of the current release: the migrations, up or down)."""
    return [compose_cmd(directory, project), "run", "--rm", "-T", QuoteString(service),
            *(QuoteString(part) for part in command)]


def keep_set(history: ReleaseHistory, new_number: int, keep: int) -> set[int]:
    """Release numbers to keep when ``new_number`` becomes current: the new one, the one it
    replaces (the rollback target; the newest good one when there is no current one), and the
    newest ``keep - 1`` releases that did not fail. Failed releases never count towards ``keep``.

    >>> sorted(keep_set(ReleaseHistory([Release(1, "a"), Release(2, "b")], current="b"), 3, keep=2))
    [2, 3]
    """
    keep_numbers = {new_number}
    replaced = history.current_release() or history.previous_good()
    if replaced is not None:
        keep_numbers.add(replaced.number)
    good = [r.number for r in history.releases if not r.failed and r.number != new_number]
    keep_numbers.update(good[-(keep - 1):] if keep > 1 else [])
    return keep_numbers


def _write_atomically(text: str, dest: str, run: str) -> StringCommand:
    """``printf`` text to a per-run temporary name, then rename it over ``dest``."""
    tmp = f"{dest}.tmp-{run}"
    return StringCommand("printf", "'%s\\n'", QuoteString(text), ">", QuoteString(tmp), "&&",
                         "mv", "-f", QuoteString(tmp), QuoteString(dest))


def _tar_members(paths: list[str]) -> list[QuoteString]:
    return [QuoteString(p.lstrip("/")) for p in paths]


@operation()
def release_staged(directory: str, number: int, release_id: str, paths: list[str], masked: list[MaskedFile],
                   images: dict[str, str], env_digests: dict[str, str], run: str, replaces: str | None = None):
    """
    Keep what makes up a new release under ``releases/NNNN-<id>/`` and mark it ``pending``.

    + directory: the stack directory
    + number/release_id: the release this run saves (its number is fixed by the run's plan)
    + paths: rendered files without secrets (compose file, configs, scripts): ``files.tar.gz``
    + masked: the rendered files holding secrets (``.env``), masked (``mooring.declare.render.masked_files``):
      ``masked-files.json``; no secret value is kept
    + images: image ref → image ID on the host (rollback re-tags these)
    + env_digests: .env key → keyed digest of its value (never the value)
    + run: this run's ID (temporary names, the ``pending`` record)
    + replaces: ``NNNN-<id>`` of the release current now (``replaces``: what ``mooring rollback``
      puts back by default, whatever other releases were deployed and rolled back from meanwhile)

    The release is built in a hidden per-run folder and renamed into place, so a kill leaves
    either no release folder or a whole one. It does not become ``current`` here: only
    ``release_promoted``, after the health gate, does that.

    **Example:**

    .. code:: python

        stack.release_staged(name="Release staged", directory="/srv/mooring/solacore", number=3,
                             release_id="0f3a9c", paths=["/srv/mooring/solacore/compose.yml"],
                             masked=[], images={}, env_digests={}, run="ab12")
    """
    release = Release(number, release_id)
    history = host.get_fact(Releases, directory=directory)
    base = f"{directory}/releases"
    pending = history.pending_release()
    if history.by_number(number) == release and pending == release:
        host.noop(f"release {number} ({release_id}) is already staged")
        return
    target, stage = f"{base}/{release.dirname}", f"{base}/.stage-{run}"
    yield StringCommand("rm", "-rf", QuoteString(stage), "&&", "mkdir", "-p", "-m", "700", QuoteString(stage))
    yield StringCommand("tar", "-C", "/", "-czpf", QuoteString(f"{stage}/files.tar.gz"), *_tar_members(paths))
    kept = {"files": [item.to_dict() for item in masked]}
    for name, data in (("images.json", images), ("env-digests.json", env_digests), (MASKED_FILES, kept)):
        yield StringCommand("printf", "'%s\\n'", QuoteString(json.dumps(data, sort_keys=True)), ">",
                            QuoteString(f"{stage}/{name}"))
    if replaces:
        yield StringCommand("printf", "'%s\\n'", QuoteString(replaces), ">", QuoteString(f"{stage}/{REPLACES}"))
    if history.by_number(number) is not None:  # an interrupted run staged this very release
        yield StringCommand("rm", "-rf", QuoteString(f"{base}/{history.by_number(number).dirname}"))
    yield StringCommand("mv", QuoteString(stage), QuoteString(target))
    yield _write_atomically(f"{release.dirname} {run}", f"{base}/pending", run)


@operation()
def release_promoted(directory: str, number: int, release_id: str, keep: int, run: str):
    """
    Make a staged release ``current`` after its health gate passed, and prune old releases.

    + directory: the stack directory
    + number/release_id: the release whose gate passed
    + keep: releases to keep; the current one and its rollback target are never pruned
    + run: this run's ID (temporary names)
    """
    history = host.get_fact(Releases, directory=directory)
    release = Release(number, release_id)
    base = f"{directory}/releases"
    if history.by_number(number) != release:
        yield fail_host(f"release {release.dirname} is not kept in {base}: not promoted")
        return
    current = history.current_release()
    if current == release and history.pending is None:
        host.noop(f"release {number} ({release_id}) is already current")
        return
    yield _write_atomically(release.dirname, f"{base}/current", run)
    yield StringCommand("rm", "-f", QuoteString(f"{base}/pending"))
    for path in pruned_paths(history, keep_set(history, number, keep), release, base):
        yield StringCommand("rm", "-rf", QuoteString(path))


def pruned_paths(history: ReleaseHistory, kept: set[int], release: Release, base: str) -> list[str]:
    """What pruning removes: each release folder not kept, and its migration marker unless a kept
    release (or ``release``, the new current) has the same ID -- IDs recur when a config is
    reverted, and the marker is per ID, so removing it would run the migrations again.

    >>> h = ReleaseHistory([Release(1, "a"), Release(2, "b"), Release(3, "a")], current="a")
    >>> pruned_paths(h, {2, 3}, Release(3, "a"), "/r")
    ['/r/0001-a']
    >>> pruned_paths(h, {3}, Release(3, "a"), "/r")
    ['/r/0001-a', '/r/0002-b', '/r/migrated-b']
    """
    kept_ids = {r.release_id for r in history.releases if r.number in kept} | {release.release_id}
    paths = []
    for gone in history.releases:
        if gone.number not in kept:
            paths.append(f"{base}/{gone.dirname}")
            if gone.release_id not in kept_ids:
                paths.append(f"{base}/migrated-{gone.release_id}")
    return paths


def _mark_failed(base: str, history: ReleaseHistory, number: int | None) -> list[StringCommand]:
    """Commands marking release ``number`` failed (by number: IDs recur) and clearing ``pending``."""
    release = history.by_number(number) if number is not None else None
    commands = []
    if release is not None and not release.failed:
        failed = Release(release.number, release.release_id, failed=True)
        commands.append(StringCommand("mv", QuoteString(f"{base}/{release.dirname}"),
                                      QuoteString(f"{base}/{failed.dirname}")))
    if history.pending is not None and history.pending.number == number:
        commands.append(StringCommand("rm", "-f", QuoteString(f"{base}/pending")))
    return commands


def _clear_stage_leftovers(base: str) -> StringCommand:
    """Remove half-built release folders and temporary bookkeeping files: a run stopped while
    staging (Ctrl-C, a time-out) leaves its own, and under the lock nobody else writes there."""
    quoted = shlex.quote(base)
    return StringCommand("sh", "-c", QuoteString(f"rm -rf {quoted}/.stage-* {quoted}/*.tmp-*"))


def archive_check(source: str) -> str:
    """Shell that fails, touching nothing, when the kept release's ``files.tar.gz`` is damaged.

    >>> archive_check("/s/releases/0001-ab").startswith("set -eu; archive=/s/releases/0001-ab/files.tar.gz;")
    True
    """
    return (f"set -eu; archive={shlex.quote(source)}/files.tar.gz; if [ -f \"$archive\" ]; then "
            "tar -tzf \"$archive\" >/dev/null || { echo \"mooring: $archive is damaged: nothing restored\" >&2; "
            "exit 1; }; fi")


def restore_script(source: str, run: str, mounts: dict[str, list[str]], compose: str,
                   touched: bool, tags: dict[str, str], restarts: tuple[str, ...] = ()) -> str:
    """Shell that restores a kept release's files without secrets, one atomic swap per file that
    differs, and its image tags.

    The archive is listed (``tar -t``) before anything is extracted; extraction goes to a
    scratch folder, never over live files. When ``touched``, ``compose up -d`` then recreates
    what differs from the restored compose file, .env and image tags, and the services mounting
    a restored config that differed are restarted (compose does not see bind-mounted files), as
    are ``restarts`` (services mounting a restored secret file that differed).

    >>> print(restore_script("/s/releases/0001-ab", "r1", {}, "dc", touched=False, tags={}).splitlines()[0])
    set -eu
    """
    archives = f"{shlex.quote(source)}/files.tar.gz"
    scratch = source.rsplit("/releases/", 1)[0] + "/.mooring"  # the stack's own, 0700, cleaned under the lock
    cases = "".join(f"{shlex.quote(path)}) restart=\"$restart {' '.join(services)}\" ;; "
                    for path, services in sorted(mounts.items()) if services)
    lines = [
        "set -eu",
        f"mkdir -p {shlex.quote(scratch)}",
        f"stage=$(mktemp -d {shlex.quote(scratch)}/restore.XXXXXX)",
        "trap 'rm -rf \"$stage\"' EXIT",
        f"for archive in {archives}; do",
        "  [ -f \"$archive\" ] || continue",
        "  tar -tzf \"$archive\" >/dev/null || { echo \"mooring: $archive is damaged: nothing restored\" >&2; exit 1; }",
        "done",
        f"for archive in {archives}; do",
        "  if [ -f \"$archive\" ]; then tar -C \"$stage\" -xzpf \"$archive\"; fi",
        "done",
        f"restart={shlex.quote(' '.join(restarts))}",
        "for file in $(cd \"$stage\" && find . -type f | sed 's|^\\.||'); do",
        "  cmp -s \"$stage$file\" \"$file\" && continue",
        f"  cp -p \"$stage$file\" \"$file.mooring-new-{run}\" && mv -f \"$file.mooring-new-{run}\" \"$file\"",
        "  echo \"restored $file\"",
        f"  case \"$file\" in {cases}*) ;; esac" if cases else "  :",
        "done",
        *(f"docker tag {shlex.quote(image_id)} {shlex.quote(ref)}" for ref, image_id in sorted(tags.items())),
    ]
    if touched:
        lines += [f"{compose} up -d --remove-orphans --quiet-pull",
                  f"if [ -n \"$restart\" ]; then {compose} restart $restart; fi"]
    return "\n".join(lines)


@operation(is_idempotent=False)
def rolled_back(directory: str, project: str, number: int, run: str, failed_number: int | None = None,
                containers_touched: bool = True, mounts: dict[str, list[str]] | None = None,
                make_current: bool = False, secrets: dict[str, str] | None = None, force: bool = False):
    """
    Restore release ``number``: its files (one swap per differing file) and image tags, then
    bring back only what changed. Its secret files (``.env``) are its masked copies with the
    secrets declared now filled in (the ones the failed release deployed), uploaded at 0600
    through a temporary name: no release keeps a secret, and a rollback never brings a revoked
    secret back.

    + directory: the stack directory
    + project: compose project name
    + number: the kept release to restore
    + run: this run's ID (temporary names)
    + failed_number: release number this run saved and that failed: marked ``-failed`` (by
      number, since IDs recur when a config is reverted) so that later rollbacks skip it
    + containers_touched: False when the deploy failed before any container changed (image
      upload, disk full): files and tags are restored, no container is restarted
    + mounts: file path → services mounting it; those are restarted when the file is restored
    + make_current: write ``current`` (an on-demand rollback to an older release)
    + secrets: secret name → value declared now (``mooring.declare.render.declared_secrets``). A
      placeholder naming a secret that is no longer declared fails the host before anything
      is written.
    + force: restore a release marked failed (an operator vouching for it); its ``-failed``
      mark is removed first. Without it such a release is refused.

    A release staged by an older mooring keeps no masked copies: its secret files are left as
    they are (its ``secret-files.tar.gz`` was removed under the lock: it held old secrets).
    """
    history = host.get_fact(Releases, directory=directory)
    target = history.by_number(number)
    base = f"{directory}/releases"
    if target is None:
        yield fail_host(f"release {number} is not kept in {base}: nothing to roll back to (mooring releases lists them)")
        return
    if target.failed and not force:
        yield fail_host(f"release {number} failed its health gate ({base}/{target.dirname}): roll back to a good "
                        "release, or add --force if you know why it failed and want it back anyway")
        return
    if target.failed:  # forced: the operator vouches for it, so it is no longer marked failed
        vouched = Release(target.number, target.release_id)
        yield StringCommand("mv", QuoteString(f"{base}/{target.dirname}"), QuoteString(f"{base}/{vouched.dirname}"))
        target = vouched
    source = f"{base}/{target.dirname}"
    masked = host.get_fact(MaskedFiles, release_dir=source)
    try:
        restored = [(item, item.restored(secrets or {})) for item in masked or ()]
    except SecretMaskError as exc:
        yield fail_host(f"cannot roll back to release {target.dirname} (nothing was changed): {exc}")
        return
    if masked is None:
        host.log(f"mooring: release {target.dirname} keeps no masked secret files (staged by an older mooring): "
                 "secret files left as they are", log_func=logger.warning)
    yield from _mark_failed(base, history, failed_number)
    yield _clear_stage_leftovers(base)
    yield StringCommand("sh", "-c", QuoteString(archive_check(source)))
    restarts: list[str] = []
    for item, content in restored:
        if host.get_fact(Sha256File, path=item.path) != hashlib.sha256(content.encode()).hexdigest():
            restarts += [s for s in (mounts or {}).get(item.path, []) if s not in restarts]
        yield from atomic_put._inner(content=content, dest=item.path, mode=item.mode, user=item.owner,
                                     group=item.group, secret=True, run=run)
    tags = host.get_fact(JsonFile, path=f"{source}/images.json") or {}
    script = restore_script(source, run, mounts or {}, compose_cmd(directory, project), containers_touched, tags,
                            tuple(restarts))
    yield StringCommand("sh", "-c", QuoteString(script))
    if make_current and history.current_release() != target:
        yield _write_atomically(target.dirname, f"{base}/current", run)


@operation(is_idempotent=False)
def marked_failed(directory: str, number: int):
    """
    Mark release ``number`` ``-failed`` (its gate failed, or its run never finished) and clear
    ``pending`` when it names it.

    + directory: the stack directory
    + number: the release number (IDs recur, numbers never do)
    """
    history = host.get_fact(Releases, directory=directory)
    commands = _mark_failed(f"{directory}/releases", history, number)
    if not commands:
        host.noop(f"release {number} is not kept or already marked failed")
        return
    yield from commands
