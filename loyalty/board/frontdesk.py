"""Where the front desk's stay changes meet the board (called by `loyalty.services.stays`):
check-in may require an inspected room; a check-out makes the room dirty."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select

from loyalty.board.projection import record_change, update_room
from loyalty.db.board_tables import board_properties, board_rooms
from loyalty.errors import ApiError


def _room(conn: Connection, property_id: str, room_id: str) -> Any:
    r = board_rooms.c
    return conn.execute(
        select(r.condition, r.out_of_order).where(
            r.property_id == property_id, r.room_id == room_id
        )
    ).first()


def require_ready(conn: Connection, property_id: str, room_id: str) -> None:
    """Refuse a check-in to a room that is out of order, or not inspected where the
    property requires inspected rooms (a setting the front desk changes on the board)."""
    p = board_properties.c
    rule = conn.execute(
        select(p.require_inspected).where(p.property_id == property_id)
    ).scalar_one_or_none()
    if rule is None:
        return  # this property has no board
    row = _room(conn, property_id, room_id)
    if row is None:
        if rule:
            raise ApiError(
                409, "room_not_on_board", f"room {room_id} is not on the housekeeping board"
            )
        return
    condition, out_of_order = row.condition, row.out_of_order
    if out_of_order is not None:
        raise ApiError(409, "room_out_of_order", f"room {room_id} is out of order/service")
    if rule and condition != "inspected":
        raise ApiError(
            409,
            "room_not_inspected",
            f"room {room_id} is {condition}: this property checks guests in only to "
            "inspected rooms",
            field="room_id",
        )


def checked_out(conn: Connection, property_id: str, room_id: str | None, now: datetime) -> None:
    if room_id is not None and _room(conn, property_id, room_id) is not None:
        update_room(conn, property_id, room_id, now, condition="dirty", condition_at=now)


def stay_changed(conn: Connection, property_id: str, room_id: str | None, now: datetime) -> None:
    """A stay of the room was booked, checked in or cancelled: redraw the room's card."""
    if room_id is not None and _room(conn, property_id, room_id) is not None:
        record_change(conn, property_id, room_id, now)
