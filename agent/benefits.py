"""The member benefits the room delivers by itself (issue 18), as pure functions of the
stay (`sync.wire.StayAssignment.benefits`, which travels with the stay, so all of this works
while the link to central is down) and the time.

    effective_departure(stay, tz)    # a late check-out moves the departure the room plans for
    greeting(stay, today)            # the welcome's words: name, tier, birthday, amenities
    welcome_benefits(stay)           # delivered when the member first enters
    late_checkout_due(stay, now, tz) # delivered once the guest is still in past the usual time
    signature_scene(stay)            # the member-exclusive scene, for that member only

Each delivery becomes one `benefit` outbox event (keyed by the entitlement, so central
records it once, with its cost), and the room remembers what it delivered per stay.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, time, tzinfo
from typing import Any

from agent.room_memory import Memory
from agent.store import NewEvent
from sync.wire import EventKind, RoomBenefit, StayAssignment


def _late_checkout(stay: StayAssignment) -> RoomBenefit | None:
    return next((b for b in stay.benefits if b.action == "late_checkout" and b.until), None)


def effective_departure(stay: StayAssignment, tz: tzinfo) -> datetime:
    """The booked departure, or the late check-out time on the departure day (property
    local time) when that is later."""
    late = _late_checkout(stay)
    if late is None or late.until is None:
        return stay.departure
    day = stay.departure.astimezone(tz).date()
    until = datetime.combine(day, time.fromisoformat(late.until), tzinfo=tz)
    return max(stay.departure, until)


def late_checkout_due(stay: StayAssignment, now: datetime, tz: tzinfo) -> RoomBenefit | None:
    """The late check-out is being delivered once the checked-in guest's room is still
    theirs past the booked departure (and not past the late time)."""
    late = _late_checkout(stay)
    if late is None or stay.status != "checked_in":
        return None
    if stay.departure <= now <= effective_departure(stay, tz):
        return late
    return None


def is_birthday(stay: StayAssignment, today: date) -> bool:
    if stay.birthday is None:
        return False
    month, day = (int(part) for part in stay.birthday.split("-"))
    leap = today.year % 4 == 0 and (today.year % 100 != 0 or today.year % 400 == 0)
    if (month, day) == (2, 29) and not leap:
        day = 28
    return (today.month, today.day) == (month, day)


def welcome_benefits(stay: StayAssignment) -> list[RoomBenefit]:
    return [b for b in stay.benefits if b.action == "welcome_amenity"]


def greeting(stay: StayAssignment, today: date) -> dict[str, Any]:
    """What the welcome says (on the room's screen and speaker): never more than the
    name central sent, the tier and whether it is the member's birthday."""
    name = stay.display_name or ""
    birthday = is_birthday(stay, today)
    tier_zh = _TIER_ZH.get(stay.tier, stay.tier)
    en = f"Welcome{', ' + name if name else ''}. Thank you for staying with us"
    en += f" as a {stay.tier} member."
    zh = f"{name + '，' if name else ''}欢迎您！感谢您作为{tier_zh}会员入住。"
    if birthday:
        en += " Happy birthday!"
        zh += "祝您生日快乐！"
    return {
        "en": en,
        "zh": zh,
        "tier": stay.tier,
        "birthday": birthday,
        "amenities": [b.amenity for b in welcome_benefits(stay) if b.amenity],
    }


def signature_scene(stay: StayAssignment) -> str | None:
    return next((b.scene for b in stay.benefits if b.action == "exclusive_scene" and b.scene), None)


def delivered_event(benefit: RoomBenefit) -> dict[str, Any]:
    return {"entitlement_id": benefit.entitlement_id, "code": benefit.code, "outcome": "delivered"}


_TIER_ZH = {"silver": "银卡", "gold": "金卡", "platinum": "白金卡", "diamond": "钻石卡"}


def deliver_room_benefits(
    memory: Memory,
    stay: StayAssignment | None,
    now: datetime,
    tz: tzinfo,
    events: list[NewEvent],
    notes: list[tuple[str, dict[str, Any]]],
) -> Memory:
    """One `benefit` event per room benefit delivered, once per stay: the welcome amenity
    (with the greeting) when the member has first entered, the late check-out once the guest
    keeps the room past the booked departure. Called by `decide()` on every step."""
    kept = memory.stay
    if stay is None or kept is None or kept.stay_id != stay.stay_id:
        return memory
    due: list[tuple[RoomBenefit, dict[str, Any]]] = []
    if kept.first_entry_at is not None and not memory.stranger_entry:
        words = greeting(stay, kept.first_entry_at.astimezone(tz).date())
        due += [(b, {"greeting": words}) for b in welcome_benefits(stay)]
    late = late_checkout_due(stay, now, tz)
    if late is not None:
        due.append((late, {"until": late.until}))
    done = set(kept.benefits_delivered)
    fresh = [(b, extra) for b, extra in due if b.entitlement_id not in done]
    if not fresh:
        return memory
    for benefit, extra in fresh:
        events.append(
            NewEvent(
                EventKind.BENEFIT,
                {**delivered_event(benefit), **extra},
                stay_id=stay.stay_id,
                member_id=stay.member_id,
            )
        )
        notes.append(("benefit_delivered", {"code": benefit.code}))
    delivered = (*kept.benefits_delivered, *(b.entitlement_id for b, _ in fresh))
    return replace(memory, stay=replace(kept, benefits_delivered=delivered))
