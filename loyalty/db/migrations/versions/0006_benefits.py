"""Benefits: entitlements per stay, fulfilments, lifecycle offers; members gain a birthday
and segments.

Revision ID: 0006_benefits
Revises: 0005_presence
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_benefits"
down_revision = "0005_presence"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("members") as batch:
        batch.add_column(sa.Column("birthday", sa.Date(), nullable=True))
        batch.add_column(sa.Column("segments_json", sa.Text(), nullable=True))
    op.create_table(
        "entitlements",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("stay_id", sa.String(length=64), nullable=False),
        sa.Column("member_id", sa.String(length=64), nullable=False),
        sa.Column("property_id", sa.String(length=32), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name_en", sa.String(length=80), nullable=False),
        sa.Column("name_zh", sa.String(length=80), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=48), nullable=False),
        sa.Column("fulfilment", sa.String(length=8), nullable=False),
        sa.Column("unit_cost_minor", sa.BigInteger(), nullable=False),
        sa.Column("points_paid", sa.BigInteger(), nullable=False),
        sa.Column("subject_to_availability", sa.Integer(), nullable=False),
        sa.Column("room_json", sa.Text(), nullable=True),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("reason", sa.String(length=256), nullable=True),
        sa.Column("service_day", sa.Date(), nullable=True),
        sa.Column("programme_version", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_entitlements")),
        sa.UniqueConstraint("stay_id", "code", "source", name="uq_entitlements_stay_code_source"),
    )
    op.create_index("ix_entitlements_member", "entitlements", ["member_id", "created_at"])
    op.create_index("ix_entitlements_day", "entitlements", ["property_id", "code", "service_day"])
    op.create_table(
        "fulfilments",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("entitlement_id", sa.String(length=64), nullable=False),
        sa.Column("key", sa.String(length=128), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=256), nullable=True),
        sa.Column("by_role", sa.String(length=8), nullable=False),
        sa.Column("by_key", sa.String(length=64), nullable=False),
        sa.Column("cost_minor", sa.BigInteger(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fulfilments")),
        sa.UniqueConstraint("entitlement_id", "key", name="uq_fulfilments_entitlement_key"),
    )
    op.create_index("ix_fulfilments_at", "fulfilments", ["at"])
    op.create_table(
        "offers",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("member_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("occasion", sa.String(length=48), nullable=False),
        sa.Column("payload_json", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cancel_reason", sa.String(length=64), nullable=True),
        sa.Column("redeemed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_offers")),
        sa.UniqueConstraint("member_id", "kind", "occasion", name="uq_offers_member_kind_occasion"),
    )


def downgrade() -> None:
    op.drop_table("offers")
    op.drop_index("ix_fulfilments_at", table_name="fulfilments")
    op.drop_table("fulfilments")
    op.drop_index("ix_entitlements_day", table_name="entitlements")
    op.drop_index("ix_entitlements_member", table_name="entitlements")
    op.drop_table("entitlements")
    with op.batch_alter_table("members") as batch:
        batch.drop_column("segments_json")
        batch.drop_column("birthday")
