"""Award nights are for dates a property can still serve: not before its today in its own
time zone (quote, hold and confirm), not past the programme's stay calendar."""

from __future__ import annotations

import tomllib
from datetime import UTC, datetime
from pathlib import Path

from service_harness import PROPERTY, ROOM, Service

from loyalty.board.setup import PropertySetup, import_property

SETUP = Path(__file__).resolve().parents[2] / "examples" / "board" / "SHA-01.toml"


def _funded(service: Service) -> str:
    member = service.member()
    now = service.clock.now()
    stay = {
        "member_id": member,
        "property_id": PROPERTY,
        "arrival": now.isoformat(),
        "departure": now.replace(day=now.day + 5).isoformat(),
        "nightly_rate": "20000.00",
    }
    stay_id = service.call("POST", "/v1/stays", json=stay, expect=201)["id"]
    service.call("POST", f"/v1/stays/{stay_id}/check-in", json={"room_id": ROOM})
    folio = {"folio": [{"category": "room", "amount": "100000.00"}]}
    service.call("POST", f"/v1/stays/{stay_id}/check-out", json=folio)
    return member


def _award(member: str, check_in: str, property_id: str = PROPERTY, nights: int = 1) -> dict:
    return {
        "member_id": member,
        "property_id": property_id,
        "check_in": check_in,
        "nights": nights,
        "cash_rate": "600.00",
    }


def test_no_award_nights_before_the_propertys_today(service: Service) -> None:
    member = _funded(service)
    # 17:00 UTC on 3 March is already 01:00 on 4 March in Shanghai (the group's zone).
    service.clock.set(datetime(2026, 3, 3, 17, 0, tzinfo=UTC))
    for path, expect in (("/v1/redemptions/quote", 200), ("/v1/redemptions", 201)):
        for day in ("2026-03-02", "2026-03-03"):
            out = service.call("POST", path, json=_award(member, day), expect=422)
            assert (out["error"]["code"], out["error"]["field"]) == (
                "check_in_in_the_past",
                "check_in",
            )
            assert "2026-03-04" in out["error"]["message"]
        service.call("POST", path, json=_award(member, "2026-03-04"), expect=expect)
    assert service.call("GET", f"/v1/members/{member}")["balance"]["held"] > 0


def test_a_hold_for_a_night_gone_by_cannot_be_confirmed(sqlite_service: Service) -> None:
    service = sqlite_service
    member = _funded(service)
    service.clock.set(datetime(2026, 3, 4, 15, 50, tzinfo=UTC))  # 23:50 on 4 March, Shanghai
    held = service.call("POST", "/v1/redemptions", json=_award(member, "2026-03-04"), expect=201)
    service.clock.set(datetime(2026, 3, 4, 16, 0, 30, tzinfo=UTC))  # past midnight there
    late = service.call("POST", f"/v1/redemptions/{held['id']}/confirm", expect=409)
    assert late["error"]["code"] == "check_in_passed"
    assert service.call("GET", f"/v1/redemptions/{held['id']}")["status"] == "held"
    service.call("POST", f"/v1/redemptions/{held['id']}/cancel")


def test_the_propertys_own_time_zone_counts(sqlite_service: Service) -> None:
    service = sqlite_service
    member = _funded(service)
    text = SETUP.read_text().replace('"Asia/Shanghai"', '"America/Los_Angeles"')
    setup = PropertySetup.model_validate(tomllib.loads(text))
    assert setup.timezone == "America/Los_Angeles"
    with service.app.state.ctx.engine.begin() as conn:
        import_property(conn, setup, service.clock.now())
    # 17:00 UTC on 3 March: 4 March in Shanghai, still 3 March (09:00) in Los Angeles
    service.clock.set(datetime(2026, 3, 3, 17, 0, tzinfo=UTC))
    ok = _award(member, "2026-03-03", property_id=setup.property_id)
    service.call("POST", "/v1/redemptions/quote", json=ok)
    out = service.call(
        "POST", "/v1/redemptions/quote", json=_award(member, "2026-03-03"), expect=422
    )
    assert out["error"]["code"] == "check_in_in_the_past"


def test_no_award_nights_past_the_stay_calendar(service: Service) -> None:
    """The default programme dates Spring Festival for 2026 and 2027 only: a night in 2028
    would be priced off-peak by mistake, so it is refused until the calendar is extended."""
    member = _funded(service)
    service.call("POST", "/v1/redemptions/quote", json=_award(member, "2027-12-31"))
    for day, nights in (("2028-01-01", 1), ("2027-12-30", 3)):
        out = service.call(
            "POST", "/v1/redemptions/quote", json=_award(member, day, nights=nights), expect=422
        )
        assert (out["error"]["code"], out["error"]["field"]) == ("beyond_calendar", "check_in")
        assert "2027-12-31" in out["error"]["message"]
        service.call("POST", "/v1/redemptions", json=_award(member, day, nights=nights), expect=422)
    assert service.call("GET", f"/v1/members/{member}")["balance"]["held"] == 0
