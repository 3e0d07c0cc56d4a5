"""The seam between the service and the pure programme rules in `loyalty.rules`.

Everything the service asks of the rules goes through here, so a change in the rules'
API is absorbed in one file, and a rules refusal becomes an `ApiError` in one place.
Nothing here decides a rule itself: tiers come from `loyalty.rules.highest_tier_met` /
`tier_progress`, transfer caps from `check_transfer`, partner ratios from
`convert_to_partner`.

    breakdown = stay_earn(programme, tier="gold", check_in=d1, check_out=d2,
                          channel="direct", room_type="premium", folio=lines)
    qualified_tier(programme, Decimal("31000"), nights=4, stays=2)        # 'gold'
    transfer_allowed(programme, 6000, sent_this_year=0, balance=9000)     # TransferCheck
    partner_conversion(programme, "airline_miles", 9000).units            # 3000
"""

from __future__ import annotations

import json
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from loyalty.errors import ApiError
from loyalty.rules import (
    ActivityEarnRequest,
    EarnBreakdown,
    EarnMember,
    PartnerConversion,
    Programme,
    QualificationYear,
    RulesError,
    StayEarnRequest,
    TransferCheck,
    check_transfer,
    compute_earn,
    convert_to_partner,
    highest_tier_met,
    tier_progress,
)
from loyalty.rules import FolioLine as RulesFolioLine
from loyalty.rules.numbers import int_text
from loyalty.schemas import FolioLine, RuleLine

__all__ = [
    "RulesError",
    "activity_earn",
    "breakdown_lines",
    "capped_line",
    "partner_conversion",
    "points_text",
    "progress_message",
    "qualified_tier",
    "stay_earn",
    "tier_state",
    "transfer_allowed",
]

# A rules refusal → (HTTP status, field). 409: the request is well formed but the member's
# state (balance, cap used this year) or the programme (transfers off) refuses it now.
_TRANSFER_ERRORS: dict[str, tuple[int, str, str]] = {
    "disabled": (409, "transfers_disabled", "points"),
    "annual_cap": (409, "annual_cap", "points"),
    "insufficient_points": (409, "insufficient_points", "points"),
}
_CONVERSION_ERRORS: dict[str, tuple[int, str, str]] = {
    "unknown_partner": (422, "unknown_partner", "partner"),
}


def _api_error(exc: RulesError, table: dict[str, tuple[int, str, str]]) -> ApiError:
    status, code, field = table.get(exc.code, (422, exc.code, "points"))
    return ApiError(status, code, str(exc), field=field)


def tier_state(text: str) -> dict[str, Any]:
    value = json.loads(text)
    return value if isinstance(value, dict) else {}


def breakdown_lines(breakdown: EarnBreakdown) -> list[RuleLine]:
    return [
        RuleLine(rule=step.rule, points=int(step.points), detail=step.explanation[:256])
        for step in breakdown.steps
    ]


def capped_line(breakdown: EarnBreakdown) -> RuleLine | None:
    """The limit step that took points off this earn, if one did."""
    for step in breakdown.steps:
        if step.rule.startswith("limit") and step.points < 0:
            return RuleLine(rule=step.rule, points=int(step.points), detail=step.explanation[:256])
    return None


def stay_earn(
    programme: Programme,
    *,
    tier: str,
    check_in: date,
    check_out: date,
    channel: str,
    room_type: str,
    folio: list[FolioLine],
) -> EarnBreakdown:
    request = StayEarnRequest(
        check_in=check_in,
        # A day-use stay (same-day check-out) prices as one night.
        check_out=check_out if check_out > check_in else check_in + timedelta(days=1),
        channel=channel,
        room_type=room_type,
        lines=[RulesFolioLine(category=line.category, amount=line.amount) for line in folio],
    )
    return compute_earn(programme, request, EarnMember(tier=tier))


def activity_earn(
    programme: Programme,
    *,
    tier: str,
    activity: str,
    on: date,
    amount: Decimal,
    earned_this_period: int,
) -> EarnBreakdown:
    request = ActivityEarnRequest(kind=activity, on=on, amount=amount)
    return compute_earn(
        programme,
        request,
        EarnMember(tier=tier, earned_this_period={activity: earned_this_period}),
    )


def _year(spend: Decimal, nights: int, stays: int, year: int) -> QualificationYear:
    return QualificationYear(year=year, spend=spend, nights=nights, stays=stays)


def qualified_tier(
    programme: Programme, spend: Decimal, nights: int, stays: int, year: int = 2000
) -> str:
    """The highest tier this year's activity qualifies for (`year` only labels it)."""
    return programme.tier_names[highest_tier_met(programme, _year(spend, nights, stays, year))]


def progress_message(
    programme: Programme, tier: str, spend: Decimal, nights: int, stays: int, year: int = 2000
) -> tuple[str | None, str]:
    """(next tier, "8 nights or 12,000 CNY to gold"). A tier the programme no longer has
    (the file changed under a member) reads as the entry tier."""
    known = tier if tier in programme.tier_names else programme.tier_names[0]
    progress = tier_progress(programme, known, _year(spend, nights, stays, year))
    return progress.next_tier, progress.text


def transfer_allowed(
    programme: Programme, points: int, *, sent_this_year: int, balance: int
) -> TransferCheck:
    """The programme's minimum, step, annual cap and the sender's balance, or an ApiError
    (409 `annual_cap` / `insufficient_points` / `transfers_disabled`, 422 otherwise)."""
    try:
        return check_transfer(programme, points, sent_this_year=sent_this_year, balance=balance)
    except RulesError as exc:
        raise _api_error(exc, _TRANSFER_ERRORS) from None


def partner_conversion(programme: Programme, partner: str, points: int) -> PartnerConversion:
    """Points → partner units at the configured ratio, or an ApiError (422
    `unknown_partner`, `below_minimum`, `not_in_steps`)."""
    try:
        return convert_to_partner(programme, partner, points)
    except RulesError as exc:
        raise _api_error(exc, _CONVERSION_ERRORS) from None


def points_text(points: int) -> str:
    return int_text(points)
