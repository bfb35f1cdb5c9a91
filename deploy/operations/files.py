"""File operations that validate before they take effect."""

from __future__ import annotations

import hashlib
import shlex
from io import BytesIO, StringIO

from pyinfra import host
from pyinfra.api import QuoteString, StringCommand, operation
from pyinfra.api.command import FileUploadCommand
from pyinfra.facts.files import Sha256File
from pyinfra.operations import files


@operation()
def validated_put(content: str, dest: str, validate: str, mode: str = "644", user: str = "root",
                  group: str = "root", then: str | None = None):
    """
    Put a config file in place only if the service's own checker accepts it.

    + content: the file's text
    + dest: path on the host
    + validate: shell command that checks the live configuration (e.g. ``sshd -t``, ``visudo -c``)
    + mode/user/group: the file's permissions
    + then: shell command run after a successful swap (e.g. reload the service)

    The new file is swapped in, the checker runs, and on failure the previous file comes back
    and the operation fails: a bad sshd or sudoers file never stays in place.

    **Example:**

    .. code:: python

        validated_put(content="PasswordAuthentication no\\n", dest="/etc/ssh/sshd_config.d/00-mooring.conf",
                      validate="sshd -t", then="service ssh reload")
    """
    want = hashlib.sha256(content.encode()).hexdigest()
    if host.get_fact(Sha256File, path=dest) == want:
        host.noop(f"{dest} has the declared content (sha256 {want[:12]})")
        yield from files.file._inner(path=dest, mode=mode, user=user, group=group)
        return
    new, old = f"{dest}.mooring-new", f"{dest}.mooring-old"
    q_dest, q_new, q_old = (shlex.quote(p) for p in (dest, new, old))
    yield from files.put._inner(src=StringIO(content), dest=new, mode=mode, user=user, group=group)
    script = (
        f"set -e; if [ -e {q_dest} ]; then cp -p {q_dest} {q_old}; else rm -f {q_old}; fi; mv -f {q_new} {q_dest}; "
        f"if ! ( {validate} ) >&2; then "
        f"if [ -e {q_old} ]; then mv -f {q_old} {q_dest}; else rm -f {q_dest}; fi; "
        f"echo 'mooring: {dest} rejected by {validate}; previous file restored' >&2; exit 1; fi; rm -f {q_old}"
    )
    yield StringCommand("sh", "-c", QuoteString(script))
    if then:
        yield then


def temp_globs(dest: str) -> list[str]:
    """Shell globs of the temporary files ``atomic_put`` uses for ``dest`` (any run's).

    >>> temp_globs("/srv/s/.env")[0]
    '/srv/s/.env.mooring-new-*'
    """
    return [f"{shlex.quote(dest)}.mooring-new-*", f"/tmp/.mooring-upload-{_dest_tag(dest)}-*"]


def _dest_tag(dest: str) -> str:
    return hashlib.sha256(dest.encode()).hexdigest()[:12]


@operation()
def atomic_put(content: str | bytes, dest: str, mode: str = "644", user: str = "root", group: str = "root",
               secret: bool = False, run: str = "manual"):
    """
    Write a file atomically: uploaded to a per-run temporary name, permissions set, renamed.

    + content: the file's text (or bytes, e.g. a key)
    + dest: path on the host
    + mode/user/group: the file's permissions
    + secret: the content holds secrets: never shown in diffs or logs, compared by digest only
    + run: the run's ID, part of every temporary name (two runs never share one)

    A reader (cron running backup.sh, compose reading .env) sees the old file or the new one,
    never a torn one. Every file the content passes through is created empty with mode 0600
    first (an SFTP upload into an existing file keeps its mode). A killed run's temporary
    files are removed by the next run when it takes the deploy lock (``temp_globs``).

    **Example:**

    .. code:: python

        atomic_put(name="backup script", content="#!/bin/sh\\n", dest="/srv/mooring/s/bin/backup.sh",
                   mode="755", run="ab12cd")
    """
    data = content if isinstance(content, bytes) else content.encode()
    want = hashlib.sha256(data).hexdigest()
    if host.get_fact(Sha256File, path=dest) == want:
        host.noop(f"{dest} is up to date (content not shown)" if secret else f"{dest} is up to date (sha256 {want[:12]})")
        yield from files.file._inner(path=dest, mode=mode, user=user, group=group)
        return
    tmp = f"{dest}.mooring-new-{run}"
    # With sudo, pyinfra uploads to this temp file as the SSH user, then copies it.
    upload = f"/tmp/.mooring-upload-{_dest_tag(dest)}-{run}"
    q_tmp, q_upload = QuoteString(tmp), QuoteString(upload)
    yield StringCommand("rm", "-f", q_tmp, q_upload)
    # Owned by the SSH user (SUDO_USER under sudo) so that the SFTP upload can write it.
    yield StringCommand("install", "-m", "600", "-o", '"${SUDO_USER:-$(id -un)}"', "/dev/null", q_upload)
    yield StringCommand("install", "-m", "600", "-o", QuoteString(user), "-g", QuoteString(group), "/dev/null", q_tmp)
    yield FileUploadCommand(BytesIO(data) if isinstance(content, bytes) else StringIO(content), tmp,
                            remote_temp_filename=upload)
    yield StringCommand("rm", "-f", q_upload)
    yield StringCommand("chown", QuoteString(f"{user}:{group}"), q_tmp)
    yield StringCommand("chmod", QuoteString(mode), q_tmp)
    yield StringCommand("mv", "-f", q_tmp, QuoteString(dest))


@operation()
def secret_put(content: str | bytes, dest: str, mode: str = "600", user: str = "root", group: str = "root",
               run: str = "manual"):
    """
    Write a file that holds secrets: atomically, never shown in diffs or logs
    (``atomic_put`` with ``secret=True``).

    + content: the file's text or bytes (never printed; compared by SHA-256 only)
    + dest: path on the host
    + mode/user/group: the file's permissions (default 0600 root:root)
    + run: the run's ID, part of every temporary name
    """
    yield from atomic_put._inner(content=content, dest=dest, mode=mode, user=user, group=group, secret=True, run=run)
