"""Transfers with an annual cap, partner conversion at a ratio, velocity and reversal flags."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loyalty.rules import (
    ConversionError,
    TransferError,
    check_reversal_loop,
    check_transfer,
    check_velocity,
    convert_to_partner,
    default_programme,
    parse_programme,
    transfer_window,
)

PROGRAMME = default_programme()
NOON = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def test_transfer_within_the_annual_cap() -> None:
    check = check_transfer(PROGRAMME, 10_000, sent_this_year=35_000)
    assert check.remaining_cap == 5_000
    assert transfer_window(date(2026, 5, 1)) == (date(2026, 1, 1), date(2027, 1, 1))


@pytest.mark.parametrize(
    ("points", "sent", "balance", "code", "message"),
    [
        (
            20_000,
            40_000,
            None,
            "annual_cap",
            "would exceed the annual cap of 50,000 points (10,000 left",
        ),
        (500, 0, None, "below_minimum", "below the minimum transfer of 1,000"),
        (1_050, 0, None, "not_in_steps", "steps of 100 points (fix: 1,000 or 1,100)"),
        (0, 0, None, "bad_points", "must be positive"),
        (-5_000, 0, None, "bad_points", "must be positive"),
        (2_000, 0, 1_500, "insufficient_points", "exceeds the balance of 1,500"),
    ],
)
def test_transfer_refusals(
    points: int, sent: int, balance: int | None, code: str, message: str
) -> None:
    with pytest.raises(TransferError) as caught:
        check_transfer(PROGRAMME, points, sent_this_year=sent, balance=balance)
    assert caught.value.code == code
    assert message in str(caught.value)


def test_transfers_can_be_disabled() -> None:
    programme = parse_programme('name = "P"\n[[tiers]]\nname = "t"\n[transfers]\nenabled = false\n')
    with pytest.raises(TransferError, match="does not allow"):
        check_transfer(programme, 1_000, sent_this_year=0)


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 200_000), st.integers(0, 60_000))
def test_accepted_transfers_never_pass_the_cap(points: int, sent: int) -> None:
    try:
        check = check_transfer(PROGRAMME, points, sent_this_year=sent)
    except TransferError:
        return
    assert sent + points <= PROGRAMME.transfers.annual_cap_points
    assert check.remaining_cap >= 0


def test_airline_miles_three_to_one() -> None:
    conversion = convert_to_partner(PROGRAMME, "airline_miles", 9_000)
    assert (conversion.points_debited, conversion.units) == (9_000, 3_000)
    assert conversion.explanation == "9,000 points at 3:1 = 3,000 miles"


@pytest.mark.parametrize(
    ("partner", "points", "code"),
    [
        ("rail", 9_000, "unknown_partner"),
        ("airline_miles", 2_997, "below_minimum"),
        ("airline_miles", 9_001, "not_in_steps"),
        ("airline_miles", 0, "bad_points"),
    ],
)
def test_conversion_refusals(partner: str, points: int, code: str) -> None:
    with pytest.raises(ConversionError) as caught:
        convert_to_partner(PROGRAMME, partner, points)
    assert caught.value.code == code


@settings(max_examples=100, deadline=None)
@given(st.integers(3_000, 10_000_000))
def test_conversion_is_exact(points: int) -> None:
    refused: str | None
    try:
        conversion = convert_to_partner(PROGRAMME, "airline_miles", points)
    except ConversionError as exc:
        refused = exc.code
    else:
        refused = None
    if refused is not None:
        assert refused == "not_in_steps" and points % 3
        return
    assert conversion.units * 3 == conversion.points_debited == points


def test_velocity_flags_the_sixth_earn_in_ten_minutes() -> None:
    earlier = [NOON - timedelta(minutes=m) for m in (1, 2, 3, 4)]
    assert not check_velocity(PROGRAMME, earlier, NOON).exceeded
    verdict = check_velocity(PROGRAMME, [*earlier, NOON - timedelta(minutes=9)], NOON)
    assert verdict.exceeded and verdict.action == "flag"
    assert verdict.reason == "6 earns in 10 minutes (limit 5): over the limit"
    old = [*earlier, NOON - timedelta(minutes=10)]  # exactly at the window edge: outside
    assert not check_velocity(PROGRAMME, old, NOON).exceeded


def test_velocity_can_reject_and_needs_aware_times() -> None:
    programme = parse_programme(
        'name = "P"\n[[tiers]]\nname = "t"\n[abuse.velocity]\nmax_earns = 1\naction = "reject"\n'
    )
    verdict = check_velocity(programme, [NOON - timedelta(seconds=30)], NOON)
    assert verdict.action == "reject"
    with pytest.raises(ValueError, match="timezone-aware"):
        check_velocity(programme, [], datetime(2026, 5, 1, 12, 0))  # noqa: DTZ001


def test_earn_then_reverse_loops_are_flagged() -> None:
    reversals = [NOON - timedelta(days=d) for d in (1, 5, 20)]
    verdict = check_reversal_loop(PROGRAMME, reversals, NOON)
    assert verdict.exceeded and verdict.action == "flag"
    assert verdict.reason == "4 reversals in 30 days (limit 3): over the limit"
    assert not check_reversal_loop(PROGRAMME, reversals[:2], NOON).exceeded
