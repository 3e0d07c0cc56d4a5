"""Which nights an award may be booked for: none before the property's today (in its time
zone), none past the end of the programme's stay calendar.

The property's time zone is the one its board setup names (`loyalty board setup`), else
the group's `LOYALTY_TIMEZONE`. The stay calendar ends with the last year for which the
programme dates its one-off seasons (Spring Festival moves every year: the default
programme dates it for 2026 and 2027): a night after that would be priced as if no
festival existed, so it is refused rather than guessed."""

from __future__ import annotations

from datetime import date, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, select

from loyalty.context import Context
from loyalty.db.board_tables import board_properties
from loyalty.errors import ApiError
from loyalty.rules.programme import Programme


def property_zone(conn: Connection, ctx: Context, property_id: str) -> ZoneInfo:
    p = board_properties.c
    name = conn.execute(select(p.timezone).where(p.property_id == property_id)).scalar_one_or_none()
    return ZoneInfo(name or ctx.settings.timezone)


def property_today(conn: Connection, ctx: Context, property_id: str) -> date:
    return ctx.clock.now().astimezone(property_zone(conn, ctx, property_id)).date()


def calendar_end(programme: Programme) -> date | None:
    """The last night the programme's calendar prices knowingly (None: every season recurs)."""
    dated = [s.end for s in programme.seasons if isinstance(s.end, date)]
    return date(max(dated).year, 12, 31) if dated else None


def check_award_nights(
    conn: Connection, ctx: Context, property_id: str, check_in: date, nights: int
) -> None:
    """422 naming `check_in` for a check-in before the property's today or a stay that runs
    past the calendar; `nights` counts from `check_in`."""
    today = property_today(conn, ctx, property_id)
    if check_in < today:
        raise ApiError(
            422,
            "check_in_in_the_past",
            f"check_in {check_in} is before today at {property_id} ({today})",
            field="check_in",
        )
    end = calendar_end(ctx.programme)
    last = check_in + timedelta(days=nights - 1)
    if end is not None and last > end:
        raise ApiError(
            422,
            "beyond_calendar",
            f"the programme's stay calendar ends {end}; the night of {last} cannot be priced "
            "yet (its dated seasons are not published)",
            field="check_in",
        )
