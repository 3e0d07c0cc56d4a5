"""A member's path through the API on SQLite and PostgreSQL: enrol, stay, earn, redeem,
transfer, convert, history, verify."""

from __future__ import annotations

from datetime import timedelta

from service_harness import ROOM, Service


def _stay(service: Service, member: str, nights: int = 2, **extra: object) -> str:
    arrival = service.clock.now()
    body = {
        "member_id": member,
        "property_id": "sh01",
        "arrival": arrival.isoformat(),
        "departure": (arrival + timedelta(days=nights)).isoformat(),
        "nightly_rate": "1000.00",
        **extra,
    }
    return str(service.call("POST", "/v1/stays", json=body, expect=201)["id"])


def test_stay_earns_pending_then_posted(service: Service) -> None:
    member = service.member(name="Li Wei", consents={"personalisation": True})
    stay = _stay(service, member)
    checked_in = service.call("POST", f"/v1/stays/{stay}/check-in", json={"room_id": ROOM})
    assert checked_in["status"] == "checked_in"
    assert checked_in["points_pending"] > 0
    assert checked_in["room_key"]["room_id"] == ROOM
    view = service.call("GET", f"/v1/members/{member}")
    assert view["balance"]["incoming"] == checked_in["points_pending"]
    assert view["balance"]["points"] == 0
    service.clock.advance(days=2)
    out = service.call(
        "POST",
        f"/v1/stays/{stay}/check-out",
        json={
            "folio": [
                {"category": "room", "amount": "2000.00"},
                {"category": "fnb", "amount": "300"},
            ]
        },
    )
    assert out["status"] == "checked_out"
    assert out["points_posted"] >= 2300
    assert [line["rule"] for line in out["breakdown"]][0:1]
    view = service.call("GET", f"/v1/members/{member}")
    assert view["balance"]["points"] == out["points_posted"]
    assert view["balance"]["incoming"] == 0
    assert "to gold" in view["progress"]["message"]
    # double check-out: 409, nothing changes
    again = service.call(
        "POST",
        f"/v1/stays/{stay}/check-out",
        expect=409,
        json={"folio": [{"category": "room", "amount": "1.00"}]},
    )
    assert again["error"]["code"] == "stay_already_checked_out"
    assert service.call("GET", "/v1/admin/ledger/verify", "admin")["ok"] is True


def test_cancel_voids_pending(service: Service) -> None:
    member = service.member()
    stay = _stay(service, member)
    service.call("POST", f"/v1/stays/{stay}/check-in", json={"room_id": ROOM})
    service.call("POST", f"/v1/stays/{stay}/cancel")
    view = service.call("GET", f"/v1/members/{member}")
    assert view["balance"] == {"points": 0, "available": 0, "held": 0, "incoming": 0}
    no_show = _stay(service, member)
    assert service.call("POST", f"/v1/stays/{no_show}/no-show")["status"] == "no_show"
    totals = service.call("GET", "/v1/admin/ledger/totals", "admin")
    assert all(t["balanced"] for t in totals)


def test_earn_dry_run_explains_and_writes_nothing(service: Service) -> None:
    member = service.member()
    body = {"member_id": member, "activity": "fnb", "amount": "500.00", "dry_run": True}
    dry = service.call("POST", "/v1/earn", json=body)
    assert dry["dry_run"] is True and dry["transfer_id"] is None
    assert dry["points"] > 0 and dry["breakdown"]
    assert service.call("GET", f"/v1/members/{member}")["balance"]["points"] == 0
    real = service.call("POST", "/v1/earn", json={**body, "dry_run": False})
    assert real["points"] == dry["points"]
    assert service.call("GET", f"/v1/members/{member}")["balance"]["points"] == dry["points"]


def _fund(service: Service, member: str, amount: str = "100000.00") -> int:
    # A long stay is the programme's way to a big balance.
    stay = _stay(service, member, nights=5)
    service.call("POST", f"/v1/stays/{stay}/check-in", json={"room_id": ROOM})
    out = service.call(
        "POST",
        f"/v1/stays/{stay}/check-out",
        json={"folio": [{"category": "room", "amount": amount}]},
    )
    return int(out["points_posted"])


def test_redeem_hold_confirm_cancel_and_expiry(service: Service) -> None:
    member = service.member()
    points = _fund(service, member)
    quote_body = {
        "member_id": member,
        "property_id": "sh01",
        "check_in": "2026-06-10",
        "nights": 1,
        "cash_rate": "600.00",
    }
    quote = service.call("POST", "/v1/redemptions/quote", json=quote_body)
    assert quote["points"] >= 5000 and quote["available"] == points
    held = service.call("POST", "/v1/redemptions", json=quote_body, expect=201)
    assert held["status"] == "held"
    view = service.call("GET", f"/v1/members/{member}")
    assert view["balance"]["held"] == quote["points"]
    assert view["balance"]["available"] == points - quote["points"]
    done = service.call("POST", f"/v1/redemptions/{held['id']}/confirm")
    assert done["status"] == "confirmed"
    assert (
        service.call("GET", f"/v1/members/{member}")["balance"]["points"]
        == points - quote["points"]
    )
    refund = service.call("POST", f"/v1/redemptions/{held['id']}/cancel")
    assert refund["status"] == "refunded"
    assert service.call("GET", f"/v1/members/{member}")["balance"]["points"] == points
    # an expired hold cannot be confirmed; the job voids it
    second = service.call("POST", "/v1/redemptions", json=quote_body, expect=201)
    service.clock.advance(seconds=3600)
    late = service.call("POST", f"/v1/redemptions/{second['id']}/confirm", expect=409)
    assert late["error"]["code"] == "hold_expired"
    job = service.call("POST", "/v1/jobs/expire-holds", "admin", json={})
    assert job["result"]["voided"] == 1
    assert service.call("GET", f"/v1/members/{member}")["balance"]["available"] == points
    # below the minimum, above the balance
    cheap = service.call(
        "POST", "/v1/redemptions/quote", json={**quote_body, "cash_rate": "10.00"}, expect=422
    )
    assert cheap["error"]["code"] == "below_minimum"
    dear = service.call(
        "POST",
        "/v1/redemptions",
        json={**quote_body, "nights": 30, "cash_rate": "9000"},
        expect=409,
    )
    assert dear["error"]["code"] == "insufficient_points"


def test_member_transfer_cap_and_partner_conversion(service: Service) -> None:
    alice, bob = service.member(), service.member()
    _fund(service, alice)
    sent = service.call(
        "POST", "/v1/transfers", json={"from_member_id": alice, "to_member_id": bob, "points": 6000}
    )
    assert sent["sent_this_year"] == 6000
    assert service.call("GET", f"/v1/members/{bob}")["balance"]["points"] == 6000
    over = service.call(
        "POST",
        "/v1/transfers",
        expect=409,
        json={"from_member_id": alice, "to_member_id": bob, "points": sent["annual_cap"]},
    )
    assert over["error"]["code"] == "annual_cap"
    partners = service.app.state.ctx.programme.partners
    name, partner = next(iter(partners.items()))
    lots = -(-max(partner.minimum_points, 1) // partner.points)
    conv = service.call(
        "POST",
        "/v1/partners/conversions",
        json={"member_id": bob, "partner": name, "points": lots * partner.points},
    )
    assert conv["units"] == partner.units * lots
    history = service.call("GET", f"/v1/members/{bob}/history")
    assert {e["code"] for e in history["entries"]} >= {"member_transfer", "partner_conversion"}
    assert service.call("GET", "/v1/admin/ledger/verify", "admin")["ok"] is True
