"""Sync semantics (issue 16): the room config a room refused and why; folio lines kept at
check-out; the reference a room's spend carries so a folio line can match it.

Revision ID: 0008_sync_semantics
Revises: 0007_sync
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_sync_semantics"
down_revision = "0007_sync"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("sync_rooms") as batch:
        batch.add_column(sa.Column("config_refused", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("config_error", sa.String(length=512), nullable=True))
    with op.batch_alter_table("room_spends") as batch:
        batch.add_column(sa.Column("reference", sa.String(length=64), nullable=True))
    op.create_index(
        "ix_room_spends_reference", "room_spends", ["stay_id", "reference"], unique=False
    )
    op.create_table(
        "folio_lines",
        sa.Column("stay_id", sa.String(length=64), nullable=False),
        sa.Column("line_no", sa.Integer(), nullable=False),
        sa.Column("category", sa.String(length=32), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("reference", sa.String(length=64), nullable=True),
        sa.Column("void", sa.Boolean(), nullable=False),
        sa.Column("posted_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("stay_id", "line_no", name=op.f("pk_folio_lines")),
    )


def downgrade() -> None:
    op.drop_table("folio_lines")
    op.drop_index("ix_room_spends_reference", table_name="room_spends")
    with op.batch_alter_table("room_spends") as batch:
        batch.drop_column("reference")
    with op.batch_alter_table("sync_rooms") as batch:
        batch.drop_column("config_error")
        batch.drop_column("config_refused")
