"""Calendar windows the rules count in: qualification years, limit periods, transfer years.

Windows are half-open `[start, end)` date pairs.

    >>> qualification_year_of(programme, date(2026, 3, 1))      # year_starts = "01-01"
    2026
    >>> limit_window(programme, "month", date(2026, 3, 14))
    (datetime.date(2026, 3, 1), datetime.date(2026, 4, 1))
"""

from __future__ import annotations

from datetime import date, timedelta

from loyalty.rules.numbers import add_months, month_day
from loyalty.rules.programme import Programme

LIFETIME = (date.min, date.max)


def qualification_year_bounds(programme: Programme, year: int) -> tuple[date, date]:
    """Qualification year `year` (labelled by the calendar year it starts in)."""
    month, day = month_day(programme.qualification.year_starts)
    return date(year, month, day), date(year + 1, month, day)


def qualification_year_of(programme: Programme, day: date) -> int:
    start, _ = qualification_year_bounds(programme, day.year)
    return day.year if day >= start else day.year - 1


def limit_window(programme: Programme, period: str, day: date) -> tuple[date, date]:
    """The window of a per-period limit that contains `day`."""
    if period == "day":
        return day, day + timedelta(days=1)
    if period == "week":  # ISO weeks, Monday first
        start = day - timedelta(days=day.weekday())
        return start, start + timedelta(days=7)
    if period == "month":
        start = day.replace(day=1)
        return start, add_months(start, 1)
    if period == "year":
        return date(day.year, 1, 1), date(day.year + 1, 1, 1)
    if period == "qualification_year":
        return qualification_year_bounds(programme, qualification_year_of(programme, day))
    if period == "lifetime":
        return LIFETIME
    raise ValueError(f"unknown period {period!r}")


def transfer_window(day: date) -> tuple[date, date]:
    """Transfer caps count per calendar year."""
    return date(day.year, 1, 1), date(day.year + 1, 1, 1)
