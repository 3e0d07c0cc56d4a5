"""The housekeeping board's tables (imported by `loyalty.db.tables`, same metadata).

`board_rooms` is the projection staff see: what the room's agent last reported (occupancy,
DND/MUR, alerts) next to what staff recorded (condition, out of order, assignment). Stay
state is not copied here: it is read from `stays` when the board is drawn, so the front
desk's check-in is on the board at once. `board_changes` is a change feed (an integer
sequence) that every open board polls, so a change made in any worker process reaches every
board; `board_commands` is what goes down to a room's agent (staff actions that start and
end its housekeeping scene).
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from loyalty.db.tables import metadata
from loyalty.db.types import UTCDateTime

board_properties = Table(
    "board_properties",
    metadata,
    Column("property_id", String(32), primary_key=True),
    Column("name", String(128), nullable=False),
    Column("timezone", String(64), nullable=False),
    Column("stale_after_s", Integer, nullable=False),
    Column("require_inspected", Boolean, nullable=False),
    Column("vip_tiers", String(128), nullable=False),  # comma-separated tier names
    Column("updated_at", UTCDateTime(), nullable=False),
)

board_rooms = Table(
    "board_rooms",
    metadata,
    Column("property_id", String(32), primary_key=True),
    Column("room_id", String(32), primary_key=True),
    Column("floor", Integer, nullable=True),  # null: reported by an agent, not set up yet
    Column("room_type", String(16), nullable=True),
    # staff's record
    Column("condition", String(12), nullable=False),
    Column("out_of_order", String(3), nullable=True),  # "ooo" | "oos"
    Column("ooo_reason", String(256), nullable=True),
    Column("ooo_from", String(10), nullable=True),  # local dates, inclusive
    Column("ooo_until", String(10), nullable=True),
    Column("assigned_to", String(32), nullable=True),
    Column("assigned_kind", String(12), nullable=True),
    Column("assigned_credits", Integer, nullable=True),
    Column("cleaning_by", String(32), nullable=True),
    Column("cleaning_started_at", UTCDateTime(), nullable=True),
    Column("condition_at", UTCDateTime(), nullable=True),
    Column("condition_by", String(32), nullable=True),
    # the agent's report
    Column("occupied", Boolean, nullable=True),  # null: no report yet
    Column("member_present", Boolean, nullable=True),
    Column("dnd", Boolean, nullable=False),
    Column("mur", Boolean, nullable=False),
    Column("scene", String(32), nullable=True),
    Column("agent_online", Boolean, nullable=True),
    Column("alerts_json", Text, nullable=False),
    Column("status_at", UTCDateTime(), nullable=True),  # the agent's own stamp
    Column("last_report_at", UTCDateTime(), nullable=True),  # when central heard it
    Column("occupied_since", UTCDateTime(), nullable=True),
    Column("last_occupied_at", UTCDateTime(), nullable=True),
    Column("change_seq", Integer, nullable=False),
)

board_changes = Table(
    "board_changes",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("property_id", String(32), nullable=False),
    Column("room_id", String(32), nullable=False),
    Column("at", UTCDateTime(), nullable=False),
)
Index("ix_board_changes_property", board_changes.c.property_id, board_changes.c.seq)

board_credits = Table(
    "board_credits",
    metadata,
    Column("property_id", String(32), primary_key=True),
    Column("room_type", String(16), primary_key=True),
    Column("kind", String(12), primary_key=True),
    Column("credits", Integer, nullable=False),
)

board_staff = Table(
    "board_staff",
    metadata,
    Column("id", String(32), primary_key=True),  # the staff API key's id
    Column("property_id", String(32), nullable=False),
    Column("name", String(64), nullable=False),
    Column("role", String(12), nullable=False),  # attendant | supervisor | front_desk
    Column("created_at", UTCDateTime(), nullable=False),
)

board_sessions = Table(
    "board_sessions",
    metadata,
    Column("id_hash", String(64), primary_key=True),
    Column("staff_id", String(32), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=False),
)

board_actions = Table(
    "board_actions",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("property_id", String(32), nullable=False),
    Column("room_id", String(32), nullable=False),
    Column("staff_id", String(32), nullable=False),
    Column("idem_key", String(128), nullable=False),
    Column("kind", String(24), nullable=False),
    Column("detail_json", Text, nullable=False),
    Column("at", UTCDateTime(), nullable=False),
    UniqueConstraint("staff_id", "idem_key", name="uq_board_actions_key"),
)
Index("ix_board_actions_room", board_actions.c.property_id, board_actions.c.room_id)

board_commands = Table(
    "board_commands",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("id", String(64), nullable=False, unique=True),
    Column("property_id", String(32), nullable=False),
    Column("room_id", String(32), nullable=False),
    Column("kind", String(24), nullable=False),
    Column("action_id", String(64), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
)
Index("ix_board_commands_room", board_commands.c.property_id, board_commands.c.room_id)

board_problems = Table(
    "board_problems",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("property_id", String(32), nullable=False),
    Column("room_id", String(32), nullable=False),
    Column("staff_id", String(32), nullable=False),
    Column("text", String(500), nullable=False),
    Column("photo_type", String(16), nullable=True),
    Column("photo", LargeBinary, nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("resolved_at", UTCDateTime(), nullable=True),
)
Index("ix_board_problems_room", board_problems.c.property_id, board_problems.c.room_id)

# Benefits staff fulfil (late check-out, fruit basket...). Issue 18 writes them; the board
# shows them and records their delivery. Nothing here invents a benefit.
board_benefits = Table(
    "board_benefits",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("property_id", String(32), nullable=False),
    Column("room_id", String(32), nullable=False),
    Column("stay_id", String(64), nullable=False),
    Column("label", String(128), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("delivered_at", UTCDateTime(), nullable=True),
    Column("delivered_by", String(32), nullable=True),
)
Index("ix_board_benefits_room", board_benefits.c.property_id, board_benefits.c.room_id)
