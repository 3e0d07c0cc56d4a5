"""The webhook outbox: what a service calls inside its own transaction, and what the
loyalty team manages (endpoints, secret rotation, the delivery log, replays).

    with engine.begin() as conn:                        # the transaction that posts points
        ...create_transfer(...)...
        emit(conn, "points.posted", {"member_id": m, "points": 2000}, now=clock.now())

`emit` stores the event and one pending delivery per endpoint subscribed to its type; if
the transaction rolls back, neither exists, and nothing is ever sent for a change that did
not happen. `event_id` makes emitting idempotent (scanners pass a deterministic one).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, select, update

from loyalty.db.economics_tables import (
    webhook_attempts,
    webhook_deliveries,
    webhook_endpoints,
    webhook_events,
    webhook_secrets,
)
from loyalty.webhooks.events import known
from loyalty.webhooks.signing import new_secret
from sync.wire import new_id


class WebhookError(ValueError):
    """A refused webhook request; `code` is stable, `field` names what to fix."""

    def __init__(self, code: str, message: str, field: str | None = None) -> None:
        self.code = code
        self.field = field
        super().__init__(message)


def emit(
    conn: Connection,
    event_type: str,
    data: dict[str, Any],
    *,
    now: datetime,
    event_id: str | None = None,
) -> str | None:
    """Queue an event for every endpoint subscribed to it; returns the event id, or None
    when `event_id` was already emitted (nothing is queued twice)."""
    if not known(event_type):
        raise WebhookError("unknown_event_type", f"unknown event type {event_type!r}", "type")
    event_id = event_id or new_id("evt_")
    if conn.execute(select(webhook_events.c.id).where(webhook_events.c.id == event_id)).first():
        return None
    envelope = {"id": event_id, "type": event_type, "created_at": now.isoformat(), "data": data}
    conn.execute(
        webhook_events.insert().values(
            id=event_id, type=event_type, payload_json=json.dumps(envelope), created_at=now
        )
    )
    rows = [
        {
            "id": new_id("whd_"),
            "event_id": event_id,
            "endpoint_id": endpoint_id,
            "status": "pending",
            "attempts": 0,
            "next_attempt_at": now,
            "delivered_at": None,
            "created_at": now,
        }
        for endpoint_id in subscribers(conn, event_type)
    ]
    if rows:
        conn.execute(webhook_deliveries.insert(), rows)
    return event_id


def subscribers(conn: Connection, event_type: str) -> list[str]:
    e = webhook_endpoints.c
    out = []
    for row in conn.execute(select(e.id, e.events_json).where(e.disabled_at.is_(None))):
        if event_type in json.loads(row.events_json):
            out.append(row.id)
    return sorted(out)


@dataclass(frozen=True)
class NewEndpoint:
    id: str
    url: str
    events: list[str]
    secret: str  # shown once


def _check_events(events: list[str]) -> list[str]:
    if not events:
        raise WebhookError("no_events", "subscribe to at least one event type", "events")
    for name in events:
        if not known(name):
            raise WebhookError("unknown_event_type", f"unknown event type {name!r}", "events")
    return sorted(set(events))


def create_endpoint(conn: Connection, url: str, events: list[str], *, now: datetime) -> NewEndpoint:
    if not url.startswith(("https://", "http://")) or len(url) > 500:
        raise WebhookError(
            "bad_url", "the endpoint URL must be http(s)://, at most 500 chars", "url"
        )
    chosen = _check_events(events)
    endpoint_id = new_id("whe_")
    secret = new_secret()
    conn.execute(
        webhook_endpoints.insert().values(
            id=endpoint_id, url=url, events_json=json.dumps(chosen), created_at=now
        )
    )
    conn.execute(
        webhook_secrets.insert().values(
            id=new_id("whs_"), endpoint_id=endpoint_id, secret=secret, created_at=now
        )
    )
    return NewEndpoint(endpoint_id, url, chosen, secret)


def _endpoint(conn: Connection, endpoint_id: str) -> Any:
    row = conn.execute(
        select(webhook_endpoints).where(webhook_endpoints.c.id == endpoint_id)
    ).first()
    if row is None:
        raise WebhookError("endpoint_not_found", f"no webhook endpoint {endpoint_id!r}")
    return row


def rotate_secret(conn: Connection, endpoint_id: str, *, now: datetime, overlap: timedelta) -> str:
    """A new secret; the current ones stay live for `overlap` (both sign meanwhile)."""
    _endpoint(conn, endpoint_id)
    if not timedelta(0) <= overlap <= timedelta(days=7):
        raise WebhookError("bad_overlap", "overlap must be between 0 and 7 days", "overlap_s")
    s = webhook_secrets.c
    conn.execute(
        update(webhook_secrets)
        .where(
            s.endpoint_id == endpoint_id, (s.expires_at.is_(None)) | (s.expires_at > now + overlap)
        )
        .values(expires_at=now + overlap)
    )
    secret = new_secret()
    conn.execute(
        webhook_secrets.insert().values(
            id=new_id("whs_"), endpoint_id=endpoint_id, secret=secret, created_at=now
        )
    )
    return secret


def live_secrets(conn: Connection, endpoint_id: str, now: datetime) -> list[str]:
    """Newest first; what signs a delivery sent at `now`."""
    s = webhook_secrets.c
    rows = conn.execute(
        select(s.secret)
        .where(s.endpoint_id == endpoint_id, (s.expires_at.is_(None)) | (s.expires_at > now))
        .order_by(s.created_at.desc(), s.id)
    )
    return [r.secret for r in rows]


def disable_endpoint(conn: Connection, endpoint_id: str, *, now: datetime) -> None:
    _endpoint(conn, endpoint_id)
    conn.execute(
        update(webhook_endpoints)
        .where(webhook_endpoints.c.id == endpoint_id, webhook_endpoints.c.disabled_at.is_(None))
        .values(disabled_at=now)
    )
    conn.execute(
        update(webhook_deliveries)
        .where(
            webhook_deliveries.c.endpoint_id == endpoint_id,
            webhook_deliveries.c.status == "pending",
        )
        .values(status="cancelled", next_attempt_at=None)
    )


def endpoints(conn: Connection) -> list[dict[str, Any]]:
    e = webhook_endpoints.c
    return [
        {
            "id": r.id,
            "url": r.url,
            "events": json.loads(r.events_json),
            "created_at": r.created_at.isoformat(),
            "disabled_at": r.disabled_at.isoformat() if r.disabled_at else None,
        }
        for r in conn.execute(select(webhook_endpoints).order_by(e.created_at, e.id))
    ]


def delivery_log(
    conn: Connection, *, event_id: str | None = None, limit: int = 100
) -> list[dict[str, Any]]:
    """Deliveries, newest first, each with its attempts (status code or error, when)."""
    d = webhook_deliveries.c
    query = select(webhook_deliveries, webhook_events.c.type).join(
        webhook_events, webhook_events.c.id == d.event_id
    )
    if event_id:
        query = query.where(d.event_id == event_id)
    rows = conn.execute(query.order_by(d.created_at.desc(), d.id).limit(limit)).all()
    a = webhook_attempts.c
    out = []
    for r in rows:
        attempts = conn.execute(
            select(a.attempt, a.at, a.status_code, a.error)
            .where(a.delivery_id == r.id)
            .order_by(a.attempt)
        ).all()
        out.append(
            {
                "id": r.id,
                "event_id": r.event_id,
                "type": r.type,
                "endpoint_id": r.endpoint_id,
                "status": r.status,
                "attempts": r.attempts,
                "next_attempt_at": r.next_attempt_at.isoformat() if r.next_attempt_at else None,
                "delivered_at": r.delivered_at.isoformat() if r.delivered_at else None,
                "log": [
                    {
                        "attempt": x.attempt,
                        "at": x.at.isoformat(),
                        "status_code": x.status_code,
                        "error": x.error,
                    }
                    for x in attempts
                ],
            }
        )
    return out


def replay(conn: Connection, delivery_id: str, *, now: datetime) -> None:
    """Send a delivery again (delivered, failed or cancelled): due now, same event id."""
    d = webhook_deliveries.c
    row = conn.execute(select(webhook_deliveries).where(d.id == delivery_id)).first()
    if row is None:
        raise WebhookError("delivery_not_found", f"no webhook delivery {delivery_id!r}")
    endpoint = _endpoint(conn, row.endpoint_id)
    if endpoint.disabled_at is not None:
        raise WebhookError("endpoint_disabled", f"endpoint {row.endpoint_id} is disabled")
    conn.execute(
        update(webhook_deliveries)
        .where(d.id == delivery_id)
        .values(status="pending", next_attempt_at=now, delivered_at=None)
    )
