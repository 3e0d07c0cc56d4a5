"""Benefits through the API on SQLite and PostgreSQL: entitlements worked out at booking
and check-in, updated by a tier change, bought with points within capacity, fulfilled once
with their cost, withdrawn (and refunded) with a cancelled stay, and costed per tier."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from service_harness import PROPERTY, ROOM, Service


def _stay(service: Service, member: str, nights: int = 2, **extra: object) -> str:
    arrival = service.clock.now() + timedelta(hours=1)
    body = {
        "member_id": member,
        "property_id": PROPERTY,
        "arrival": arrival.isoformat(),
        "departure": (arrival + timedelta(days=nights)).isoformat(),
        "nightly_rate": "1000.00",
        **extra,
    }
    return str(service.call("POST", "/v1/stays", json=body, expect=201)["id"])


def _codes(service: Service, stay: str, role: str = "staff") -> dict[str, dict[str, Any]]:
    rows = service.call("GET", f"/v1/stays/{stay}/entitlements", role)
    return {r["code"]: r for r in rows if r["status"] == "promised"}


def _make_gold(service: Service, member: str) -> None:
    """The real path: a stay whose folio crosses the gold line upgrades at check-out."""
    stay = _stay(service, member, nights=1)
    service.call("POST", f"/v1/stays/{stay}/check-in", json={"room_id": "0101"})
    service.call(
        "POST",
        f"/v1/stays/{stay}/check-out",
        json={"folio": [{"category": "room", "amount": "30000.00"}]},
    )
    assert service.call("GET", f"/v1/members/{member}")["tier"] == "gold"


def test_catalogue_is_served_in_both_languages(service: Service) -> None:
    catalogue = service.call("GET", "/v1/benefits")
    by_code = {b["code"]: b for b in catalogue["benefits"]}
    assert by_code["late_checkout"]["name_zh"] == "延迟退房至16:00"
    assert by_code["late_checkout"]["room_action"] == {"action": "late_checkout", "until": "16:00"}
    assert by_code["chefs_table"]["points_price"] == 30000


def test_silver_gets_the_birthday_gift_only_on_a_birthday_stay(service: Service) -> None:
    today = service.clock.now().date()
    birthday = date(1990, today.month, today.day) + timedelta(days=1)
    member = service.member(birthday=birthday.isoformat())
    assert service.call("GET", f"/v1/members/{member}")["birthday"] == birthday.isoformat()
    stay = _stay(service, member)
    assert set(_codes(service, stay)) == {"birthday_gift"}
    other = service.member()
    assert _codes(service, _stay(service, other)) == {}


def test_a_tier_change_during_a_stay_updates_its_entitlements(service: Service) -> None:
    member = service.member()
    open_stay = _stay(service, member, nights=3)
    assert _codes(service, open_stay) == {}
    _make_gold(service, member)
    granted = _codes(service, open_stay)
    assert set(granted) == {"breakfast", "room_upgrade"}
    assert granted["breakfast"]["quantity"] == 3
    assert granted["breakfast"]["source"] == "tier:gold"
    assert granted["room_upgrade"]["subject_to_availability"] is True


def test_fulfilment_is_recorded_once_with_its_cost(service: Service) -> None:
    member = service.member()
    stay = _stay(service, member, nights=2)
    _make_gold(service, member)
    breakfast = _codes(service, stay)["breakfast"]
    path = f"/v1/entitlements/{breakfast['id']}/fulfilments"
    first = service.call("POST", path, key="bk-day-1", json={"outcome": "delivered"}, expect=201)
    assert Decimal(first["cost"]) == Decimal("120")
    again = service.call("POST", path, key="bk-day-1", json={"outcome": "delivered"}, expect=201)
    assert again["id"] == first["id"]
    service.call("POST", path, key="bk-day-2", json={"outcome": "delivered"}, expect=201)
    over = service.call("POST", path, key="bk-day-3", json={"outcome": "delivered"}, expect=409)
    assert over["error"]["code"] == "already_fulfilled"
    assert "2 promised, 2 already recorded" in over["error"]["message"]
    upgrade = _codes(service, stay)["room_upgrade"]
    why_not = service.call(
        "POST",
        f"/v1/entitlements/{upgrade['id']}/fulfilments",
        key="upgrade-01",
        json={"outcome": "not_delivered"},
        expect=422,
    )
    assert why_not["error"]["field"] == "reason"
    service.call(
        "POST",
        f"/v1/entitlements/{upgrade['id']}/fulfilments",
        key="upgrade-02",
        json={"outcome": "not_delivered", "reason": "sold out tonight"},
        expect=201,
    )
    record = service.call("GET", f"/v1/members/{member}/benefits")
    delivered = {(f["code"], f["outcome"]) for f in record["fulfilments"]}
    assert delivered == {("breakfast", "delivered"), ("room_upgrade", "not_delivered")}
    view = _codes(service, stay)
    assert (view["breakfast"]["delivered"], view["room_upgrade"]["not_delivered"]) == (2, 1)


def test_who_may_record_and_see_what(service: Service) -> None:
    member = service.member()
    stay = _stay(service, member, nights=1)
    _make_gold(service, member)
    service.call("POST", f"/v1/stays/{stay}/check-in", json={"room_id": ROOM})
    breakfast = _codes(service, stay)["breakfast"]
    path = f"/v1/entitlements/{breakfast['id']}/fulfilments"
    service.keys["member"] = service.key_for("member", member_id=member)
    assert _codes(service, stay, "member")["breakfast"]["id"] == breakfast["id"]
    service.call("POST", path, "member", json={"outcome": "delivered"}, expect=403)
    # The room's agent delivers room benefits only; breakfast is the restaurant's.
    refused = service.call("POST", path, "agent", json={"outcome": "delivered"}, expect=403)
    assert "staff" in refused["error"]["message"]
    # Another member, and an agent of another room, see the same 404 as for a missing id.
    service.keys["other"] = service.key_for("member", member_id=service.member())
    hidden = service.call("GET", f"/v1/stays/{stay}/entitlements", "other", expect=404)
    missing = service.call("GET", "/v1/stays/s_doesnotexist00/entitlements", "other", expect=404)
    assert hidden["error"]["code"] == missing["error"]["code"] == "stay_not_found"
    service.keys["agent2"] = service.key_for("agent", property_id=PROPERTY, room_id="0999")
    service.call("GET", f"/v1/stays/{stay}/entitlements", "agent2", expect=404)
    service.call("POST", path, "agent2", json={"outcome": "delivered"}, expect=404)
    service.call("GET", f"/v1/members/{member}/benefits", "other", expect=404)


def test_experiences_bought_with_points_within_daily_capacity(service: Service) -> None:
    day = (service.clock.now() + timedelta(days=1)).date().isoformat()
    buyers = []
    for _ in range(5):
        member = service.member()
        for activity, amount in (("fnb", "50000.00"), ("partner", "20000.00")):
            body = {"member_id": member, "activity": activity, "amount": amount}
            service.call("POST", "/v1/earn", json=body)
        assert service.call("GET", f"/v1/members/{member}")["balance"]["points"] == 60000
        buyers.append((member, _stay(service, member, nights=2)))
    body = {"code": "chefs_table", "quantity": 2, "service_day": day}
    for member, stay in buyers[:4]:
        bought = service.call("POST", f"/v1/stays/{stay}/entitlements", json=body, expect=201)
        assert bought["points_paid"] == 60000
        assert service.call("GET", f"/v1/members/{member}")["balance"]["points"] == 0
    # 4 x 2 places = the 8 a day the chef's table has
    full = service.call("POST", f"/v1/stays/{buyers[4][1]}/entitlements", json=body, expect=409)
    assert full["error"]["code"] == "capacity_exhausted"
    assert "0 of 8 places left" in full["error"]["message"]
    last = buyers[4][0]
    assert service.call("GET", f"/v1/members/{last}")["balance"]["points"] == 60000
    next_day = {**body, "service_day": (service.clock.now() + timedelta(days=2)).date().isoformat()}
    service.call("POST", f"/v1/stays/{buyers[4][1]}/entitlements", json=next_day, expect=201)


def test_purchase_refusals_change_nothing(service: Service) -> None:
    member = service.member()
    stay = _stay(service, member, nights=2)
    day = (service.clock.now() + timedelta(days=1)).date().isoformat()
    cases = [
        ({"code": "no_such_benefit", "service_day": day}, 422, "unknown_benefit"),
        ({"code": "lounge", "service_day": day}, 422, "not_purchasable"),
        ({"code": "cultural_visit", "service_day": day}, 409, "insufficient_points"),
        ({"code": "cultural_visit", "service_day": "2030-01-01"}, 422, "service_day_outside_stay"),
        ({"code": "cultural_visit", "quantity": 5, "service_day": day}, 409, "limit_per_stay"),
    ]
    for body, status, code in cases:
        refused = service.call("POST", f"/v1/stays/{stay}/entitlements", json=body, expect=status)
        assert refused["error"]["code"] == code, refused
    assert _codes(service, stay) == {}
    assert service.call("GET", f"/v1/members/{member}")["balance"]["points"] == 0


def test_cancelled_stay_withdraws_and_refunds(service: Service) -> None:
    member = service.member()
    body = {"member_id": member, "activity": "partner", "amount": "40000.00"}
    service.call("POST", "/v1/earn", json=body)
    before = service.call("GET", f"/v1/members/{member}")["balance"]["points"]
    stay = _stay(service, member, nights=2)
    day = (service.clock.now() + timedelta(days=1)).date().isoformat()
    body = {"code": "cultural_visit", "service_day": day}
    service.call("POST", f"/v1/stays/{stay}/entitlements", json=body, expect=201)
    assert service.call("GET", f"/v1/members/{member}")["balance"]["points"] == before - 15000
    service.call("POST", f"/v1/stays/{stay}/cancel")
    rows = service.call("GET", f"/v1/stays/{stay}/entitlements")
    assert [(r["code"], r["status"], r["reason"]) for r in rows] == [
        ("cultural_visit", "withdrawn", "stay cancelled")
    ]
    assert service.call("GET", f"/v1/members/{member}")["balance"]["points"] == before
    assert service.call("GET", "/v1/admin/ledger/verify", "admin")["ok"] is True


def test_cost_report_per_tier(service: Service) -> None:
    member = service.member()
    stay = _stay(service, member, nights=1)
    _make_gold(service, member)
    breakfast = _codes(service, stay)["breakfast"]
    service.call(
        "POST",
        f"/v1/entitlements/{breakfast['id']}/fulfilments",
        json={"outcome": "delivered"},
        expect=201,
    )
    today = service.clock.now().date()
    report = service.call(
        "GET",
        "/v1/benefits/costs",
        "admin",
        params={"start": today.isoformat(), "end": (today + timedelta(days=1)).isoformat()},
    )
    gold = next(row for row in report["by_tier"] if row["tier"] == "gold")
    assert (gold["deliveries"], Decimal(gold["benefit_cost"])) == (1, Decimal("120"))
    assert Decimal(gold["revenue"]) == Decimal("30000")
    assert Decimal(gold["cost_share"]) == Decimal("0.0040")
    assert report["by_benefit"] == {"breakfast": "120.00"} or Decimal(
        report["by_benefit"]["breakfast"]
    ) == Decimal("120")


def test_a_benefit_experiment_swaps_the_arms_benefit_and_logs_exposure(service: Service) -> None:
    """Gold members: breakfast (control) against lounge access (treatment), sticky by hash;
    the stay is promised its arm's benefit and the delivery logs the exposure with cost."""
    from loyalty.analytics.experiments import Arm, assign_arm

    service.keys["loyalty"] = service.key_for("loyalty")
    start = service.clock.now()
    arms = [
        {"name": "control", "weight": 1, "benefit": "breakfast"},
        {"name": "lounge", "weight": 1, "benefit": "lounge"},
    ]
    spec = {
        "name": "gold breakfast vs lounge",
        "benefit": "breakfast",
        "segment": {"tiers": ["gold"]},
        "arms": arms,
        "starts_at": start.isoformat(),
        "ends_at": (start + timedelta(days=60)).isoformat(),
        "plan": {"primary": "retention", "baseline": 0.05, "min_effect": 0.9, "window_days": 30},
    }
    x = service.call("POST", "/v1/experiments", "loyalty", expect=201, json=spec)["id"]
    seen = set()
    for _ in range(6):
        member = service.member()
        _make_gold(service, member)
        stay = _stay(service, member, nights=1)
        arm = assign_arm(x, [Arm(**a) for a in arms], member)
        seen.add(arm)
        granted = _codes(service, stay)
        wanted = "breakfast" if arm == "control" else "lounge"
        assert wanted in granted and granted[wanted]["source"] == f"experiment:{x}:{arm}"
        if arm == "lounge":
            assert "breakfast" not in granted
        service.call(
            "POST",
            f"/v1/entitlements/{granted[wanted]['id']}/fulfilments",
            json={"outcome": "delivered"},
            expect=201,
        )
    exposures = service.call("GET", f"/v1/experiments/{x}/analysis", "loyalty")["arms"]
    assert sum(exposures.values()) == 6
    assert set(exposures) <= {"control", "lounge"}


