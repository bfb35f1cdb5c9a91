"""Host snapshots for a whole inventory: pyinfra's API in this process, every host in parallel.

The inventory is loaded the way the ``pyinfra`` CLI loads it (``pyinfra_cli.inventory``: the
inventory file and ``group_data/``, whose ``all.py`` makes strict host-key checking the
default and refuses inventories that weaken it), connected with pyinfra's own connectors and
each host's connection data (``ssh_*``, ``_sudo``), and asked one fact each:
:class:`mooring.deploy.facts.snapshot.StackSnapshot`, one remote command per host.

Importing this module monkey-patches the process for gevent, as the pyinfra CLI does (its
package does it on import): pyinfra's SSH connections only run in parallel in a patched
process. Import it where hosts are gathered (inside a command's ``run``), not at start-up.

    python -m mooring.snapshots sandbox [--limit HOST] [--digests]   # JSON on stdout
"""

from __future__ import annotations

import pyinfra_cli  # noqa: F401  first: gevent.monkey.patch_all(), as the pyinfra CLI

import argparse
import contextlib
import fnmatch
import json
import logging
import re
import sys
import time
from collections import Counter
from typing import Iterator

import gevent
from pyinfra.api import Config, State
from pyinfra.api.connect import connect_all, disconnect_all
from pyinfra.api.exceptions import PyinfraError
from pyinfra.api.facts import get_fact
from pyinfra.api.state import BaseStateCallback, StateStage
from pyinfra.context import ctx_config, ctx_host, ctx_inventory, ctx_state
from pyinfra_cli.inventory import make_inventory

from mooring.checks.snapshot import HostSnapshot, SnapshotError, SnapshotSpec, snapshot_spec
from mooring.declare.errors import ConfigError, MooringError
from mooring.declare.layers import group_data_dir
from mooring.declare.model import host_key_problems, host_model
from mooring.declare.paths import ROOT
from mooring.declare.render import render_stack
from mooring.deploy.facts.snapshot import StackSnapshot
from mooring.runner import inventory_path

__all__ = ["HostSnapshot", "SnapshotError", "count_commands", "gather_snapshots"]

UNREACHABLE, FAILED, INVALID, NO_STACK = "unreachable", "failed", "invalid", "no-stack"
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_COMMAND = "Running command on %s: (pty=%s) %s"  # pyinfra's connectors log each command so (debug)


def gather_snapshots(inventory: str, limit: list[str] | None = None,
                     timeout: float = 120) -> dict[str, HostSnapshot | SnapshotError]:
    """A snapshot of every host of ``inventory`` (or those ``limit`` names: host names, globs or
    groups), all at once. A host that cannot be snapshotted gets a :class:`SnapshotError`
    (unreachable, failed, invalid declared state, no stack) and the others are still returned.

    Raises ``MooringError`` only when the inventory itself cannot be loaded (e.g. it weakens
    host-key checking). ``timeout`` bounds the snapshot command on each host (seconds).

    >>> gather_snapshots("sandbox")["docker-1"].service("api").health  # doctest: +SKIP
    'healthy'
    """
    state, hosts = _load(inventory, limit)
    results: dict[str, HostSnapshot | SnapshotError] = {}
    safe = []
    for host in hosts:  # refused before any connection (all.py's shim refuses most already)
        problems = host_key_problems(host.name, host.data.dict())
        if problems:
            results[host.name] = SnapshotError(host.name, INVALID, str(ConfigError(problems)))
        else:
            safe.append(host)
    if not safe:
        return results
    with ctx_state.use(state), ctx_inventory.use(state.inventory), ctx_config.use(state.config), \
            _pyinfra_errors() as errors:
        state.limit_hosts = safe
        connecting = gevent.spawn(_connect, state, safe)  # hosts connect while their models are built
        try:
            specs: dict[str, SnapshotSpec] = {}
            for host in safe:
                spec = _spec_for(host)
                if isinstance(spec, SnapshotError):
                    results[host.name] = spec
                else:
                    specs[host.name] = spec
                gevent.sleep(0)
            connected = connecting.get()
            for host in safe:
                if host.name in specs and host not in connected:
                    results[host.name] = SnapshotError(host.name, UNREACHABLE, connected.reason(host))
            ready = [h for h in safe if h.name in specs and h in connected]
            results.update(_facts(state, ready, specs, timeout, errors))
        finally:
            connecting.join()
            with contextlib.suppress(Exception):
                disconnect_all(state)
    return {name: results[name] for name in sorted(results)}


