"""The stack role: lock, images, files, release, migrations, compose up, in that order."""

from __future__ import annotations

import hashlib
import hmac
import shlex
import threading
from typing import Any

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.operations import files, python, server
from pyinfra.operations.util import any_changed

from mooring.deploy.facts.docker import EngineVersions
from mooring.deploy.facts.releases import DeployLock, JsonFile, Release, Releases
from mooring.deploy.facts.stack import compose_cmd
from mooring.deploy.operations import images, lock, stack
from mooring.deploy.facts.compose import ComposeInstall
from mooring.deploy.operations.compose import fail_host_op, v1_absent, v1_refusal
from mooring.deploy.operations.files import atomic_put, secret_put, temp_globs
from mooring.declare.errors import MooringRunError
from mooring.declare.model import HostModel, Stack
from mooring.declare.render import RenderedStack, masked_files, render_stack
from mooring.deploy.plan import (Op, ReleaseRef, StackPlan, describe_holder, holder_gone, lock_owner, run_dir,
                             run_id)
from mooring.declare.secrets import digest_key


def release_id(rendered: RenderedStack, image_ids: dict[str, str], stack_model: Stack) -> str:
    """Content ID of a release: every rendered file, every image ID, the migration command.

    Keyed (HMAC under the controller's digest key): the ID is kept in world-readable places
    (folder names, ``current``, records), and the rendered files include the .env secrets.
    """
    digest = hmac.new(digest_key(), digestmod=hashlib.sha256)
    for item in sorted(rendered.files, key=lambda f: f.path):
        digest.update(f"{item.path}\0{item.mode}\0{item.owner}\0{item.group}\0".encode())
        digest.update(item.content.encode())
    for ref, image_id in sorted(image_ids.items()):
        digest.update(f"{ref}\0{image_id}\0".encode())
    if stack_model.migration:
        digest.update(repr(stack_model.migration.command).encode())
    return digest.hexdigest()[:12]


_SHIPPED: dict[str, tuple[str, str]] = {}
_SHIPPED_LOCK = threading.Lock()  # pyinfra prepares hosts in parallel greenlets


def shipped_image(ref: str) -> tuple[str, str]:
    """(image ID, archive path) of an image shipped from the controller. Every host of a run shares
    one archive."""
    from mooring.deploy.local_docker import DockerError, archive

    with _SHIPPED_LOCK:
        if ref not in _SHIPPED:
            try:
                image_id, path = archive(ref)
            except DockerError as exc:
                raise MooringRunError(f"image {ref} (image_source: ship) is not on the controller: build or "
                                      f"`docker load` it there, or declare image_source: registry ({exc})") from None
            _SHIPPED[ref] = (image_id, str(path))
        return _SHIPPED[ref]


def local_images(stack_model: Stack) -> dict[str, tuple[str, str | None]]:
    """ref → (image ID, archive path) for shipped images; (ref, None) for registry images."""
    found: dict[str, tuple[str, str | None]] = {}
    for service in stack_model.services.values():
        if service.image not in found:
            found[service.image] = shipped_image(service.image) if service.image_source == "ship" else (
                service.image, None)
    return found


def env_digests(stack_model: Stack) -> dict[str, str]:
    """KEY → HMAC of its value under the controller's digest key: kept with each release on the
    host so the next deploy can name changed keys, without the host ever holding anything from
    which a value could be guessed."""
    key = digest_key()
    return {name: hmac.new(key, value.encode(), hashlib.sha256).hexdigest()[:16]
            for name, value in sorted(stack_model.env_values().items())}


def http_base_for(stack_model: Stack) -> str:
    """Where the controller probes this host's health (``mooring_http_base`` overrides)."""
    return host.data.get("mooring_http_base") or (
        f"http://{host.data.get('ssh_hostname') or host.name}:{stack_model.http_port or 80}")


def probe_specs(probes, http_port: int | None) -> tuple[dict, ...]:
    """The model's probes in the gate's dict format. A probe on the stack's own HTTP port goes
    to ``http_base`` (which may map that port, e.g. the sandbox's 127.0.0.1:28001)."""
    keys = ("name", "path", "expected_status", "timeout", "retries", "interval", "contains", "max_latency_ms")
    return tuple({**{key: getattr(p, key) for key in keys}, "port": None if p.port in (None, http_port) else p.port}
                 for p in probes)


def leftover_globs(directory: str, paths: list[str]) -> list[str]:
    """Shell globs of what a killed run may have left: temporary copies of ``paths`` (secrets
    included), a half-built release, half-written ``current``/``pending``, a restore scratch;
    and the ``secret-files.tar.gz`` that older mooring versions kept in releases (old secrets)."""
    quoted = shlex.quote(directory)
    return [pattern for path in paths for pattern in temp_globs(path)] + [
        f"-r {quoted}/releases/.stage-*", f"{quoted}/releases/*.tmp-*", f"-r {quoted}/.mooring/restore.*",
        f"-r {quoted}/.mooring/lock.new-*", f"{quoted}/releases/*/secret-files.tar.gz"]


