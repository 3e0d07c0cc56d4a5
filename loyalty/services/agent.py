"""What room agents may see and send: their room's stays, those members' preferences,
and event uploads (idempotent by event id, with a per-agent high-water seq)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import Connection, and_, or_, select

from loyalty.auth import Principal
from loyalty.context import Context
from loyalty.db.tables import members, stays
from loyalty.errors import ApiError
from loyalty.services import benefits
from sync.wire import StayAssignment

WINDOW = timedelta(hours=48)
WIRE_TIERS = ("silver", "gold", "platinum", "diamond")


def _visible(principal: Principal, ctx: Context) -> Any:
    now = ctx.clock.now()
    s = stays.c
    return and_(
        s.property_id == principal.property_id,
        s.room_id == principal.room_id,
        or_(
            s.status == "checked_in",
            and_(s.status == "booked", s.arrival <= now + WINDOW, s.departure > now),
        ),
    )


def room_stays(conn: Connection, ctx: Context, principal: Principal) -> list[StayAssignment]:
    rows = conn.execute(
        select(stays, members.c.tier, members.c.name, members.c.birthday)
        .join(members, members.c.id == stays.c.member_id)
        .where(_visible(principal, ctx), members.c.erased_at.is_(None))
        .order_by(stays.c.arrival)
    ).all()
    room_benefits = benefits.room_benefits(conn, [r.id for r in rows])
    return [
        StayAssignment(
            stay_id=r.id,
            member_id=r.member_id,
            property_id=r.property_id,
            room_id=r.room_id,
            tier=r.tier if r.tier in WIRE_TIERS else "silver",
            arrival=r.arrival,
            departure=r.departure,
            status=r.status,
            ble_secret_b64=r.ble_secret_b64,
            display_name=(r.name or "")[:64] or None,
            birthday=r.birthday.strftime("%m-%d") if r.birthday else None,
            benefits=room_benefits.get(r.id, []),
        )
        for r in rows
    ]


def member_in_room(conn: Connection, ctx: Context, principal: Principal, member_id: str) -> Any:
    """The member, if they have a visible stay in the agent's room; else 404 (not 403, so an
    agent cannot probe which members exist)."""
    found = conn.execute(
        select(stays.c.id).where(_visible(principal, ctx), stays.c.member_id == member_id)
    ).first()
    row = conn.execute(select(members).where(members.c.id == member_id)).first()
    if found is None or row is None or row.erased_at is not None:
        raise ApiError(404, "member_not_found", f"no member {member_id!r} staying in this room")
    return row
