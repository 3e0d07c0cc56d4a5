"""Staff actions on a room: assign, start and finish cleaning, inspect, out of order/service,
benefits delivered, maintenance problems. Each is checked against the staff member's role
and the room's state, recorded with who and when (`board_actions`), and, where the room's
agent should act, queued for it (`board_commands`: its housekeeping scene starts and ends).

    view = act(conn, staff, StartCleaning(room_id="1201"), key="k-8f3...", now=now)

Called inside the idempotent write of the router, so a replayed key (an action queued
offline and sent twice) returns the first outcome and records nothing twice.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator
from sqlalchemy import Connection, insert, select

from loyalty.auth import Principal
from loyalty.benefit_schemas import FulfilmentRequest
from loyalty.board.model import CleaningKind, Condition, OutOfOrder, RoomView, StaffRole
from loyalty.board.projection import record_change, update_room
from loyalty.board.setup import credits_for
from loyalty.board.views import load_board
from loyalty.db.benefit_tables import entitlements
from loyalty.db.board_tables import (
    board_actions,
    board_commands,
    board_rooms,
    board_staff,
)
from loyalty.db.tables import stays
from loyalty.edge.fields import Day, Switch
from loyalty.errors import ApiError
from loyalty.services import benefits
from smartroom.log import get_logger
from sync.wire import RoomId, new_id

log = get_logger("loyalty.board")

CommandKind = Literal["service_start", "service_end"]


@dataclass(frozen=True)
class Staff:
    id: str
    property_id: str
    name: str
    role: StaffRole


class _Action(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    room_id: RoomId


class StartCleaning(_Action):
    kind: Literal["start_cleaning"]


class FinishCleaning(_Action):
    kind: Literal["finish_cleaning"]


class Inspect(_Action):
    kind: Literal["inspect"]
    passed: Switch


class SetCondition(_Action):
    kind: Literal["set_condition"]
    condition: Condition


class SetOutOfOrder(_Action):
    kind: Literal["set_out_of_order"]
    out_of_order: OutOfOrder
    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=256)]
    start: Day = Field(alias="from")
    until: Day

    @model_validator(mode="after")
    def _dates(self) -> SetOutOfOrder:
        if self.until < self.start:
            raise ValueError("until is before from")
        return self


class ClearOutOfOrder(_Action):
    kind: Literal["clear_out_of_order"]


class Assign(_Action):
    kind: Literal["assign"]
    attendant_id: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,32}$")]
    cleaning: CleaningKind


class Unassign(_Action):
    kind: Literal["unassign"]


class DeliverBenefit(_Action):
    kind: Literal["deliver_benefit"]
    benefit_id: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,64}$")]


Action = Annotated[
    StartCleaning
    | FinishCleaning
    | Inspect
    | SetCondition
    | SetOutOfOrder
    | ClearOutOfOrder
    | Assign
    | Unassign
    | DeliverBenefit,
    Field(discriminator="kind"),
]

SUPERVISOR_ONLY = {
    "inspect",
    "set_condition",
    "set_out_of_order",
    "clear_out_of_order",
    "assign",
    "unassign",
}
ATTENDANT = {"start_cleaning", "finish_cleaning", "deliver_benefit"}


def _allowed(staff: Staff, kind: str) -> None:
    if staff.role == "supervisor":
        return
    if staff.role == "attendant" and kind in ATTENDANT:
        return
    raise ApiError(403, "forbidden", f"a {staff.role.replace('_', ' ')} may not {kind}")


def _room(conn: Connection, staff: Staff, room_id: str) -> Any:
    r = board_rooms.c
    row = conn.execute(
        select(board_rooms).where(r.property_id == staff.property_id, r.room_id == room_id)
    ).first()
    if row is None:
        raise ApiError(404, "room_not_found", f"no room {room_id!r} on this board")
    return row


def enqueue_command(
    conn: Connection,
    property_id: str,
    room_id: str,
    kind: CommandKind,
    action_id: str,
    now: datetime,
) -> str:
    """Queue a typed staff action for the room's agent: a `board_commands` row, and the same
    document on the room's sync `commands` stream, in this transaction."""
    command_id = new_id("hc_")
    conn.execute(
        insert(board_commands).values(
            id=command_id,
            property_id=property_id,
            room_id=room_id,
            kind=kind,
            action_id=action_id,
            created_at=now,
        )
    )
    _to_room(conn, command_id, now)
    return command_id


def _to_room(conn: Connection, command_id: str, now: datetime) -> None:
    """Put the command on the room's sync `commands` stream too (issue 16)."""
    from loyalty.board.commands import command_doc
    from loyalty.services import sync_feed

    sync_feed.board_command(conn, now, command_doc(conn, command_id))


