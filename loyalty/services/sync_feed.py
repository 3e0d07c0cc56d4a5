"""The download side of sync: what each room must hear about, as one change feed.

Every change is a row of `sync_changes` scoped to one room, appended in the transaction
that made the change. An append first locks the room's `sync_rooms` row, so a room's
changes commit in `seq` order: a reader that saw seq 12 for a room can never later find an
uncommitted 10 for it (the trap of a global sequence read under READ COMMITTED).

    stay_changed(conn, ctx, stay_id, "checked_in")     # from the stay services
    member_changed(conn, ctx, member_id)               # a preference merge
    set_config(conn, ctx, "SHA-01", "1201", {...})     # server-authoritative, versioned
    enqueue_command(conn, ctx, "SHA-01", "1201", "make_up_room_done", {})   # the board
    order_reset(conn, ctx, "SHA-01", "1201")           # the agent re-snapshots
    page = pull(conn, ctx, "SHA-01", "1201", request, hlc)
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, select, update

from loyalty.auth import Principal
from loyalty.context import Context
from loyalty.db.sync_tables import sync_changes, sync_rooms
from loyalty.db.tables import members, stays
from loyalty.errors import ApiError
from loyalty.services import models as model_service
from loyalty.services import preferences as prefs
from loyalty.services import presence
from sync import faults
from sync.room_settings import SettingsError, parse_settings
from sync.wire import (
    STREAMS,
    MemberPreferences,
    ModelManifest,
    RoomCommand,
    RoomConfigDoc,
    RoomCredentials,
    StaffCommand,
    StayAssignment,
    StayEvent,
    Stream,
    StreamItem,
    SyncPage,
    SyncPull,
    Wire,
    new_id,
)

PAGE = 200
ACTIVE = ("booked", "checked_in")
WIRE_TIERS = ("silver", "gold", "platinum", "diamond")
_FIELD = {
    "stays": "stay",
    "members": "member",
    "credentials": "credential",
    "config": "config",
    "models": "model",
    "commands": "command",
}


def room_row(conn: Connection, now: datetime, property_id: str, room_id: str) -> Any:
    """The room's sync row, created on first use and locked for this transaction."""
    where = (sync_rooms.c.property_id == property_id) & (sync_rooms.c.room_id == room_id)
    query = select(sync_rooms).where(where)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    row = conn.execute(query).first()
    if row is None:
        conn.execute(
            sync_rooms.insert().values(
                property_id=property_id,
                room_id=room_id,
                epoch=new_id("ep_"),
                config_version=0,
                config_json="{}",
                updated_at=now,
            )
        )
        row = conn.execute(query).first()
    return row


def append(
    conn: Connection,
    now: datetime,
    property_id: str,
    room_id: str,
    stream: Stream,
    key: str,
    document: Wire | None,
) -> None:
    room_row(conn, now, property_id, room_id)  # the room's lock: its changes commit in order
    conn.execute(
        sync_changes.insert().values(
            property_id=property_id,
            room_id=room_id,
            stream=stream,
            op="delete" if document is None else "put",
            key=key,
            document=None if document is None else document.model_dump_json(),
            created_at=now,
        )
    )


# --- what the rest of central calls ----------------------------------------------------


def _assignment(conn: Connection, row: Any, member: Any) -> StayAssignment:
    from loyalty.services.benefits import room_benefits  # benefits imports the stay services

    return StayAssignment(
        stay_id=row.id,
        member_id=row.member_id,
        property_id=row.property_id,
        room_id=row.room_id,
        tier=member.tier if member.tier in WIRE_TIERS else "silver",
        arrival=row.arrival,
        departure=row.departure,
        status=row.status if row.status != "no_show" else "cancelled",
        display_name=(member.name or "")[:64] or None,
        birthday=member.birthday.strftime("%m-%d") if member.birthday else None,
        benefits=room_benefits(conn, [row.id]).get(row.id, []),
    )


def _credentials(conn: Connection, ctx: Context, property_id: str, room_id: str) -> Wire:
    """The room's credentials (issue 15: signing key, room secret, revocations)."""
    who = Principal(key_id="sync", role="agent", property_id=property_id, room_id=room_id)
    return presence.room_credentials(conn, ctx, who)


def stay_changed(
    conn: Connection, ctx: Context, stay_id: str, event: str, *, old_room: str | None = None
) -> None:
    """Tell the stay's room (and the room it left, on a room change) what happened."""
    row = conn.execute(select(stays).where(stays.c.id == stay_id)).first()
    if row is None or row.room_id is None:
        return  # a booking without a room reaches no room until it has one
    member = conn.execute(select(members).where(members.c.id == row.member_id)).first()
    if member is None:
        return
    stay = _assignment(conn, row, member)
    doc = StayEvent.model_validate({"event": event, "stay": stay})
    now = ctx.clock.now()
    rooms = [row.room_id] if old_room in (None, row.room_id) else [str(old_room), row.room_id]
    for room_id in rooms:
        append(conn, now, row.property_id, room_id, "stays", row.id, doc)
        creds = _credentials(conn, ctx, row.property_id, room_id)  # revocations change
        append(conn, now, row.property_id, room_id, "credentials", "room", creds)
    if old_room not in (None, row.room_id):
        _forget_member(conn, ctx, row.property_id, str(old_room), row.member_id)
    if row.status == "checked_in":
        profile = _profile(conn, member)
        append(conn, now, row.property_id, row.room_id, "members", row.member_id, profile)
    elif row.status in ("checked_out", "cancelled", "no_show"):
        _forget_member(conn, ctx, row.property_id, row.room_id, row.member_id)


