"""Reading the board: the room views of one property (or some of its rooms), and the change
feed open boards follow.

    views = load_board(conn, "SHA-01", now)                 # every room, by floor
    seq, rooms = changes_since(conn, "SHA-01", after=412)   # which rooms changed since
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, func, select

from loyalty.board.model import (
    AlertView,
    BenefitView,
    RoomView,
    StayFacts,
    discrepancy,
    is_stale,
    stay_state,
)
from loyalty.db.benefit_tables import entitlements, fulfilments
from loyalty.db.board_tables import (
    board_changes,
    board_problems,
    board_properties,
    board_rooms,
    board_staff,
)
from loyalty.db.tables import members, stays
from loyalty.errors import ApiError

STAY_LOOKBACK = timedelta(days=2)


@dataclass(frozen=True)
class PropertyInfo:
    property_id: str
    name: str
    tz: ZoneInfo
    stale_after_s: int
    require_inspected: bool
    vip_tiers: frozenset[str]


def property_info(conn: Connection, property_id: str) -> PropertyInfo:
    row = conn.execute(
        select(board_properties).where(board_properties.c.property_id == property_id)
    ).first()
    if row is None:
        raise ApiError(
            404,
            "property_not_set_up",
            f"property {property_id!r} has no housekeeping board (fix: loyalty board import)",
        )
    return PropertyInfo(
        property_id=row.property_id,
        name=row.name,
        tz=ZoneInfo(row.timezone),
        stale_after_s=row.stale_after_s,
        require_inspected=row.require_inspected,
        vip_tiers=frozenset(t for t in row.vip_tiers.split(",") if t),
    )


def _stays(conn: Connection, property_id: str, now: datetime) -> dict[str, list[StayFacts]]:
    s = stays.c
    rows = conn.execute(
        select(
            s.room_id,
            s.status,
            s.arrival,
            s.departure,
            s.checked_in_at,
            s.checked_out_at,
            members.c.tier,
        )
        .join(members, members.c.id == s.member_id)
        .where(
            s.property_id == property_id,
            s.room_id.is_not(None),
            s.status.in_(("booked", "checked_in", "checked_out")),
            s.departure >= now - STAY_LOOKBACK,
        )
    ).all()
    by_room: dict[str, list[StayFacts]] = defaultdict(list)
    for r in rows:
        by_room[r.room_id].append(
            StayFacts(r.status, r.arrival, r.departure, r.checked_in_at, r.checked_out_at, r.tier)
        )
    return by_room


def _staff_benefits(conn: Connection, property_id: str) -> dict[str, list[BenefitView]]:
    """What staff must deliver in each room: the promised staff and partner entitlements of
    the room's arriving and in-house stays (loyalty.services.benefits), with what is left."""
    e, s, f = entitlements.c, stays.c, fulfilments.c
    done = (
        select(f.entitlement_id, func.sum(f.quantity).label("n"), func.max(f.at).label("at"))
        .where(f.outcome == "delivered")
        .group_by(f.entitlement_id)
        .subquery()
    )
    rows = conn.execute(
        select(s.room_id, e.id, e.name_en, e.name_zh, e.quantity, done.c.n, done.c.at)
        .join(stays, s.id == e.stay_id)
        .outerjoin(done, done.c.entitlement_id == e.id)
        .where(
            e.property_id == property_id,
            e.status == "promised",
            e.fulfilment != "room",
            s.status.in_(("booked", "checked_in")),
            s.room_id.is_not(None),
        )
        .order_by(e.created_at, e.code)
    ).all()
    out: dict[str, list[BenefitView]] = defaultdict(list)
    for room_id, eid, en, zh, quantity, recorded, last in rows:
        recorded = int(recorded or 0)
        label = f"{en} · {zh}" + (f" ({recorded}/{quantity})" if quantity > 1 else "")
        out[room_id].append(
            BenefitView(
                id=eid, label=label[:128], delivered_at=last if recorded >= quantity else None
            )
        )
    return out


