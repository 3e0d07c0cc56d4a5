"""Room secrets: each stay's member-credential secret is derived from its room's secret.

Revision ID: 0005_presence
Revises: 0004_economics
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_presence"
down_revision = "0004_economics"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "room_secrets",
        sa.Column("property_id", sa.String(length=32), nullable=False),
        sa.Column("room_id", sa.String(length=32), nullable=False),
        sa.Column("secret_b64", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("property_id", "room_id", name=op.f("pk_room_secrets")),
    )


def downgrade() -> None:
    op.drop_table("room_secrets")
