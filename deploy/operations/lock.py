"""The per-stack deploy lock on a host: one run at a time, the holder named, stale locks seen.

The lock is a folder ``<stack dir>/.mooring/lock`` holding ``owner`` (JSON: run, operator,
controller, pids, command, start time). It is taken while the deploy file is prepared, before
any fact about the stack is read, so that what the run decides is never based on another run's
half-done work; it is released by the run that took it (``mooring deploy`` after its gate,
rollback and record; a plain pyinfra run by its last operation, or at once when nothing will
change). A holder that ran on this controller and whose processes are all gone (kill -9) is
stale and broken by the next run; any other lock is broken only by ``mooring unlock``.
"""

from __future__ import annotations

import json
import shlex

from pyinfra import host
from pyinfra.api import QuoteString, StringCommand, operation


def lock_dir(directory: str) -> str:
    """The lock folder of the stack in ``directory``."""
    return f"{directory}/.mooring/lock"


def _owned_by(directory: str, run: str) -> str:
    owner = shlex.quote(f"{lock_dir(directory)}/owner")
    return f"grep -qF {shlex.quote(json.dumps({'run': run})[1:-1])} {owner} 2>/dev/null"


def acquire_script(directory: str, owner: dict, break_run: str | None, leftovers: list[str]) -> str:
    """Shell that takes the lock (``acquired``, ``ours``) or prints ``busy`` and the holder.

    The owner file is written in a per-run folder that is then renamed onto the lock name:
    the lock never exists without its owner, and two runs can never both rename onto it.
    Leftover temporary files of killed runs (``leftovers``: shell globs) are removed once held.

    >>> "mv -T" in acquire_script("/srv/s", {"run": "r1"}, None, [])
    True
    """
    lock, run = lock_dir(directory), owner["run"]
    q_lock, q_tmp = shlex.quote(lock), shlex.quote(f"{lock}.new-{run}")
    lines = [
        "set -u",
        f"mkdir -p {shlex.quote(directory + '/.mooring')} && chmod 700 {shlex.quote(directory + '/.mooring')} || exit 1",
    ]
    if break_run:
        lines.append(f"if {_owned_by(directory, break_run)}; then rm -rf {q_lock}; echo broke; fi")
    lines += [
        f"rm -rf {q_tmp}; mkdir {q_tmp} || exit 1",
        f"printf '%s\\n' {shlex.quote(json.dumps(owner, sort_keys=True))} > {q_tmp}/owner || exit 1",
        f"if mv -T {q_tmp} {q_lock} 2>/dev/null; then state=acquired",
        f"elif {_owned_by(directory, run)}; then state=ours; rm -rf {q_tmp}",
        f"else rm -rf {q_tmp}; echo busy; cat {q_lock}/owner 2>/dev/null; exit 0; fi",
        *(f"rm -f {pattern}" for pattern in leftovers),
        'echo "$state"',
    ]
    return "\n".join(lines)


def acquire(directory: str, owner: dict, break_run: str | None = None,
            leftovers: list[str] | None = None) -> dict | None:
    """Take the stack's lock on the current host now (while preparing). Returns None when this
    run holds it, else the holder's owner record (``{}`` when unreadable).

    Raises ``OSError`` when the host cannot run the command at all.
    """
    script = acquire_script(directory, owner, break_run, leftovers or [])
    ok, output = host.run_shell_command(StringCommand("sh", "-c", QuoteString(script)))
    lines = [line.line for line in output if line.buffer_name == "stdout"]
    if not ok:
        raise OSError(f"could not take the deploy lock in {directory}: "
                      + " ".join(line.line for line in output)[-300:])
    if "busy" not in lines:
        return None
    try:
        holder = json.loads("\n".join(lines[lines.index("busy") + 1:]) or "{}")
    except json.JSONDecodeError:
        holder = {}
    return holder if isinstance(holder, dict) else {}


def release_script(directory: str, run: str) -> str:
    """Shell that removes the lock only if ``run`` holds it."""
    return f"if {_owned_by(directory, run)}; then rm -rf {shlex.quote(lock_dir(directory))}; fi; true"


def release(directory: str, run: str) -> None:
    """Release the lock now (while preparing) when ``run`` holds it."""
    host.run_shell_command(StringCommand("sh", "-c", QuoteString(release_script(directory, run))))


def break_script(directory: str) -> str:
    """Shell that prints the holder and removes the lock, whoever holds it (``mooring unlock``)."""
    lock = shlex.quote(lock_dir(directory))
    return f"if [ -d {lock} ]; then echo held; cat {lock}/owner 2>/dev/null; rm -rf {lock}; fi; true"


@operation(is_idempotent=False)
def unlocked(directory: str, run: str):
    """
    Release the stack's deploy lock held by ``run`` (the last operation of a plain pyinfra run
    that changed something).

    + directory: the stack directory
    + run: the run that holds the lock
    """
    yield StringCommand("sh", "-c", QuoteString(release_script(directory, run)))
