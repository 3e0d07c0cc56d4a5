"""The events the loyalty service publishes, and their payloads (the contract receivers
code against). Every delivery's JSON body is an envelope:

    {"id": "evt_...", "type": "tier.changed", "created_at": "2026-04-03T10:00:00+00:00",
     "data": {"member_id": "m_...", "from_tier": "silver", "to_tier": "gold", ...}}

`id` is stable across retries and replays: receivers deduplicate on it (delivery is at
least once). Engineer-facing: add a type here, emit it with `loyalty.webhooks.emit` in the
transaction that causes it (i18's lifecycle offers use `offer.*` types the same way).
"""

from __future__ import annotations

from typing import Final

POINTS_POSTED: Final = "points.posted"
POINTS_WILL_EXPIRE: Final = "points.will_expire"
TIER_CHANGED: Final = "tier.changed"
REDEMPTION_BOOKED: Final = "redemption.booked"
MEMBER_INACTIVE: Final = "member.inactive"

EVENT_TYPES: dict[str, str] = {
    POINTS_POSTED: "points credited to a member after a stay or a retention bonus "
    "(member_id, points, code, transfer_id, property_id)",
    POINTS_WILL_EXPIRE: "points that expire within the notice window unless the member is "
    "active (member_id, points, expires_on)",
    TIER_CHANGED: "a member's tier went up or down (member_id, from_tier, to_tier, reason)",
    REDEMPTION_BOOKED: "an award booking was confirmed (member_id, redemption_id, "
    "property_id, check_in, nights, points, cash)",
    MEMBER_INACTIVE: "no activity for the inactivity window: a win-back candidate "
    "(member_id, last_activity, days_inactive, points)",
}


def known(event_type: str) -> bool:
    """A published type, or a lifecycle-offer type (`offer.<name>`) for issue 18."""
    return event_type in EVENT_TYPES or (
        event_type.startswith("offer.") and 6 < len(event_type) <= 40
    )
