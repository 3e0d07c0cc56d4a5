"""Expiry: 36 months after earning (FIFO lots) or 24 months of inactivity; FIFO debits."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loyalty.rules import (
    EarnLot,
    ExpiryError,
    InsufficientPoints,
    consume_fifo,
    default_programme,
    example_programme,
    expire,
    parse_programme,
    upcoming_expiries,
)

FIXED = default_programme()
INACTIVITY = example_programme("marriott_like")
NEVER = parse_programme('name = "P"\n[[tiers]]\nname = "t"\n[expiry]\npolicy = "never"\n')


def lot(lot_id: str, earned: date, remaining: int) -> EarnLot:
    return EarnLot(lot_id=lot_id, earned_at=earned, remaining=remaining)


LOTS = [
    lot("lot-c", date(2025, 7, 9), 800),
    lot("lot-a", date(2023, 3, 1), 1200),
    lot("lot-b", date(2023, 11, 30), 0),  # already redeemed
    lot("lot-d", date(2024, 2, 29), 300),
]


def test_fixed_policy_expires_lots_36_months_after_earning_oldest_first() -> None:
    actions = expire(FIXED, LOTS, date(2026, 1, 1), date(2027, 3, 1))
    assert [(a.lot_id, a.points, a.expires_on) for a in actions] == [
        ("lot-a", 1200, date(2026, 3, 1)),
        ("lot-d", 300, date(2027, 2, 28)),  # 29 Feb + 36 months → 28 Feb
    ]
    assert actions[0].idempotency_key == "expire:lot-a:2026-03-01"
    assert actions[0].reason == (
        "1,200 points earned 2023-03-01 expire 36 months later, on 2026-03-01"
    )
    assert expire(FIXED, LOTS, None, date(2026, 2, 28)) == []


def test_inactivity_policy_expires_everything_after_24_months_without_activity() -> None:
    assert expire(INACTIVITY, LOTS, date(2025, 8, 1), date(2027, 7, 31)) == []
    actions = expire(INACTIVITY, LOTS, date(2025, 8, 1), date(2027, 8, 1))
    assert [(a.lot_id, a.points) for a in actions] == [
        ("lot-a", 1200),
        ("lot-d", 300),
        ("lot-c", 800),
    ]
    assert {a.expires_on for a in actions} == {date(2027, 8, 1)}
    assert "24 months without activity since 2025-08-01" in actions[0].reason
    # an earn counts as activity even when last_activity is older or unknown
    assert expire(INACTIVITY, LOTS, None, date(2027, 7, 8)) == []


def test_never_policy() -> None:
    assert expire(NEVER, LOTS, None, date(2099, 1, 1)) == []


def test_upcoming_expiries_for_reminders() -> None:
    soon = upcoming_expiries(FIXED, LOTS, None, date(2026, 1, 1), until=date(2026, 4, 1))
    assert [a.lot_id for a in soon] == ["lot-a"]


def test_bad_inputs_are_refused() -> None:
    with pytest.raises(ExpiryError, match="listed twice"):
        expire(FIXED, [LOTS[0], LOTS[0]], None, date(2026, 1, 1))
    with pytest.raises(ExpiryError, match="after 2025-01-01"):
        expire(FIXED, LOTS, None, date(2025, 1, 1))
    with pytest.raises(ExpiryError, match="after as_of"):
        expire(FIXED, [], date(2026, 5, 1), date(2026, 1, 1))


def test_consume_fifo_takes_the_oldest_points_first() -> None:
    debits = consume_fifo(LOTS, 1400)
    assert [(d.lot_id, d.points) for d in debits] == [("lot-a", 1200), ("lot-d", 200)]
    with pytest.raises(InsufficientPoints, match="2,301 points requested but the lots hold 2,300"):
        consume_fifo(LOTS, 2301)
    with pytest.raises(ExpiryError, match="must be positive"):
        consume_fifo(LOTS, 0)


# --- properties ------------------------------------------------------------------------------


@st.composite
def lot_sets(draw: st.DrawFn) -> list[EarnLot]:
    count = draw(st.integers(0, 8))
    return [
        lot(
            f"lot-{i}",
            draw(st.dates(min_value=date(2018, 1, 1), max_value=date(2026, 1, 1))),
            draw(st.integers(0, 50_000)),
        )
        for i in range(count)
    ]


as_ofs = st.dates(min_value=date(2026, 1, 1), max_value=date(2031, 1, 1))
activity = st.none() | st.dates(min_value=date(2018, 1, 1), max_value=date(2026, 1, 1))


@settings(max_examples=200, deadline=None)
@given(lot_sets(), activity, as_ofs, st.sampled_from([FIXED, INACTIVITY]))
def test_expiry_never_exceeds_remaining_and_is_idempotent(
    lots: list[EarnLot], last: date | None, as_of: date, programme: object
) -> None:
    from loyalty.rules import Programme

    assert isinstance(programme, Programme)
    actions = expire(programme, lots, last, as_of)
    assert expire(programme, lots, last, as_of) == actions
    remaining = {x.lot_id: x.remaining for x in lots}
    assert all(0 < a.points == remaining[a.lot_id] for a in actions)
    assert len({a.lot_id for a in actions}) == len(actions)
    assert all(a.expires_on <= as_of for a in actions)
    order = sorted(lots, key=lambda x: (x.earned_at, x.lot_id))
    expected_order = [x.lot_id for x in order if x.lot_id in {a.lot_id for a in actions}]
    assert [a.lot_id for a in actions] == expected_order
    # once applied, running the job again (even later the same day) finds nothing more
    applied = [
        x.model_copy(update={"remaining": 0}) if x.lot_id in {a.lot_id for a in actions} else x
        for x in lots
    ]
    assert expire(programme, applied, last, as_of) == []


@settings(max_examples=200, deadline=None)
@given(lot_sets(), st.integers(1, 400_000))
def test_consume_fifo_is_exact_and_oldest_first(lots: list[EarnLot], points: int) -> None:
    total = sum(x.remaining for x in lots)
    if points > total:
        with pytest.raises(InsufficientPoints):
            consume_fifo(lots, points)
        return
    debits = consume_fifo(lots, points)
    assert sum(d.points for d in debits) == points
    remaining = {x.lot_id: x.remaining for x in lots}
    assert all(0 < d.points <= remaining[d.lot_id] for d in debits)
    order = [x.lot_id for x in sorted(lots, key=lambda x: (x.earned_at, x.lot_id)) if x.remaining]
    assert [d.lot_id for d in debits] == order[: len(debits)]
    assert all(d.points == remaining[d.lot_id] for d in debits[:-1])  # earlier lots emptied
