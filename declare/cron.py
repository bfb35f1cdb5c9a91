"""Validation of crontab schedules as Debian's cron (vixie cron) reads them in /etc/cron.d.

The field rules are Debian's (names may stand in lists and ranges: ``mon-fri``, ``jan-mar``;
no ``L``, ``W``, ``#`` or ``?``, which other crons know); when the schedule runs is computed by
cronsim (:func:`next_runs`), and :func:`longest_gap_minutes` walks the calendar with vixie cron's
day-of-month OR day-of-week rule.
"""

from __future__ import annotations

import datetime as dt
import re

MACROS = ("@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly")
MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")

#: (field name, lowest, highest, names that stand for lowest + index)
FIELDS = (
    ("minute", 0, 59, ()),
    ("hour", 0, 23, ()),
    ("day of month", 1, 31, ()),
    ("month", 1, 12, MONTHS),
    ("day of week", 0, 7, DAYS),
)


def cron_problem(schedule: str) -> str | None:
    """Why ``schedule`` is not a valid cron schedule, or None when it is.

    >>> cron_problem("0 2 * * *") is None, cron_problem("61 2 * * *"), cron_problem("0 2 31 2 *")
    (True, 'minute: 61 is outside 0-59', 'it never runs: no month has that day')
    """
    if any(char in schedule for char in "\n\r%"):
        return "a line break or % would break the crontab line (cron turns % into a newline)"
    text = schedule.strip()
    if text == "@reboot":
        return "@reboot runs only when the host boots, never on a schedule (use @daily or five fields, e.g. 0 2 * * *)"
    if text.startswith("@"):
        return None if text in MACROS else f"unknown macro {text} (use one of {', '.join(MACROS)})"
    fields = text.split()
    if len(fields) != 5:
        return f"{len(fields)} fields, cron needs 5 (minute hour day-of-month month day-of-week)"
    for value, (name, low, high, names) in zip(fields, FIELDS):
        why = _field_problem(value, low, high, names)
        if why:
            return f"{name}: {why}"
    if longest_gap_minutes(text) is None:
        return "it never runs: no month has that day"
    return None


def _with_numbers(field: str, names: tuple[str, ...]) -> str:
    """``field`` with each name (``mon``, ``JAN``) replaced by its number, as cron reads it.

    >>> _with_numbers("mon-fri", DAYS), _with_numbers("jan,Mar-may/2", MONTHS), _with_numbers("funday", DAYS)
    ('1-5', '1,3-5/2', 'funday')
    """
    if not names:
        return field
    first = 1 if names is MONTHS else 0
    return re.sub(r"[A-Za-z]+", lambda m: str(names.index(m.group().lower()) + first)
                  if m.group().lower() in names else m.group(), field)


def _numeric_fields(schedule: str) -> list[str]:
    """The five fields of the valid ``schedule``, a macro spelled out and names as numbers.

    >>> _numeric_fields("@weekly"), _numeric_fields(" 0 2 * jan-mar mon-fri ")
    (['0', '0', '*', '*', '0'], ['0', '2', '*', '1-3', '1-5'])
    """
    text = schedule.strip()
    return [_with_numbers(value, names) for value, (_, _, _, names) in zip(MACRO_FIELDS.get(text, text).split(), FIELDS)]


def _field_problem(field: str, low: int, high: int, names: tuple[str, ...]) -> str | None:
    field = _with_numbers(field, names)
    if re.search(r"[LW#?]", field):
        return f"{field!r}: L, W, # and ? are not Debian cron's (use numbers, names, ranges, lists and steps)"
    for item in field.split(","):
        why = _item_problem(item, low, high)
        if why:
            return why
    return None


