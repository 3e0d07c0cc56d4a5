"""Room changes (issue 16): each move of a stay, with the room key it had in the room it
left, so that room keeps refusing the key until it expires; and the tier a stay's folio was
priced at check-out with (`stays.earn_tier`), so spends reconciled later price the same.

Revision ID: 0009_stay_moves
Revises: 0008_sync_semantics
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009_stay_moves"
down_revision = "0008_sync_semantics"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "stay_moves",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("stay_id", sa.String(length=64), nullable=False),
        sa.Column("property_id", sa.String(length=32), nullable=False),
        sa.Column("from_room", sa.String(length=32), nullable=False),
        sa.Column("to_room", sa.String(length=32), nullable=False),
        sa.Column("old_key_json", sa.Text(), nullable=True),
        sa.Column("moved_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stay_moves")),
    )
    op.create_index("ix_stay_moves_from", "stay_moves", ["property_id", "from_room"], unique=False)
    with op.batch_alter_table("stays") as batch:
        batch.add_column(sa.Column("earn_tier", sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("stays") as batch:
        batch.drop_column("earn_tier")
    op.drop_table("stay_moves")
