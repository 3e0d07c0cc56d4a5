"""Member-to-member transfers, partner conversion and abuse thresholds (pure checks).

    >>> check_transfer(programme, 20_000, sent_this_year=40_000)
    TransferError: transfer of 20,000 points would exceed the annual cap of 50,000 ...
    >>> convert_to_partner(programme, "airline_miles", 9_000).units
    3000
    >>> check_velocity(programme, recent_earns, at).exceeded
    True

The ledger supplies the counts (points sent this calendar year, recent earn times); these
functions only apply the programme's numbers, so they can be tested and replayed exactly.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Literal

from loyalty.rules.earn import RulesModel
from loyalty.rules.errors import ConversionError, TransferError
from loyalty.rules.numbers import int_text
from loyalty.rules.programme import Programme


class TransferCheck(RulesModel):
    points: int
    annual_cap_points: int
    sent_this_year: int
    remaining_cap: int


class PartnerConversion(RulesModel):
    partner: str
    points_debited: int
    units: int
    unit_name: str
    ratio: str
    explanation: str


class WindowVerdict(RulesModel):
    """How many events fall in the window ending at `at` (this one included)."""

    rule: Literal["velocity", "reversal_loops"]
    count: int
    limit: int
    window: timedelta
    exceeded: bool
    action: Literal["flag", "reject", "none"]
    reason: str


def check_transfer(
    programme: Programme, points: int, *, sent_this_year: int, balance: int | None = None
) -> TransferCheck:
    """Validate a member-to-member transfer of `points` against the programme's minimum,
    step and annual cap (`sent_this_year`: points the sender already transferred this
    calendar year, see `periods.transfer_window`). Raises `TransferError` with code
    `disabled`, `bad_points`, `below_minimum`, `not_in_steps`, `annual_cap` or
    `insufficient_points`."""
    rules = programme.transfers
    if not rules.enabled:
        raise TransferError("disabled", "this programme does not allow point transfers")
    if points <= 0 or sent_this_year < 0:
        raise TransferError(
            "bad_points", f"points must be positive (got {points}; sent so far {sent_this_year})"
        )
    if points < rules.minimum_points:
        raise TransferError(
            "below_minimum",
            f"{int_text(points)} points is below the minimum transfer of "
            f"{int_text(rules.minimum_points)} points",
        )
    if points % rules.step_points:
        lower = points - points % rules.step_points
        raise TransferError(
            "not_in_steps",
            f"transfers go in steps of {int_text(rules.step_points)} points (fix: "
            f"{int_text(lower)} or {int_text(lower + rules.step_points)})",
        )
    remaining = rules.annual_cap_points - sent_this_year
    if points > remaining:
        raise TransferError(
            "annual_cap",
            f"transfer of {int_text(points)} points would exceed the annual cap of "
            f"{int_text(rules.annual_cap_points)} points ({int_text(max(0, remaining))} left "
            "this year)",
        )
    if balance is not None and points > balance:
        raise TransferError(
            "insufficient_points",
            f"transfer of {int_text(points)} points exceeds the balance of {int_text(balance)}",
        )
    return TransferCheck(
        points=points,
        annual_cap_points=rules.annual_cap_points,
        sent_this_year=sent_this_year,
        remaining_cap=remaining - points,
    )


def convert_to_partner(programme: Programme, partner: str, points: int) -> PartnerConversion:
    """Convert `points` to a partner's units at the configured ratio. The points must be
    a whole multiple of the ratio (nothing is silently kept). Raises `ConversionError`
    with code `unknown_partner`, `bad_points`, `below_minimum` or `not_in_steps`."""
    config = programme.partners.get(partner)
    if config is None:
        known = ", ".join(sorted(programme.partners)) or "none"
        raise ConversionError(
            "unknown_partner", f"unknown partner {partner!r}; this programme has: {known}"
        )
    if points <= 0:
        raise ConversionError("bad_points", f"points must be positive, got {points}")
    if points < config.minimum_points:
        raise ConversionError(
            "below_minimum",
            f"{int_text(points)} points is below {partner}'s minimum of "
            f"{int_text(config.minimum_points)} points",
        )
    if points % config.points:
        lower = points - points % config.points
        raise ConversionError(
            "not_in_steps",
            f"{partner} converts {config.points}:{config.units}, so points must be a multiple "
            f"of {config.points} (fix: {int_text(lower)} or {int_text(lower + config.points)})",
        )
    units = points // config.points * config.units
    ratio = f"{config.points}:{config.units}"
    return PartnerConversion(
        partner=partner,
        points_debited=points,
        units=units,
        unit_name=config.unit_name,
        ratio=ratio,
        explanation=(
            f"{int_text(points)} points at {ratio} = {int_text(units)} {config.unit_name}"
        ),
    )


def _window(
    rule: Literal["velocity", "reversal_loops"],
    times: Sequence[datetime],
    at: datetime,
    window: timedelta,
    limit: int,
    action: Literal["flag", "reject"],
    what: str,
) -> WindowVerdict:
    if at.tzinfo is None or any(t.tzinfo is None for t in times):
        raise ValueError("times must be timezone-aware (UTC)")
    count = 1 + sum(1 for t in times if at - window < t <= at)
    exceeded = count > limit
    span = (
        f"{int(window.total_seconds() // 60)} minutes"
        if window < timedelta(days=1)
        else (f"{window.days} days")
    )
    reason = f"{count} {what} in {span} (limit {limit})"
    return WindowVerdict(
        rule=rule,
        count=count,
        limit=limit,
        window=window,
        exceeded=exceeded,
        action=action if exceeded else "none",
        reason=reason + (": over the limit" if exceeded else ""),
    )


def check_velocity(
    programme: Programme, recent_earns: Sequence[datetime], at: datetime
) -> WindowVerdict:
    """Count this earn plus the member's earns in the preceding window; `exceeded` when
    the count passes `abuse.velocity.max_earns` (`action` says flag or reject)."""
    rules = programme.abuse.velocity
    return _window(
        "velocity",
        recent_earns,
        at,
        timedelta(minutes=rules.window_minutes),
        rules.max_earns,
        rules.action,
        "earns",
    )


def check_reversal_loop(
    programme: Programme, recent_reversals: Sequence[datetime], at: datetime
) -> WindowVerdict:
    """Earn-then-reverse loops: this reversal plus earlier ones in the window; flagged
    (never rejected: reversals are corrections) when over `abuse.reversal_loops`."""
    rules = programme.abuse.reversal_loops
    return _window(
        "reversal_loops",
        recent_reversals,
        at,
        timedelta(days=rules.window_days),
        rules.max_reversals,
        "flag",
        "reversals",
    )