def _forget_member(
    conn: Connection, ctx: Context, property_id: str, room_id: str, member_id: str
) -> None:
    still = conn.execute(
        select(stays.c.id).where(
            stays.c.property_id == property_id,
            stays.c.room_id == room_id,
            stays.c.member_id == member_id,
            stays.c.status.in_(ACTIVE),
        )
    ).first()
    if still is None:
        append(conn, ctx.clock.now(), property_id, room_id, "members", member_id, None)


def _profile(conn: Connection, member: Any) -> MemberPreferences:
    doc = prefs.load(conn, member)
    return doc.model_copy(update={"age_band": None, "gender": None})


def member_changed(conn: Connection, ctx: Context, member_id: str) -> None:
    """A member's preferences changed: every room they are staying in hears it."""
    member = conn.execute(select(members).where(members.c.id == member_id)).first()
    if member is None or member.erased_at is not None:
        return
    rooms = conn.execute(
        select(stays.c.property_id, stays.c.room_id)
        .where(stays.c.member_id == member_id, stays.c.status == "checked_in")
        .distinct()
    ).all()
    doc = _profile(conn, member)
    for property_id, room_id in rooms:
        if room_id is not None:
            append(conn, ctx.clock.now(), property_id, room_id, "members", member_id, doc)


def set_config(
    conn: Connection, ctx: Context, property_id: str, room_id: str, settings: dict[str, Any]
) -> RoomConfigDoc:
    """A new version of the room's config (`sync.room_settings`): refused whole (422
    naming each bad field, nothing stored) unless every section and value is valid."""
    try:
        settings = parse_settings(settings).sections()
    except SettingsError as exc:
        raise ApiError(422, "invalid_room_config", str(exc), field="settings") from None
    row = room_row(conn, ctx.clock.now(), property_id, room_id)
    doc = RoomConfigDoc(version=row.config_version + 1, settings=settings)
    conn.execute(
        update(sync_rooms)
        .where(sync_rooms.c.property_id == property_id, sync_rooms.c.room_id == room_id)
        .values(
            config_version=doc.version, config_json=json.dumps(settings), updated_at=ctx.clock.now()
        )
    )
    append(conn, ctx.clock.now(), property_id, room_id, "config", "room", doc)
    return doc


def enqueue_command(
    conn: Connection,
    ctx: Context,
    property_id: str,
    room_id: str,
    action: str,
    detail: dict[str, Any] | None = None,
) -> RoomCommand:
    """A staff action for the room's agent (the housekeeping board calls this)."""
    command = RoomCommand(
        command_id=new_id("cmd_"), action=action, detail=detail or {}, issued_at=ctx.clock.now()
    )
    append(conn, ctx.clock.now(), property_id, room_id, "commands", command.command_id, command)
    return command


def board_command(conn: Connection, now: datetime, command: StaffCommand) -> None:
    """A housekeeping board action for the room (i17's `board_commands`), on the commands
    stream as a RoomCommand whose action is the board's kind."""
    doc = RoomCommand(
        command_id=command.command_id,
        action=command.kind,
        detail={"board_seq": command.seq},
        issued_at=command.at,
    )
    append(conn, now, command.property_id, command.room_id, "commands", command.command_id, doc)


def order_reset(conn: Connection, ctx: Context, property_id: str, room_id: str) -> str:
    """The room's next pull gets a snapshot that replaces its copy of every stream."""
    room_row(conn, ctx.clock.now(), property_id, room_id)
    epoch = new_id("ep_")
    conn.execute(
        update(sync_rooms)
        .where(sync_rooms.c.property_id == property_id, sync_rooms.c.room_id == room_id)
        .values(epoch=epoch, updated_at=ctx.clock.now())
    )
    return epoch


def models_changed(conn: Connection, ctx: Context) -> None:
    """The offered model versions changed: every known room hears the new list."""
    offers = model_service.offered(conn)
    rooms = conn.execute(select(sync_rooms.c.property_id, sync_rooms.c.room_id)).all()
    for property_id, room_id in rooms:
        append(conn, ctx.clock.now(), property_id, room_id, "models", "offers", None)
        for manifest in offers:
            append(
                conn, ctx.clock.now(), property_id, room_id, "models", manifest.version, manifest
            )


# --- what the agent pulls ---------------------------------------------------------------


def _item(seq: int, stream: Stream, key: str, doc: Wire | None) -> StreamItem:
    fields: dict[str, Any] = {} if doc is None else {_FIELD[stream]: doc}
    return StreamItem(seq=seq, stream=stream, op="put" if doc else "delete", key=key, **fields)


