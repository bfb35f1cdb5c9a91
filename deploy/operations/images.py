"""Images on a host: shipped from the controller without a registry, or pulled from one."""

from __future__ import annotations

from pyinfra import host
from pyinfra.api import QuoteString, StringCommand, operation
from pyinfra.operations import files

from mooring.deploy.facts.stack import ImageIds

UPLOAD_DIR = "/var/tmp/mooring-images"


@operation()
def shipped(ref: str, image_id: str, archive: str):
    """
    Make ``ref`` on the host the controller's image ``image_id``, uploading only when needed.

    + ref: image reference, e.g. ``mooring/api:1.0.0``
    + image_id: the controller's image ID for it
    + archive: local gzipped ``docker save`` of the image

    **Example:**

    .. code:: python

        images.shipped(name="api image", ref="mooring/api:1.0.0", image_id="sha256:...", archive="/tmp/api.tar.gz")
    """
    have = host.get_fact(ImageIds, refs=(ref, image_id))
    if have.get(ref) == image_id:
        host.noop(f"{ref} is already image {image_id[7:19]}")
        return
    if have.get(image_id):  # the host has the image under another tag (e.g. after a rollback)
        yield StringCommand("docker", "tag", QuoteString(image_id), QuoteString(ref))
        return
    remote = f"{UPLOAD_DIR}/{image_id.split(':')[-1][:20]}.tar.gz"
    yield from files.put._inner(src=archive, dest=remote, mode="600")
    yield StringCommand("gunzip", "-c", remote, "|", "docker", "load", "-q", "&&", "rm", "-f", remote)
    # docker load restores the tag saved with the image; tag again in case ref was saved by ID.
    yield StringCommand("docker", "tag", image_id, QuoteString(ref))


@operation()
def pulled(ref: str):
    """
    Pull ``ref`` from its registry when the host does not have it.

    + ref: image reference, pinned by tag or digest
    """
    if host.get_fact(ImageIds, refs=(ref,)).get(ref):
        host.noop(f"{ref} is present")
        return
    yield StringCommand("docker", "pull", "-q", QuoteString(ref))