def snapshot_key_path(stack_model: Stack) -> str:
    """Where the host keeps the stack's snapshot key (``mooring.checks.snapshot.snapshot_key``)."""
    from mooring.checks.snapshot import KEY_FILE

    return f"{stack_model.dir}/{KEY_FILE}"


def take_lock(stack_model: Stack, paths: list[str]) -> str | None:
    """Take the stack's deploy lock now; returns why not (the holder, and what to do), or None."""
    directory = stack_model.dir
    holder = host.get_fact(DeployLock, directory=directory)
    stale = holder.get("run") if holder and holder.get("run") != run_id() and holder_gone(holder) else None
    try:
        busy = lock.acquire(directory, lock_owner(), break_run=stale, leftovers=leftover_globs(directory, paths))
    except OSError as exc:
        return str(exc)
    if busy is None:
        return None
    return (f"another deploy holds the lock on {directory}: {describe_holder(busy)}. Wait for it, or if that run "
            f"is gone: mooring unlock INVENTORY --limit {host.name}")


def plan_release(history, rid: str) -> tuple[Release, bool, Release | None]:
    """(the release this run saves or keeps, whether it is new, an unfinished release to fail).

    A release is new when it is not the current one. A pending release of an interrupted run
    with the same content is finished under its own number; one with other content never
    passed a gate and is marked failed.
    """
    current, pending = history.current_release(), history.pending_release()
    if current is not None and current.release_id == rid:
        return current, False, pending
    if pending is not None and pending.release_id == rid:
        return pending, True, None
    return Release(history.next_number(), rid), True, pending


