"""Benefits (issue 18): what each stay was promised (`entitlements`), what was delivered or
not (`fulfilments`, once per idempotency key), and the lifecycle offers sent to members
(`offers`, once per member and occasion).

Entitlements are rewritten when the facts change (tier change, cancelled upgrade, sold-out
capacity) but never deleted: a withdrawn one keeps its row with `status` and `reason`, so a
member's "promised vs delivered" record can settle a complaint.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Date,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from loyalty.db.tables import metadata
from loyalty.db.types import UTCDateTime

entitlements = Table(
    "entitlements",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("stay_id", String(64), nullable=False),
    Column("member_id", String(64), nullable=False),
    Column("property_id", String(32), nullable=False),
    Column("code", String(32), nullable=False),
    # The names as promised (the catalogue may rename it later): what the board shows.
    Column("name_en", String(80), nullable=False),
    Column("name_zh", String(80), nullable=False),
    Column("quantity", Integer, nullable=False),
    Column("source", String(48), nullable=False),
    Column("fulfilment", String(8), nullable=False),
    Column("unit_cost_minor", BigInteger, nullable=False),
    Column("points_paid", BigInteger, nullable=False),
    Column("subject_to_availability", Integer, nullable=False),
    Column("room_json", Text, nullable=True),
    # promised | withdrawn (tier change, cancelled stay, sold out, refused by staff)
    Column("status", String(12), nullable=False),
    Column("reason", String(256), nullable=True),
    Column("service_day", Date, nullable=True),  # purchased experiences: the day booked
    Column("programme_version", String(32), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    UniqueConstraint("stay_id", "code", "source", name="uq_entitlements_stay_code_source"),
)
Index("ix_entitlements_member", entitlements.c.member_id, entitlements.c.created_at)
Index(
    "ix_entitlements_day",
    entitlements.c.property_id,
    entitlements.c.code,
    entitlements.c.service_day,
)

fulfilments = Table(
    "fulfilments",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("entitlement_id", String(64), nullable=False),
    Column("key", String(128), nullable=False),
    Column("quantity", Integer, nullable=False),
    Column("outcome", String(16), nullable=False),  # delivered | not_delivered
    Column("reason", String(256), nullable=True),
    Column("by_role", String(8), nullable=False),  # staff | agent | admin
    Column("by_key", String(64), nullable=False),
    Column("cost_minor", BigInteger, nullable=False),
    Column("at", UTCDateTime(), nullable=False),
    UniqueConstraint("entitlement_id", "key", name="uq_fulfilments_entitlement_key"),
)
Index("ix_fulfilments_at", fulfilments.c.at)

offers = Table(
    "offers",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("member_id", String(64), nullable=False),
    Column("kind", String(24), nullable=False),
    Column("occasion", String(48), nullable=False),  # what makes it once-only: "2026", a tier, ...
    Column("payload_json", Text, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("sent_at", UTCDateTime(), nullable=True),
    Column("cancelled_at", UTCDateTime(), nullable=True),
    Column("cancel_reason", String(64), nullable=True),
    Column("redeemed_at", UTCDateTime(), nullable=True),
    UniqueConstraint("member_id", "kind", "occasion", name="uq_offers_member_kind_occasion"),
)
