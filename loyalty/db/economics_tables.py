"""Tables of the programme-economics side (issue 20): benefit experiments and the signed
webhook outbox. Imported by `loyalty.db.tables`, so they share its metadata and Alembic
sees them (revision 0004_economics).

Webhooks follow the transactional-outbox pattern: a service that posts points, books a
redemption or changes a tier inserts a `webhook_events` row and one `webhook_deliveries`
row per subscribed endpoint *in its own transaction*; the delivery worker sends them later,
retries with backoff and logs every attempt in `webhook_attempts`.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, ForeignKey, Index, Integer, String, Table, Text

from loyalty.db.tables import ID, metadata
from loyalty.db.types import UTCDateTime

experiments = Table(
    "experiments",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("name", String(80), nullable=False, unique=True),
    Column("benefit", String(64), nullable=False),
    Column("segment_json", Text, nullable=False),
    Column("arms_json", Text, nullable=False),
    Column("starts_at", UTCDateTime(), nullable=False),
    Column("ends_at", UTCDateTime(), nullable=False),
    Column("plan_json", Text, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
)

# One row per member exposed to an experiment: the arm they saw and when they first saw it
# (the start of their outcome window); later exposures add to `exposures` and the benefit
# cost (minor units), never move `first_at`.
experiment_exposures = Table(
    "experiment_exposures",
    metadata,
    Column("experiment_id", String(64), ForeignKey("experiments.id"), primary_key=True),
    Column("member_id", String(64), ForeignKey("members.id"), primary_key=True),
    Column("arm", String(32), nullable=False),
    Column("first_at", UTCDateTime(), nullable=False),
    Column("last_at", UTCDateTime(), nullable=False),
    Column("exposures", Integer, nullable=False),
    Column("cost_minor", BigInteger, nullable=False),
)

webhook_endpoints = Table(
    "webhook_endpoints",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("url", String(500), nullable=False),
    Column("events_json", Text, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("disabled_at", UTCDateTime(), nullable=True),
)

# Signing secrets; rotation adds a new one and gives the old one an `expires_at`: until
# then every delivery carries a signature by each (Stripe's overlap), so receivers can
# switch keys without missing a message.
webhook_secrets = Table(
    "webhook_secrets",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("endpoint_id", String(64), ForeignKey("webhook_endpoints.id"), nullable=False),
    Column("secret", String(100), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=True),
)
Index("ix_webhook_secrets_endpoint", webhook_secrets.c.endpoint_id)

webhook_events = Table(
    "webhook_events",
    metadata,
    Column("id", String(ID), primary_key=True),
    Column("type", String(40), nullable=False),
    Column("payload_json", Text, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
)

webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("event_id", String(ID), ForeignKey("webhook_events.id"), nullable=False),
    Column("endpoint_id", String(64), ForeignKey("webhook_endpoints.id"), nullable=False),
    Column("status", String(12), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", UTCDateTime(), nullable=True),
    Column("delivered_at", UTCDateTime(), nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
)
Index(
    "ix_webhook_deliveries_due", webhook_deliveries.c.status, webhook_deliveries.c.next_attempt_at
)

webhook_attempts = Table(
    "webhook_attempts",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("delivery_id", String(64), ForeignKey("webhook_deliveries.id"), nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("at", UTCDateTime(), nullable=False),
    Column("status_code", Integer, nullable=True),
    Column("error", String(300), nullable=True),
)
Index("ix_webhook_attempts_delivery", webhook_attempts.c.delivery_id)
