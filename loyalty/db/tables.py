"""The schema. Alembic's migrations create exactly this (a test compares them).

Ledger tables follow TigerBeetle: `accounts` hold running totals (for member accounts;
system accounts are hot spots, so their balances are derived from `transfers` by
aggregation), `transfers` are immutable and hash-chained per member (`chains` holds each
chain's head and is the row a writer locks). Transfers carry only pseudonymous account
ids, so erasing a member's personal data leaves the chain verifiable.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from loyalty.db.types import UTCDateTime

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

ID = 80  # room for "<pseudonym>:<ledger>" and client-chosen transfer ids

members = Table(
    "members",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("pseudonym", String(64), unique=True, nullable=True),
    Column("name", String(128), nullable=True),
    Column("email", String(254), nullable=True),
    Column("phone", String(32), nullable=True),
    Column("tier", String(16), nullable=False),
    Column("tier_state", Text, nullable=False),
    Column("consent_personalisation", Boolean, nullable=False),
    Column("consent_marketing", Boolean, nullable=False),
    Column("age_band", String(8), nullable=True),
    Column("gender", String(8), nullable=True),
    # Benefits (issue 18): the birthday greets the member and grants the birthday gift;
    # segments (JSON list of codes, e.g. ["corporate"]) grant segment benefits.
    Column("birthday", Date, nullable=True),
    Column("segments_json", Text, nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("last_activity_at", UTCDateTime(), nullable=True),
    Column("erased_at", UTCDateTime(), nullable=True),
)

chains = Table(
    "chains",
    metadata,
    Column("owner", String(64), primary_key=True),
    Column("seq", BigInteger, nullable=False),
    Column("head", String(64), nullable=False),
)

accounts = Table(
    "accounts",
    metadata,
    Column("id", String(ID), primary_key=True),
    Column("owner", String(64), nullable=True),
    Column("ledger", String(16), nullable=False),
    Column("code", String(16), nullable=False),
    Column("debits_pending", BigInteger, nullable=False),
    Column("debits_posted", BigInteger, nullable=False),
    Column("credits_pending", BigInteger, nullable=False),
    Column("credits_posted", BigInteger, nullable=False),
    Column("debits_must_not_exceed_credits", Boolean, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
)

transfers = Table(
    "transfers",
    metadata,
    Column("id", String(ID), primary_key=True),
    Column("ledger", String(16), nullable=False),
    Column("debit_account_id", String(ID), ForeignKey("accounts.id"), nullable=False),
    Column("credit_account_id", String(ID), ForeignKey("accounts.id"), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("flags", String(8), nullable=False),
    Column("pending_id", String(ID), nullable=True, unique=True),
    Column("timeout_at", UTCDateTime(), nullable=True),
    Column("code", String(24), nullable=False),
    Column("reference", String(ID), nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("chain_owner", String(64), nullable=False),
    Column("chain_seq", BigInteger, nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    UniqueConstraint("chain_owner", "chain_seq", name="uq_transfers_chain"),
)
Index("ix_transfers_debit", transfers.c.debit_account_id, transfers.c.created_at)
Index("ix_transfers_credit", transfers.c.credit_account_id, transfers.c.created_at)

idempotency = Table(
    "idempotency",
    metadata,
    Column("principal", String(64), primary_key=True),
    Column("key", String(128), primary_key=True),
    Column("operation", String(64), nullable=False),
    Column("request_json", Text, nullable=False),
    Column("status_code", Integer, nullable=False),
    Column("response_json", Text, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("secret_hash", String(64), nullable=False),
    Column("role", String(8), nullable=False),
    Column("property_id", String(32), nullable=True),
    Column("room_id", String(32), nullable=True),
    Column("member_id", String(64), nullable=True),
    Column("label", String(128), nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("revoked_at", UTCDateTime(), nullable=True),
)

stays = Table(
    "stays",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("member_id", String(64), ForeignKey("members.id"), nullable=False),
    Column("property_id", String(32), nullable=False),
    Column("room_id", String(32), nullable=True),
    Column("room_type", String(16), nullable=False),
    Column("channel", String(16), nullable=False),
    Column("nightly_rate_minor", BigInteger, nullable=False),
    Column("arrival", UTCDateTime(), nullable=False),
    Column("departure", UTCDateTime(), nullable=False),
    Column("nights", Integer, nullable=False),
    Column("status", String(16), nullable=False),
    Column("ble_secret_b64", String(64), nullable=True),
    Column("pending_transfer_id", String(ID), nullable=True),
    Column("room_key_json", Text, nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("checked_in_at", UTCDateTime(), nullable=True),
    Column("checked_out_at", UTCDateTime(), nullable=True),
    # The tier the folio was priced with at check-out: spends reconciled later (a room's
    # event after a long outage) price with it too (loyalty.services.folio).
    Column("earn_tier", String(16), nullable=True),
)
Index("ix_stays_room", stays.c.property_id, stays.c.room_id, stays.c.status)
Index("ix_stays_member", stays.c.member_id)

# Each room change of a stay (the front desk moves a guest), with the room key the stay had
# in the room it left: that room lists the key as revoked until it expires.
stay_moves = Table(
    "stay_moves",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("stay_id", String(64), nullable=False),
    Column("property_id", String(32), nullable=False),
    Column("from_room", String(32), nullable=False),
    Column("to_room", String(32), nullable=False),
    Column("old_key_json", Text, nullable=True),
    Column("moved_at", UTCDateTime(), nullable=False),
)
Index("ix_stay_moves_from", stay_moves.c.property_id, stay_moves.c.from_room)

preferences = Table(
    "preferences",
    metadata,
    Column("member_id", String(64), ForeignKey("members.id"), primary_key=True),
    Column("document", Text, nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
)

agent_events = Table(
    "agent_events",
    metadata,
    Column("event_id", String(64), primary_key=True),
    Column("agent_id", String(64), nullable=False),
    Column("property_id", String(32), nullable=False),
    Column("room_id", String(32), nullable=False),
    Column("seq", BigInteger, nullable=False),
    Column("kind", String(32), nullable=False),
    Column("at", UTCDateTime(), nullable=False),
    Column("document", Text, nullable=False),
    Column("received_at", UTCDateTime(), nullable=False),
)

agent_cursors = Table(
    "agent_cursors",
    metadata,
    Column("agent_id", String(64), primary_key=True),
    Column("property_id", String(32), nullable=False),
    Column("room_id", String(32), nullable=False),
    Column("high_water_seq", BigInteger, nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
)

redemptions = Table(
    "redemptions",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("member_id", String(64), ForeignKey("members.id"), nullable=False),
    Column("property_id", String(32), nullable=False),
    Column("check_in", String(10), nullable=False),
    Column("nights", Integer, nullable=False),
    Column("points", BigInteger, nullable=False),
    Column("cash_minor", BigInteger, nullable=False),
    Column("status", String(16), nullable=False),
    Column("transfer_id", String(ID), nullable=False),
    Column("hold_until", UTCDateTime(), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
)

flags = Table(
    "flags",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("member_id", String(64), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("detail", String(512), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("resolved_at", UTCDateTime(), nullable=True),
    Column("resolution", String(256), nullable=True),
)
Index("ix_flags_open", flags.c.resolved_at, flags.c.created_at)

job_runs = Table(
    "job_runs",
    metadata,
    Column("name", String(32), primary_key=True),
    Column("period", String(32), primary_key=True),
    Column("result_json", Text, nullable=False),
    Column("ran_at", UTCDateTime(), nullable=False),
)

service_keys = Table(
    "service_keys",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("purpose", String(32), nullable=False, unique=True),
    Column("private_b64", String(128), nullable=False),
    Column("public_b64", String(128), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
)

# One random secret per room (issue 15): each stay's BLE/proof secret is derived from it, so
# the room's agent can check a stay it has not heard of yet. Sent only to that room's agent.
room_secrets = Table(
    "room_secrets",
    metadata,
    Column("property_id", String(32), primary_key=True),
    Column("room_id", String(32), primary_key=True),
    Column("secret_b64", String(64), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
)

# Comfort-model versions, signed offline by the ML team (central never holds that key): the
# service only stores and serves them. `withdrawn_at` hides a version from agents.
models = Table(
    "models",
    metadata,
    Column("name", String(16), primary_key=True),
    Column("version", String(32), primary_key=True),
    Column("sha256", String(64), nullable=False),
    Column("size_bytes", Integer, nullable=False),
    Column("signature_b64", String(100), nullable=False),
    Column("blob", LargeBinary, nullable=False),
    Column("published_at", UTCDateTime(), nullable=False),
    Column("withdrawn_at", UTCDateTime(), nullable=True),
)

# Tables of later issues live in their own modules on the same metadata: the housekeeping
# board (17), programme economics (20: experiments, webhook outbox), benefits (18) and the
# offline-first sync (16).
from loyalty.db import benefit_tables as _benefit_tables  # noqa: E402,F401
from loyalty.db import board_tables as _board_tables  # noqa: E402,F401
from loyalty.db import economics_tables as _economics_tables  # noqa: E402,F401
from loyalty.db import sync_tables as _sync_tables  # noqa: E402,F401
