"""Which seasons a day falls in (pure).

>>> tags_on(programme, date(2026, 10, 3))
frozenset({'golden_week', 'peak'})
"""

from __future__ import annotations

from datetime import date

from loyalty.rules.numbers import month_day
from loyalty.rules.programme import Programme, Season


def in_season(season: Season, day: date) -> bool:
    """True when `day` is inside the season's inclusive range (recurring ranges may wrap)."""
    if isinstance(season.start, date) and isinstance(season.end, date):
        return season.start <= day <= season.end
    if isinstance(season.start, str) and isinstance(season.end, str):
        start, end, today = month_day(season.start), month_day(season.end), (day.month, day.day)
        if start <= end:
            return start <= today <= end
        return today >= start or today <= end  # wraps the year end
    return False  # mixed bounds are refused by the loader


def seasons_on(programme: Programme, day: date) -> list[Season]:
    return [season for season in programme.seasons if in_season(season, day)]


def tags_on(programme: Programme, day: date) -> frozenset[str]:
    """Names and kinds of every season covering `day` (conditions match either)."""
    tags: set[str] = set()
    for season in seasons_on(programme, day):
        tags.add(season.name)
        tags.add(season.kind)
    return frozenset(tags)
