"""Setting a property's board up: its rooms (floor, type), workload credits per room type and
cleaning kind, the VIP tiers, when a silent room counts as stale, whether check-in needs an
inspected room; and the staff who sign in to it.

    loyalty board import examples/board/SHA-01.toml
    loyalty board staff-add --property SHA-01 --name "Li Na" --role supervisor

The file (TOML) names everything explicitly: nothing is filled in for a missing room type's
credits, and a room whose type has no credits is refused.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator
from sqlalchemy import Connection, insert, select, update

from loyalty.auth import create_key
from loyalty.board.model import CLEANING_KINDS, CleaningKind, StaffRole
from loyalty.board.projection import ensure_room, record_change
from loyalty.db.board_tables import board_credits, board_properties, board_rooms, board_staff
from loyalty.errors import ApiError
from sync.wire import PropertyId, RoomId

RoomType = Annotated[str, StringConstraints(pattern=r"^[a-z0-9_]{1,16}$")]


class RoomSetup(BaseModel):
    model_config = ConfigDict(extra="forbid")
    room_id: RoomId
    floor: Annotated[int, Field(ge=-5, le=300)]
    room_type: RoomType


class PropertySetup(BaseModel):
    model_config = ConfigDict(extra="forbid")
    property_id: PropertyId
    name: Annotated[str, StringConstraints(min_length=1, max_length=128)]
    timezone: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    stale_after_s: Annotated[int, Field(ge=10, le=86_400)]
    require_inspected: bool
    vip_tiers: list[Annotated[str, StringConstraints(pattern=r"^[a-z_]{1,16}$")]]
    credits: dict[RoomType, dict[CleaningKind, Annotated[int, Field(ge=1, le=100)]]]
    rooms: Annotated[list[RoomSetup], Field(min_length=1, max_length=5000)]

    @model_validator(mode="after")
    def _consistent(self) -> PropertySetup:
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"timezone {self.timezone!r} is not an IANA time zone") from None
        for room_type, kinds in self.credits.items():
            missing = [k for k in CLEANING_KINDS if k not in kinds]
            if missing:
                raise ValueError(f"credits.{room_type} lacks {', '.join(missing)}")
        seen: set[str] = set()
        for room in self.rooms:
            if room.room_id in seen:
                raise ValueError(f"room {room.room_id} is listed twice")
            seen.add(room.room_id)
            if room.room_type not in self.credits:
                raise ValueError(
                    f"room {room.room_id}: type {room.room_type!r} has no credits "
                    f"(credits has {', '.join(sorted(self.credits)) or 'none'})"
                )
        return self


def import_property(conn: Connection, setup: PropertySetup, now: datetime) -> int:
    """Create or update the property's board; returns how many rooms it has. Rooms keep
    their condition and what their agents reported; only floor and type are set here."""
    pid = setup.property_id
    p = board_properties.c
    values = {
        "name": setup.name,
        "timezone": setup.timezone,
        "stale_after_s": setup.stale_after_s,
        "require_inspected": setup.require_inspected,
        "vip_tiers": ",".join(setup.vip_tiers),
        "updated_at": now,
    }
    if conn.execute(select(p.property_id).where(p.property_id == pid)).first() is None:
        conn.execute(insert(board_properties).values(property_id=pid, **values))
    else:
        conn.execute(update(board_properties).where(p.property_id == pid).values(**values))
    conn.execute(board_credits.delete().where(board_credits.c.property_id == pid))
    for room_type, kinds in setup.credits.items():
        for kind, credits in kinds.items():
            conn.execute(
                insert(board_credits).values(
                    property_id=pid, room_type=room_type, kind=kind, credits=credits
                )
            )
    r = board_rooms.c
    for room in setup.rooms:
        ensure_room(conn, pid, room.room_id)
        conn.execute(
            update(board_rooms)
            .where(r.property_id == pid, r.room_id == room.room_id)
            .values(floor=room.floor, room_type=room.room_type)
        )
        record_change(conn, pid, room.room_id, now)
    return len(setup.rooms)


def add_staff(
    conn: Connection, *, property_id: str, name: str, role: StaffRole, now: datetime
) -> tuple[str, str]:
    """A staff API key with its board profile; returns (key_id, plaintext key)."""
    if not 1 <= len(name) <= 64:
        raise ApiError(422, "invalid_name", "a staff name has 1 to 64 characters", field="name")
    p = board_properties.c
    if conn.execute(select(p.property_id).where(p.property_id == property_id)).first() is None:
        raise ApiError(
            404,
            "property_not_set_up",
            f"property {property_id!r} has no housekeeping board (fix: loyalty board import)",
        )
    key_id, plaintext = create_key(conn, role="staff", now=now, label=f"board:{name}"[:128])
    conn.execute(
        insert(board_staff).values(
            id=key_id, property_id=property_id, name=name, role=role, created_at=now
        )
    )
    return key_id, plaintext


def credits_for(conn: Connection, property_id: str, room_type: str | None, kind: str) -> int:
    if room_type is None:
        raise ApiError(
            409,
            "room_not_set_up",
            "this room has no type yet (fix: add it to the property file and import it)",
        )
    c = board_credits.c
    value = conn.execute(
        select(c.credits).where(
            c.property_id == property_id, c.room_type == room_type, c.kind == kind
        )
    ).scalar_one_or_none()
    if value is None:
        raise ApiError(409, "no_credits", f"no credits for a {kind} clean of a {room_type} room")
    return int(value)
