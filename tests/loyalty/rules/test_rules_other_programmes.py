"""The engine expresses other real programmes (REFERENCE.md): Marriott-like status by
nights with bonus on base points and inactivity expiry; Hilton-like nights OR stays OR
spend, with a top tier needing (nights OR stays) AND spend, and points & money in steps."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from loyalty.rules import (
    EarnLot,
    EarnMember,
    FolioLine,
    QualificationYear,
    StayEarnRequest,
    compute_earn,
    convert_to_partner,
    evaluate_tier,
    example_programme,
    expire,
    quote_redemption,
    tier_progress,
)

MARRIOTT = example_programme("marriott_like")
HILTON = example_programme("hilton_like")
JUNE = date(2026, 6, 1)


def ytd(spend: int = 0, nights: int = 0, stays: int = 0) -> list[QualificationYear]:
    return [QualificationYear(year=2026, spend=Decimal(spend), nights=nights, stays=stays)]


def one_night(amount: str) -> StayEarnRequest:
    return StayEarnRequest(
        check_in=JUNE,
        check_out=JUNE + timedelta(days=1),
        channel="direct",
        room_type="standard",
        lines=[FolioLine(category="room", amount=Decimal(amount))],
    )


def test_marriott_like_status_is_by_nights() -> None:
    assert evaluate_tier(MARRIOTT, "member", ytd(nights=9), JUNE).tier == "member"
    assert evaluate_tier(MARRIOTT, "member", ytd(nights=10), JUNE).tier == "silver"
    assert evaluate_tier(MARRIOTT, "member", ytd(99_000, nights=52), JUNE).tier == "platinum"
    # ambassador needs 100 nights AND 23,000 USD
    assert evaluate_tier(MARRIOTT, "titanium", ytd(22_000, nights=120), JUNE).tier == "titanium"
    assert evaluate_tier(MARRIOTT, "titanium", ytd(23_000, nights=100), JUNE).tier == "ambassador"
    progress = tier_progress(MARRIOTT, "titanium", ytd(20_000, nights=90)[0])
    assert progress.text == "10 nights and 3,000 USD to ambassador"


def test_marriott_like_status_is_reearned_every_year() -> None:
    history = [QualificationYear(year=2025, nights=12)]
    decision = evaluate_tier(MARRIOTT, "gold", history, date(2026, 1, 5))
    assert (decision.change, decision.tier) == ("downgrade", "silver")


def test_marriott_like_bonus_is_on_base_points() -> None:
    # 500 USD × 10 = 5,000 base; platinum +50% of base = 7,500
    breakdown = compute_earn(MARRIOTT, one_night("500"), EarnMember(tier="platinum"))
    assert breakdown.points == 7_500
    assert "elite_bonus" in [s.rule for s in breakdown.steps]
    assert "on the base points" in breakdown.explanation


def test_marriott_like_points_expire_after_24_months_of_inactivity() -> None:
    lots = [EarnLot(lot_id="l1", earned_at=date(2023, 1, 10), remaining=40_000)]
    assert expire(MARRIOTT, lots, date(2024, 6, 1), date(2026, 5, 31)) == []
    (action,) = expire(MARRIOTT, lots, date(2024, 6, 1), date(2026, 6, 1))
    assert (action.points, action.policy) == (40_000, "inactivity")


def test_marriott_like_airline_transfers_three_to_one() -> None:
    assert convert_to_partner(MARRIOTT, "airline", 60_000).units == 20_000


def test_hilton_like_qualifies_by_nights_or_stays_or_spend() -> None:
    assert evaluate_tier(HILTON, "member", ytd(stays=4), JUNE).tier == "silver"
    assert evaluate_tier(HILTON, "member", ytd(nights=10), JUNE).tier == "silver"
    assert evaluate_tier(HILTON, "member", ytd(spend=2_500), JUNE).tier == "silver"
    assert evaluate_tier(HILTON, "member", ytd(spend=6_000, stays=3), JUNE).tier == "gold"
    assert evaluate_tier(HILTON, "member", ytd(nights=50), JUNE).tier == "diamond"
    progress = tier_progress(HILTON, "member", ytd(1_000, nights=2, stays=1)[0])
    assert progress.text == "8 nights or 3 stays or 1,500 USD to silver"


def test_hilton_like_diamond_reserve_needs_nights_or_stays_and_spend() -> None:
    assert evaluate_tier(HILTON, "diamond", ytd(18_000, nights=80), JUNE).tier == "diamond_reserve"
    assert evaluate_tier(HILTON, "diamond", ytd(18_000, stays=40), JUNE).tier == "diamond_reserve"
    assert evaluate_tier(HILTON, "diamond", ytd(17_999, nights=90), JUNE).tier == "diamond"
    assert evaluate_tier(HILTON, "diamond", ytd(50_000, nights=79, stays=39), JUNE).tier == (
        "diamond"
    )
    progress = tier_progress(HILTON, "diamond", ytd(15_000, nights=50, stays=20)[0])
    assert progress.text == "3,000 USD and (30 nights or 20 stays) to diamond_reserve"


def test_hilton_like_earn_and_points_and_money() -> None:
    # 200 USD × 10 = 2,000 base; gold +80% of base = 3,600
    assert compute_earn(HILTON, one_night("200"), EarnMember(tier="gold")).points == 3_600
    quote = quote_redemption(HILTON, Decimal("60"), [JUNE], Decimal("0.5"))
    assert quote.total_points == 12_000
    assert [o.points for o in quote.options] == list(range(5_000, 12_001, 1_000))
    assert quote.options[0].cash == Decimal("35.00")  # 7,000 points × 0.005 USD
