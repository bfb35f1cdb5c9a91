"""Cron schedules and findings, pinned exactly (mutation testing, docs/mutation.md): a check that
only looks for a word in a message lets a changed message or a skipped bound through.

Host-free and fast: pure functions, tests as data.
"""

from __future__ import annotations

import pytest

from declare.cron import cron_problem
from checks.findings import Finding, Outcome, failed

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
    "@reboot": f"unknown macro @reboot (use one of {MACROS})",
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
    # a name is a whole field, not a list item or a range end
    "0 2 * jan-mar *": "month: 'jan' is not a number",
    "0 2 * * funday": "day of week: 'funday' is not a number",
    "0 2 * * mon-fri": "day of week: 'mon' is not a number",
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
