"""Point expiry over FIFO earn lots, and FIFO consumption for redemptions.

    >>> lots = [EarnLot(lot_id="lot-a", earned_at=date(2023, 3, 1), remaining=1200),
    ...         EarnLot(lot_id="lot-b", earned_at=date(2025, 7, 9), remaining=800)]
    >>> actions = expire(programme, lots, None, date(2026, 3, 1))
    >>> [(a.lot_id, a.points, a.expires_on) for a in actions]
    [('lot-a', 1200, datetime.date(2026, 3, 1))]

Policies (`[expiry] policy`): `"fixed"`: each lot expires `months_after_earning` after it
was earned; `"inactivity"`: every lot expires `inactivity_months` after the member's last
activity (or the newest lot, whichever is later); `"never"`. Actions carry a deterministic
`idempotency_key`, so running the job twice posts nothing twice, and a lot already at zero
yields no action.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from loyalty.rules.earn import RulesModel
from loyalty.rules.errors import ExpiryError, InsufficientPoints
from loyalty.rules.numbers import add_months, int_text, plural
from loyalty.rules.programme import Points, Programme

LotId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_:.-]{1,80}$")]


class EarnLot(RulesModel):
    """Points earned together, with what is left of them after FIFO redemptions."""

    lot_id: LotId
    earned_at: date
    remaining: Points


class ExpiryAction(RulesModel):
    lot_id: str
    points: int
    expires_on: date
    policy: Literal["fixed", "inactivity"]
    idempotency_key: str
    reason: str


class LotDebit(RulesModel):
    lot_id: str
    points: Annotated[int, Field(gt=0)]


def _ordered(lots: Sequence[EarnLot], as_of: date | None) -> list[EarnLot]:
    seen: set[str] = set()
    for lot in lots:
        if lot.lot_id in seen:
            raise ExpiryError("duplicate_lot", f"lot {lot.lot_id!r} is listed twice")
        seen.add(lot.lot_id)
        if as_of is not None and lot.earned_at > as_of:
            raise ExpiryError(
                "future_lot", f"lot {lot.lot_id!r} was earned on {lot.earned_at}, after {as_of}"
            )
    return sorted(lots, key=lambda lot: (lot.earned_at, lot.lot_id))


def _actions(
    programme: Programme,
    lots: Sequence[EarnLot],
    last_activity: date | None,
    until: date,
    as_of: date,
) -> list[ExpiryAction]:
    policy = programme.expiry
    if policy.policy == "never":
        return []
    if last_activity is not None and last_activity > as_of:
        raise ExpiryError(
            "future_activity", f"last activity {last_activity} is after as_of {as_of}"
        )
    ordered = _ordered(lots, as_of)
    anchor = last_activity
    if policy.policy == "inactivity" and ordered:
        newest = max(lot.earned_at for lot in ordered)
        anchor = max(newest, last_activity) if last_activity else newest
    out = []
    for lot in ordered:
        if lot.remaining == 0:
            continue
        if policy.policy == "fixed":
            when = add_months(lot.earned_at, policy.months_after_earning)
            reason = (
                f"{int_text(lot.remaining)} points earned {lot.earned_at} expire "
                f"{policy.months_after_earning} months later, on {when}"
            )
        else:
            assert anchor is not None
            when = add_months(anchor, policy.inactivity_months)
            reason = (
                f"{int_text(lot.remaining)} points expire on {when}: "
                f"{plural(policy.inactivity_months, 'month')} without activity since {anchor}"
            )
        if when <= until:
            out.append(
                ExpiryAction(
                    lot_id=lot.lot_id,
                    points=lot.remaining,
                    expires_on=when,
                    policy=policy.policy,
                    idempotency_key=f"expire:{lot.lot_id}:{when.isoformat()}",
                    reason=reason,
                )
            )
    return out


def expire(
    programme: Programme,
    lots: Sequence[EarnLot],
    last_activity: date | None,
    as_of: date,
) -> list[ExpiryAction]:
    """Lots (oldest first) whose points have expired on or before `as_of`. Pure and
    idempotent: same inputs, same actions (same keys); applied lots (remaining 0) yield
    nothing. Never expires more than a lot's `remaining`."""
    return _actions(programme, lots, last_activity, as_of, as_of)


def upcoming_expiries(
    programme: Programme,
    lots: Sequence[EarnLot],
    last_activity: date | None,
    as_of: date,
    *,
    until: date,
) -> list[ExpiryAction]:
    """What will expire by `until` if nothing changes (for member reminders)."""
    return [
        a for a in _actions(programme, lots, last_activity, until, as_of) if a.expires_on > as_of
    ]


def consume_fifo(lots: Sequence[EarnLot], points: int) -> list[LotDebit]:
    """Which lots a debit of `points` draws from: oldest first. Raises
    `InsufficientPoints` when the lots hold fewer points.

        >>> consume_fifo(lots, 1500)
        [LotDebit(lot_id='lot-a', points=1200), LotDebit(lot_id='lot-b', points=300)]
    """
    if points <= 0:
        raise ExpiryError("bad_points", f"points to consume must be positive, got {points}")
    ordered = _ordered(lots, None)
    available = sum(lot.remaining for lot in ordered)
    if available < points:
        raise InsufficientPoints(
            "insufficient_points",
            f"{int_text(points)} points requested but the lots hold {int_text(available)}",
        )
    out: list[LotDebit] = []
    left = points
    for lot in ordered:
        if left == 0:
            break
        take = min(lot.remaining, left)
        if take:
            out.append(LotDebit(lot_id=lot.lot_id, points=take))
            left -= take
    return out
