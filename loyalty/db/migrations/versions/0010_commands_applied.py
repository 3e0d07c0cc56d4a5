"""Staff commands owed to a room across a snapshot (issue 16): how far each room has applied
its `commands` stream (`sync_rooms.commands_applied`), so a first snapshot or a reset no
longer skips commands queued before the room pulled.

Rooms that exist already start at their current high-water mark: every command queued so far
counts as delivered, which is what they were treated as before this revision, so an upgrade
never replays an old command.

Revision ID: 0010_commands_applied
Revises: 0009_stay_moves
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010_commands_applied"
down_revision = "0009_stay_moves"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sync_rooms") as batch:
        batch.add_column(
            sa.Column("commands_applied", sa.Integer(), nullable=False, server_default="0")
        )
    op.execute(
        "UPDATE sync_rooms SET commands_applied = COALESCE((SELECT MAX(c.seq) FROM sync_changes c"
        " WHERE c.property_id = sync_rooms.property_id AND c.room_id = sync_rooms.room_id), 0)"
    )


def downgrade() -> None:
    with op.batch_alter_table("sync_rooms") as batch:
        batch.drop_column("commands_applied")