@deploy("Stack")
def converge(model: HostModel) -> StackPlan | None:
    """Bring the host's stack to its declared state; returns the plan (no secrets in it), or
    None when the host was refused before anything was touched (engine down, lock held)."""
    stack_model = model.stack
    if stack_model is None:
        raise MooringRunError(f"{model.name} declares no stack")
    rendered = render_stack(model)
    masked = masked_files(rendered, stack_model)  # before the host is touched: refused files stop here
    shipped = local_images(stack_model)
    image_ids = {ref: image_id for ref, (image_id, _) in shipped.items()}
    rid = release_id(rendered, image_ids, stack_model)
    paths = [item.path for item in rendered.files] + [snapshot_key_path(stack_model)]

    if not host.get_fact(EngineVersions)["engine"]:
        fail_host_op(name="Docker engine answers",
                     message=f"the Docker engine on {host.name} does not answer (`docker version` failed): "
                             "start it (service docker start) and deploy again; nothing was changed")
        return None
    compose_install = host.get_fact(ComposeInstall)
    if compose_install.has_v1 and model.bootstrap.compose_v1 == "refuse":
        fail_host_op(name="No Compose v1", message=v1_refusal(compose_install))
        return None
    refused = take_lock(stack_model, paths)
    if refused:
        fail_host_op(name=Op.LOCKED, message=refused)
        return None

    history = host.get_fact(Releases, directory=stack_model.dir)
    current = history.current_release()
    release, new_release, unfinished = plan_release(history, rid)
    previous = current or history.previous_good()

    ops: dict[str, str] = {}  # op hash -> this host's op name (pyinfra shares one hash across hosts)
    changing: list = []  # ops that write (not those run only `_if` another changed)

    def run(operation, name: str, **kwargs):
        meta = operation(name=name, **kwargs)
        ops[meta._hash] = Op.full(name)
        if "_if" not in kwargs:
            changing.append(meta)
        return meta

    if unfinished is not None:
        run(stack.marked_failed, f"Unfinished release {unfinished.number} marked failed", directory=stack_model.dir,
            number=unfinished.number)
    # Compose v1 breaks the backup job's containers (runbook seeds/003): removed on every deploy.
    run(v1_absent, "No Compose v1", policy="remove")
    # Images first: a failed upload or a full disk then leaves every file and container as it was.
    for ref, (image_id, archive_path) in sorted(shipped.items()):
        if archive_path:
            run(images.shipped, f"Image {ref} (shipped)", ref=ref, image_id=image_id, archive=archive_path)
        else:
            run(images.pulled, f"Image {ref} (registry)", ref=ref)
    for directory in rendered.directories:
        run(files.directory, f"Directory {directory.path}", path=directory.path, user=directory.owner,
            group=directory.group, mode=directory.mode)
    _snapshot_key(run, stack_model)
    env_before = (host.get_fact(JsonFile, path=f"{stack_model.dir}/releases/{current.dirname}/env-digests.json")
                  if current else None) or {}
    env_after = env_digests(stack_model)
    mounted: dict[str, list] = {}  # service -> ops writing files it mounts
    for item in rendered.files:
        label = "Secret file" if item.secret else "File"
        op = run(atomic_put, f"{label} {item.path}", content=item.content, dest=item.path, mode=item.mode,
                 user=item.owner, group=item.group, secret=item.secret, run=run_id())
        for service in item.used_by:
            mounted.setdefault(service, []).append(op)

    for path in rendered.absent:
        run(files.file, f"No file {path} (backups disabled)", path=path, present=False)
    if new_release:
        run(stack.release_staged, Op.RELEASE_STAGED, directory=stack_model.dir, number=release.number,
            release_id=rid, paths=[i.path for i in rendered.files if not i.secret], masked=masked,
            images=image_ids, env_digests=env_after, run=run_id(),
            replaces=previous.dirname if previous else None)
    if stack_model.migration:
        run(stack.migrated, f"{Op.MIGRATIONS} ({stack_model.migration.service})", directory=stack_model.dir,
            project=stack_model.name, service=stack_model.migration.service,
            command=stack_model.migration.command, release_id=rid)
    run(stack.up, Op.COMPOSE_UP, directory=stack_model.dir, project=stack_model.name,
        service_images={name: svc.image for name, svc in stack_model.services.items()},
        restarts={name: svc.restart for name, svc in stack_model.services.items()})
    # Compose does not see a changed bind-mounted file: restart exactly the services mounting one.
    for service, writers in sorted(mounted.items()):
        run(server.shell, f"{Op.RESTART} {service} (mounted config changed)", _if=any_changed(*writers),
            commands=[f"{compose_cmd(stack_model.dir, stack_model.name)} restart {service}"])

    plan = StackPlan(
        stack=stack_model.name, directory=stack_model.dir, release=ReleaseRef(release.number, rid),
        new_release=new_release,
        previous=ReleaseRef(previous.number, previous.release_id) if previous and new_release else None,
        unfinished=ReleaseRef(unfinished.number, unfinished.release_id) if unfinished else None,
        images=image_ids,
        env_keys_changed=tuple(sorted(k for k in set(env_before) | set(env_after)
                                      if env_before.get(k) != env_after.get(k))),
        migration=" ".join(stack_model.migration.command) if stack_model.migration else None,
        ops=ops, http_base=http_base_for(stack_model), health=probe_specs(stack_model.health, stack_model.http_port),
        smoke=probe_specs(stack_model.smoke, stack_model.http_port), run_id=run_id(), gated_on_host=run_dir() is None,
    )
    if run_dir() is None:
        _finish_plain_run(plan, stack_model, changing)
    return plan


def _snapshot_key(run, stack_model: Stack) -> None:
    """The key the host's snapshots are digested with: root, 0600, in the stack's own ``.mooring``
    folder (made 0700 when the lock was taken). Derived from the controller's digest key, so the
    same on every run: a second converge leaves it alone."""
    from mooring.checks.snapshot import snapshot_key

    run(secret_put, f"Secret file {snapshot_key_path(stack_model)}", content=snapshot_key(host.name, stack_model.dir),
        dest=snapshot_key_path(stack_model), mode="600", user="root", group="root", run=run_id())


def _finish_plain_run(plan: StackPlan, stack_model: Stack, changing: list) -> None:
    """A plain pyinfra run has no ``mooring`` command after it: gate, promote and unlock here.

    When no operation will change anything, the lock is released at once (a no-op run reports
    zero changes). Otherwise the last operations run the health gate from the controller, make
    the release current only if it passed, and release the lock. A plain run does not roll back:
    ``mooring deploy`` does.
    """
    if not any(meta.will_change for meta in changing):
        lock.release(stack_model.dir, run_id())
        return
    if plan.new_release:
        python.call(name="Health gate", function=_plain_gate, plan=plan)
        stack.release_promoted(name=Op.RELEASE_PROMOTED, directory=stack_model.dir,
                               number=plan.release_number, release_id=plan.release_id,
                               keep=stack_model.releases_keep, run=run_id())
    lock.unlocked(name=Op.UNLOCKED, directory=stack_model.dir, run=run_id())


def _plain_gate(state, host, plan: StackPlan) -> bool:
    """The health gate as a pyinfra callback: False (the host fails, nothing promoted) on failure."""
    from mooring.checks.probes import run_gate

    results = run_gate(plan.http_base, list(plan.health))
    for result in results:
        host.log(f"mooring: gate: {result.describe()}")
    return all(r.ok for r in results)
