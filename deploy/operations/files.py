"""File operations that validate before they take effect."""

from __future__ import annotations

import hashlib
import shlex
from io import StringIO

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


@operation()
def secret_put(content: str, dest: str, mode: str = "600", user: str = "root", group: str = "root"):
    """
    Write a file that holds secrets: atomically, never shown in diffs or logs.

    + content: the file's text (never printed; compared by SHA-256 only)
    + dest: path on the host
    + mode/user/group: the file's permissions (default 0600 root:root)

    Unlike ``files.put`` (which prints contents under ``--diff``), nothing of the content is
    logged. Every file the content passes through is created empty with mode 0600 first (an
    SFTP upload into an existing file keeps its mode), and ``mv`` swaps the new file in at once.
    """
    want = hashlib.sha256(content.encode()).hexdigest()
    tmp = f"{dest}.mooring-new"
    # With sudo, pyinfra uploads to this temp file as the SSH user, then copies it.
    upload = f"/tmp/.mooring-upload-{hashlib.sha256(dest.encode()).hexdigest()[:12]}"
    if host.get_fact(Sha256File, path=dest) == want:
        host.noop(f"{dest} is up to date (sha256 {want[:12]}, content not shown)")
        yield from files.file._inner(path=dest, mode=mode, user=user, group=group)
        return
    q_tmp, q_upload = QuoteString(tmp), QuoteString(upload)
    yield StringCommand("rm", "-f", q_tmp, q_upload)  # leftovers of an interrupted run
    # Owned by the SSH user (SUDO_USER under sudo) so that the SFTP upload can write it.
    yield StringCommand("install", "-m", "600", "-o", '"${SUDO_USER:-$(id -un)}"', "/dev/null", q_upload)
    yield StringCommand("install", "-m", "600", "-o", QuoteString(user), "-g", QuoteString(group), "/dev/null", q_tmp)
    yield FileUploadCommand(StringIO(content), tmp, remote_temp_filename=upload)
    yield StringCommand("rm", "-f", q_upload)
    yield StringCommand("chown", QuoteString(f"{user}:{group}"), q_tmp)
    yield StringCommand("chmod", QuoteString(mode), q_tmp)
    yield StringCommand("mv", "-f", q_tmp, QuoteString(dest))