def test_the_rooms_benefit_events_record_the_fulfilment_once(service: Service) -> None:
    """The room's agent reports a late check-out it honoured (an outbox event): central
    records it once with its cost; a re-sent event is a duplicate; another room's stay or a
    staff benefit is refused with a reason."""
    member = service.member(name="Li Wei")
    stay = _stay(service, member, nights=1)
    first = _stay(service, member, nights=1)
    service.call("POST", f"/v1/stays/{first}/check-in", json={"room_id": "0101"})
    service.call(
        "POST",
        f"/v1/stays/{first}/check-out",
        json={"folio": [{"category": "room", "amount": "100000.00"}]},
    )
    service.call("POST", f"/v1/stays/{stay}/check-in", json={"room_id": ROOM})
    granted = _codes(service, stay)
    late, lounge = granted["late_checkout"], granted["lounge"]
    pulled = service.call("GET", "/v1/agent/stays", "agent")
    (mine,) = [s for s in pulled if s["stay_id"] == stay]
    assert [b["code"] for b in mine["benefits"]] == ["late_checkout", "signature_scene"]
    assert mine["benefits"][0]["until"] == "16:00"

    def event(n: int, entitlement: str) -> dict[str, object]:
        return {
            "event_id": f"ev_benefit_{n:04d}",
            "seq": n,
            "hlc": f"{int(service.clock.now().timestamp() * 1000)}:{n}",
            "property_id": PROPERTY,
            "room_id": ROOM,
            "kind": "benefit",
            "at": service.clock.now().isoformat(),
            "stay_id": stay,
            "member_id": member,
            "payload": {"entitlement_id": entitlement, "code": "x", "outcome": "delivered"},
        }

    batch = {
        "agent_id": "agent_test_0001",
        "hlc": f"{int(service.clock.now().timestamp() * 1000)}:0",
        "events": [event(1, late["id"]), event(2, lounge["id"])],
    }
    result = service.call("POST", "/v1/sync/upload", "agent", json=batch)
    first, second = result["results"]
    assert first == {"event_id": "ev_benefit_0001", "status": "accepted", "reason": None}
    assert second["status"] == "rejected" and "fulfilled by staff" in second["reason"]
    again = service.call("POST", "/v1/sync/upload", "agent", json=batch)
    assert [a["status"] for a in again["results"]] == ["duplicate", "duplicate"]
    record = service.call("GET", f"/v1/members/{member}/benefits")
    delivered = [f for f in record["fulfilments"] if f["code"] == "late_checkout"]
    assert len(delivered) == 1 and delivered[0]["by_role"] == "agent"
    assert Decimal(delivered[0]["cost"]) == Decimal("60")


