"""The housekeeping board: the room-state projection staff see, staff profiles and
sessions, their actions, commands to room agents, maintenance problems and benefits.

Revision ID: 0003_board
Revises: 0002
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_board"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "board_actions",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("property_id", sa.String(length=32), nullable=False),
        sa.Column("room_id", sa.String(length=32), nullable=False),
        sa.Column("staff_id", sa.String(length=32), nullable=False),
        sa.Column("idem_key", sa.String(length=128), nullable=False),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("detail_json", sa.Text(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_board_actions")),
        sa.UniqueConstraint("staff_id", "idem_key", name="uq_board_actions_key"),
    )
    op.create_index(
        "ix_board_actions_room", "board_actions", ["property_id", "room_id"], unique=False
    )
    op.create_table(
        "board_benefits",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("property_id", sa.String(length=32), nullable=False),
        sa.Column("room_id", sa.String(length=32), nullable=False),
        sa.Column("stay_id", sa.String(length=64), nullable=False),
        sa.Column("label", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("delivered_by", sa.String(length=32), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_board_benefits")),
    )
    op.create_index(
        "ix_board_benefits_room", "board_benefits", ["property_id", "room_id"], unique=False
    )
    op.create_table(
        "board_changes",
        sa.Column("seq", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("property_id", sa.String(length=32), nullable=False),
        sa.Column("room_id", sa.String(length=32), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_board_changes")),
    )
    op.create_index(
        "ix_board_changes_property", "board_changes", ["property_id", "seq"], unique=False
    )
    op.create_table(
        "board_commands",
        sa.Column("seq", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("property_id", sa.String(length=32), nullable=False),
        sa.Column("room_id", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("action_id", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_board_commands")),
        sa.UniqueConstraint("id", name=op.f("uq_board_commands_id")),
    )
    op.create_index(
        "ix_board_commands_room", "board_commands", ["property_id", "room_id"], unique=False
    )
    op.create_table(
        "board_credits",
        sa.Column("property_id", sa.String(length=32), nullable=False),
        sa.Column("room_type", sa.String(length=16), nullable=False),
        sa.Column("kind", sa.String(length=12), nullable=False),
        sa.Column("credits", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("property_id", "room_type", "kind", name=op.f("pk_board_credits")),
    )
    op.create_table(
        "board_problems",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("property_id", sa.String(length=32), nullable=False),
        sa.Column("room_id", sa.String(length=32), nullable=False),
        sa.Column("staff_id", sa.String(length=32), nullable=False),
        sa.Column("text", sa.String(length=500), nullable=False),
        sa.Column("photo_type", sa.String(length=16), nullable=True),
        sa.Column("photo", sa.LargeBinary(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_board_problems")),
    )
    op.create_index(
        "ix_board_problems_room", "board_problems", ["property_id", "room_id"], unique=False
    )
    op.create_table(
        "board_properties",
        sa.Column("property_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("stale_after_s", sa.Integer(), nullable=False),
        sa.Column("require_inspected", sa.Boolean(), nullable=False),
        sa.Column("vip_tiers", sa.String(length=128), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("property_id", name=op.f("pk_board_properties")),
    )
    op.create_table(
        "board_rooms",
        sa.Column("property_id", sa.String(length=32), nullable=False),
        sa.Column("room_id", sa.String(length=32), nullable=False),
        sa.Column("floor", sa.Integer(), nullable=True),
        sa.Column("room_type", sa.String(length=16), nullable=True),
        sa.Column("condition", sa.String(length=12), nullable=False),
        sa.Column("out_of_order", sa.String(length=3), nullable=True),
        sa.Column("ooo_reason", sa.String(length=256), nullable=True),
        sa.Column("ooo_from", sa.String(length=10), nullable=True),
        sa.Column("ooo_until", sa.String(length=10), nullable=True),
        sa.Column("assigned_to", sa.String(length=32), nullable=True),
        sa.Column("assigned_kind", sa.String(length=12), nullable=True),
        sa.Column("assigned_credits", sa.Integer(), nullable=True),
        sa.Column("cleaning_by", sa.String(length=32), nullable=True),
        sa.Column("cleaning_started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("condition_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("condition_by", sa.String(length=32), nullable=True),
        sa.Column("occupied", sa.Boolean(), nullable=True),
        sa.Column("member_present", sa.Boolean(), nullable=True),
        sa.Column("dnd", sa.Boolean(), nullable=False),
        sa.Column("mur", sa.Boolean(), nullable=False),
        sa.Column("scene", sa.String(length=32), nullable=True),
        sa.Column("agent_online", sa.Boolean(), nullable=True),
        sa.Column("alerts_json", sa.Text(), nullable=False),
        sa.Column("status_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_report_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("occupied_since", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_occupied_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("change_seq", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("property_id", "room_id", name=op.f("pk_board_rooms")),
    )
    op.create_table(
        "board_sessions",
        sa.Column("id_hash", sa.String(length=64), nullable=False),
        sa.Column("staff_id", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id_hash", name=op.f("pk_board_sessions")),
    )
    op.create_table(
        "board_staff",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("property_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=12), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_board_staff")),
    )


def downgrade() -> None:
    op.drop_table("board_staff")
    op.drop_table("board_sessions")
    op.drop_table("board_rooms")
    op.drop_table("board_properties")
    op.drop_index("ix_board_problems_room", table_name="board_problems")
    op.drop_table("board_problems")
    op.drop_table("board_credits")
    op.drop_index("ix_board_commands_room", table_name="board_commands")
    op.drop_table("board_commands")
    op.drop_index("ix_board_changes_property", table_name="board_changes")
    op.drop_table("board_changes")
    op.drop_index("ix_board_benefits_room", table_name="board_benefits")
    op.drop_table("board_benefits")
    op.drop_index("ix_board_actions_room", table_name="board_actions")
    op.drop_table("board_actions")
