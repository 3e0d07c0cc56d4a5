"""What room agents may see and send: their room's stays, those members' preferences,
and event uploads (idempotent by event id, with a per-agent high-water seq)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import Connection, and_, or_, select

from loyalty.auth import Principal
from loyalty.board import projection as board
from loyalty.context import Context
from loyalty.db.tables import agent_cursors, agent_events, members, stays
from loyalty.errors import ApiError
from loyalty.services import benefits
from sync.wire import StayAssignment, UploadBatch, UploadResult

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


def upload(
    conn: Connection, ctx: Context, principal: Principal, batch: UploadBatch
) -> UploadResult:
    now = ctx.clock.now()
    cursor = conn.execute(
        select(agent_cursors).where(agent_cursors.c.agent_id == batch.agent_id)
    ).first()
    if cursor is not None and (cursor.property_id, cursor.room_id) != (
        principal.property_id,
        principal.room_id,
    ):
        raise ApiError(
            403, "forbidden", f"agent {batch.agent_id} belongs to another room", field="agent_id"
        )
    high = cursor.high_water_seq if cursor else 0
    accepted: list[str] = []
    duplicates: list[str] = []
    rejected: dict[str, str] = {}
    ids = [e.event_id for e in batch.events]
    known = set(
        conn.execute(
            select(agent_events.c.event_id).where(agent_events.c.event_id.in_(ids))
        ).scalars()
    )
    seen: set[str] = set()
    for event in batch.events:
        if event.event_id in known or event.event_id in seen:
            duplicates.append(event.event_id)
            continue
        if (event.property_id, event.room_id) != (principal.property_id, principal.room_id):
            rejected[event.event_id] = "event is for another room than this agent's key"
            continue
        reason = benefits.from_room_event(conn, ctx, principal, event)
        if reason is not None:
            rejected[event.event_id] = reason
            continue
        seen.add(event.event_id)
        conn.execute(
            agent_events.insert().values(
                event_id=event.event_id,
                agent_id=batch.agent_id,
                property_id=event.property_id,
                room_id=event.room_id,
                seq=event.seq,
                kind=str(event.kind),
                at=event.at,
                document=event.model_dump_json(),
                received_at=now,
            )
        )
        accepted.append(event.event_id)
        high = max(high, event.seq)
        board.apply_event(conn, event, now)
    if principal.property_id and principal.room_id:
        board.touch(conn, principal.property_id, principal.room_id, now)
    values = {"high_water_seq": high, "updated_at": now}
    if cursor is None:
        conn.execute(
            agent_cursors.insert().values(
                agent_id=batch.agent_id,
                property_id=principal.property_id,
                room_id=principal.room_id,
                **values,
            )
        )
    else:
        conn.execute(
            agent_cursors.update()
            .where(agent_cursors.c.agent_id == batch.agent_id)
            .values(**values)
        )
    return UploadResult(
        accepted=accepted, duplicates=duplicates, rejected=rejected, high_water_seq=high
    )
