"""The service's seam to the programme rules: tiers, transfer caps and partner ratios come
from `loyalty.rules`, and a rules refusal becomes one precise ApiError (status, code,
field). Pure tests, plus the HTTP path over a real socket (bad amounts change nothing)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from service_harness import Service
from test_loyalty_flow import _fund

from loyalty.errors import ApiError
from loyalty.rules import (
    Programme,
    QualificationYear,
    default_programme,
    evaluate_tier,
    example_programme,
    tier_progress,
)
from loyalty.services import rules_adapter

PROGRAMMES = {
    "default": default_programme(),
    "marriott_like": example_programme("marriott_like"),
    "hilton_like": example_programme("hilton_like"),
}
spend = st.decimals(min_value=0, max_value=400_000, places=2)
count = st.integers(min_value=0, max_value=150)


@settings(max_examples=150, deadline=None)
@given(name=st.sampled_from(sorted(PROGRAMMES)), spend=spend, nights=count, stays=count)
def test_immediate_upgrade_agrees_with_the_year_end_rules(
    name: str, spend: Decimal, nights: int, stays: int
) -> None:
    """The tier a check-out upgrades to is the tier `evaluate_tier` gives an entry-tier
    member with the same year to date (AND/OR criteria included)."""
    programme = PROGRAMMES[name]
    entry = programme.tier_names[0]
    year = QualificationYear(year=2026, spend=spend, nights=nights, stays=stays)
    decision = evaluate_tier(programme, entry, [year], date(2026, 12, 31))
    assert rules_adapter.qualified_tier(programme, spend, nights, stays, 2026) == decision.tier


@settings(max_examples=60, deadline=None)
@given(name=st.sampled_from(sorted(PROGRAMMES)), spend=spend, nights=count, stays=count)
def test_progress_is_the_rules_text_and_unknown_tiers_read_as_entry(
    name: str, spend: Decimal, nights: int, stays: int
) -> None:
    programme = PROGRAMMES[name]
    year = QualificationYear(year=2026, spend=spend, nights=nights, stays=stays)
    for tier in programme.tier_names:
        expected = tier_progress(programme, tier, year)
        got = rules_adapter.progress_message(programme, tier, spend, nights, stays, 2026)
        assert got == (expected.next_tier, expected.text)
    retired = rules_adapter.progress_message(programme, "retired_tier", spend, nights, stays)
    entry = tier_progress(programme, programme.tier_names[0], year)
    assert retired == (entry.next_tier, entry.text)


def _refusal(programme: Programme, points: int, sent: int, balance: int) -> ApiError:
    with pytest.raises(ApiError) as caught:
        rules_adapter.transfer_allowed(programme, points, sent_this_year=sent, balance=balance)
    return caught.value


def test_transfer_refusals_map_to_one_status_code_and_field() -> None:
    programme = default_programme()  # minimum 1,000, steps of 100, cap 50,000
    cases = {
        (900, 0, 10_000): (422, "below_minimum"),
        (1_050, 0, 10_000): (422, "not_in_steps"),
        (6_000, 45_000, 99_000): (409, "annual_cap"),
        (6_000, 0, 5_999): (409, "insufficient_points"),
    }
    for (points, sent, balance), (status, code) in cases.items():
        error = _refusal(programme, points, sent, balance)
        assert (error.status, error.code, error.field) == (status, code, "points")
    assert "fix: 1,000 or 1,100" in _refusal(programme, 1_050, 0, 10_000).message
    off = programme.model_copy(
        update={"transfers": programme.transfers.model_copy(update={"enabled": False})}
    )
    error = _refusal(off, 6_000, 0, 10_000)
    assert (error.status, error.code) == (409, "transfers_disabled")


@settings(max_examples=100, deadline=None)
@given(
    points=st.integers(min_value=1, max_value=200_000),
    sent=st.integers(min_value=0, max_value=60_000),
    balance=st.integers(min_value=0, max_value=200_000),
)
def test_a_transfer_passes_exactly_when_every_rule_allows_it(
    points: int, sent: int, balance: int
) -> None:
    rules = default_programme().transfers
    allowed = (
        points >= rules.minimum_points
        and points % rules.step_points == 0
        and sent + points <= rules.annual_cap_points
        and points <= balance
    )
    programme = default_programme()
    if not allowed:
        with pytest.raises(ApiError) as caught:
            rules_adapter.transfer_allowed(programme, points, sent_this_year=sent, balance=balance)
        assert caught.value.status in (409, 422)
        return
    check = rules_adapter.transfer_allowed(programme, points, sent_this_year=sent, balance=balance)
    assert check.remaining_cap == rules.annual_cap_points - sent - points


@settings(max_examples=100, deadline=None)
@given(points=st.integers(min_value=1, max_value=100_000))
def test_partner_conversion_keeps_nothing_back(points: int) -> None:
    programme = default_programme()
    partner = programme.partners["airline_miles"]
    if points < partner.minimum_points or points % partner.points:
        with pytest.raises(ApiError) as caught:
            rules_adapter.partner_conversion(programme, "airline_miles", points)
        assert (caught.value.status, caught.value.field) == (422, "points")
        assert caught.value.code in ("below_minimum", "not_in_steps")
        return
    conversion = rules_adapter.partner_conversion(programme, "airline_miles", points)
    assert conversion.units * partner.points == points * partner.units
    assert conversion.unit_name == partner.unit_name


def test_unknown_partner_names_the_known_ones() -> None:
    with pytest.raises(ApiError) as caught:
        rules_adapter.partner_conversion(default_programme(), "rail_points", 9_000)
    assert (caught.value.status, caught.value.code, caught.value.field) == (
        422,
        "unknown_partner",
        "partner",
    )
    assert "airline_miles" in caught.value.message


def test_refused_exchanges_over_http_change_nothing(sqlite_service: Service) -> None:
    service = sqlite_service
    alice, bob = service.member(), service.member()
    _fund(service, alice, "9000.00")
    before = [service.call("GET", f"/v1/members/{m}")["balance"] for m in (alice, bob)]
    transfer = {"from_member_id": alice, "to_member_id": bob}
    convert = {"member_id": alice, "partner": "airline_miles"}
    refusals: list[tuple[str, dict[str, Any], int, str, str]] = [
        (
            "/v1/transfers",
            {**transfer, "points": 1_050},
            422,
            "not_in_steps",
            "fix: 1,000 or 1,100",
        ),
        ("/v1/transfers", {**transfer, "points": 40_000}, 409, "insufficient_points", "40,000"),
        ("/v1/partners/conversions", {**convert, "points": 3_001}, 422, "not_in_steps", "3,003"),
        ("/v1/partners/conversions", {**convert, "partner": "rail"}, 422, "unknown_partner", "air"),
    ]
    for path, body, status, code, hint in refusals:
        error = service.call("POST", path, json={"points": 3_000, **body}, expect=status)["error"]
        assert error["code"] == code
        assert hint in error["message"]
        assert error["field"] == ("partner" if code == "unknown_partner" else "points")
    after = [service.call("GET", f"/v1/members/{m}")["balance"] for m in (alice, bob)]
    assert after == before
    # the refused transfers did not use up any of the annual cap
    sent = service.call("POST", "/v1/transfers", json={**transfer, "points": 9_000})
    assert sent["sent_this_year"] == 9_000
    assert service.call("GET", "/v1/admin/ledger/verify", "admin")["ok"] is True
