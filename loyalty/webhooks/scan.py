"""As-of jobs that find members to tell about: points about to expire and members gone
quiet. Each emits with a deterministic event id, so running a job again (or daily with an
overlapping window) never notifies twice for the same thing.

    scan_expiring(conn, ctx.programme, as_of=date(2026, 12, 1), days_ahead=30, now=now)
    scan_inactive(conn, as_of=date(2026, 12, 1), days=90, now=now)
"""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Connection, select

from loyalty.db.tables import members
from loyalty.ledger import balance, member_account
from loyalty.rules.expiry import upcoming_expiries
from loyalty.rules.programme import Programme
from loyalty.services.jobs import earn_lots
from loyalty.webhooks.events import MEMBER_INACTIVE, POINTS_WILL_EXPIRE
from loyalty.webhooks.outbox import emit


def _event_id(kind: str, *parts: str) -> str:
    return f"evt_{kind}_" + hashlib.sha256("|".join(parts).encode()).hexdigest()[:32]


def _live(conn: Connection) -> list[Any]:
    m = members.c
    return list(conn.execute(select(members).where(m.erased_at.is_(None)).order_by(m.id)))


def scan_expiring(
    conn: Connection, programme: Programme, *, as_of: date, days_ahead: int, now: datetime
) -> int:
    """points.will_expire for each member whose points expire in (as_of, as_of + N days]:
    one event per member and expiry date, with the total that date."""
    if not 1 <= days_ahead <= 365:
        raise ValueError("days_ahead must be between 1 and 365")
    sent = 0
    for row in _live(conn):
        owner = row.pseudonym
        last = row.last_activity_at.date() if row.last_activity_at else None
        lots = earn_lots(conn, owner, as_of)
        due = upcoming_expiries(
            programme,
            lots,
            min(last, as_of) if last else None,
            as_of,
            until=as_of + timedelta(days=days_ahead),
        )
        totals: dict[date, int] = {}
        for action in due:
            totals[action.expires_on] = totals.get(action.expires_on, 0) + action.points
        for expires_on, points in sorted(totals.items()):
            data = {
                "member_id": row.id,
                "points": points,
                "expires_on": expires_on.isoformat(),
                "balance": balance(conn, member_account(owner, "points")).posted,
            }
            key = _event_id("exp", owner, expires_on.isoformat(), str(points))
            sent += emit(conn, POINTS_WILL_EXPIRE, data, now=now, event_id=key) is not None
    return sent


def scan_inactive(conn: Connection, *, as_of: date, days: int, now: datetime) -> int:
    """member.inactive for each member whose last activity is `days` or more before as_of:
    once per quiet spell (the event id includes the last activity)."""
    if not 7 <= days <= 3650:
        raise ValueError("days must be between 7 and 3650")
    cutoff = datetime.combine(as_of, time(0), tzinfo=UTC) - timedelta(days=days)
    sent = 0
    for row in _live(conn):
        last = row.last_activity_at
        if last is None or last > cutoff:
            continue
        owner = row.pseudonym
        data = {
            "member_id": row.id,
            "tier": row.tier,
            "last_activity": last.date().isoformat(),
            "days_inactive": (as_of - last.date()).days,
            "points": balance(conn, member_account(owner, "points")).posted,
        }
        key = _event_id("inactive", owner, last.isoformat())
        sent += emit(conn, MEMBER_INACTIVE, data, now=now, event_id=key) is not None
    return sent
