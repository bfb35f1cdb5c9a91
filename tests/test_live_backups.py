"""The live backup rule ``live.backups.fresh`` over a snapshot built as data (host-free): the
newest dump of each database must be younger than 26 h, none the job should have pruned may be
older than retention + 1 day, and the ``keep_newest`` newest are never counted as unpruned."""

from __future__ import annotations

import dataclasses

import pytest

from mooring.checks.findings import Outcome
from mooring.checks.live import HostView, backups_fresh
from mooring.checks.snapshot import BackupFile, BackupState, FileState, HostSnapshot
from mooring.declare.render import cron_file_path, render_stack
from tests.declared_world import model_for, set_path

NOW = 2_000_000_000
HOUR, DAY = 3600, 86400


def view(world, dumps_age_s: list[int], keep_newest: int = 1, retention_days: int = 3,
         cron_age_s: int = 30 * DAY) -> HostView:
    data = world.read("sandbox.yml")
    set_path(data, "stack.backups.keep_newest", keep_newest)
    set_path(data, "stack.backups.retention_days", retention_days)
    world.write("sandbox.yml", data)
    model = model_for("sandbox")
    stack = model.stack
    database = stack.backups.databases[0]
    files = tuple(BackupFile(f"{stack.name}__{database}_2026{index + 1:04d}T020000Z.sql.gz", "f", 1000, NOW - age)
                  for index, age in enumerate(sorted(dumps_age_s, reverse=True)))  # names grow with time
    cron = FileState(cron_file_path(stack), True, "file", mtime=NOW - cron_age_s)
    snapshot = HostSnapshot(model.name, 1, NOW, files=(cron,), backups=BackupState("listed", files))
    return HostView(model, render_stack(model), snapshot, now=NOW)


def outcomes(found) -> list[tuple[str, str]]:
    return sorted((f.outcome.value, f.message) for f in found)


def test_a_fresh_pruned_folder_passes(world):
    [found] = backups_fresh(view(world, [2 * HOUR, DAY + 2 * HOUR, 2 * DAY]))
    assert found.outcome is Outcome.PASSED


def test_a_newest_dump_older_than_26_hours_fails(world):
    [found] = backups_fresh(view(world, [27 * HOUR]))
    assert found.outcome is Outcome.FAILED and "27 h old" in found.message
    assert found.path == "stack.backups" and found.file.endswith(".yml")


@pytest.mark.parametrize(("cron_age", "outcome"), [(HOUR, Outcome.WARNING), (27 * HOUR, Outcome.FAILED)])
def test_no_dump_yet_warns_only_while_the_job_is_new(world, cron_age, outcome):
    [found] = backups_fresh(view(world, [], cron_age_s=cron_age))
    assert found.outcome is outcome and "no backup" in found.message


def test_dumps_past_retention_fail_unless_among_the_newest_kept(world):
    ages = [2 * HOUR, 5 * DAY, 6 * DAY, 7 * DAY]  # retention 3 days: the last three are past it
    [found] = backups_fresh(view(world, ages, keep_newest=1))
    assert found.outcome is Outcome.FAILED and found.actual == "3 older"
    [found] = backups_fresh(view(world, ages, keep_newest=3))  # the job keeps 5 and 6 days: one left
    assert found.actual == "1 older"
    [found] = backups_fresh(view(world, ages, keep_newest=4))
    assert found.outcome is Outcome.PASSED, found


def with_metrics(view_: HostView, lines: list[str] | None) -> HostView:
    from mooring.checks.snapshot import MetricsState

    state = None if lines is None else MetricsState("/m.prom", "read", tuple(lines))
    return dataclasses.replace(view_, snapshot=dataclasses.replace(view_.snapshot, metrics=state))


def samples(failures: int, success: int) -> list[str]:
    return ["# TYPE mooring_backup_consecutive_failures gauge",
            f'mooring_backup_consecutive_failures{{stack="solacore"}} {failures}',
            f'mooring_backup_last_success_timestamp_seconds{{stack="solacore"}} {success}']


def test_metrics_of_a_good_last_run_pass(world):
    from mooring.checks.live import backup_metrics

    [found] = backup_metrics(with_metrics(view(world, [HOUR]), samples(0, NOW - HOUR)))
    assert found.outcome is Outcome.PASSED