@contextlib.contextmanager
def count_commands() -> Iterator[Counter]:
    """Count the remote commands pyinfra runs per host while the block runs (from its connectors'
    debug log): ``with count_commands() as counts: gather_snapshots(...)``, then ``counts["docker-1"]``.
    The commands' text is not kept."""
    counts: Counter = Counter()
    logger = logging.getLogger("pyinfra")

    class _Count(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.msg == _COMMAND and record.args:
                counts[record.args[0]] += 1

    handler, level = _Count(logging.DEBUG), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        yield counts
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


# --- steps ------------------------------------------------------------------------------------

def _load(inventory: str, limit: list[str] | None):
    """pyinfra's State over the inventory, as the pyinfra CLI builds it, and the hosts in ``limit``."""
    path = inventory_path(inventory)
    state = State(check_for_changes=False)
    state.cwd = str(ROOT)
    config = Config()
    extra = [str(group_data_dir())] if group_data_dir().resolve() != (ROOT / "group_data").resolve() else None
    with ctx_state.use(state), ctx_config.use(config):
        try:
            loaded = make_inventory(path, cwd=str(ROOT), group_data_directories=extra)
        except ConfigError:
            raise
        except Exception as exc:  # the inventory's own error (e.g. no sandbox yet) is the message
            raise MooringError(f"inventory {path}: {type(exc).__name__}: {exc}") from None
    hosts = _limited(loaded, limit)
    if limit and not hosts:
        raise MooringError(f"no hosts matching {', '.join(limit)} in {path}")
    state.init(loaded, config, initial_limit=hosts)
    state.set_stage(StateStage.Connect)
    return state, hosts


def _limited(inventory, limit: list[str] | None) -> list:
    """The hosts a ``--limit`` selects the way pyinfra's CLI does: a group name, or a host glob."""
    if not limit:
        return list(inventory)
    found: list = []
    for pattern in (p for item in limit for p in item.split(",") if p):
        group = inventory.get_group(pattern, default=None)
        matches = group if group is not None else [h for h in inventory if fnmatch.fnmatch(h.name, pattern)]
        found += [h for h in matches if h not in found]
    return found


def _spec_for(host) -> SnapshotSpec | SnapshotError:
    """What to read on ``host``, from its declared state (a bad declaration is the host's error)."""
    try:
        model = host_model(host)
        if model.stack is None:
            return SnapshotError(host.name, NO_STACK, "the host declares no stack")
        return snapshot_spec(model, render_stack(model))
    except MooringError as exc:  # ConfigError included: file, key and fix, never a value
        return SnapshotError(host.name, INVALID, str(exc))


class _Connected(BaseStateCallback):
    """Collects why a host did not connect (pyinfra's connect error text)."""

    def __init__(self) -> None:
        self.hosts: set = set()
        self.errors: dict[str, str] = {}

    def host_connect_error(self, state, host, error) -> None:
        self.errors[host.name] = str(error.args[0] if getattr(error, "args", None) else error)

    def __contains__(self, host) -> bool:
        return host in self.hosts

    def reason(self, host) -> str:
        return self.errors.get(host.name) or "could not connect"


def _connect(state: State, hosts: list) -> _Connected:
    connected = _Connected()
    state.add_callback_handler(connected)
    try:
        connect_all(state)  # in parallel; raises when no host is left
    except PyinfraError:
        pass
    connected.hosts = {h for h in hosts if h.connected}
    state.set_stage(StateStage.Prepare)
    return connected


def _facts(state: State, hosts: list, specs: dict[str, SnapshotSpec], timeout: float,
           errors: dict[str, list[str]]) -> dict[str, HostSnapshot | SnapshotError]:
    """Run the snapshot fact on every connected host at once (one greenlet each)."""
    def one(host):
        with ctx_host.use(host):
            return get_fact(state, host, StackSnapshot, kwargs={"spec": specs[host.name], "_timeout": timeout},
                            apply_failed_hosts=False)

    greenlets = {state.pool.spawn(one, host): host for host in hosts}
    gevent.joinall(list(greenlets))
    results: dict[str, HostSnapshot | SnapshotError] = {}
    for greenlet, host in greenlets.items():
        if not greenlet.successful():
            exc = greenlet.exception
            results[host.name] = SnapshotError(host.name, FAILED, f"{type(exc).__name__}: {exc}")
        elif greenlet.value is None:
            said = " | ".join(errors.get(host.name, [])[-3:]) or "no output"
            kind = FAILED if host.connected else UNREACHABLE
            results[host.name] = SnapshotError(host.name, kind, f"the snapshot command failed: {said}")
        else:
            results[host.name] = greenlet.value
    return results


@contextlib.contextmanager
def _pyinfra_errors() -> Iterator[dict[str, list[str]]]:
    """What pyinfra logs as errors or warnings per host while gathering (a failed command's
    output, a time-out), without colour codes; nothing is printed."""
    found: dict[str, list[str]] = {}
    logger = logging.getLogger("pyinfra")

    class _Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            text = _ANSI.sub("", record.getMessage())
            match = re.match(r"\s*\[([^\]]+)\]\s*(.*)", text)
            if match and match.group(2).strip():
                found.setdefault(match.group(1), []).append(match.group(2).strip())

    handler = _Collect(logging.WARNING)
    logger.addHandler(handler)
    propagate = logger.propagate
    logger.propagate = False  # pyinfra's own messages are folded into the results
    try:
        yield found
    finally:
        logger.removeHandler(handler)
        logger.propagate = propagate


# --- command line (tests, benchmarks) -----------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    """``python -m mooring.snapshots INVENTORY``: every host's snapshot as JSON on stdout, with
    the remote commands run per host and the wall time. Exit 1 when a host has no snapshot."""
    parser = argparse.ArgumentParser(prog="python -m mooring.snapshots", description=main.__doc__)
    parser.add_argument("inventory")
    parser.add_argument("--limit", action="append")
    parser.add_argument("--digests", action="store_true", help="keep keyed digests (for another controller process)")
    args = parser.parse_args(argv)
    started = time.monotonic()
    try:
        with count_commands() as counts:
            found = gather_snapshots(args.inventory, args.limit)
    except MooringError as exc:
        print(f"mooring: {exc}", file=sys.stderr)
        return 1
    payload = {"hosts": {name: item.to_json(args.digests) for name, item in found.items()},
               "commands": dict(counts), "seconds": round(time.monotonic() - started, 3)}
    print(json.dumps(payload, indent=2, sort_keys=True))
    return 1 if any(isinstance(item, SnapshotError) for item in found.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
