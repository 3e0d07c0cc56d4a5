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
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
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


class RoomBoard:
    """One room's board row in memory: reports are applied to it in order and written with
    one UPDATE and at most one change-feed row (`flush`). Inside one transaction nobody
    else sees the states in between, so a batch of a room's reports written at once leaves
    exactly the row, and the same "this room changed" signal, as writing each in turn."""

    def __init__(self, conn: Connection, property_id: str, room_id: str) -> None:
        self.conn, self.property_id, self.room_id = conn, property_id, room_id
        self.row: dict[str, Any] = dict(ensure_room(conn, property_id, room_id)._mapping)
        self._written = dict(self.row)
        self._changed_at: datetime | None = None

    def _change(self, at: datetime) -> None:
        self._changed_at = at

    def status(self, status: RoomStatus, received_at: datetime) -> bool:
        """An agent's RoomStatus; whether the board changed (a heartbeat with nothing new
        only refreshes the time of the last report, which is not a change)."""
        if (status.property_id, status.room_id) != (self.property_id, self.room_id):
            raise ValueError(
                f"status for {status.property_id}/{status.room_id} given as "
                f"{self.property_id}/{self.room_id}"
            )
        row = self.row
        if row["status_at"] is not None and status.at < row["status_at"]:
            return False  # an older report, delivered late
        occupied_since = row["occupied_since"]
        if status.occupied and not row["occupied"]:
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
        back = row["last_report_at"] is None or received_at - row["last_report_at"] > QUIET
        changed = {k: v for k, v in values.items() if row[k] != v}
        row.update(changed, status_at=status.at, last_report_at=received_at)
        if status.occupied:
            row["last_occupied_at"] = status.at
        if changed or back:
            self._change(received_at)
            return True
        return False

    def event(self, event: SyncEvent, received_at: datetime) -> bool:
        """One uploaded event: DND/MUR changes and alerts raised or cleared. Events older
        than the last status applied are already reflected in it and change nothing."""
        row = self.row
        if event.kind not in (EventKind.HOUSEKEEPING, EventKind.ALERT):
            return False
        if row["status_at"] is not None and event.at < row["status_at"]:
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
            alerts = [Alert.model_validate(a) for a in json.loads(row["alerts_json"])]
            alerts = [a for a in alerts if a.kind != alert.kind]
            if payload.get("raised") is True:
                alerts.append(alert)
            values["alerts_json"] = _alerts_json(alerts)
        changed = {k: v for k, v in values.items() if row[k] != v}
        row.update(changed, status_at=event.at, last_report_at=received_at)
        if changed:
            self._change(received_at)
        return bool(changed)

    def touch(self, received_at: datetime) -> None:
        """The agent is alive (it uploaded something): its room is not stale."""
        last = self.row["last_report_at"]
        self.row["last_report_at"] = received_at
        if last is None or received_at - last > QUIET:
            self._change(received_at)

    def flush(self) -> None:
        """Write what differs from the stored row, and one change-feed row if anything
        the board shows changed."""
        diff = {k: v for k, v in self.row.items() if self._written[k] != v}
        if self._changed_at is not None:
            diff["change_seq"] = self.conn.execute(
                insert(board_changes)
                .values(property_id=self.property_id, room_id=self.room_id, at=self._changed_at)
                .returning(board_changes.c.seq)
            ).scalar_one()
        if diff:
            r = board_rooms.c
            self.conn.execute(
                update(board_rooms)
                .where(r.property_id == self.property_id, r.room_id == self.room_id)
                .values(**diff)
            )
        self.row.update(diff)
        self._written = dict(self.row)
        self._changed_at = None


# A batch that holds the rooms it reports on (`held`): the module's functions below apply
# to the held row instead of reading and writing the database for every report.
_held: ContextVar[tuple[Connection, dict[tuple[str, str], RoomBoard]] | None] = ContextVar(
    "board_held", default=None
)


@contextmanager
def held(conn: Connection) -> Iterator[None]:
    """Within the block, reports on `conn` go to rooms held in memory, written when the
    block ends normally (an exception discards them: the caller rolls the transaction or
    its savepoint back)."""
    rooms: dict[tuple[str, str], RoomBoard] = {}
    token = _held.set((conn, rooms))
    try:
        yield
        for room in rooms.values():
            room.flush()
    finally:
        _held.reset(token)


def _board(conn: Connection, property_id: str, room_id: str) -> tuple[RoomBoard, bool]:
    """The room's board, and whether the caller must flush it (not held by a batch)."""
    current = _held.get()
    if current is None or current[0] is not conn:
        return RoomBoard(conn, property_id, room_id), True
    rooms = current[1]
    room = rooms.get((property_id, room_id))
    if room is None:
        room = rooms[(property_id, room_id)] = RoomBoard(conn, property_id, room_id)
    return room, False


def apply_room_status(
    conn: Connection, property_id: str, room_id: str, status: RoomStatus, received_at: datetime
) -> bool:
    """Apply an agent's RoomStatus. Returns whether the board changed (a heartbeat with
    nothing new only refreshes the time of the last report, which is not a change)."""
    room, own = _board(conn, property_id, room_id)
    changed = room.status(status, received_at)
    if own:
        room.flush()
    return changed


def touch(conn: Connection, property_id: str, room_id: str, received_at: datetime) -> None:
    """The agent is alive (it uploaded something): its room is not stale."""
    room, own = _board(conn, property_id, room_id)
    room.touch(received_at)
    if own:
        room.flush()


def apply_event(conn: Connection, event: SyncEvent, received_at: datetime) -> bool:
    """Apply one uploaded event: DND/MUR changes and alerts raised or cleared. Events older
    than the last status applied are already reflected in it and change nothing."""
    if event.kind not in (EventKind.HOUSEKEEPING, EventKind.ALERT):
        return False
    room, own = _board(conn, event.property_id, event.room_id)
    changed = room.event(event, received_at)
    if own:
        room.flush()
    return changed
