"""Cron schedules and findings, pinned exactly (mutation testing, docs/mutation.md): a check that
only looks for a word in a message lets a changed message or a skipped bound through.

Host-free and fast: pure functions, tests as data.
"""

from __future__ import annotations

import pytest

from mooring.declare.cron import cron_problem
from mooring.checks.findings import Finding, Outcome, failed

MACROS = "@yearly, @annually, @monthly, @weekly, @daily, @midnight, @hourly"
LARGER = ": a larger step runs only at the range's start"

#: schedule → the exact problem (None: valid), as Debian's cron reads /etc/cron.d.
SCHEDULES = {
    # every field at its bounds
    "0 0 1 1 0": None,
    "59 23 31 12 7": None,
    "0-59 0-23 1-31 1-12 0-7": None,
    "1-1 * * * *": None,                      # a one-value range is not backwards
    "0-59/60 * * * *": None,                  # the largest step is the field's width
    "*/1 * * * *": None,
    "0 2 * JAN SUN": None,                    # names are case-insensitive
    "0 2 * dec sat": None,
    "  0 2 * * *  ": None,
    "@daily": None,
    " @hourly ": None,
    "@annually": None,
    # line breaks and %
    "0 2 * * *\n": "a line break or % would break the crontab line (cron turns % into a newline)",
    "0 2 * * *\r": "a line break or % would break the crontab line (cron turns % into a newline)",
    "0 2 * * 1%": "a line break or % would break the crontab line (cron turns % into a newline)",
    # shape
    "@reboot": "@reboot runs only when the host boots, never on a schedule (use @daily or five fields, e.g. 0 2 * * *)",
    "@ daily": f"unknown macro @ daily (use one of {MACROS})",
    "0 2 * *": "4 fields, cron needs 5 (minute hour day-of-month month day-of-week)",
    "0 2 * * * *": "6 fields, cron needs 5 (minute hour day-of-month month day-of-week)",
    "": "0 fields, cron needs 5 (minute hour day-of-month month day-of-week)",
    # numbers and bounds, field by field
    "60 * * * *": "minute: 60 is outside 0-59",
    "* 24 * * *": "hour: 24 is outside 0-23",
    "* * 0 * *": "day of month: 0 is outside 1-31",
    "* * 32 * *": "day of month: 32 is outside 1-31",
    "* * * 0 *": "month: 0 is outside 1-12",
    "* * * 13 *": "month: 13 is outside 1-12",
    "* * * * 8": "day of week: 8 is outside 0-7",
    "x * * * *": "minute: 'x' is not a number",
    "X * * * *": "minute: 'X' is not a number",
    "-1 * * * *": "minute: '' is not a number",
    # ranges: both ends are checked
    "0 1-99 * * *": "hour: 99 is outside 0-23",
    "0 99-1 * * *": "hour: 99 is outside 0-23",
    "0 1-x * * *": "hour: 'x' is not a number",
    "0 6-2 * * *": "hour: range 6-2 runs backwards",
    # lists: every item is checked
    "1,,2 * * * *": "minute: empty list item",
    "1,2, * * * *": "minute: empty list item",
    "1,99 * * * *": "minute: 99 is outside 0-59",
    # steps
    "*/0 * * * *": "minute: step '0' must be a number from 1 to 60" + LARGER,
    "*/61 * * * *": "minute: step '61' must be a number from 1 to 60" + LARGER,
    "*/x * * * *": "minute: step 'x' must be a number from 1 to 60" + LARGER,
    "0 0 * * */9": "day of week: step '9' must be a number from 1 to 8" + LARGER,
    "5/10 * * * *": "minute: '5/10': a step needs a range or * (e.g. */5 or 0-30/5)",
    "0-30/5,99 * * * *": "minute: 99 is outside 0-59",
    # names stand for numbers anywhere Debian's cron takes them: alone, in lists and in ranges
    "0 2 * jan-mar *": None,
    "0 2 * * mon-fri": None,
    "0 2 * * MON-FRI": None,
    "0 2 * jan,jul,dec sat,sun": None,
    "0 2 * * sun-sat/2": None,
    "0 2 * * funday": "day of week: 'funday' is not a number",
    "0 2 * * fri-mon": "day of week: range 5-1 runs backwards",
    "0 2 * * mon-funday": "day of week: 'funday' is not a number",
    # other crons' extensions
    "0 2 L * *": "day of month: 'L': L, W, # and ? are not Debian cron's (use numbers, names, ranges, lists and steps)",
    "0 2 1W * *": "day of month: '1W': L, W, # and ? are not Debian cron's (use numbers, names, ranges, lists and steps)",
    "0 2 * * 5#2": "day of week: '5#2': L, W, # and ? are not Debian cron's (use numbers, names, ranges, lists and steps)",
    "0 2 ? * *": "day of month: '?': L, W, # and ? are not Debian cron's (use numbers, names, ranges, lists and steps)",
}


