"""Offline-first sync: dead letters, the download change feed, per-room sync state
(epoch, config, last upload), alerts, presence and in-room spend records.

Revision ID: 0007_sync
Revises: 0006_benefits
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_sync"
down_revision = "0006_benefits"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "sync_dead_letters",
        sa.Column("event_id", sa.String(length=64), nullable=False),
        sa.Column("agent_id", sa.String(length=64), nullable=False),
        sa.Column("property_id", sa.String(length=32), nullable=False),
        sa.Column("room_id", sa.String(length=32), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("reason", sa.String(length=256), nullable=False),
        sa.Column("document", sa.Text(), nullable=False),
        sa.Column("received_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("event_id", name=op.f("pk_sync_dead_letters")),
    )
    op.create_table(
        "sync_changes",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("property_id", sa.String(length=32), nullable=False),
        sa.Column("room_id", sa.String(length=32), nullable=True),
        sa.Column("stream", sa.String(length=16), nullable=False),
        sa.Column("op", sa.String(length=8), nullable=False),
        sa.Column("key", sa.String(length=80), nullable=False),
        sa.Column("document", sa.Text(), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_sync_changes")),
    )
    op.create_index(
        "ix_sync_changes_room", "sync_changes", ["property_id", "room_id", "seq"], unique=False
    )
    op.create_table(
        "sync_rooms",
        sa.Column("property_id", sa.String(length=32), nullable=False),
        sa.Column("room_id", sa.String(length=32), nullable=False),
        sa.Column("epoch", sa.String(length=64), nullable=False),
        sa.Column("config_version", sa.Integer(), nullable=False),
        sa.Column("config_json", sa.Text(), nullable=False),
        sa.Column("config_applied", sa.Integer(), nullable=True),
        sa.Column("last_seen_at", TS, nullable=True),
        sa.Column("updated_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("property_id", "room_id", name=op.f("pk_sync_rooms")),
    )
    op.create_table(
        "sync_alerts",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("property_id", sa.String(length=32), nullable=False),
        sa.Column("room_id", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("detail", sa.String(length=512), nullable=False),
        sa.Column("source_event_id", sa.String(length=64), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("resolved_at", TS, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sync_alerts")),
    )
    op.create_index(
        "ix_sync_alerts_open", "sync_alerts", ["resolved_at", "created_at"], unique=False
    )
    op.create_table(
        "stay_presence",
        sa.Column("event_id", sa.String(length=64), nullable=False),
        sa.Column("stay_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("at", TS, nullable=False),
        sa.PrimaryKeyConstraint("event_id", name=op.f("pk_stay_presence")),
    )
    op.create_index("ix_stay_presence_stay", "stay_presence", ["stay_id", "at"], unique=False)
    op.create_table(
        "room_spends",
        sa.Column("event_id", sa.String(length=64), nullable=False),
        sa.Column("stay_id", sa.String(length=64), nullable=False),
        sa.Column("member_id", sa.String(length=64), nullable=False),
        sa.Column("category", sa.String(length=24), nullable=False),
        sa.Column("item", sa.String(length=64), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("points", sa.BigInteger(), nullable=False),
        sa.Column("transfer_id", sa.String(length=80), nullable=True),
        sa.Column("at", TS, nullable=False),
        sa.PrimaryKeyConstraint("event_id", name=op.f("pk_room_spends")),
    )
    op.create_index("ix_room_spends_stay", "room_spends", ["stay_id"], unique=False)


def downgrade() -> None:
    for table in (
        "room_spends",
        "stay_presence",
        "sync_alerts",
        "sync_rooms",
        "sync_changes",
        "sync_dead_letters",
    ):
        op.drop_table(table)