@pytest.mark.parametrize(("failures", "success", "said"), [
    (2, NOW - HOUR, ["the last 2 backup run(s) failed"]),
    (0, NOW - 30 * HOUR, ["the job's last success was 30 h ago"]),
    (3, 0, ["the last 3 backup run(s) failed", "the job's last success was never"]),
])
def test_metrics_of_failed_or_stale_runs_fail(world, failures, success, said):
    from mooring.checks.live import backup_metrics

    found = backup_metrics(with_metrics(view(world, [HOUR]), samples(failures, success)))
    assert sorted(f.message for f in found) == sorted(said) and {f.outcome for f in found} == {Outcome.FAILED}


def test_dumps_without_metrics_warn_and_no_run_yet_says_nothing(world):
    from mooring.checks.live import backup_metrics

    [found] = backup_metrics(with_metrics(view(world, [HOUR]), None))
    assert found.outcome is Outcome.WARNING
    assert backup_metrics(with_metrics(view(world, []), None)) == []
    [other] = backup_metrics(with_metrics(view(world, [HOUR]), ['mooring_backup_consecutive_failures{stack="x"} 0']))
    assert other.outcome is Outcome.WARNING and "lacks" in other.message  # another stack's samples


def verify_view(world, lines: list[str] | None, schedule: str | None = None, cron_age_s: int = 30 * DAY) -> HostView:
    """A view whose snapshot read the restore drill's textfile as ``lines`` (None: missing)."""
    from mooring.checks.snapshot import MetricsState

    if schedule:
        data = world.read("sandbox.yml")
        set_path(data, "stack.backups.verify_schedule", schedule)
        world.write("sandbox.yml", data)
    base = view(world, [HOUR], cron_age_s=cron_age_s)
    state = MetricsState("/v.prom", "missing") if lines is None else MetricsState("/v.prom", "read", tuple(lines))
    return dataclasses.replace(base, snapshot=dataclasses.replace(base.snapshot, verify_metrics=state))


def drill(success: int, ran_at: int) -> list[str]:
    return [f'mooring_backup_last_verify_timestamp_seconds{{stack="solacore"}} {ran_at}',
            f'mooring_backup_last_verify_success{{stack="solacore"}} {success}']


def test_a_good_drill_passes_and_no_drill_unscheduled_says_nothing(world):
    from mooring.checks.live import backup_verify

    [found] = backup_verify(verify_view(world, drill(1, NOW - 3 * DAY)))
    assert found.outcome is Outcome.PASSED and "restored every dump whole" in found.message
    assert backup_verify(verify_view(world, None)) == []


def test_a_failed_drill_fails_scheduled_or_not(world):
    from mooring.checks.live import backup_verify

    [found] = backup_verify(verify_view(world, drill(0, NOW - HOUR)))
    assert found.outcome is Outcome.FAILED and "does not restore whole" in found.message
    assert found.fix == "run it to see which dump and why: mooring backup verify"


@pytest.mark.parametrize(("age", "outcome"), [(7 * DAY + HOUR, Outcome.PASSED), (7 * DAY + 3 * HOUR, Outcome.FAILED)])
def test_a_weekly_drill_is_late_past_a_week_and_two_hours(world, age, outcome):
    from mooring.checks.live import backup_verify

    [found] = backup_verify(verify_view(world, drill(1, NOW - age), schedule="30 4 * * sun"))
    assert found.outcome is outcome, found
    if outcome is Outcome.FAILED:
        assert found.message == "the last restore drill ran 171 h ago; its schedule (30 4 * * sun) runs it at least every 168 h"


@pytest.mark.parametrize(("cron_age", "outcome"), [(DAY, Outcome.WARNING), (8 * DAY, Outcome.FAILED)])
def test_a_scheduled_drill_that_never_ran_warns_only_in_its_first_period(world, cron_age, outcome):
    from mooring.checks.live import backup_verify

    [found] = backup_verify(verify_view(world, None, schedule="30 4 * * sun", cron_age_s=cron_age))
    assert found.outcome is outcome and "has not run yet" in found.message


