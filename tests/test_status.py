"""``mooring status`` and ``mooring releases`` over a snapshot: the real snapshot script reads release
records from a stack laid out in a temporary folder; the status statements and the history come
from what it read. The box test (tests/test_deploy_rollback.py) runs both commands on a host."""

from __future__ import annotations

import dataclasses
import json
import time

from mooring.checks.findings import Outcome
from mooring.checks.live import HostView
from mooring.checks.snapshot import BackupFile, BackupState, ReleasePointer, ReleaseRecord, ServiceState, parse_snapshot
from mooring.checks.status import release_history, status_details, status_findings
from tests.test_snapshot import canary_world, local, moved, run_script  # noqa: F401 - fixtures

RELEASES = "/srv/mooring/solacore/releases"


def record(number: int, dirname: str, outcome: str, **more) -> str:
    """A release record as ``mooring deploy`` writes it (indented JSON)."""
    return json.dumps({"release": number, "release_dirname": dirname, "time": f"2026-12-0{number}T10:00:00+00:00",
                       "operator": "ana", "outcome": outcome, "images": {f"mooring/api:1.{number}.0": f"sha256:{number:064x}"},
                       **more}, indent=2, sort_keys=True)


def lay_out_releases(local, current: str, records: dict[str, str | None],
                     replaces: dict[str, str] | None = None) -> None:
    releases = local["root"] / RELEASES.lstrip("/")
    releases.mkdir(parents=True, exist_ok=True)
    for dirname, text in records.items():
        (releases / dirname).mkdir()
        if text is not None:
            (releases / dirname / "record.json").write_text(text)
    for dirname, replaced in (replaces or {}).items():
        (releases / dirname / "replaces").write_text(replaced + "\n")
    (releases / "current").write_text(current + "\n")


def snapshot_of(local):
    return parse_snapshot(run_script(local["spec"]).stdout)


def test_the_snapshot_reads_every_kept_release_record_whole(local):
    # An error text with a tab, a backslash and non-ASCII must come back exactly (escaped in transit).
    failed_record = record(2, "0002-bbbb-failed", "rolled_back", error="gate: \tready \\ 503 – down", rolled_back_to=1)
    lay_out_releases(local, "0001-aaaa", {"0001-aaaa": record(1, "0001-aaaa", "deployed"),
                                          "0002-bbbb-failed": failed_record, "0003-cccc": None})
    snap = snapshot_of(local)
    assert snap.warnings == ()
    assert snap.release.kept == ("0001-aaaa", "0002-bbbb-failed", "0003-cccc")
    assert [r.dirname for r in snap.release.records] == ["0001-aaaa", "0002-bbbb-failed"]  # 0003 has none
    assert snap.release.record("0002-bbbb-failed") == json.loads(failed_record)
    again = type(snap).from_json(json.loads(json.dumps(snap.to_json())))  # as the services gate carries it
    assert again.release == snap.release


def test_history_is_oldest_first_with_current_failed_and_unrecorded_releases(local):
    lay_out_releases(local, "0010-aaaa", {"0009-zzzz": record(9, "0009-zzzz", "deployed"),
                                          "0010-aaaa": record(10, "0010-aaaa", "deployed"),
                                          "0011-bbbb-failed": record(11, "0011-bbbb-failed", "rolled_back")})
    history = release_history(snapshot_of(local).release)
    assert [(e["release"], e["current"], e["failed"], e["outcome"]) for e in history] == [
        (9, False, False, "deployed"), (10, True, False, "deployed"), (11, False, True, "rolled_back")]
    assert history[1]["operator"] == "ana" and history[1]["images"] == {"mooring/api:1.10.0": f"sha256:{10:064x}"}


def view_of(local, snapshot) -> HostView:
    return HostView(local["model"], local["rendered"], snapshot)


def test_status_names_the_current_release_and_warns_of_the_failed_deploy_after_it(local):
    lay_out_releases(local, "0001-aaaa", {"0001-aaaa": record(1, "0001-aaaa", "deployed"),
                                          "0002-bbbb-failed": record(2, "0002-bbbb-failed", "rolled_back",
                                                                     error="health gate failed: ready")})
    found = {f.check: f for f in status_findings(view_of(local, snapshot_of(local)))}
    assert found["status.release"].outcome is Outcome.PASSED
    assert found["status.release"].message == ("release 1 (0001-aaaa), 2026-12-01T10:00:00+00:00 by ana: deployed; "
                                               "images mooring/api:1.1.0; current")
    assert found["status.last_deploy"].outcome is Outcome.WARNING
    assert "release 2 (0002-bbbb-failed)" in found["status.last_deploy"].message
    assert "(health gate failed: ready)" in found["status.last_deploy"].message
    assert "status.deploy" not in found  # nothing pending, no lock


def test_status_of_a_host_without_a_release_says_so(local):
    found = {f.check: f for f in status_findings(view_of(local, snapshot_of(local)))}
    assert found["status.release"].outcome is Outcome.WARNING and found["status.release"].message == "no current release"
    assert "status.last_deploy" not in found


def service(name: str, state: str = "running", health: str = "none", exit_code: int | None = 0, restarts: int = 0):
    return ServiceState(service=name, name=f"solacore-{name}-1", id="c" * 12, state=state, health=health,
                        image_id="sha256:1", image=f"mooring/{name}:1", exit_code=exit_code, restart_count=restarts)