def _decode(stream: str, text: str | None) -> Wire | None:
    if text is None:
        return None
    models: dict[str, type[Wire]] = {
        "stays": StayEvent,
        "members": MemberPreferences,
        "credentials": RoomCredentials,
        "config": RoomConfigDoc,
        "models": ModelManifest,
        "commands": RoomCommand,
    }
    return models[stream].model_validate_json(text)


def snapshot(conn: Connection, ctx: Context, room: Any, watermark: int) -> list[StreamItem]:
    seq = max(watermark, 1)
    items: list[StreamItem] = []
    rows = conn.execute(
        select(stays, members.c.tier, members.c.name, members.c.birthday, members.c.erased_at)
        .join(members, members.c.id == stays.c.member_id)
        .where(
            stays.c.property_id == room.property_id,
            stays.c.room_id == room.room_id,
            stays.c.status.in_(ACTIVE),
            members.c.erased_at.is_(None),
        )
        .order_by(stays.c.arrival)
    ).all()
    seen: set[str] = set()
    creds = _credentials(conn, ctx, room.property_id, room.room_id)
    items.append(_item(seq, "credentials", "room", creds))
    for row in rows:
        event = "checked_in" if row.status == "checked_in" else "booked"
        items.append(
            _item(seq, "stays", row.id, StayEvent(event=event, stay=_assignment(conn, row, row)))
        )
        if row.status == "checked_in" and row.member_id not in seen:
            seen.add(row.member_id)
            member = conn.execute(select(members).where(members.c.id == row.member_id)).one()
            items.append(_item(seq, "members", row.member_id, _profile(conn, member)))
    if room.config_version > 0:
        doc = RoomConfigDoc(version=room.config_version, settings=json.loads(room.config_json))
        items.append(_item(seq, "config", "room", doc))
    for manifest in model_service.offered(conn):
        items.append(_item(seq, "models", manifest.version, manifest))
    return items


def _watermark(conn: Connection, property_id: str, room_id: str) -> int:
    value = conn.execute(
        select(func.coalesce(func.max(sync_changes.c.seq), 0)).where(
            sync_changes.c.property_id == property_id, sync_changes.c.room_id == room_id
        )
    ).scalar_one()
    return int(value)


def pull(
    conn: Connection, ctx: Context, property_id: str, room_id: str, body: SyncPull, hlc: str
) -> SyncPage:
    room = room_row(conn, ctx.clock.now(), property_id, room_id)
    if body.epoch != room.epoch:
        watermark = _watermark(conn, property_id, room_id)
        # A snapshot stands for every stream's history but the commands': those after what
        # the room last said it applied are still owed and come on the next pulls.
        cursors = dict.fromkeys(STREAMS, watermark)
        cursors["commands"] = min(room.commands_applied, watermark)
        return SyncPage(
            epoch=room.epoch,
            reset=True,
            items=snapshot(conn, ctx, room, watermark),
            cursors=cursors,
            hlc=hlc,
        )
    cursors = {s: body.cursors.get(s, 0) for s in STREAMS}
    _note_commands_applied(conn, room, cursors["commands"])
    low = min(cursors.values())
    c = sync_changes.c
    rows = conn.execute(
        select(c.seq, c.stream, c.key, c.document)
        .where(c.property_id == property_id, c.room_id == room_id, c.seq > low)
        .order_by(c.seq)
        .limit(PAGE + 1)
    ).all()
    more = len(rows) > PAGE
    rows = rows[:PAGE]
    items = [
        _item(r.seq, r.stream, r.key, _decode(r.stream, r.document))
        for r in rows
        if r.seq > cursors[r.stream]
    ]
    last = rows[-1].seq if rows else low
    faults.point("central.pull.before_commit")  # the room's row touched, not committed
    return SyncPage(
        epoch=room.epoch,
        items=items,
        cursors={s: max(cursors[s], last) for s in STREAMS},
        more=more,
        hlc=hlc,
    )


def _note_commands_applied(conn: Connection, room: Any, cursor: int) -> None:
    """The room's pull says it holds the commands up to `cursor` (its cursors are stored with
    the data they cover, agent-side): a later snapshot starts its commands there. Never moved
    back (a room restored from an old backup has applied those commands already) nor past
    what was queued for the room."""
    if cursor <= room.commands_applied:
        return
    applied = min(cursor, _watermark(conn, room.property_id, room.room_id))
    conn.execute(
        update(sync_rooms)
        .where(
            sync_rooms.c.property_id == room.property_id,
            sync_rooms.c.room_id == room.room_id,
            sync_rooms.c.commands_applied < applied,
        )
        .values(commands_applied=applied)
    )


def changed_since(
    conn: Connection, property_id: str, room_id: str, cursors: dict[str, int]
) -> bool:
    """Cheap check for the long poll: is there anything past the lowest cursor?"""
    low = min([cursors.get(s, 0) for s in STREAMS])
    return _watermark(conn, property_id, room_id) > low


def require_room(property_id: str | None, room_id: str | None) -> tuple[str, str]:
    if not property_id or not room_id:
        raise ApiError(403, "forbidden", "this key is not scoped to a room")
    return property_id, room_id
