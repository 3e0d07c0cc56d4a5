"""Applying a downloaded page to the agent's SQLite, and the cursors that say how far.

Runs inside the caller's transaction (`AgentStore.apply_page` opens it): the page's items
and the new cursors are written together, so after a crash the cursors never point past
data the room does not have (PouchDB once saved its checkpoint first and lost changes).

Streams land in the tables the room already reads (`stays`, `preferences`) and in the sync
tables added by `MIGRATION` (credentials, room config, model offers, staff commands).
Member profiles are merged per field (`sync.merge`), never replaced, so a local change made
while an upload was in flight survives central's older copy.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any, Protocol

from smartroom.log import get_logger
from sync import faults
from sync.merge import merge
from sync.wire import (
    STREAMS,
    MemberPreferences,
    RoomConfigDoc,
    RoomCredentials,
    StayAssignment,
    StreamItem,
    SyncPage,
)

log = get_logger("sync.inbox")
# Only for the meta-test that proves the suite catches a cursor saved before its data.
UNSAFE_CURSOR_FIRST = os.environ.get("SMARTROOM_SYNC_UNSAFE") == "cursor_first"


class Target(Protocol):
    """The agent store's own writers for stays and credentials (sealing, room checks)."""

    def put_stream_stay(self, stay: StayAssignment) -> None: ...
    def drop_stream_stay(self, stay_id: str) -> None: ...
    def put_room_credentials(self, creds: RoomCredentials) -> None: ...


MIGRATION = """
CREATE TABLE sync_cursors (stream TEXT PRIMARY KEY, seq INTEGER NOT NULL);
CREATE TABLE room_config (id INTEGER PRIMARY KEY CHECK (id = 1), version INTEGER NOT NULL,
    doc TEXT NOT NULL, applied INTEGER);
CREATE TABLE model_offers (version TEXT PRIMARY KEY, doc TEXT NOT NULL);
CREATE TABLE commands (command_id TEXT PRIMARY KEY, doc TEXT NOT NULL,
    received_at TEXT NOT NULL, done_at TEXT);
ALTER TABLE outbox ADD COLUMN size INTEGER NOT NULL DEFAULT 0;
ALTER TABLE outbox ADD COLUMN budget TEXT NOT NULL DEFAULT 'records';
ALTER TABLE outbox ADD COLUMN rejected TEXT;
CREATE INDEX outbox_budget ON outbox (budget, seq) WHERE sent_at IS NULL;
"""


@dataclass
class Applied:
    """What a page changed, so the room can react after the transaction commits."""

    reset: bool = False
    streams: set[str] = field(default_factory=set)
    commands: list[str] = field(default_factory=list)
    config_version: int | None = None
    skipped: list[str] = field(default_factory=list)  # items for another room (never applied)


def cursors(db: Any) -> dict[str, int]:
    rows = db.execute("SELECT stream, seq FROM sync_cursors").fetchall()
    found = {stream: int(seq) for stream, seq in rows}
    return {s: found.get(s, 0) for s in STREAMS}


def store_cursors(db: Any, page: SyncPage) -> None:
    for stream, seq in page.cursors.items():
        db.execute(
            "INSERT INTO sync_cursors (stream, seq) VALUES (?, ?) "
            "ON CONFLICT(stream) DO UPDATE SET seq = excluded.seq",
            [stream, seq],
        )
    db.execute(
        "INSERT INTO meta (key, value) VALUES ('epoch', ?) "
        "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        [page.epoch],
    )


def _meta(db: Any, key: str) -> str | None:
    row = db.execute("SELECT value FROM meta WHERE key = ?", [key]).fetchone()
    return None if row is None else str(row[0])


def epoch(db: Any) -> str | None:
    return _meta(db, "epoch")


def _put_member(db: Any, incoming: MemberPreferences, now: str) -> None:
    row = db.execute(
        "SELECT doc FROM preferences WHERE member_id = ?", [incoming.member_id]
    ).fetchone()
    doc = (
        incoming if row is None else merge(MemberPreferences.model_validate_json(row[0]), incoming)
    )
    db.execute(
        "INSERT INTO preferences (member_id, doc, fetched_at, dirty) VALUES (?, ?, ?, 0) "
        "ON CONFLICT(member_id) DO UPDATE SET doc = excluded.doc, fetched_at = excluded.fetched_at",
        [doc.member_id, doc.model_dump_json(), now],
    )


