"""Tables of the offline-first sync (issue 16; docs/sync.md). Declared on the one
`metadata` of `loyalty.db.tables`, which imports this module, so Alembic and the schema
test see them.

The dedupe record of an uploaded event is its row in `agent_events` (the event id, never
expiring) plus the per-incarnation high-water seq in `agent_cursors`; both are written in
the same transaction as the event's effect. Rejected events go to `sync_dead_letters`
instead (also a dedupe record: a retry answers `duplicate`).
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Column, Index, Integer, String, Table, Text

from loyalty.db.tables import metadata
from loyalty.db.types import UTCDateTime

# SQLite only auto-numbers an INTEGER PRIMARY KEY.
SEQ = BigInteger().with_variant(Integer(), "sqlite")

sync_dead_letters = Table(
    "sync_dead_letters",
    metadata,
    Column("event_id", String(64), primary_key=True),
    Column("agent_id", String(64), nullable=False),
    Column("property_id", String(32), nullable=False),
    Column("room_id", String(32), nullable=False),
    Column("seq", BigInteger, nullable=False),
    Column("kind", String(32), nullable=False),
    Column("reason", String(256), nullable=False),
    Column("document", Text, nullable=False),
    Column("received_at", UTCDateTime(), nullable=False),
)

# Every change a room must hear about, in one sequence: the download streams' cursors are
# positions in it. `room_id` NULL means every room of the property (model offers).
sync_changes = Table(
    "sync_changes",
    metadata,
    Column("seq", SEQ, primary_key=True, autoincrement=True),
    Column("property_id", String(32), nullable=False),
    Column("room_id", String(32), nullable=True),
    Column("stream", String(16), nullable=False),
    Column("op", String(8), nullable=False),
    Column("key", String(80), nullable=False),
    Column("document", Text, nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
)
Index(
    "ix_sync_changes_room", sync_changes.c.property_id, sync_changes.c.room_id, sync_changes.c.seq
)

# Per room: the snapshot epoch (a new one orders the agent to reset and re-snapshot), the
# server-authoritative config and the version the agent says it applied, and when the
# agent last uploaded. (Room status goes to the housekeeping board's projection.)
sync_rooms = Table(
    "sync_rooms",
    metadata,
    Column("property_id", String(32), primary_key=True),
    Column("room_id", String(32), primary_key=True),
    Column("epoch", String(64), nullable=False),
    Column("config_version", Integer, nullable=False),
    Column("config_json", Text, nullable=False),
    Column("config_applied", Integer, nullable=True),
    # The last version the room refused (its previous config stays in force), and why.
    Column("config_refused", Integer, nullable=True),
    Column("config_error", String(512), nullable=True),
    Column("last_seen_at", UTCDateTime(), nullable=True),
    Column("updated_at", UTCDateTime(), nullable=False),
    # How far the room has applied the `commands` stream, as its own pulls report it. A
    # snapshot (first pull, reset) re-sends nothing of the other streams' history, but the
    # commands after this point are still owed to the room: a command queued before the
    # room's first snapshot, or between a reset and the room's next pull, must reach it.
    Column("commands_applied", Integer, nullable=False, default=0, server_default="0"),
)

# Alerts for operators: dead letters, refused budgets, and the rooms' own alerts.
sync_alerts = Table(
    "sync_alerts",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("property_id", String(32), nullable=False),
    Column("room_id", String(32), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("detail", String(512), nullable=False),
    Column("source_event_id", String(64), nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("resolved_at", UTCDateTime(), nullable=True),
)
Index("ix_sync_alerts_open", sync_alerts.c.resolved_at, sync_alerts.c.created_at)

stay_presence = Table(
    "stay_presence",
    metadata,
    Column("event_id", String(64), primary_key=True),
    Column("stay_id", String(64), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("at", UTCDateTime(), nullable=False),
)
Index("ix_stay_presence_stay", stay_presence.c.stay_id, stay_presence.c.at)

room_spends = Table(
    "room_spends",
    metadata,
    Column("event_id", String(64), primary_key=True),
    Column("stay_id", String(64), nullable=False),
    Column("member_id", String(64), nullable=False),
    Column("category", String(24), nullable=False),
    Column("item", String(64), nullable=False),
    Column("amount_minor", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("points", BigInteger, nullable=False),
    Column("transfer_id", String(80), nullable=True),
    Column("at", UTCDateTime(), nullable=False),
    # The spend's identity on the PMS folio (the POS posting id); NULL: the event id is.
    Column("reference", String(64), nullable=True),
)
Index("ix_room_spends_stay", room_spends.c.stay_id)
Index("ix_room_spends_reference", room_spends.c.stay_id, room_spends.c.reference)

# The folio the front desk posted at check-out, line by line: reconciled with the room's
# own spends (`loyalty.services.folio`), a line whose reference matches one earns once.
folio_lines = Table(
    "folio_lines",
    metadata,
    Column("stay_id", String(64), primary_key=True),
    Column("line_no", Integer, primary_key=True),
    Column("category", String(32), nullable=False),
    Column("amount_minor", BigInteger, nullable=False),
    Column("reference", String(64), nullable=True),
    Column("void", Boolean, nullable=False),
    Column("posted_at", UTCDateTime(), nullable=False),
)