@pytest.mark.parametrize("schedule,problem", list(SCHEDULES.items()), ids=[f"schedule{i}" for i in range(len(SCHEDULES))])
def test_cron_problem_exactly(schedule, problem):
    assert cron_problem(schedule) == problem


# --- findings -------------------------------------------------------------------------------------

FULL = Finding("ports.unique", Outcome.FAILED, "prod-1", "stack.services.api.ports.0", "port 80 is taken", "publish another",
               "group_data/production.yml")

#: Finding → its one-line text (what `mooring validate` prints).
TEXTS = [
    (FULL, "[failed] prod-1: ports.unique: group_data/production.yml: stack.services.api.ports.0: port 80 is taken "
           "(fix: publish another)"),
    (Finding("env.complete", Outcome.PASSED, "docker-1", message="ok"), "[passed] docker-1: env.complete: ok"),
    (Finding("health.declared", Outcome.WARNING, "h", "stack.health", "no probe"), "[warning] h: health.declared: stack.health: no probe"),
    (Finding("declared", Outcome.FAILED, "inventory", "", "no hosts", "add one", "inventories/x.py"),
     "[failed] inventory: declared: inventories/x.py: no hosts (fix: add one)"),
    (Finding("render.shellcheck", Outcome.SKIPPED, "h", message="not installed"), "[skipped] h: render.shellcheck: not installed"),
]


@pytest.mark.parametrize("finding,text", TEXTS, ids=[f"text{i}" for i in range(len(TEXTS))])
def test_finding_text(finding, text):
    assert str(finding) == text


#: What a finding adds for live rules, probes and drift; a static finding leaves them empty.
NEW = {"host": None, "kind": "static", "resource": "", "expected": "", "actual": ""}


def test_finding_as_data():
    assert FULL.to_dict() == {**NEW, "check": "ports.unique", "outcome": "failed", "subject": "prod-1",
                              "path": "stack.services.api.ports.0", "message": "port 80 is taken", "fix": "publish another",
                              "file": "group_data/production.yml"}
    assert Finding("c", Outcome.WARNING, "s").to_dict() == {**NEW, "check": "c", "outcome": "warning", "subject": "s", "path": "",
                                                            "message": "", "fix": "", "file": ""}


def test_failed_keeps_only_failures_in_order():
    others = [Finding("a", outcome, "h") for outcome in (Outcome.PASSED, Outcome.WARNING, Outcome.SKIPPED)]
    second = Finding("b", Outcome.FAILED, "h2")
    assert failed([others[0], FULL, *others[1:], second]) == [FULL, second]
    assert failed(others) == []


@pytest.mark.parametrize("schedule", [s for s, problem in SCHEDULES.items() if problem is None])
def test_every_schedule_debian_accepts_runs_by_cronsim_too(schedule):
    import datetime as dt

    from mooring.declare.cron import next_runs

    after = dt.datetime(2026, 12, 5, 23, 0)
    runs = next_runs(schedule, after, 3)
    assert len(runs) == 3 and after < runs[0] < runs[1] < runs[2]


def test_next_runs_follow_names_in_ranges_and_vixie_day_rules():
    import datetime as dt

    from mooring.declare.cron import next_runs

    saturday = dt.datetime(2026, 12, 5, 23, 0)
    assert next_runs("30 4 * * mon-fri", saturday) == [dt.datetime(2026, 12, 7, 4, 30)]
    assert next_runs("0 2 * feb-mar *", saturday) == [dt.datetime(2027, 2, 1, 2, 0)]
    assert next_runs("0 2 13 * fri", saturday) == [dt.datetime(2026, 12, 11, 2, 0)]  # dom OR dow: Friday 11th
    assert next_runs("0 2 31 2 *", saturday) == []
