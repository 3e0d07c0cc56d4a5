"""Earning: the issue's numbers as worked examples, and properties of the stacking."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from loyalty.rules import (
    ActivityEarnRequest,
    EarnError,
    EarnMember,
    FolioLine,
    StayEarnRequest,
    compute_earn,
    default_programme,
    earn_limit_window,
    parse_programme,
)

PROGRAMME = default_programme()
OFF_PEAK = date(2026, 11, 20)  # late_autumn off-peak season
SHOULDER = date(2026, 6, 10)  # no season


def stay(
    amount: str | Decimal = "1000",
    *,
    check_in: date = SHOULDER,
    nights: int = 1,
    channel: str = "ota",
    room_type: str = "standard",
    extra: list[FolioLine] | None = None,
) -> StayEarnRequest:
    return StayEarnRequest(
        check_in=check_in,
        check_out=check_in + timedelta(days=nights),
        channel=channel,
        room_type=room_type,
        lines=[FolioLine(category="room", amount=Decimal(amount)), *(extra or [])],
    )


@pytest.mark.parametrize(
    ("tier", "expected"),
    [("silver", 1000), ("gold", 1200), ("platinum", 1500), ("diamond", 2000)],
)
def test_base_earn_by_tier(tier: str, expected: int) -> None:
    breakdown = compute_earn(PROGRAMME, stay("1000"), EarnMember(tier=tier))
    assert breakdown.points == expected
    assert breakdown.qualifying_spend == Decimal(1000)
    assert breakdown.qualifying_nights == 1
    assert breakdown.qualifying_stays == 1


def test_worked_example_everything_stacks_in_declared_order() -> None:
    """Gold member, 3 off-peak nights booked direct in a suite: 3,500 CNY eligible
    → 3,500 × 1.2 × 1.2 × 1.2 × 1.5 = 9,072 points."""
    request = stay(
        "3000",
        check_in=OFF_PEAK,
        nights=3,
        channel="direct",
        room_type="suite",
        extra=[
            FolioLine(category="fnb", amount=Decimal("500")),
            FolioLine(category="tax", amount=Decimal("210")),
        ],
    )
    breakdown = compute_earn(PROGRAMME, request, EarnMember(tier="gold"))
    assert breakdown.points == 9072
    assert [(s.rule, s.points) for s in breakdown.steps] == [
        ("excluded:tax", Decimal("0.00")),
        ("base", Decimal("3500.00")),
        ("tier", Decimal("700.00")),
        ("off_peak", Decimal("840.00")),
        ("direct_booking", Decimal("1008.00")),
        ("premium_room", Decimal("3024.00")),
    ]
    assert breakdown.eligible_amount == Decimal(3500)
    assert breakdown.qualifying_spend == Decimal(3500)
    assert breakdown.qualifying_nights == 3
    text = breakdown.explanation
    assert "tax (210 CNY) does not earn points" in text
    assert "base: 1 point per CNY on 3,500 CNY eligible spend (room 3,000, fnb 500)" in text
    assert "tier gold x1.2 on the running total: +700 points" in text
    assert "premium_room x1.5 on the running total: +3,024 points" in text


def test_diamond_maximum_stays_under_the_cost_ceiling() -> None:
    request = stay("10000", check_in=OFF_PEAK, channel="app", room_type="suite")
    breakdown = compute_earn(PROGRAMME, request, EarnMember(tier="diamond"))
    assert breakdown.points == 43200  # 10,000 × 2 × 1.2 × 1.2 × 1.5 = 4.32x < 5x cap
    assert all(step.kind != "cap" for step in breakdown.steps)


def test_off_peak_applies_pro_rata_to_the_nights_in_season() -> None:
    # 2026-11-08, 09 are outside late_autumn (from 11-10); 10, 11 inside: half the nights.
    request = stay("1000", check_in=date(2026, 11, 8), nights=4)
    breakdown = compute_earn(PROGRAMME, request, EarnMember(tier="silver"))
    assert breakdown.points == 1100  # 1000 × (1 + 0.2 × 2/4)
    (step,) = [s for s in breakdown.steps if s.rule == "off_peak"]
    assert "on 2 of 4 nights" in step.explanation


def test_skipped_multipliers_say_why() -> None:
    breakdown = compute_earn(PROGRAMME, stay("100"), EarnMember(tier="silver"))
    reasons = {s.rule: s.explanation for s in breakdown.steps if s.kind == "skipped"}
    assert "no date in season off_peak" in reasons["off_peak"]
    assert "booking channel ota is not one of direct" in reasons["direct_booking"]
    assert "room type standard is not one of" in reasons["premium_room"]
    assert reasons["tier"] == "tier silver x1: no bonus"


def test_rounding_is_a_single_floor_at_the_end() -> None:
    # 0.99 CNY at gold: 0.99 × 1.2 = 1.188 → 1 point; nothing is rounded per step.
    breakdown = compute_earn(PROGRAMME, stay("0.99"), EarnMember(tier="gold"))
    assert breakdown.points == 1
    assert breakdown.exact_points == Decimal("1.1880")
    # 333.33 at platinum, off-peak, direct: 333.33 × 1.5 × 1.2 × 1.2 = 719.9928 → 719
    request = stay("333.33", check_in=OFF_PEAK, channel="direct")
    assert compute_earn(PROGRAMME, request, EarnMember(tier="platinum")).points == 719


def test_non_stay_earning_and_its_period_limit() -> None:
    member = EarnMember(tier="gold", earned_this_period={"fnb": 49_500})
    request = ActivityEarnRequest(kind="fnb", on=date(2026, 3, 5), amount=Decimal("800"))
    breakdown = compute_earn(PROGRAMME, request, member)
    assert breakdown.points == 500  # 960 earned, 500 left under the 50,000/year limit
    assert breakdown.steps[-1].kind == "limit"
    assert "limit: 50,000 fnb points per year, 49,500 already earned" in breakdown.explanation
    assert breakdown.limit_window == (date(2026, 1, 1), date(2027, 1, 1))
    assert breakdown.qualifying_spend == Decimal(800)  # dining counts toward tier spend


def test_fixed_point_activities_and_lifetime_limit() -> None:
    request = ActivityEarnRequest(kind="profile_completion", on=date(2026, 3, 5))
    first = compute_earn(PROGRAMME, request, EarnMember(tier="silver"))
    assert first.points == 500
    again = compute_earn(
        PROGRAMME,
        request,
        EarnMember(tier="silver", earned_this_period={"profile_completion": 500}),
    )
    assert again.points == 0
    assert earn_limit_window(PROGRAMME, "profile_completion", date(2026, 3, 5)) == (
        date.min,
        date.max,
    )
    survey = ActivityEarnRequest(kind="survey", on=date(2026, 3, 5))
    assert compute_earn(PROGRAMME, survey, EarnMember(tier="diamond")).points == 100
    partner = ActivityEarnRequest(kind="partner", on=date(2026, 3, 5), amount=Decimal("999"))
    result = compute_earn(PROGRAMME, partner, EarnMember(tier="diamond"))
    assert result.points == 499  # 0.5 per CNY, no tier bonus on partner spend
    assert result.qualifying_spend == 0


@pytest.mark.parametrize(
    ("request_", "member", "code"),
    [
        (stay("10"), EarnMember(tier="bronze"), "unknown_tier"),
        (
            ActivityEarnRequest(kind="casino", on=SHOULDER, amount=Decimal(1)),
            EarnMember(tier="gold"),
            "unknown_kind",
        ),
        (stay("1000001"), EarnMember(tier="gold"), "amount_too_large"),
        (
            ActivityEarnRequest(kind="fnb", on=SHOULDER, amount=Decimal("2000000")),
            EarnMember(tier="gold"),
            "amount_too_large",
        ),
    ],
)
def test_refusals_are_precise(
    request_: StayEarnRequest | ActivityEarnRequest, member: EarnMember, code: str
) -> None:
    with pytest.raises(EarnError) as caught:
        compute_earn(PROGRAMME, request_, member)
    assert caught.value.code == code


def test_malformed_requests_do_not_validate() -> None:
    with pytest.raises(ValidationError, match="at least one day after"):
        stay("1", nights=0)
    with pytest.raises(ValidationError, match="greater than or equal to 0"):
        stay("-5")
    with pytest.raises(ValidationError, match="needs a StayEarnRequest"):
        ActivityEarnRequest(kind="stay", on=SHOULDER)
    with pytest.raises(ValidationError, match="decimal places"):
        stay("1.001")
    with pytest.raises(ValidationError, match="Extra inputs"):
        StayEarnRequest.model_validate({**stay().model_dump(), "bonus": 5})


# --- properties ------------------------------------------------------------------------------

amounts = st.decimals(min_value=0, max_value=100_000, places=2, allow_nan=False)
tiers = st.sampled_from(PROGRAMME.tier_names)
days = st.dates(min_value=date(2025, 1, 1), max_value=date(2028, 12, 31))
channels = st.sampled_from(["direct", "app", "ota", "gds"])
rooms = st.sampled_from(["standard", "suite", "executive"])


@settings(max_examples=150, deadline=None)
@given(amounts, amounts, tiers, days, st.integers(1, 14), channels, rooms)
def test_stay_earn_is_monotonic_and_non_negative(
    a: Decimal, b: Decimal, tier: str, day: date, nights: int, channel: str, room: str
) -> None:
    low, high = sorted((a, b))
    member = EarnMember(tier=tier)

    def points(amount: Decimal) -> int:
        request = stay(amount, check_in=day, nights=nights, channel=channel, room_type=room)
        return compute_earn(PROGRAMME, request, member).points

    points_low, points_high = points(low), points(high)
    assert 0 <= points_low <= points_high
    assert points_high <= high * 5  # never beyond the combined 5x cap


@settings(max_examples=100, deadline=None)
@given(amounts, amounts, tiers, st.integers(0, 60_000), st.sampled_from(["fnb", "spa", "partner"]))
def test_activity_earn_is_monotonic_and_respects_its_limit(
    a: Decimal, b: Decimal, tier: str, already: int, kind: str
) -> None:
    low, high = sorted((a, b))
    member = EarnMember(tier=tier, earned_this_period={kind: already})
    limit = PROGRAMME.earn.activities[kind].limit
    assert limit is not None
    results = [
        compute_earn(
            PROGRAMME, ActivityEarnRequest(kind=kind, on=SHOULDER, amount=x), member
        ).points
        for x in (low, high)
    ]
    assert 0 <= results[0] <= results[1]
    assert results[1] <= max(0, limit.points - already)


def programme_with(multipliers: Sequence[tuple[str, str, int | None]], combined: str | None) -> str:
    text = 'name = "P"\n[[tiers]]\nname = "base"\n[earn]\n'
    if combined:
        text += f"max_combined_multiplier = {combined}\n"
    for i, (factor, applies_to, cap) in enumerate(multipliers):
        text += (
            f'[[earn.multipliers]]\nname = "m{i}"\nfactor = {factor}\napplies_to = "{applies_to}"\n'
        )
        if cap is not None:
            text += f"max_bonus_points = {cap}\n"
    return text


multiplier_specs = st.lists(
    st.tuples(
        st.decimals(min_value=1, max_value=3, places=2).map(str),
        st.sampled_from(["running", "base"]),
        st.none() | st.integers(0, 5000),
    ),
    max_size=5,
)


@settings(max_examples=150, deadline=None)
@given(
    multiplier_specs,
    st.none() | st.decimals(min_value=1, max_value=6, places=1).map(str),
    amounts,
)
def test_multipliers_stack_in_declared_order_and_caps_hold(
    specs: list[tuple[str, str, int | None]], combined: str | None, amount: Decimal
) -> None:
    programme = parse_programme(programme_with(specs, combined))
    breakdown = compute_earn(programme, stay(amount), EarnMember(tier="base"))
    steps = [s for s in breakdown.steps if s.kind in ("multiplier", "skipped")]
    assert [s.rule for s in steps] == [f"m{i}" for i in range(len(specs))]

    # an independent model of the rules: compound or base share, per-step cap, overall cap
    base = Fraction(amount)
    running = base
    for factor, applies_to, cap in specs:
        bonus = (running if applies_to == "running" else base) * (Fraction(Decimal(factor)) - 1)
        if cap is not None:
            bonus = min(bonus, Fraction(cap))
        running += bonus
    if combined is not None:
        running = min(running, base * Fraction(Decimal(combined)))
    assert breakdown.points == int(running)  # floor (running ≥ 0)

    for step, (_, _, cap) in zip(steps, specs, strict=True):
        if cap is not None:
            assert step.points <= cap
    if combined is not None:
        assert breakdown.points <= base * Fraction(Decimal(combined))


@settings(max_examples=60, deadline=None)
@given(multiplier_specs)
def test_uncapped_compounding_does_not_depend_on_order(
    specs: list[tuple[str, str, int | None]],
) -> None:
    compounding = [(f, "running", None) for f, _, _ in specs]
    forward = parse_programme(programme_with(compounding, None))
    backward = parse_programme(programme_with(list(reversed(compounding)), None))
    request, member = stay("1234.56"), EarnMember(tier="base")
    assert (
        compute_earn(forward, request, member).points
        == compute_earn(backward, request, member).points
    )


def test_a_multiplier_can_be_limited_to_folio_categories() -> None:
    """`when.categories`: direct booking and premium room multiply the room line only; the
    tier and off-peak steps still multiply every line. The worked example drops from 9,072
    to 8,496 points (room 5,184 → 7,776; fnb 720 stays 720)."""
    data = PROGRAMME.model_dump(mode="python")
    for mult in data["earn"]["multipliers"]:
        if mult["name"] in ("direct_booking", "premium_room"):
            mult["when"]["categories"] = ["room"]
    limited = type(PROGRAMME).model_validate(data)
    request = stay(
        "3000",
        check_in=OFF_PEAK,
        nights=3,
        channel="direct",
        room_type="suite",
        extra=[FolioLine(category="fnb", amount=Decimal("500"))],
    )
    breakdown = compute_earn(limited, request, EarnMember(tier="gold"))
    assert [(s.rule, s.points) for s in breakdown.steps] == [
        ("base", Decimal("3500.00")),
        ("tier", Decimal("700.00")),
        ("off_peak", Decimal("840.00")),
        ("direct_booking", Decimal("864.00")),
        ("premium_room", Decimal("2592.00")),
    ]
    assert breakdown.points == 8496
    assert "premium_room x1.5 on the running total of room" in breakdown.explanation
    spa = [FolioLine(category="spa", amount=Decimal("800"))]
    spa_only = stay("0", check_in=OFF_PEAK, channel="direct", room_type="suite", extra=spa)
    skipped = compute_earn(limited, spa_only, EarnMember(tier="silver"))
    direct = next(s for s in skipped.steps if s.rule == "direct_booking")
    assert direct.kind == "skipped" and "no room spend on this folio" in direct.explanation
    assert compute_earn(PROGRAMME, request, EarnMember(tier="gold")).points == 8496 + 576


def test_a_multiplier_naming_a_category_that_does_not_earn_is_refused() -> None:
    from pathlib import Path

    import loyalty.rules

    text = (Path(loyalty.rules.__file__).parent / "default_programme.toml").read_text()
    bad = text.replace(
        'when = { room_types = ["executive", "premium", "suite"] }',
        'when = { room_types = ["executive", "premium", "suite"], categories = ["parking"] }',
    )
    assert bad != text
    from loyalty.rules.loader import ProgrammeError

    with pytest.raises(ProgrammeError) as refused:
        parse_programme(bad, source="p.toml")
    [problem] = refused.value.details
    assert problem.line is not None and "earn.multipliers" in problem.where
    assert "names folio category 'parking', which does not earn" in problem.message
