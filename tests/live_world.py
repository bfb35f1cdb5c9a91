"""A host snapshot built as data for the sandbox environment of the declared test world, as a
host deployed exactly as declared would report it: the starting point of the host-free live and
drift tests (tests/test_mutants_live.py, tests/test_mutants_drift.py), which then change one
thing and read what ``mooring check`` / ``mooring drift`` would say."""

from __future__ import annotations

import dataclasses
import hashlib

from mooring.checks.live import HostView
from mooring.checks.snapshot import (BackupFile, BackupState, CronState, EngineState, EnvKey, EnvState, FileState,
                             HostSnapshot, ImageState, MetricsState, ReleasePointer, ServiceState,
                             expected_env_digests, key_check_digest, keyed_digest)
from mooring.declare.render import backup_metrics_path, cron_file_path, render_stack
from tests.declared_world import model_for

NOW = 2_000_000_000
HOUR, DAY = 3600, 86400
#: The snapshot key the host holds (any 64 bytes: the tests pass it to drift_findings).
KEY = b"k" * 64


def image_id(service: str) -> str:
    return "sha256:" + hashlib.sha256(service.encode()).hexdigest()


def healthy_view(environment: str = "sandbox") -> HostView:
    """The view of a host deployed as declared, every live rule and drift comparison quiet."""
    model = model_for(environment)
    stack = model.stack
    rendered = render_stack(model)
    files = []
    for item in rendered.directories:
        files.append(FileState(item.path, True, "dir", item.mode, item.owner, item.group, mtime=NOW - 30 * DAY))
    for item in rendered.files:
        data = item.content.encode("utf-8")
        if item.secret:
            files.append(FileState(item.path, True, "file", item.mode, item.owner, item.group, size=len(data),
                                   mtime=NOW - 30 * DAY, content="keyed", digest=keyed_digest(KEY, data)))
        else:
            files.append(FileState(item.path, True, "file", item.mode, item.owner, item.group, size=len(data),
                                   mtime=NOW - 30 * DAY, sha256=hashlib.sha256(data).hexdigest(), content="sha256"))
    digests = expected_env_digests(stack, KEY)
    keys = tuple(EnvKey(name, number, not var.value, digests.get(name))
                 for number, (name, var) in enumerate(sorted(stack.env.items()), start=1))
    services = tuple(ServiceState(name, f"{stack.name}-{name}-1", f"id-{name}", "running",
                                  "healthy" if service.healthcheck is not None else "none", image_id(name),
                                  service.image, exit_code=0)
                     for name, service in sorted(stack.services.items()))
    images = tuple(ImageState(image_id(name), (service.image,)) for name, service in sorted(stack.services.items()))
    database = stack.backups.databases[0]
    dump = BackupFile(f"{stack.name}__{database}_20330518T020000Z.sql.gz", "f", 1000, NOW - HOUR)
    label = f'{{stack="{stack.name}"}}'
    metrics = MetricsState(backup_metrics_path(stack), "read",
                           (f"mooring_backup_consecutive_failures{label} 0",
                            f"mooring_backup_last_success_timestamp_seconds{label} {NOW - HOUR}"))
    snapshot = HostSnapshot(
        model.name, 1, NOW, files=tuple(files), env=EnvState("read", keys),
        cron=(CronState(cron_file_path(stack), "read", ("0 2 * * * root /x",)),), cron_daemon="running",
        services=services, images=images,
        engine=EngineState("present", "27.3.1", compose="2.29.7", compose_plugin="/usr/libexec/docker/cli-plugins"),
        backups=BackupState("listed", (dump,)), metrics=metrics, release=ReleasePointer("0003-abcdef"),
        key="present", complete=True, key_check=key_check_digest(KEY))
    return HostView(model, rendered, snapshot, now=NOW)


def with_snapshot(view: HostView, **changes) -> HostView:
    """``view`` with its snapshot's fields ``changes`` replaced."""
    return dataclasses.replace(view, snapshot=dataclasses.replace(view.snapshot, **changes))


def with_file(view: HostView, path: str, **changes) -> HostView:
    """``view`` with the watched path ``path`` changed (``exists=False`` etc.), or dropped (``drop=True``)."""
    drop = changes.pop("drop", False)
    files = []
    for item in view.snapshot.files:
        if item.path == path:
            if drop:
                continue
            item = dataclasses.replace(item, **changes)
        files.append(item)
    return with_snapshot(view, files=tuple(files))


def with_service(view: HostView, name: str, **changes) -> HostView:
    """``view`` with the container of service ``name`` changed."""
    return with_snapshot(view, services=tuple(dataclasses.replace(s, **changes) if s.service == name else s
                                              for s in view.snapshot.services))


def said(findings) -> list[tuple]:
    """What a user reads of each finding: check, outcome, resource, message, fix, declared path,
    file, expected, actual; in output order."""
    return [(f.check, f.outcome.value, f.resource, f.message, f.fix, f.path, f.file, f.expected, f.actual)
            for f in findings]
