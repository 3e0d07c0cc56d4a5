"""Sending due deliveries: sign, POST, log the attempt, back off on failure.

A delivery is *claimed* by pushing its `next_attempt_at` one lease ahead in a short
transaction (PostgreSQL: `FOR UPDATE SKIP LOCKED`, so several workers never claim the same
one), sent outside any transaction, and its outcome recorded in another. A worker killed
mid-send leaves the claim to expire, and the delivery is sent again: at least once, same
event id. Failures wait `backoff(attempt)`: 10 s, 20 s, 40 s, ... capped at 6 h, and a
delivery that failed `max_attempts` times is marked `failed` (replay sends it again).

    sent = deliver_due(engine, clock, client)       # one pass; `loyalty webhooks run` loops
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx
from sqlalchemy import Engine, select, update

from loyalty.db.economics_tables import (
    webhook_attempts,
    webhook_deliveries,
    webhook_endpoints,
    webhook_events,
)
from loyalty.webhooks.outbox import live_secrets
from loyalty.webhooks.signing import EVENT_HEADER, HEADER, TYPE_HEADER, signature_header
from smartroom.clock import Clock
from smartroom.log import get_logger
from sync.wire import new_id

log = get_logger("loyalty.webhooks")

LEASE = timedelta(seconds=60)


@dataclass(frozen=True)
class Policy:
    base_s: float = 10.0
    cap_s: float = 6 * 3600.0
    max_attempts: int = 12
    timeout_s: float = 10.0

    def backoff(self, attempt: int) -> timedelta:
        """Wait before attempt `attempt + 1`, after `attempt` failures (1-based)."""
        return timedelta(seconds=min(self.cap_s, self.base_s * 2 ** max(0, attempt - 1)))


@dataclass(frozen=True)
class Claimed:
    id: str
    attempt: int
    url: str
    event_id: str
    event_type: str
    body: bytes
    secrets: list[str]


def _claim(engine: Engine, now: datetime, limit: int) -> list[Claimed]:
    d = webhook_deliveries.c
    with engine.begin() as conn:
        query = (
            select(d.id, d.attempts, d.event_id, d.endpoint_id)
            .where(d.status == "pending", d.next_attempt_at <= now)
            .order_by(d.next_attempt_at, d.id)
            .limit(limit)
        )
        if conn.dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        rows = conn.execute(query).all()
        out = []
        for r in rows:
            conn.execute(
                update(webhook_deliveries).where(d.id == r.id).values(next_attempt_at=now + LEASE)
            )
            event = conn.execute(
                select(webhook_events).where(webhook_events.c.id == r.event_id)
            ).one()
            url = conn.execute(
                select(webhook_endpoints.c.url).where(webhook_endpoints.c.id == r.endpoint_id)
            ).scalar_one()
            out.append(
                Claimed(
                    r.id,
                    r.attempts + 1,
                    url,
                    r.event_id,
                    event.type,
                    event.payload_json.encode(),
                    live_secrets(conn, r.endpoint_id, now),
                )
            )
    return out


def _send(
    client: httpx.Client, c: Claimed, now: datetime, policy: Policy
) -> tuple[int | None, str | None]:
    if not c.secrets:
        return None, "the endpoint has no live secret (rotate one in)"
    headers = {
        "Content-Type": "application/json",
        HEADER: signature_header(c.secrets, c.body, timestamp=int(now.timestamp())),
        EVENT_HEADER: c.event_id,
        TYPE_HEADER: c.event_type,
    }
    try:
        response = client.post(c.url, content=c.body, headers=headers, timeout=policy.timeout_s)
    except httpx.HTTPError as exc:
        return None, f"{type(exc).__name__}: {exc}"[:300]
    if 200 <= response.status_code < 300:
        return response.status_code, None
    return response.status_code, f"HTTP {response.status_code}"


def deliver_due(
    engine: Engine,
    clock: Clock,
    client: httpx.Client,
    *,
    limit: int = 50,
    policy: Policy | None = None,
) -> int:
    """One pass over due deliveries; returns how many were attempted."""
    policy = policy or Policy()
    claimed = _claim(engine, clock.now(), limit)
    d = webhook_deliveries.c
    for c in claimed:
        status, error = _send(client, c, clock.now(), policy)
        now = clock.now()
        with engine.begin() as conn:
            conn.execute(
                webhook_attempts.insert().values(
                    id=new_id("wha_"),
                    delivery_id=c.id,
                    attempt=c.attempt,
                    at=now,
                    status_code=status,
                    error=error,
                )
            )
            if error is None:
                values: dict[str, object] = {
                    "status": "delivered",
                    "attempts": c.attempt,
                    "delivered_at": now,
                    "next_attempt_at": None,
                }
            elif c.attempt >= policy.max_attempts:
                values = {"status": "failed", "attempts": c.attempt, "next_attempt_at": None}
            else:
                values = {"attempts": c.attempt, "next_attempt_at": now + policy.backoff(c.attempt)}
            conn.execute(update(webhook_deliveries).where(d.id == c.id).values(**values))
        if error is not None:
            # The URL may carry a token in its query: log the endpoint's host only.
            log.warning(
                "webhook delivery failed",
                delivery=c.id,
                attempt=c.attempt,
                host=httpx.URL(c.url).host,
                error=error,
            )
    return len(claimed)