def load_board(
    conn: Connection, property_id: str, now: datetime, room_ids: set[str] | None = None
) -> list[RoomView]:
    info = property_info(conn, property_id)
    r = board_rooms.c
    query = select(board_rooms).where(r.property_id == property_id)
    if room_ids is not None:
        query = query.where(r.room_id.in_(sorted(room_ids)))
    rows = conn.execute(query.order_by(r.floor, r.room_id)).all()
    if not rows:
        return []
    names = dict(
        conn.execute(
            select(board_staff.c.id, board_staff.c.name).where(
                board_staff.c.property_id == property_id
            )
        ).all()
    )
    stays_by_room = _stays(conn, property_id, now)
    benefits = _staff_benefits(conn, property_id)
    p = board_problems.c
    problems: dict[str, int] = dict(
        conn.execute(
            select(p.room_id, func.count())
            .where(p.property_id == property_id, p.resolved_at.is_(None))
            .group_by(p.room_id)
        ).all()
    )
    return [_view(row, info, now, stays_by_room, names, benefits, problems) for row in rows]


def _view(
    row: Any,
    info: PropertyInfo,
    now: datetime,
    stays_by_room: dict[str, list[StayFacts]],
    names: dict[str, str],
    benefits: dict[str, list[BenefitView]],
    problems: dict[str, int],
) -> RoomView:
    state = stay_state(stays_by_room.get(row.room_id, []), now=now, tz=info.tz)
    alerts = [AlertView.model_validate(a) for a in json.loads(row.alerts_json)]
    stale = is_stale(row.last_report_at, now=now, after_s=info.stale_after_s)
    flag = discrepancy(
        state,
        occupied=row.occupied,
        stale=stale,
        cleaning=row.cleaning_by is not None,
        alert_kinds={a.kind for a in alerts},
        last_occupied_at=row.last_occupied_at,
        now=now,
    )
    # Benefits belong to the stay in the room now; delivered ones stay visible today.
    return RoomView(
        property_id=row.property_id,
        room_id=row.room_id,
        floor=row.floor,
        room_type=row.room_type,
        condition=row.condition,
        out_of_order=row.out_of_order,
        ooo_reason=row.ooo_reason,
        ooo_from=row.ooo_from,
        ooo_until=row.ooo_until,
        stay=state.name,
        stay_at=state.at,
        queued=state.queued,
        tier=state.tier,
        vip=state.tier in info.vip_tiers if state.tier else False,
        occupied=row.occupied,
        dnd=row.dnd,
        mur=row.mur,
        scene=row.scene,
        alerts=alerts,
        discrepancy=flag,
        stale=stale,
        last_report_at=row.last_report_at,
        assigned_to=row.assigned_to,
        assigned_name=names.get(row.assigned_to) if row.assigned_to else None,
        assigned_kind=row.assigned_kind,
        assigned_credits=row.assigned_credits,
        cleaning_by=row.cleaning_by,
        cleaning_name=names.get(row.cleaning_by) if row.cleaning_by else None,
        cleaning_started_at=row.cleaning_started_at,
        benefits=benefits.get(row.room_id, []),
        open_problems=int(problems.get(row.room_id, 0)),
        change_seq=row.change_seq,
    )


def latest_change(conn: Connection, property_id: str) -> int:
    c = board_changes.c
    value = conn.execute(
        select(func.coalesce(func.max(c.seq), 0)).where(c.property_id == property_id)
    ).scalar_one()
    return int(value)


def changes_since(conn: Connection, property_id: str, after: int) -> tuple[int, set[str]]:
    """The newest change number and the rooms changed after `after` (at most 1,000 changes;
    a board further behind than that reloads every room)."""
    c = board_changes.c
    rows = conn.execute(
        select(c.seq, c.room_id)
        .where(c.property_id == property_id, c.seq > after)
        .order_by(c.seq)
        .limit(1000)
    ).all()
    if not rows:
        return after, set()
    return int(rows[-1].seq), {r.room_id for r in rows}
