"""What runs on a host, read from its snapshot: the current release and who deployed it, the last
deploy's outcome, each service's state, the newest backup; and the release history.

Used by ``mooring status`` and ``mooring releases``. These are statements, not rules: each is a
PASSED finding when it is as it should be and a WARNING when an operator should look (a deploy
still pending, a service not running, no backup). Nothing here contacts a host, and the release
records it reads hold no secret values (``mooring deploy`` redacts them before writing).
"""

from __future__ import annotations

from typing import Any

from mooring.checks.findings import Finding, Outcome
from mooring.checks.live import HostView
from mooring.checks.snapshot import ReleasePointer, release_number

#: The record fields ``releases`` lists, in this order (the whole record is in --json).
HISTORY_FIELDS = ("release", "release_dirname", "time", "operator", "outcome", "images", "error",
                  "rolled_back_to", "migration")


def release_history(pointer: ReleasePointer) -> list[dict[str, Any]]:
    """Every kept release, oldest first: its number, folder, whether it is current or failed,
    the release it replaced, whether ``mooring rollback`` restores it by default, and the
    fields of its record (``{}`` fields when the folder has no record)."""
    history = []
    target, replaced = pointer.rollback_target(), dict(pointer.replaced)
    for dirname in sorted(pointer.kept, key=lambda d: (release_number(d) or 0, d)):
        record = pointer.record(dirname)
        entry: dict[str, Any] = {key: record.get(key) for key in HISTORY_FIELDS}
        entry.update(release=release_number(dirname), release_dirname=dirname,
                     current=dirname == pointer.current, failed=dirname.endswith("-failed"),
                     replaces=release_number(replaced.get(dirname)), rollback_target=dirname == target,
                     recorded=bool(record))
        history.append(entry)
    return history


def history_entry(history: list[dict[str, Any]], flag: str) -> dict[str, Any] | None:
    """The release of :func:`release_history` marked ``flag`` (``current``, ``rollback_target``), or None."""
    return next((e for e in history if e.get(flag)), None)


def release_line(entry: dict[str, Any]) -> str:
    """One release as people read it.

    >>> release_line({"release": 3, "release_dirname": "0003-ab12", "time": "2026-12-05T10:00:00+00:00",
    ...               "operator": "ana", "outcome": "deployed", "current": True, "recorded": True,
    ...               "images": {"mooring/api:1.1.0": "sha256:2541f552a960af3"}})
    'release 3 (0003-ab12), 2026-12-05T10:00:00+00:00 by ana: deployed; images mooring/api:1.1.0; current'
    """
    if not entry.get("recorded"):
        text = f"release {entry['release']} ({entry['release_dirname']}): no record"
    else:
        text = (f"release {entry['release']} ({entry['release_dirname']}), {entry.get('time') or 'unknown time'} "
                f"by {entry.get('operator') or 'unknown'}: {entry.get('outcome') or 'unknown outcome'}")
        if entry.get("rolled_back_to"):
            text += f", rolled back to {entry['rolled_back_to']}"
    images = entry.get("images") or {}  # image reference -> image ID (the IDs are in --json)
    if isinstance(images, dict) and images:
        text += "; images " + ", ".join(sorted(images))
    if entry.get("replaces"):
        text += f"; replaced release {entry['replaces']}"
    return text + ("; current" if entry.get("current") else "") + (
        "; rollback target" if entry.get("rollback_target") else "")


def rollback_preview(pointer: ReleasePointer, to: str) -> str:
    """What ``mooring rollback --to TO`` (a number, or ``previous``) would restore on a host, in
    words, from its snapshot: asked before production hosts are rolled back.

    >>> kept = ("0005-aa", "0006-bb", "0007-cc")
    >>> rollback_preview(ReleasePointer(current="0007-cc", kept=kept, replaced=(("0007-cc", "0005-aa"),)), "previous")
    'from release 7 (0007-cc) to release 5 (0005-aa): no record'
    >>> rollback_preview(ReleasePointer(current="0007-cc", kept=kept), "9")
    'from release 7 (0007-cc): release 9 is not kept (refused; mooring releases lists them)'
    """
    history = release_history(pointer)
    current = history_entry(history, "current")
    now = f"from release {current['release']} ({current['release_dirname']})" if current else "from no current release"
    if to == "previous":
        target = history_entry(history, "rollback_target")
        if target is None:
            return f"{now}: no earlier good release is kept (refused)"
    else:
        target = next((e for e in history if e["release"] == int(to)), None)
        if target is None:
            return f"{now}: release {to} is not kept (refused; mooring releases lists them)"
    refused = "; marked failed (refused without --force)" if target["failed"] else ""
    return f"{now} to {release_line({**target, 'current': False, 'rollback_target': False})}{refused}"


