"""Award pricing: cash rate at 0.01 CNY per point, peak +20%, inventory factor, the
5,000-point minimum, points + cash in steps."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loyalty.rules import (
    RedemptionError,
    default_programme,
    example_programme,
    parse_programme,
    quote_redemption,
)

PROGRAMME = default_programme()
PLAIN = date(2026, 6, 10)  # no season
GOLDEN_WEEK = date(2026, 10, 2)


def nights(start: date, count: int) -> list[date]:
    return [start + timedelta(days=i) for i in range(count)]


def test_plain_night_is_the_cash_rate_at_a_cent_per_point() -> None:
    quote = quote_redemption(PROGRAMME, Decimal("800"), [PLAIN], Decimal("0.55"))
    assert quote.total_points == 80_000
    assert quote.nights[0].explanation == (
        "2026-06-10: 800 CNY / 0.01 per point rounded up to 100 = 80,000 points"
    )
    assert quote.cash_value == Decimal(800)


def test_peak_dates_cost_twenty_percent_more() -> None:
    quote = quote_redemption(PROGRAMME, Decimal("800"), [GOLDEN_WEEK], Decimal("0.55"))
    assert quote.total_points == 96_000
    assert quote.nights[0].seasons == ["peak"]
    assert quote.nights[0].season_factor == Decimal("1.2")


@pytest.mark.parametrize(
    ("occupancy", "points"),
    [("0.10", 64_000), ("0.40", 64_000), ("0.41", 80_000), ("0.85", 92_000), ("0.99", 104_000)],
)
def test_inventory_factor_follows_the_occupancy_forecast(occupancy: str, points: int) -> None:
    quote = quote_redemption(PROGRAMME, Decimal("800"), [PLAIN], Decimal(occupancy))
    assert quote.total_points == points


def test_per_night_forecasts_and_rounding_up() -> None:
    stay = nights(date(2026, 9, 30), 3)  # 09-30 plain, 10-01 and 10-02 golden week
    forecast = {stay[0]: Decimal("0.3"), stay[1]: Decimal("0.95"), stay[2]: Decimal("0.5")}
    quote = quote_redemption(PROGRAMME, Decimal("333.33"), stay, forecast)
    # 33,333 × 0.8 = 26,666.4 → 26,700; × 1.2 × 1.3 = 51,999.48 → 52,000; × 1.2 = 39,999.6 → 40,000
    assert [n.points for n in quote.nights] == [26_700, 52_000, 40_000]
    assert quote.total_points == 118_700


def test_below_minimum_is_refused_with_the_numbers() -> None:
    with pytest.raises(RedemptionError) as caught:
        quote_redemption(PROGRAMME, Decimal("30"), [PLAIN], Decimal("0.5"))
    assert caught.value.code == "below_minimum"
    assert str(caught.value) == (
        "this award costs 3,000 points, below the minimum redemption of 5,000 points "
        "(fix: add nights or choose another room)"
    )


def test_points_plus_cash_options_in_steps() -> None:
    quote = quote_redemption(PROGRAMME, Decimal("120"), [PLAIN], Decimal("0.5"))
    assert quote.total_points == 12_000
    assert [(o.points, o.cash) for o in quote.options] == [
        (5_000, Decimal("70.00")),
        (6_000, Decimal("60.00")),
        (7_000, Decimal("50.00")),
        (8_000, Decimal("40.00")),
        (9_000, Decimal("30.00")),
        (10_000, Decimal("20.00")),
        (11_000, Decimal("10.00")),
        (12_000, Decimal("0.00")),
    ]


def test_balance_limits_the_options() -> None:
    quote = quote_redemption(PROGRAMME, Decimal("120"), [PLAIN], Decimal("0.5"), balance=7_500)
    assert [o.points for o in quote.options] == [5_000, 6_000, 7_000]
    assert quote.affordable is False
    with pytest.raises(RedemptionError) as caught:
        quote_redemption(PROGRAMME, Decimal("120"), [PLAIN], Decimal("0.5"), balance=4_000)
    assert caught.value.code == "insufficient_points"


def test_long_option_lists_are_thinned_but_keep_both_ends() -> None:
    quote = quote_redemption(PROGRAMME, Decimal("2000"), nights(PLAIN, 10), Decimal("0.5"))
    assert len(quote.options) <= 50
    assert quote.options[0].points == 5_000
    assert quote.options[-1].points == quote.total_points == 2_000_000
    assert quote.options[-1].cash == 0


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"nights": []}, "no_nights"),
        ({"nights": [PLAIN, PLAIN]}, "duplicate_night"),
        ({"nights": nights(PLAIN, 31)}, "too_many_nights"),
        ({"cash_rate": Decimal(0)}, "bad_cash_rate"),
        ({"cash_rate": Decimal("-100")}, "bad_cash_rate"),
        ({"cash_rate": Decimal("1e9")}, "bad_cash_rate"),
        ({"occupancy_forecast": Decimal("1.5")}, "bad_forecast"),
        ({"occupancy_forecast": {PLAIN + timedelta(days=1): Decimal("0.5")}}, "missing_forecast"),
    ],
)
def test_bad_requests_are_refused(kwargs: dict[str, object], code: str) -> None:
    args: dict[str, object] = {
        "cash_rate": Decimal("800"),
        "nights": [PLAIN],
        "occupancy_forecast": Decimal("0.5"),
    }
    args.update(kwargs)
    with pytest.raises(RedemptionError) as caught:
        quote_redemption(PROGRAMME, **args)  # type: ignore[arg-type]
    assert caught.value.code == code


def test_fifth_night_free() -> None:
    marriott = example_programme("marriott_like")
    stay = nights(date(2026, 8, 29), 5)  # 08-29..08-31 summer peak, 09-01, 09-02 not
    quote = quote_redemption(marriott, Decimal("200"), stay, Decimal("0.6"))
    # 200 / 0.008 = 25,000; peak ×1.25 = 31,250 → 31,500; the cheapest (25,000) night is free
    assert [n.points for n in quote.nights] == [31_500, 31_500, 31_500, 0, 25_000]
    assert quote.nights[3].free
    assert quote.total_points == 119_500


# --- properties ------------------------------------------------------------------------------

rates = st.decimals(min_value=Decimal("1"), max_value=Decimal("20000"), places=2)
occupancies = st.decimals(min_value=0, max_value=1, places=2)
starts = st.dates(min_value=date(2026, 1, 1), max_value=date(2027, 12, 1))


@settings(max_examples=200, deadline=None)
@given(rates, starts, st.integers(1, 7), occupancies, st.none() | st.integers(0, 3_000_000))
def test_quote_is_never_below_the_minimum_and_options_are_consistent(
    rate: Decimal, start: date, count: int, occupancy: Decimal, balance: int | None
) -> None:
    refused: str | None
    try:
        quote = quote_redemption(PROGRAMME, rate, nights(start, count), occupancy, balance=balance)
    except RedemptionError as exc:
        refused = exc.code
    else:
        refused = None
    if refused is not None:
        assert refused in ("below_minimum", "insufficient_points")
        return
    minimum = PROGRAMME.redemption.minimum_points
    assert quote.total_points >= minimum
    assert quote.total_points == sum(n.points for n in quote.nights)
    assert all(n.points % 100 == 0 for n in quote.nights)
    assert quote.options, "a quote always has at least one way to pay"
    for option in quote.options:
        assert minimum <= option.points <= quote.total_points
        assert option.cash == Decimal(quote.total_points - option.points) / 100
        if balance is not None:
            assert option.points <= balance
    assert [o.points for o in quote.options] == sorted({o.points for o in quote.options})
    if balance is None:
        assert quote.options[-1].points == quote.total_points


@settings(max_examples=100, deadline=None)
@given(rates, rates, starts, occupancies, occupancies)
def test_price_rises_with_cash_rate_and_occupancy(
    a: Decimal, b: Decimal, night: date, x: Decimal, y: Decimal
) -> None:
    programme = parse_programme(
        'name = "P"\n[[tiers]]\nname = "t"\n[redemption]\nminimum_points = 0\n'
        "inventory_bands = [{ up_to = 0.5, factor = 0.9 }, { up_to = 1.0, factor = 1.2 }]\n"
    )
    (low_rate, high_rate), (low_occ, high_occ) = sorted((a, b)), sorted((x, y))
    cheap = quote_redemption(programme, low_rate, [night], low_occ).total_points
    dear = quote_redemption(programme, high_rate, [night], high_occ).total_points
    assert cheap <= dear
