"""The host snapshot as a pyinfra fact: a host's whole managed state in one remote command."""

from __future__ import annotations

from typing import Any

from pyinfra.api import FactBase

from mooring.checks.snapshot import HostSnapshot, SnapshotSpec, parse_snapshot, snapshot_script, snapshot_spec


class StackSnapshot(FactBase[HostSnapshot]):
    """
    Returns a ``HostSnapshot`` of the stack ``spec`` describes: every managed path (type, mode,
    owner, digest), the .env keys (present, empty, keyed digest; never a value), cron file,
    containers, engine and Compose versions, Compose v1, backups, release pointers. One remote
    command; None when the command itself failed (no shell, sudo refused, connection lost).

    ``spec`` is a :class:`mooring.checks.snapshot.SnapshotSpec` (hashable; pyinfra logs it by name) or
    its JSON (``pyinfra INVENTORY fact mooring.deploy.facts.snapshot.StackSnapshot spec='{...}'``);
    without it the spec is built from the current host's declared state. Reading the .env and
    the snapshot key needs root: the inventories set ``_sudo: True`` for non-root users.

    .. code:: python

        from mooring.checks.snapshot import snapshot_spec
        snapshot = host.get_fact(StackSnapshot, spec=snapshot_spec(model, render_stack(model)))
        snapshot.service("api").health  # "healthy"
    """

    def command(self, spec: SnapshotSpec | dict[str, Any] | str | None = None) -> str:
        return snapshot_script(_spec(spec))

    @staticmethod
    def default() -> None:
        return None

    def process(self, output: list[str]) -> HostSnapshot:
        return parse_snapshot("\n".join(output))


def _spec(spec: SnapshotSpec | dict[str, Any] | str | None) -> SnapshotSpec:
    """The spec as given, read from its JSON, or built for pyinfra's current host."""
    if isinstance(spec, SnapshotSpec):
        return spec
    if spec:
        return SnapshotSpec.from_json(spec)
    from pyinfra import host

    from mooring.declare.model import host_model
    from mooring.declare.render import render_stack

    model = host_model(host)
    return snapshot_spec(model, render_stack(model))
