"""The benefit catalogue and the pure rules that grant benefits (no database, no clock)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from loyalty.rules import default_programme, parse_programme
from loyalty.rules.benefits import (
    BenefitError,
    MemberFacts,
    StayFacts,
    Usage,
    includes_birthday,
    late_checkout_until,
    purchase,
    stay_entitlements,
)
from loyalty.rules.loader import ProgrammeError

CATALOGUE = default_programme().benefits
SHANGHAI = ZoneInfo("Asia/Shanghai")
STAY = StayFacts(check_in=date(2026, 11, 20), check_out=date(2026, 11, 23))


def codes(tier: str, **member: object) -> set[str]:
    facts = MemberFacts(tier=tier, **member)  # type: ignore[arg-type]
    return {e.code for e in stay_entitlements(CATALOGUE, facts, STAY)}


@pytest.mark.parametrize(
    ("tier", "expected"),
    [
        ("silver", set()),
        ("gold", {"breakfast", "room_upgrade"}),
        ("platinum", {"breakfast", "room_upgrade", "lounge", "late_checkout", "signature_scene"}),
        (
            "diamond",
            {
                "breakfast",
                "room_upgrade",
                "lounge",
                "late_checkout",
                "signature_scene",
                "welcome_amenity",
                "concierge",
                "airport_transfer",
            },
        ),
    ],
)
def test_default_catalogue_follows_the_product_owners_tier_table(
    tier: str, expected: set[str]
) -> None:
    assert codes(tier) == expected


def test_birthday_gift_only_on_a_stay_that_includes_the_birthday() -> None:
    assert "birthday_gift" in codes("silver", birthday=date(1990, 11, 22))
    assert "birthday_gift" in codes("silver", birthday=date(1990, 11, 23))  # check-out day
    assert "birthday_gift" not in codes("silver", birthday=date(1990, 11, 24))
    assert "birthday_gift" not in codes("silver")


def test_leap_day_birthday_is_celebrated_on_28_february_in_common_years() -> None:
    stay = StayFacts(check_in=date(2027, 2, 27), check_out=date(2027, 2, 28))
    assert includes_birthday(stay, date(2000, 2, 29))
    assert not includes_birthday(StayFacts(date(2028, 2, 27), date(2028, 2, 28)), date(2000, 2, 29))


def test_breakfast_scales_with_nights_and_costs_add_up() -> None:
    (breakfast,) = [
        e
        for e in stay_entitlements(CATALOGUE, MemberFacts(tier="gold"), STAY)
        if e.code == "breakfast"
    ]
    assert breakfast.quantity == 3
    assert breakfast.total_cost() == Decimal("360")
    assert breakfast.source == "tier:gold"


def test_yearly_limit_caps_and_then_drops_a_benefit() -> None:
    diamond = MemberFacts(tier="diamond")
    (transfer,) = [
        e
        for e in stay_entitlements(CATALOGUE, diamond, STAY, Usage({"airport_transfer": 11}))
        if e.code == "airport_transfer"
    ]
    assert transfer.quantity == 1
    used_up = stay_entitlements(CATALOGUE, diamond, STAY, Usage({"airport_transfer": 12}))
    assert "airport_transfer" not in {e.code for e in used_up}


def test_experience_bought_with_points_within_capacity() -> None:
    bought = purchase(CATALOGUE, "chefs_table", MemberFacts(tier="silver"), STAY, quantity=2)
    assert bought.points_paid == 60000
    assert bought.source == "purchase"


@pytest.mark.parametrize(
    ("code", "kwargs", "error"),
    [
        ("no_such_thing", {}, "unknown_benefit"),
        ("lounge", {}, "not_purchasable"),
        ("chefs_table", {"quantity": 3}, "limit_per_stay"),
        ("chefs_table", {"quantity": 0}, "bad_quantity"),
        ("chefs_table", {"booked_on_day": 7, "quantity": 2}, "capacity_exhausted"),
    ],
)
def test_purchases_the_catalogue_does_not_allow_are_refused(
    code: str, kwargs: dict[str, int], error: str
) -> None:
    with pytest.raises(BenefitError) as refused:
        purchase(CATALOGUE, code, MemberFacts(tier="silver"), STAY, **kwargs)  # type: ignore[arg-type]
    assert refused.value.code == error
    assert code in str(refused.value) or error == "bad_quantity"


def test_late_checkout_respects_the_next_arrival() -> None:
    (late,) = [
        e
        for e in stay_entitlements(CATALOGUE, MemberFacts(tier="platinum"), STAY)
        if e.code == "late_checkout"
    ]
    expected = datetime(2026, 11, 23, 16, 0, tzinfo=SHANGHAI)
    assert late_checkout_until(late, STAY.check_out, None, tz=SHANGHAI) == expected
    evening = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)  # 18:00 in Shanghai
    assert late_checkout_until(late, STAY.check_out, evening, tz=SHANGHAI) == expected
    with pytest.raises(BenefitError) as refused:
        late_checkout_until(late, STAY.check_out, evening - timedelta(hours=1), tz=SHANGHAI)
    assert refused.value.code == "late_checkout_conflict"
    assert "15:00" in str(refused.value)


@given(
    tier=st.sampled_from(["silver", "gold", "platinum", "diamond"]),
    nights=st.integers(min_value=0, max_value=40),
    used=st.dictionaries(
        st.sampled_from([b.code for b in CATALOGUE]), st.integers(min_value=0, max_value=50)
    ),
)
def test_grants_never_exceed_limits_and_higher_tiers_never_get_less(
    tier: str, nights: int, used: dict[str, int]
) -> None:
    stay = StayFacts(date(2026, 6, 1), date(2026, 6, 1) + timedelta(days=nights))
    granted = stay_entitlements(CATALOGUE, MemberFacts(tier=tier), stay, Usage(used))
    by_code = {b.code: b for b in CATALOGUE}
    for entitlement in granted:
        limits = by_code[entitlement.code].limits
        assert entitlement.quantity >= 1
        if limits.per_year is not None:
            assert entitlement.quantity + used.get(entitlement.code, 0) <= limits.per_year
        cap = limits.per_stay * (max(nights, 1) if limits.per_night else 1)
        assert entitlement.quantity <= cap
    tiers = ["silver", "gold", "platinum", "diamond"]
    above = tiers[min(tiers.index(tier) + 1, 3)]
    higher = {
        e.code for e in stay_entitlements(CATALOGUE, MemberFacts(tier=above), stay, Usage(used))
    }
    assert {e.code for e in granted} <= higher


BASE = """
name = "t"
[[tiers]]
name = "silver"
[[tiers]]
name = "gold"
qualify = { spend = 100 }
"""


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (
            'code = "x"\nnames = { en = "X", zh = "X" }\nfulfilment = "staff"\n'
            'eligible = { tiers = ["bronze"] }\nunit_cost = 1',
            "unknown tier 'bronze'",
        ),
        (
            'code = "x"\nnames = { en = "X", zh = "X" }\nfulfilment = "staff"\n'
            "eligible = {}\nunit_cost = 1",
            "granted to nobody",
        ),
        (
            'code = "x"\nnames = { en = "X", zh = "X" }\nfulfilment = "room"\n'
            'eligible = { tiers = ["gold"] }\nunit_cost = 1',
            "says nothing of what the room does",
        ),
        (
            'code = "x"\nnames = { en = "X" }\nfulfilment = "staff"\n'
            'eligible = { tiers = ["gold"] }\nunit_cost = 1',
            "zh",
        ),
        (
            'code = "x"\nnames = { en = "X", zh = "X" }\nfulfilment = "staff"\n'
            'eligible = { tiers = ["gold"] }\nunit_cost = -1',
            "unit_cost",
        ),
        (
            'code = "x"\nnames = { en = "X", zh = "X" }\nfulfilment = "room"\n'
            'eligible = { tiers = ["gold"] }\nunit_cost = 1\nroom = { action = "late_checkout" }',
            "until",
        ),
    ],
)
def test_bad_catalogue_entries_are_named(entry: str, message: str) -> None:
    with pytest.raises(ProgrammeError) as bad:
        parse_programme(BASE + "[[benefits]]\n" + entry + "\n", source="t.toml")
    assert message in str(bad.value)


def test_duplicate_codes_are_refused() -> None:
    entry = (
        '[[benefits]]\ncode = "x"\nnames = { en = "X", zh = "X" }\nfulfilment = "staff"\n'
        'eligible = { tiers = ["gold"] }\nunit_cost = 1\n'
    )
    with pytest.raises(ProgrammeError, match="defined twice"):
        parse_programme(BASE + entry + entry)