def test_the_snapshot_reads_the_drills_textfile_apart_from_the_jobs():
    from mooring.checks.snapshot import parse_snapshot

    text = "\n".join(["snapshot\t1\th\t1", "metricsfile\t/m.prom\tread", "metric\t/m.prom\t1\tjob 1",
                      "verifyfile\t/v.prom\tread", "verifymetric\t/v.prom\t1\tdrill 1", "verifymetric\t/v.prom\t2\tdrill 2",
                      "end"])
    snap = parse_snapshot(text)
    assert snap.metrics.lines == ("job 1",) and snap.verify_metrics.lines == ("drill 1", "drill 2")
    assert parse_snapshot("snapshot\t1\th\t1\nverifymetric\t/v.prom\t1\tx\nend").warnings  # no file record first


@pytest.mark.parametrize(("schedule", "minutes"), [
    ("0 2 * * *", 1440), ("*/15 * * * *", 15), ("0 2 * * 1-5", 3 * 1440), ("0 0 1,15 * 1", 7 * 1440),
    ("0 3 1 * *", 31 * 1440), ("@weekly", 7 * 1440), ("0 2 29 2 *", 1461 * 1440), ("0 2 31 2 *", None),
    ("0 2 * * 7", 7 * 1440), ("0 2 * * 6,7", 6 * 1440), ("0 1,23 * * *", 22 * 60),
])
def test_the_longest_gap_of_a_schedule(schedule, minutes):
    from mooring.declare.cron import longest_gap_minutes

    assert longest_gap_minutes(schedule) == minutes


@pytest.mark.parametrize(("day", "doms", "dows", "either", "runs"), [
    ((2026, 12, 6), set(), {0}, True, True),       # a Sunday: cron's day 0
    ((2026, 12, 6), set(), {1, 6}, True, False),
    ((2026, 12, 5), set(), {6}, True, True),       # a Saturday: day 6
    ((2026, 12, 7), {7}, {0}, True, True),         # the 7th, a Monday: day of month OR of week
    ((2026, 12, 7), {7}, {0}, False, False),       # ... AND when one field starts with *
    ((2026, 12, 13), {13}, {0}, False, True),
])
def test_cron_runs_on_a_day_by_its_weekday_and_date(day, doms, dows, either, runs):
    import datetime as dt

    from mooring.declare.cron import _runs_on

    assert _runs_on(dt.date(*day), doms, set(range(1, 13)), dows, either) is runs
    assert _runs_on(dt.date(*day), doms, set(range(1, 13)) - {12}, dows, either) is False


def cronsim_longest_gap(schedule: str, years: int = 60) -> int:
    """The longest gap between two runs from 2024 on, as cronsim (Debian cron's rules) runs them."""
    import datetime as dt

    from cronsim import CronSim

    from mooring.declare.cron import _numeric_fields

    start, runs = dt.datetime(2024, 1, 1), []
    for run in CronSim(" ".join(_numeric_fields(schedule)), start - dt.timedelta(minutes=1)):
        if run.year >= 2024 + years:
            break
        runs.append(run)
    return max(int((later - earlier).total_seconds()) // 60 for earlier, later in zip(runs, runs[1:]))


@pytest.mark.parametrize(("schedule", "days"), [
    ("0 2 29 2 */3", 4383),    # 29 February on a Sunday, Wednesday or Saturday: 2032, 2044, 2048, 2060
    ("0 2 29 2 */7", 10227),   # 29 February on a Sunday: once in 28 years
    ("0 2 */10 1 0", 1106),    # a Sunday in January that is its 1st, 11th, 21st or 31st
    ("0 2 31 1 */3", 1826),
    ("0 2 29 2 0", 350), ("0 2 1 2 1", 344), ("0 2 13 * 5", 7),
])
def test_a_rare_schedules_gap_spans_years_as_cron_runs_it(schedule, days):
    """Weekdays and dates line up again only after years: the gap is the calendar's, not an
    eight-year window's (which found 721 days for the third and called the first never run)."""
    from mooring.declare.cron import cron_problem, longest_gap_minutes

    assert longest_gap_minutes(schedule) == days * 1440 == cronsim_longest_gap(schedule)
    assert cron_problem(schedule) is None
