"""Benefits the room honours by itself (issue 18), through decide() as a table of cases:
the welcome amenity and greeting once per stay, the late check-out holding the room past the
booked departure, the members' signature scene for that member only — none of it needing
central (the benefits travel with the stay)."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date, timedelta
from zoneinfo import ZoneInfo

from test_decide import CAPS, KEYCARD_ENTRY, STAY, T0, in_room, rules, run

from agent.benefits import effective_departure, greeting, is_birthday, late_checkout_due
from agent.decide import RoomRules
from agent.facts import MotionChanged
from agent.room_memory import Memory
from sync.wire import EventKind, RoomBenefit

SHANGHAI = ZoneInfo("Asia/Shanghai")
__all__ = ["rules"]  # the module-scoped RoomRules fixture of test_decide
AMENITY = RoomBenefit(
    entitlement_id="e_amenity000001",
    code="welcome_amenity",
    action="welcome_amenity",
    amenity="fruit plate and handwritten card",
)
LATE = RoomBenefit(
    entitlement_id="e_latecheckout1", code="late_checkout", action="late_checkout", until="16:00"
)
SIGNATURE = RoomBenefit(
    entitlement_id="e_signature0001",
    code="signature_scene",
    action="exclusive_scene",
    scene="signature",
)
# Departs at 12:00 Shanghai on the 17th; the late check-out keeps the room until 16:00.
DIAMOND = STAY.model_copy(
    update={
        "tier": "diamond",
        "display_name": "Li Wei",
        "birthday": T0.astimezone(SHANGHAI).strftime("%m-%d"),
        "departure": T0.replace(hour=4) + timedelta(days=2),
        "benefits": [AMENITY, LATE, SIGNATURE],
    }
)


def benefit_events(decision: object) -> list[dict[str, object]]:
    return [e.payload for e in decision.events if e.kind is EventKind.BENEFIT]  # type: ignore[attr-defined]


def test_late_checkout_moves_the_departure_the_room_plans_for() -> None:
    booked = DIAMOND.departure
    assert booked.astimezone(SHANGHAI).hour == 12
    assert effective_departure(DIAMOND, SHANGHAI) == booked + timedelta(hours=4)
    assert effective_departure(DIAMOND.model_copy(update={"benefits": []}), SHANGHAI) == booked
    assert late_checkout_due(DIAMOND, booked - timedelta(minutes=1), SHANGHAI) is None
    assert late_checkout_due(DIAMOND, booked + timedelta(hours=1), SHANGHAI) == LATE
    assert late_checkout_due(DIAMOND, booked + timedelta(hours=5), SHANGHAI) is None


def test_the_greeting_names_the_member_their_tier_and_birthday() -> None:
    today = T0.astimezone(SHANGHAI).date()
    words = greeting(DIAMOND, today)
    assert words["en"].startswith("Welcome, Li Wei.") and "diamond member" in words["en"]
    assert "钻石卡会员" in words["zh"] and words["birthday"] is True
    assert "Happy birthday!" in words["en"] and "生日快乐" in words["zh"]
    assert words["amenities"] == ["fruit plate and handwritten card"]
    assert not greeting(DIAMOND, today + timedelta(days=1))["birthday"]
    leap = DIAMOND.model_copy(update={"birthday": "02-29"})
    assert is_birthday(leap, date(2027, 2, 28)) and not is_birthday(leap, date(2028, 2, 28))


def test_the_welcome_amenity_is_delivered_once_with_the_greeting(rules: RoomRules) -> None:
    arrived = run(
        rules,
        KEYCARD_ENTRY,
        Memory.fresh(T0 - timedelta(hours=1)),
        at=T0 + timedelta(seconds=5),
        stays=(DIAMOND,),
    )
    assert arrived.choice.name == "welcome"
    (delivered,) = benefit_events(arrived)
    assert delivered["entitlement_id"] == AMENITY.entitlement_id
    assert delivered["greeting"]["birthday"] is True  # type: ignore[index]
    # After a restart, the next step delivers nothing again.
    restored = Memory.from_json(json.loads(json.dumps(arrived.memory.to_json())), CAPS)
    again = run(rules, [], restored, at=T0 + timedelta(seconds=30), stays=(DIAMOND,))
    assert benefit_events(again) == []


def test_a_stranger_in_the_rented_room_gets_neither_amenity_nor_signature(
    rules: RoomRules,
) -> None:
    # Nobody unlocked the door and no phone was recognised: not the member.
    entered = run(
        rules,
        [MotionChanged("motion", True, T0 + timedelta(seconds=5))],
        replace(Memory.fresh(T0 - timedelta(hours=1))),
        at=T0 + timedelta(seconds=5),
        stays=(DIAMOND,),
    )
    assert benefit_events(entered) == []
    assert entered.choice.name != "signature"


def test_the_signature_scene_is_the_members_back_in_their_room(rules: RoomRules) -> None:
    away = replace(in_room(), occ=Memory().occ, entry=None)
    back = run(
        rules,
        KEYCARD_ENTRY,
        away,
        at=T0 + timedelta(seconds=5),
        stays=(DIAMOND,),
    )
    assert back.memory.entry == "re" and back.choice.name == "signature"
    plain = run(
        rules,
        KEYCARD_ENTRY,
        away,
        at=T0 + timedelta(seconds=5),
    )
    assert plain.choice.name == "welcome_back"


def test_late_checkout_is_delivered_once_past_the_booked_departure(rules: RoomRules) -> None:
    memory = replace(in_room(), stay=replace(in_room().stay, stay_id=DIAMOND.stay_id))  # type: ignore[type-var]
    before = run(rules, [], memory, at=DIAMOND.departure - timedelta(minutes=5), stays=(DIAMOND,))
    assert LATE.entitlement_id not in [p["entitlement_id"] for p in benefit_events(before)]
    past = run(
        rules, [], before.memory, at=DIAMOND.departure + timedelta(hours=1), stays=(DIAMOND,)
    )
    late = [p for p in benefit_events(past) if p["entitlement_id"] == LATE.entitlement_id]
    assert late == [
        {
            "entitlement_id": LATE.entitlement_id,
            "code": "late_checkout",
            "outcome": "delivered",
            "until": "16:00",
        }
    ]
    # Still the guest's room: no check-out, the stay is kept, and it is not delivered twice.
    assert past.memory.stay is not None
    later = run(rules, [], past.memory, at=DIAMOND.departure + timedelta(hours=2), stays=(DIAMOND,))
    assert benefit_events(later) == []