def test_late_checkout_gives_way_to_the_rooms_next_booking(service: Service) -> None:
    """Platinum: late check-out until 16:00 (Shanghai). The room's next guest arrives at
    15:00: housekeeping needs two hours, so the late check-out is withdrawn with what the
    next booking allows; a next guest at 19:00 leaves it standing."""
    from datetime import datetime

    member = service.member()
    first = _stay(service, member, nights=1)
    service.call("POST", f"/v1/stays/{first}/check-in", json={"room_id": "0101"})
    service.call(
        "POST",
        f"/v1/stays/{first}/check-out",
        json={"folio": [{"category": "room", "amount": "100000.00"}]},
    )
    assert service.call("GET", f"/v1/members/{member}")["tier"] == "platinum"
    noon = datetime.fromisoformat("2026-03-04T04:00:00+00:00")  # 12:00 in Shanghai

    def book(who: str, arrival: datetime, departure: datetime) -> str:
        body = {
            "member_id": who,
            "property_id": PROPERTY,
            "room_id": "0808",
            "arrival": arrival.isoformat(),
            "departure": departure.isoformat(),
            "nightly_rate": "1000.00",
        }
        return str(service.call("POST", "/v1/stays", json=body, expect=201)["id"])

    stay = book(member, noon - timedelta(days=1, hours=-2), noon)
    assert "late_checkout" in _codes(service, stay)
    later = book(service.member(), noon + timedelta(hours=7), noon + timedelta(days=1))
    assert "late_checkout" in _codes(service, stay)  # 19:00 arrival: 16:00 is fine
    service.call("POST", f"/v1/stays/{later}/cancel")
    book(service.member(), noon + timedelta(hours=3), noon + timedelta(days=1))
    rows = service.call("GET", f"/v1/stays/{stay}/entitlements")
    (late,) = [r for r in rows if r["code"] == "late_checkout"]
    assert late["status"] == "withdrawn"
    assert "next arrival" in late["reason"] and "latest possible is 13:00" in late["reason"]
    pulled = service.call("GET", "/v1/agent/stays", "agent")
    assert all(b["code"] != "late_checkout" for s in pulled for b in s["benefits"])
