"""Validation of crontab schedules as Debian's cron (vixie cron) reads them in /etc/cron.d."""

from __future__ import annotations

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

    >>> cron_problem("0 2 * * *") is None, cron_problem("61 2 * * *")
    (True, 'minute: 61 is outside 0-59')
    """
    if any(char in schedule for char in "\n\r%"):
        return "a line break or % would break the crontab line (cron turns % into a newline)"
    text = schedule.strip()
    if text.startswith("@"):
        return None if text in MACROS else f"unknown macro {text} (use one of {', '.join(MACROS)})"
    fields = text.split()
    if len(fields) != 5:
        return f"{len(fields)} fields, cron needs 5 (minute hour day-of-month month day-of-week)"
    for value, (name, low, high, names) in zip(fields, FIELDS):
        why = _field_problem(value, low, high, names)
        if why:
            return f"{name}: {why}"
    return None


def _field_problem(field: str, low: int, high: int, names: tuple[str, ...]) -> str | None:
    if names and field.lower() in names:
        return None
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
