"""The seam between the service and the pure programme rules in `loyalty.rules`.

Everything the service asks of the rules goes through here, so a change in the rules'
API is absorbed in one file.
"""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from typing import Any

from loyalty.rules.earn import (
    ActivityEarnRequest,
    EarnBreakdown,
    EarnMember,
    StayEarnRequest,
    compute_earn,
)
from loyalty.rules.earn import FolioLine as RulesFolioLine
from loyalty.rules.errors import RulesError
from loyalty.rules.numbers import int_text, money_text
from loyalty.rules.programme import Criteria, Programme
from loyalty.rules.tiers import QualificationYear, tier_progress
from loyalty.schemas import FolioLine, RuleLine

__all__ = ["RulesError"]


def tier_state(text: str) -> dict[str, Any]:
    value = json.loads(text)
    return value if isinstance(value, dict) else {}


def breakdown_lines(breakdown: EarnBreakdown) -> list[RuleLine]:
    lines = []
    for step in breakdown.steps:
        lines.append(
            RuleLine(rule=step.rule, points=int(step.points), detail=step.explanation[:256])
        )
    return lines


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
        check_out=check_out if check_out > check_in else _next_day(check_in),
        channel=channel,
        room_type=room_type,
        lines=[RulesFolioLine(category=line.category, amount=line.amount) for line in folio],
    )
    return compute_earn(programme, request, EarnMember(tier=tier))


def _next_day(day: date) -> date:
    from datetime import timedelta

    return day + timedelta(days=1)


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


def _missing(
    criteria: Criteria, spend: Decimal, nights: int, stays: int, currency: str
) -> list[str]:
    """What is still needed under `criteria`, as phrases (any one suffices when match=any)."""
    parts = []
    if criteria.nights is not None and nights < criteria.nights:
        n = criteria.nights - nights
        parts.append(f"{n} night{'s' if n != 1 else ''}")
    if criteria.stays is not None and stays < criteria.stays:
        n = criteria.stays - stays
        parts.append(f"{n} stay{'s' if n != 1 else ''}")
    if criteria.spend is not None and spend < criteria.spend:
        parts.append(money_text(criteria.spend - spend, currency))
    return parts


def qualifies(criteria: Criteria, spend: Decimal, nights: int, stays: int) -> bool:
    checks = []
    if criteria.spend is not None:
        checks.append(spend >= criteria.spend)
    if criteria.nights is not None:
        checks.append(nights >= criteria.nights)
    if criteria.stays is not None:
        checks.append(stays >= criteria.stays)
    checks.extend(qualifies(g, spend, nights, stays) for g in criteria.groups)
    if not checks:
        return True
    return all(checks) if criteria.match == "all" else any(checks)


def qualified_tier(programme: Programme, spend: Decimal, nights: int, stays: int) -> str:
    best = programme.tiers[0].name
    for tier in programme.tiers:
        if qualifies(tier.qualify, spend, nights, stays):
            best = tier.name
    return best


def progress_message(
    programme: Programme, tier: str, spend: Decimal, nights: int, stays: int, year: int = 2000
) -> tuple[str | None, str]:
    if tier in programme.tier_names:
        progress = tier_progress(
            programme,
            tier,
            QualificationYear(year=year, spend=spend, nights=nights, stays=stays),
        )
        return progress.next_tier, progress.text
    names = programme.tier_names
    rank = names.index(tier) if tier in names else 0
    if rank + 1 >= len(names):
        return None, f"{tier} is the top tier"
    nxt = programme.tiers[rank + 1]
    parts = _missing(nxt.qualify, spend, nights, stays, programme.currency)
    if not parts:
        return nxt.name, f"qualified for {nxt.name} this year"
    joiner = " and " if nxt.qualify.match == "all" else " or "
    return nxt.name, f"{joiner.join(parts)} to {nxt.name}"


def points_text(points: int) -> str:
    return int_text(points)