def status_reading(view: HostView) -> tuple[list[Finding], dict[str, Any]]:
    """The host's status: as findings (release, last deploy, deploy lock, services, backups) and
    as plain data for ``--json`` (:func:`status_details`)."""
    history = release_history(view.snapshot.release)
    return ([*_release_findings(view, history), *_service_findings(view), *_backup_findings(view)],
            status_details(view, history))


def status_findings(view: HostView) -> list[Finding]:
    """The host's status as findings: release, last deploy, deploy lock, services, backups."""
    return status_reading(view)[0]


def status_details(view: HostView, history: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The status as plain data for ``--json``: current release record, last deploy, services,
    newest backup (``history``: :func:`release_history`, when the caller has it)."""
    pointer = view.snapshot.release
    history = release_history(pointer) if history is None else history
    newest = _newest_dump(view)
    return {
        "current": history_entry(history, "current"),
        "rollback_target": history_entry(history, "rollback_target"),
        "last_deploy": history[-1] if history else None,
        "pending": pointer.pending,
        "locked": pointer.locked,
        "services": [{"service": s.service, "state": s.state, "health": s.health, "image": s.image,
                      "restart_count": s.restart_count} for s in view.snapshot.services],
        "last_backup": None if newest is None else {"name": newest.name, "age_s": int(view.now - newest.mtime)},
    }


def _release_findings(view: HostView, history: list[dict[str, Any]]) -> list[Finding]:
    pointer = view.snapshot.release
    current = history_entry(history, "current")
    found = []
    if current is None:
        found.append(view.finding("status.release", Outcome.WARNING, "release:current", "no current release",
                                  fix="deploy the stack (mooring deploy)"))
    else:
        found.append(view.passed("status.release", "release:current", release_line(current)))
    if current is not None:
        target = history_entry(history, "rollback_target")
        found.append(view.passed("status.rollback_target", "release:previous",
                                 f"mooring rollback restores release {target['release']} ({target['release_dirname']})"
                                 if target else "no earlier good release is kept: mooring rollback has none to restore"))
    if history and history[-1] is not current:
        last = history[-1]
        found.append(view.finding("status.last_deploy", Outcome.WARNING, f"release:{last['release']}",
                                  "newer than the current release: " + release_line(last)
                                  + (f" ({last['error']})" if last.get("error") else ""),
                                  fix="read its record (mooring releases), fix the cause and deploy again"))
    if pointer.pending or pointer.locked:
        what = f"pending {pointer.pending}" if pointer.pending else "deploy lock held"
        found.append(view.finding("status.deploy", Outcome.WARNING, "release:pending",
                                  f"a deploy is running or was cut short ({what})",
                                  fix="wait for it; if no run is alive, mooring unlock (the next deploy recovers)"))
    return found


def _service_findings(view: HostView) -> list[Finding]:
    found = []
    for service in view.snapshot.services:
        health = "" if service.health == "none" else f", {service.health}"
        text = f"{service.state}{health}, image {service.image}"
        if service.restart_count:
            text += f", restarted {service.restart_count}x"
        declared = view.stack.services.get(service.service)
        finished_job = declared is not None and declared.restart == "no" and service.exit_code == 0
        good = service.state == "running" and service.health in ("healthy", "none") or (
            service.state == "exited" and finished_job)
        found.append(view.finding("status.service", Outcome.PASSED if good else Outcome.WARNING,
                                  f"service:{service.service}", text,
                                  fix="" if good else f"mooring check names why; mooring logs {service.service}"))
    if not view.snapshot.services:
        found.append(view.finding("status.service", Outcome.WARNING, "service:*", "no containers of the stack run",
                                  fix="deploy the stack (mooring deploy)"))
    return found


def _backup_findings(view: HostView) -> list[Finding]:
    if not view.stack.backups.enabled:
        return []
    newest = _newest_dump(view)
    if newest is None:
        return [view.finding("status.backup", Outcome.WARNING, "backup:newest", "no dump on the host yet",
                             fix="mooring backup run (or wait for the scheduled job)")]
    return [view.passed("status.backup", "backup:newest",
                        f"newest dump {_age(view.now - newest.mtime)} old ({newest.name})")]


def _newest_dump(view: HostView):
    dumps = view.snapshot.backups.dumps()
    return dumps[-1] if dumps else None


def _age(seconds: float) -> str:
    """``45 s``, ``12 min``, ``5 h``, ``3 d``.

    >>> _age(45), _age(720), _age(5 * 3600 + 10), _age(3 * 86400)
    ('45 s', '12 min', '5 h', '3 d')
    """
    seconds = max(0, int(seconds))
    for size, unit in ((86400, "d"), (3600, "h"), (60, "min")):
        if seconds >= size:
            return f"{seconds // size} {unit}"
    return f"{seconds} s"