def _apply(
    db: Any, item: StreamItem, where: tuple[str, str], now: str, out: Applied, target: Target
) -> None:
    out.streams.add(item.stream)
    if item.stream == "stays":
        event = item.stay
        if event is None:
            target.drop_stream_stay(item.key)
            return
        stay = event.stay
        if (stay.property_id, stay.room_id) != where:
            # Now another room's (moved, or checked in elsewhere than booked): it leaves
            # this room with its per-stay secrets; it is never taken in here.
            target.drop_stream_stay(stay.stay_id)
            if event.event != "room_changed":
                out.skipped.append(item.key)
            return
        if event.event in ("checked_out", "cancelled"):
            target.drop_stream_stay(stay.stay_id)
        else:
            target.put_stream_stay(stay)
    elif item.stream == "members":
        if item.member is None:
            db.execute("DELETE FROM preferences WHERE member_id = ?", [item.key])
        else:
            _put_member(db, item.member, now)
    elif item.stream == "credentials" and item.credential is not None:
        try:
            target.put_room_credentials(item.credential)
        except RuntimeError as exc:  # StoreError: no device key, or another signing key
            log.error("room_credentials_refused", error=str(exc))
            out.skipped.append(item.key)
    elif item.stream == "config" and item.config is not None:
        row = db.execute("SELECT version FROM room_config WHERE id = 1").fetchone()
        if row is None or int(row[0]) < item.config.version:
            db.execute(
                "INSERT INTO room_config (id, version, doc) VALUES (1, ?, ?) "
                "ON CONFLICT(id) DO UPDATE SET version = excluded.version, doc = excluded.doc",
                [item.config.version, item.config.model_dump_json()],
            )
            out.config_version = item.config.version
    elif item.stream == "models":
        if item.model is None:
            db.execute("DELETE FROM model_offers")  # the list is re-sent whole after this
        else:
            db.execute(
                "INSERT OR REPLACE INTO model_offers (version, doc) VALUES (?, ?)",
                [item.key, item.model.model_dump_json()],
            )
    elif item.stream == "commands" and item.command is not None:
        cursor = db.execute(
            "INSERT OR IGNORE INTO commands (command_id, doc, received_at) VALUES (?, ?, ?)",
            [item.key, item.command.model_dump_json(), now],
        )
        if cursor.rowcount:
            out.commands.append(item.key)


def _reset(db: Any) -> None:
    """Drop the room's copy of the streams (a snapshot follows); the outbox stays, and so
    do the room's pinned signing key and sealed room secret (the snapshot re-sends them)."""
    db.execute("DELETE FROM stays WHERE provisional = 0")
    db.execute("DELETE FROM model_offers")
    db.execute("DELETE FROM sync_cursors")


def apply_page(
    db: Any, page: SyncPage, where: tuple[str, str], now: str, target: Target
) -> Applied:
    """Apply `page` and advance the cursors. The caller holds the transaction."""
    out = Applied(reset=page.reset)
    if page.reset:
        _reset(db)
        keep = {i.key for i in page.items if i.stream == "members" and i.member is not None}
        for (member_id,) in db.execute("SELECT member_id FROM preferences").fetchall():
            if member_id not in keep:
                db.execute("DELETE FROM preferences WHERE member_id = ?", [member_id])
    for item in page.items:
        _apply(db, item, where, now, out, target)
    faults.point("agent.apply.after_items")
    store_cursors(db, page)
    faults.point("agent.apply.before_commit")
    return out


def room_config(db: Any) -> RoomConfigDoc | None:
    row = db.execute("SELECT doc FROM room_config WHERE id = 1").fetchone()
    return None if row is None else RoomConfigDoc.model_validate_json(row[0])


def pending_commands(db: Any) -> list[dict[str, Any]]:
    rows = db.execute(
        "SELECT doc FROM commands WHERE done_at IS NULL ORDER BY received_at, command_id"
    ).fetchall()
    return [json.loads(r[0]) for r in rows]
