"""Feeding the board: what rooms report lands here, in the caller's transaction.

This is the one entry point for anything that carries room state to central (the
offline-first sync consumer, `loyalty.services.sync_consume`; the older event upload and
`POST /v1/agent/status`):

    apply_room_status(conn, "SHA-01", "1201", status, received_at=now)   # a RoomStatus
    apply_event(conn, event, received_at=now)                            # a SyncEvent
    touch(conn, "SHA-01", "1201", received_at=now)                       # "still here"

Each call is idempotent and order-tolerant: a report older than the one already applied
changes nothing (an upload replayed after an outage cannot roll the board back), and every
real change appends to `board_changes`, which open boards poll.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, insert, select, update

from loyalty.db.board_tables import board_changes, board_rooms
from sync.wire import Alert, EventKind, RoomStatus, SyncEvent

QUIET = timedelta(seconds=30)
NEW_ROOM_CONDITION = "dirty"  # a room nobody has looked at yet is not sold as clean


def ensure_room(conn: Connection, property_id: str, room_id: str) -> Any:
    """The room's board row, created (not set up: no floor or type, condition dirty) when
    an agent reports a room staff have not imported."""
    row = _row(conn, property_id, room_id)
    if row is None:
        conn.execute(
            insert(board_rooms).values(
                property_id=property_id,
                room_id=room_id,
                condition=NEW_ROOM_CONDITION,
                dnd=False,
                mur=False,
                alerts_json="[]",
                change_seq=0,
            )
        )
        row = _row(conn, property_id, room_id)
    return row


def _row(conn: Connection, property_id: str, room_id: str) -> Any:
    r = board_rooms.c
    return conn.execute(
        select(board_rooms).where(r.property_id == property_id, r.room_id == room_id)
    ).first()


def record_change(conn: Connection, property_id: str, room_id: str, now: datetime) -> int:
    """Append to the change feed and stamp the room with the change's sequence number."""
    seq = conn.execute(
        insert(board_changes)
        .values(property_id=property_id, room_id=room_id, at=now)
        .returning(board_changes.c.seq)
    ).scalar_one()
    r = board_rooms.c
    conn.execute(
        update(board_rooms)
        .where(r.property_id == property_id, r.room_id == room_id)
        .values(change_seq=seq)
    )
    return int(seq)


def update_room(
    conn: Connection, property_id: str, room_id: str, now: datetime, **values: Any
) -> bool:
    """Write `values` to the room's row; a change only when something differs."""
    row = ensure_room(conn, property_id, room_id)
    changed = {k: v for k, v in values.items() if getattr(row, k) != v}
    if not changed:
        return False
    r = board_rooms.c
    conn.execute(
        update(board_rooms)
        .where(r.property_id == property_id, r.room_id == room_id)
        .values(**changed)
    )
    record_change(conn, property_id, room_id, now)
    return True


def _alerts_json(alerts: list[Alert]) -> str:
    return json.dumps(
        sorted((a.model_dump(mode="json") for a in alerts), key=lambda a: (a["kind"], a["detail"]))
    )


def apply_room_status(
    conn: Connection, property_id: str, room_id: str, status: RoomStatus, received_at: datetime
) -> bool:
    """Apply an agent's RoomStatus. Returns whether the board changed (a heartbeat with
    nothing new only refreshes the time of the last report, which is not a change)."""
    if (status.property_id, status.room_id) != (property_id, room_id):
        raise ValueError(
            f"status for {status.property_id}/{status.room_id} given as {property_id}/{room_id}"
        )
    row = ensure_room(conn, property_id, room_id)
    r = board_rooms.c
    where = (r.property_id == property_id, r.room_id == room_id)
    if row.status_at is not None and status.at < row.status_at:
        return False  # an older report, delivered late
    occupied_since = row.occupied_since
    if status.occupied and not row.occupied:
        occupied_since = status.at
    elif not status.occupied:
        occupied_since = None
    values: dict[str, Any] = {
        "occupied": status.occupied,
        "member_present": status.member_present,
        "dnd": status.dnd,
        "mur": status.mur,
        "scene": status.scene,
        "agent_online": status.online,
        "alerts_json": _alerts_json(status.alerts),
        "occupied_since": occupied_since,
    }
    # After a silence the board may be showing the room as stale: redraw it now.
    back = row.last_report_at is None or received_at - row.last_report_at > QUIET
    changed = {k: v for k, v in values.items() if getattr(row, k) != v}
    stamp: dict[str, Any] = {"status_at": status.at, "last_report_at": received_at}
    if status.occupied:
        stamp["last_occupied_at"] = status.at
    conn.execute(update(board_rooms).where(*where).values(**changed, **stamp))
    if changed or back:
        record_change(conn, property_id, room_id, received_at)
        return True
    return False


def touch(conn: Connection, property_id: str, room_id: str, received_at: datetime) -> None:
    """The agent is alive (it uploaded something): its room is not stale."""
    row = ensure_room(conn, property_id, room_id)
    r = board_rooms.c
    conn.execute(
        update(board_rooms)
        .where(r.property_id == property_id, r.room_id == room_id)
        .values(last_report_at=received_at)
    )
    if row.last_report_at is None or received_at - row.last_report_at > QUIET:
        record_change(conn, property_id, room_id, received_at)


def apply_event(conn: Connection, event: SyncEvent, received_at: datetime) -> bool:
    """Apply one uploaded event: DND/MUR changes and alerts raised or cleared. Events older
    than the last status applied are already reflected in it and change nothing."""
    if event.kind not in (EventKind.HOUSEKEEPING, EventKind.ALERT):
        return False
    row = ensure_room(conn, event.property_id, event.room_id)
    if row.status_at is not None and event.at < row.status_at:
        return False
    values: dict[str, Any] = {}
    payload = event.payload
    if event.kind is EventKind.HOUSEKEEPING:
        for name in ("dnd", "mur"):
            if isinstance(payload.get(name), bool):
                values[name] = payload[name]
    else:
        try:
            alert = Alert.model_validate(payload.get("alert"))
        except ValueError:
            return False  # an alert this central cannot read; the next status carries it
        alerts = [Alert.model_validate(a) for a in json.loads(row.alerts_json)]
        alerts = [a for a in alerts if a.kind != alert.kind]
        if payload.get("raised") is True:
            alerts.append(alert)
        values["alerts_json"] = _alerts_json(alerts)
    changed = update_room(conn, event.property_id, event.room_id, received_at, **values)
    r = board_rooms.c
    conn.execute(
        update(board_rooms)
        .where(r.property_id == event.property_id, r.room_id == event.room_id)
        .values(status_at=event.at, last_report_at=received_at)
    )
    return changed
