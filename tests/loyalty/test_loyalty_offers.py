"""Lifecycle offers: the pure rules (what is due when) and the job through the API on SQLite
and PostgreSQL (once per occasion, consent at creation and at sending, quiet hours, the
tier-up preview, redemption tracked once)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from service_harness import Service

from loyalty.rules.offers import Offers, Snapshot, due_offers, quiet

OFFERS = Offers()
TODAY = date(2026, 3, 2)


def kinds(**snapshot: object) -> dict[str, str]:
    member = Snapshot(member_id="m_x", tier=str(snapshot.pop("tier", "silver")), **snapshot)  # type: ignore[arg-type]
    return {o.kind: o.occasion for o in due_offers(OFFERS, member, TODAY)}


def test_birthday_offer_a_week_ahead_once_a_year() -> None:
    assert kinds(birthday=date(1990, 3, 9)) == {"birthday": "2026"}
    assert kinds(birthday=date(1990, 3, 10)) == {}
    assert kinds(birthday=date(1990, 3, 1)) == {}  # just passed: next year's, not now
    assert kinds(birthday=date(2000, 2, 29)) == {}


def test_win_back_once_per_quiet_spell() -> None:
    assert kinds(last_activity=TODAY - timedelta(days=89)) == {}
    lapse = TODAY - timedelta(days=90)
    assert kinds(last_activity=lapse) == {"win_back": lapse.isoformat()}


def test_service_notices() -> None:
    soon = TODAY + timedelta(days=20)
    assert kinds(expiring=((soon, 700), (TODAY + timedelta(days=90), 5))) == {
        "points_expiring": soon.isoformat()
    }
    year_end = date(2026, 12, 31)
    assert kinds(tier="gold", at_risk_until=year_end) == {}  # 304 days away
    assert kinds(tier="gold", at_risk_until=TODAY + timedelta(days=30)) == {
        "tier_at_risk": f"gold:{(TODAY + timedelta(days=30)).isoformat()}"
    }
    assert kinds(tier="gold", previous_tier="silver") == {"tier_up": "gold:2026"}
    first = kinds(stays_completed=1, first_stay_completed_on=TODAY - timedelta(days=2))
    assert first == {"first_stay": "first_stay"}
    assert kinds(stays_completed=2, first_stay_completed_on=TODAY) == {}


@pytest.mark.parametrize(
    ("utc_hour", "is_quiet"), [(12, False), (13, True), (20, True), (0, True), (1, False)]
)
def test_quiet_hours_are_local_and_wrap_midnight(utc_hour: int, is_quiet: bool) -> None:
    # Shanghai is UTC+8: 21:00-09:00 local is 13:00-01:00 UTC.
    assert quiet(OFFERS, datetime(2026, 3, 2, utc_hour, 0, tzinfo=UTC)) is is_quiet


def _offers(service: Service, member: str) -> dict[str, dict[str, object]]:
    return {o["kind"]: o for o in service.call("GET", f"/v1/members/{member}/offers", "admin")}


def test_offers_job_once_per_occasion_with_consent(service: Service) -> None:
    soon = service.clock.now().date() + timedelta(days=3)
    birthday = date(1988, soon.month, soon.day).isoformat()
    keen = service.member(birthday=birthday, consents={"marketing": True})
    shy = service.member(birthday=birthday)
    first = service.call("POST", "/v1/offers/run", "admin")
    assert first["created"] == 1 and first["sent"] == 1
    assert first["skipped_no_consent"] == 1
    assert _offers(service, keen)["birthday"]["sent_at"] is not None
    assert _offers(service, shy) == {}
    again = service.call("POST", "/v1/offers/run", "admin")
    assert again["created"] == 0 and again["sent"] == 0


def test_quiet_hours_hold_and_withdrawn_consent_cancels(service: Service) -> None:
    service.clock.set(datetime(2026, 3, 2, 14, 0, tzinfo=UTC))  # 22:00 in Shanghai
    soon = service.clock.now().date() + timedelta(days=2)
    member = service.member(
        birthday=date(1990, soon.month, soon.day).isoformat(), consents={"marketing": True}
    )
    other = service.member(
        birthday=date(1991, soon.month, soon.day).isoformat(), consents={"marketing": True}
    )
    held = service.call("POST", "/v1/offers/run", "admin")
    assert (held["created"], held["sent"], held["held"]) == (2, 0, 2)
    service.call("PUT", f"/v1/members/{other}/consents", json={"marketing": False})
    service.clock.set(datetime(2026, 3, 3, 2, 0, tzinfo=UTC))  # 10:00 next morning
    morning = service.call("POST", "/v1/offers/run", "admin")
    assert (morning["sent"], morning["cancelled"]) == (1, 1)
    assert _offers(service, member)["birthday"]["sent_at"] is not None
    assert _offers(service, other)["birthday"]["cancelled_at"] is not None


def test_tier_up_preview_and_redemption_tracked_once(service: Service) -> None:
    member = service.member()
    arrival = service.clock.now()
    stay = service.call(
        "POST",
        "/v1/stays",
        json={
            "member_id": member,
            "property_id": "sh01",
            "arrival": arrival.isoformat(),
            "departure": (arrival + timedelta(days=1)).isoformat(),
            "nightly_rate": "1000.00",
        },
        expect=201,
    )["id"]
    service.call("POST", f"/v1/stays/{stay}/check-in", json={"room_id": "0101"})
    service.call(
        "POST",
        f"/v1/stays/{stay}/check-out",
        json={"folio": [{"category": "room", "amount": "30000.00"}]},
    )
    offer = _offers(service, member)["tier_up"]
    assert offer["data"] == {
        "from_tier": "silver",
        "to_tier": "gold",
        "benefits": ["breakfast", "room_upgrade"],
    }
    assert offer["sent_at"] is not None  # a service notice: no marketing consent needed
    service.keys["member"] = service.key_for("member", member_id=member)
    service.keys["other"] = service.key_for("member", member_id=service.member())
    service.call("POST", f"/v1/offers/{offer['id']}/redeem", "other", expect=404)
    used = service.call("POST", f"/v1/offers/{offer['id']}/redeem", "member")
    assert used["redeemed_at"] is not None
    twice = service.call("POST", f"/v1/offers/{offer['id']}/redeem", "member", expect=409)
    assert twice["error"]["code"] == "offer_already_redeemed"