def act(conn: Connection, staff: Staff, action: Action, *, key: str, now: datetime) -> RoomView:
    _allowed(staff, action.kind)
    row = _room(conn, staff, action.room_id)
    action_id = new_id("ha_")
    detail = action.model_dump(mode="json", by_alias=True, exclude={"kind", "room_id"})
    conn.execute(
        insert(board_actions).values(
            id=action_id,
            property_id=staff.property_id,
            room_id=action.room_id,
            staff_id=staff.id,
            idem_key=key,
            kind=action.kind,
            detail_json=json.dumps(detail),
            at=now,
        )
    )
    values = _apply(conn, staff, action, row, action_id, now)
    if "condition" in values:
        values.update(condition_at=now, condition_by=staff.id)
    if not update_room(conn, staff.property_id, action.room_id, now, **values):
        record_change(conn, staff.property_id, action.room_id, now)  # e.g. a benefit
    log.info(
        "board_action",
        kind=action.kind,
        property_id=staff.property_id,
        room_id=action.room_id,
        staff_id=staff.id,
        role=staff.role,
    )
    views = load_board(conn, staff.property_id, now, {action.room_id})
    return views[0]


def _apply(
    conn: Connection, staff: Staff, action: Action, row: Any, action_id: str, now: datetime
) -> dict[str, Any]:
    pid, room = staff.property_id, action.room_id
    if isinstance(action, StartCleaning):
        if row.out_of_order == "ooo":
            raise ApiError(409, "room_out_of_order", f"room {room} is out of order")
        if row.dnd:
            raise ApiError(409, "room_dnd", f"room {room} has do-not-disturb on")
        if row.cleaning_by is not None:
            raise ApiError(409, "already_cleaning", f"room {room} is already being cleaned")
        enqueue_command(conn, pid, room, "service_start", action_id, now)
        return {"cleaning_by": staff.id, "cleaning_started_at": now}
    if isinstance(action, FinishCleaning):
        if row.cleaning_by is None:
            raise ApiError(409, "not_cleaning", f"room {room}: cleaning was not started")
        enqueue_command(conn, pid, room, "service_end", action_id, now)
        # The make-up request is served; the agent clears it too and confirms by status.
        return {
            "condition": "clean",
            "cleaning_by": None,
            "cleaning_started_at": None,
            "mur": False,
            "assigned_to": None,
            "assigned_kind": None,
            "assigned_credits": None,
        }
    if isinstance(action, Inspect):
        if row.condition != "clean":
            raise ApiError(
                409, "not_clean", f"room {room} is {row.condition}: only a clean room is inspected"
            )
        return {"condition": "inspected" if action.passed else "dirty"}
    if isinstance(action, SetCondition):
        if row.cleaning_by is not None:
            raise ApiError(409, "cleaning", f"room {room} is being cleaned; finish it first")
        return {"condition": action.condition}
    if isinstance(action, SetOutOfOrder):
        return {
            "out_of_order": action.out_of_order,
            "ooo_reason": action.reason,
            "ooo_from": action.start.isoformat(),
            "ooo_until": action.until.isoformat(),
        }
    if isinstance(action, ClearOutOfOrder):
        if row.out_of_order is None:
            raise ApiError(409, "not_out_of_order", f"room {room} is in service")
        return {"out_of_order": None, "ooo_reason": None, "ooo_from": None, "ooo_until": None}
    if isinstance(action, Assign):
        s = board_staff.c
        attendant = conn.execute(
            select(board_staff).where(s.id == action.attendant_id, s.property_id == pid)
        ).first()
        if attendant is None or attendant.role != "attendant":
            raise ApiError(404, "attendant_not_found", f"no attendant {action.attendant_id!r} here")
        credits = credits_for(conn, pid, row.room_type, action.cleaning)
        return {
            "assigned_to": attendant.id,
            "assigned_kind": action.cleaning,
            "assigned_credits": credits,
        }
    if isinstance(action, Unassign):
        return {"assigned_to": None, "assigned_kind": None, "assigned_credits": None}
    assert isinstance(action, DeliverBenefit)
    # The benefit is an entitlement of the stay in this room (loyalty.services.benefits):
    # delivered once per action key, with its cost, as the front-desk API would record it.
    e, s = entitlements.c, stays.c
    found = conn.execute(
        select(e.id)
        .join(stays, s.id == e.stay_id)
        .where(e.id == action.benefit_id, e.property_id == pid, s.room_id == room)
    ).first()
    if found is None:
        raise ApiError(404, "benefit_not_found", f"no benefit {action.benefit_id!r} in room {room}")
    who = Principal(key_id=f"board:{staff.id}", role="staff", property_id=pid)
    body = FulfilmentRequest(outcome="delivered", quantity=1)
    benefits.fulfil_at(conn, who, action.benefit_id, action_id, body, now=now)
    return {}