def test_status_warns_of_services_not_running_and_a_pending_deploy(local):
    snap = dataclasses.replace(
        snapshot_of(local), services=(service("api", health="healthy"), service("db", health="unhealthy"),
                                      service("redis", state="restarting", restarts=4)),
        release=ReleasePointer("0001-aaaa", "0002-bbbb run-1", ("0001-aaaa",), True))
    found = status_findings(view_of(local, snap))
    by_resource = {f.resource: f for f in found}
    assert by_resource["service:api"].outcome is Outcome.PASSED
    assert by_resource["service:api"].message == "running, healthy, image mooring/api:1"
    assert by_resource["service:db"].outcome is Outcome.WARNING
    assert by_resource["service:redis"].message == "restarting, image mooring/redis:1, restarted 4x"
    assert by_resource["service:redis"].outcome is Outcome.WARNING
    assert by_resource["release:pending"].outcome is Outcome.WARNING
    assert "pending 0002-bbbb run-1" in by_resource["release:pending"].message


def test_status_gives_the_newest_dump_and_its_age(local):
    now = time.time()
    dumps = (BackupFile("solacore__app_20261201T020000Z.sql.gz", "f", 10, int(now - 3 * 86400)),
             BackupFile("solacore__app_20261204T020000Z.sql.gz", "f", 10, int(now - 5 * 3600 - 30)),
             BackupFile("solacore__app_20261205T020000Z.sql.gz.partial", "f", 10, int(now - 60)))
    snap = dataclasses.replace(snapshot_of(local), backups=BackupState("listed", dumps))
    view = dataclasses.replace(view_of(local, snap), now=now)
    [backup] = [f for f in status_findings(view) if f.check == "status.backup"]
    assert backup.message == "newest dump 5 h old (solacore__app_20261204T020000Z.sql.gz)"  # a .partial is no dump
    assert status_details(view)["last_backup"]["name"] == "solacore__app_20261204T020000Z.sql.gz"


def test_an_unreadable_record_is_a_release_without_a_record():
    pointer = ReleasePointer("0001-aaaa", None, ("0001-aaaa",), False, (ReleaseRecord("0001-aaaa", "{not json"),))
    [entry] = release_history(pointer)
    assert entry["current"] and not entry["recorded"] and entry["outcome"] is None


def test_releases_and_status_name_what_a_rollback_restores_not_a_release_rolled_back_from(local):
    # 6, then 7, rolled back to 6 on demand, then 8: `mooring rollback` restores 6, never 7.
    lay_out_releases(local, "0008-cccc", {"0006-aaaa": record(6, "0006-aaaa", "deployed"),
                                          "0007-bbbb": record(7, "0007-bbbb", "deployed"),
                                          "0008-cccc": record(8, "0008-cccc", "deployed"),
                                          "0009-dddd-failed": record(9, "0009-dddd-failed", "rolled_back")},
                     replaces={"0007-bbbb": "0006-aaaa", "0008-cccc": "0006-aaaa", "0009-dddd-failed": "0008-cccc"})
    snap = snapshot_of(local)
    assert snap.warnings == ()
    assert snap.release.replaced == (("0007-bbbb", "0006-aaaa"), ("0008-cccc", "0006-aaaa"),
                                     ("0009-dddd-failed", "0008-cccc"))
    assert snap.release.rollback_target() == "0006-aaaa"
    history = release_history(snap.release)
    assert [(e["release"], e["replaces"], e["rollback_target"]) for e in history] == [
        (6, None, True), (7, 6, False), (8, 6, False), (9, 8, False)]
    found = {f.check: f for f in status_findings(view_of(local, snap))}
    assert found["status.rollback_target"].message == "mooring rollback restores release 6 (0006-aaaa)"
    assert found["status.release"].message.endswith("; replaced release 6; current")
    assert status_details(view_of(local, snap))["rollback_target"]["release_dirname"] == "0006-aaaa"


def test_a_host_with_one_release_has_no_rollback_target_and_a_bad_replaces_file_is_a_warning(local):
    lay_out_releases(local, "0001-aaaa", {"0001-aaaa": record(1, "0001-aaaa", "deployed")},
                     replaces={"0001-aaaa": "../../etc/passwd"})
    snap = snapshot_of(local)
    assert snap.warnings == ("releases/0001-aaaa/replaces holds characters a release pointer never has",)
    assert snap.release.replaced == () and snap.release.rollback_target() is None
    found = {f.check: f for f in status_findings(view_of(local, snap))}
    assert found["status.rollback_target"].message == ("no earlier good release is kept: mooring rollback has none "
                                                       "to restore")


def test_the_rollback_target_follows_the_line_past_a_failed_release_and_never_forward():
    from mooring.checks.snapshot import previous_release

    # 4 replaced 3 (kept, marked failed: passed over), 3 replaced 1; 2 was rolled back from, never a target.
    assert previous_release(4, [1, 2, 4], {4: 3, 3: 1, 2: 1}) == 1
    # a replaces file naming the release itself (or a newer one) is not followed: the newest good one below
    assert previous_release(3, [1, 2, 3], {3: 3}) == 2
    assert previous_release(3, [1, 2, 3, 5], {3: 5}) == 2
    assert previous_release(None, [1, 2], {}) == 2 and previous_release(1, [1], {}) is None


def test_the_rollback_target_of_a_pointer_skips_failed_releases_and_a_current_that_is_not_kept():
    below = ReleasePointer("0003-cccc", None, ("0001-aaaa", "0002-bbbb-failed", "0003-cccc"))
    assert below.rollback_target() == "0001-aaaa"  # 2 failed its gate: never a target
    # `current` names a release now marked failed: no current release, so the newest good one
    marked = ReleasePointer("0003-cccc", None, ("0001-aaaa", "0002-bbbb", "0003-cccc-failed"),
                            replaced=(("0003-cccc-failed", "0001-aaaa"),))
    assert marked.rollback_target() == "0002-bbbb"
