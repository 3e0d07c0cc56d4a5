"""Signed webhooks from a transactional outbox (issue 20).

    from loyalty.webhooks import emit
    emit(conn, "tier.changed", {"member_id": m, "from_tier": "silver", "to_tier": "gold"},
         now=clock.now())                         # inside the transaction that changed it

`signing` (HMAC-SHA256, Stripe-style header, rotation overlap), `events` (the types and
their payloads), `outbox` (emit, endpoints, secrets, log, replay), `delivery` (claim,
sign, send, back off), `scan` (the as-of jobs that emit points.will_expire and
member.inactive).
"""

from loyalty.webhooks.outbox import emit

__all__ = ["emit"]