def _item_problem(item: str, low: int, high: int) -> str | None:
    if not item:
        return "empty list item"
    base, _, step = item.partition("/")
    # cron itself takes any step from 1 up; one larger than the field's range runs only at the
    # range's start (*/90 in minutes is "at :00", not "every 90 minutes"), so it is refused.
    if step and not (step.isdigit() and 0 < int(step) <= high - low + 1):
        return f"step {step!r} must be a number from 1 to {high - low + 1}: a larger step runs only at the range's start"
    if base == "*":
        return None
    start, dash, end = base.partition("-")
    if not dash and step:
        return f"{item!r}: a step needs a range or * (e.g. */5 or 0-30/5)"
    for number in (start, end) if dash else (start,):
        if not number.isdigit():
            return f"{number!r} is not a number"
        if not low <= int(number) <= high:
            return f"{number} is outside {low}-{high}"
    if dash and int(start) > int(end):
        return f"range {base} runs backwards"
    return None


#: What each macro stands for, as cron reads it.
MACRO_FIELDS = {"@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *", "@weekly": "0 0 * * 0",
                "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@hourly": "0 * * * *"}


#: Days in which the calendar's weekdays and leap days repeat, from 1901 to 2099: 28 years.
CYCLE_DAYS = 28 * 365 + 7  # 1461 weeks
CYCLE_START = dt.date(2024, 1, 1)


def longest_gap_minutes(schedule: str) -> int | None:
    """The longest time, in minutes, between two runs of the valid ``schedule``; None when it
    never runs. What a freshness check allows.

    Walks one 28-year cycle of the calendar (weekdays and leap days repeat with it until 2100)
    and wraps from its last run to the first run of the next cycle, so a schedule that fires
    once in years (a weekday that falls on 29 February) gets its true gap.

    >>> longest_gap_minutes("0 2 * * *"), longest_gap_minutes("30 4 * * sun"), longest_gap_minutes("0 2 31 2 *")
    (1440, 10080, None)
    """
    fields = _numeric_fields(schedule)
    minutes, hours, doms, months, dows = (_values(value, low, high) for value, (_, low, high, _) in zip(fields, FIELDS))
    dows = {0 if day == 7 else day for day in dows}
    either = not fields[2].startswith("*") and not fields[4].startswith("*")  # vixie cron: dom OR dow
    days = [number for number in range(CYCLE_DAYS)
            if _runs_on(CYCLE_START + dt.timedelta(days=number), doms, months, dows, either)]
    if not days:
        return None
    times = sorted(hour * 60 + minute for hour in hours for minute in minutes)
    starts = [day * 1440 for day in days] + [(days[0] + CYCLE_DAYS) * 1440]
    between_days = max(later + times[0] - (earlier + times[-1]) for earlier, later in zip(starts, starts[1:]))
    within_a_day = max((later - earlier for earlier, later in zip(times, times[1:])), default=0)
    return max(between_days, within_a_day)


def _runs_on(date: dt.date, doms: set[int], months: set[int], dows: set[int], either: bool) -> bool:
    """Whether cron runs on ``date``: its month, and its day of month and/or of week (``either``)."""
    in_dom, in_dow = date.day in doms, (date.weekday() + 1) % 7 in dows
    return date.month in months and ((in_dom or in_dow) if either else (in_dom and in_dow))


def _values(field: str, low: int, high: int) -> set[int]:
    """The numbers a valid cron field stands for (names already replaced by numbers)."""
    found: set[int] = set()
    for item in field.split(","):
        base, _, step = item.partition("/")
        start, dash, end = base.partition("-")
        first, final = (low, high) if base == "*" else (int(start), int(end) if dash else int(start))
        found.update(range(first, final + 1, int(step or 1)))
    return found


def next_runs(schedule: str, after: dt.datetime, count: int = 1) -> list[dt.datetime]:
    """The next ``count`` times the valid ``schedule`` runs after ``after`` (a time in the host's
    zone, naive or aware), computed by cronsim; [] when it never runs.

    >>> next_runs("0 2 * * mon-fri", dt.datetime(2026, 12, 5, 23, 0), 2)  # a Saturday
    [datetime.datetime(2026, 12, 7, 2, 0), datetime.datetime(2026, 12, 8, 2, 0)]
    """
    from cronsim import CronSim, CronSimError

    try:
        runs = CronSim(" ".join(_numeric_fields(schedule)), after)
        return [next(runs) for _ in range(count)]
    except (CronSimError, StopIteration):
        return []
