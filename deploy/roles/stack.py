"""The stack role: files, images, release, migrations, compose up, in that order."""

from __future__ import annotations

import hashlib
import hmac
import threading
from io import StringIO
from typing import Any

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.operations import files, server
from pyinfra.operations.util import any_changed

from deploy.facts.releases import JsonFile, Releases
from deploy.facts.stack import compose_cmd
from deploy.operations import images, stack
from deploy.operations.files import secret_put
from mooring.errors import MooringRunError
from mooring.model import HostModel, Stack
from mooring.render import RenderedStack, render_stack
from mooring.secrets import digest_key


def release_id(rendered: RenderedStack, image_ids: dict[str, str], stack_model: Stack) -> str:
    """Content ID of a release: every rendered file, every image ID, the migration command."""
    digest = hashlib.sha256()
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
    """(image ID, archive path) of an image shipped from the controller, built first when it is
    one of mooring's reference images. Every host of a run shares one archive."""
    from mooring.docker import DockerError
    from mooring.images import archive
    from mooring.stack_images import buildable, ensure_refs

    with _SHIPPED_LOCK:
        if ref not in _SHIPPED:
            if buildable(ref):
                ensure_refs([ref])
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


@deploy("Stack")
def converge(model: HostModel) -> dict[str, Any]:
    """Bring the host's stack to its declared state; returns the plan (no secrets in it)."""
    stack_model = model.stack
    if stack_model is None:
        raise MooringRunError(f"{model.name} declares no stack")
    rendered = render_stack(model)
    shipped = local_images(stack_model)
    image_ids = {ref: image_id for ref, (image_id, _) in shipped.items()}
    rid = release_id(rendered, image_ids, stack_model)
    history = host.get_fact(Releases, directory=stack_model.dir)
    current = history.current_release()
    previous = current if current and current.release_id != rid else history.previous_good()

    ops: dict[str, str] = {}  # op hash -> this host's op name (pyinfra shares one hash across hosts)

    def run(operation, name: str, **kwargs):
        meta = operation(name=name, **kwargs)
        ops[meta._hash] = f"Stack | {name}"
        return meta

    for directory in rendered.directories:
        run(files.directory, f"Directory {directory.path}", path=directory.path, user=directory.owner,
            group=directory.group, mode=directory.mode)
    env_before = (host.get_fact(JsonFile, path=f"{stack_model.dir}/releases/{current.dirname}/env-digests.json")
                  if current else None) or {}
    env_after = env_digests(stack_model)
    mounted: dict[str, list] = {}  # service -> ops writing files it mounts
    for item in rendered.files:
        if item.secret:
            op = run(secret_put, f"Secret file {item.path}", content=item.content, dest=item.path, mode=item.mode,
                     user=item.owner, group=item.group)
        else:
            op = run(files.put, f"File {item.path}", src=StringIO(item.content), dest=item.path, mode=item.mode,
                     user=item.owner, group=item.group)
        for service in item.used_by:
            mounted.setdefault(service, []).append(op)
    for ref, (image_id, archive_path) in sorted(shipped.items()):
        if archive_path:
            run(images.shipped, f"Image {ref} (shipped)", ref=ref, image_id=image_id, archive=archive_path)
        else:
            run(images.pulled, f"Image {ref} (registry)", ref=ref)

    run(stack.release_saved, "Release saved", directory=stack_model.dir, release_id=rid,
        paths=[item.path for item in rendered.files], images=image_ids, env_digests=env_after,
        keep=stack_model.releases_keep)
    if stack_model.migration:
        run(stack.migrated, f"Migrations ({stack_model.migration.service})", directory=stack_model.dir,
            project=stack_model.name, service=stack_model.migration.service,
            command=stack_model.migration.command, release_id=rid)
    run(stack.up, "Compose up (changed services only)", directory=stack_model.dir, project=stack_model.name,
        service_images={name: svc.image for name, svc in stack_model.services.items()},
        restarts={name: svc.restart for name, svc in stack_model.services.items()})
    # Compose does not see a changed bind-mounted file: restart exactly the services mounting one.
    for service, writers in sorted(mounted.items()):
        run(server.shell, f"Restart {service} (mounted config changed)", _if=any_changed(*writers),
            commands=[f"{compose_cmd(stack_model.dir, stack_model.name)} restart {service}"])

    return {
        "stack": stack_model.name,
        "directory": stack_model.dir,
        "release_id": rid,
        "release_number": current.number if current and current.release_id == rid else history.next_number(),
        "new_release": not (current and current.release_id == rid),
        "previous": {"number": previous.number, "release_id": previous.release_id} if previous else None,
        "images": image_ids,
        "env_keys_changed": sorted(k for k in set(env_before) | set(env_after) if env_before.get(k) != env_after.get(k)),
        "migration": " ".join(stack_model.migration.command) if stack_model.migration else None,
        "ops": ops,
    }
