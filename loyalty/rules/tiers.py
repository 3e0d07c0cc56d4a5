"""Tier qualification: who holds which tier, and how far a member is from the next one.

    >>> decision = evaluate_tier(programme, "silver",
    ...     [QualificationYear(year=2026, spend=Decimal("31000"))], as_of=date(2026, 6, 1))
    >>> decision.change, decision.tier
    ('upgrade', 'gold')
    >>> tier_progress(programme, "silver",
    ...     QualificationYear(year=2026, spend=Decimal("18000"))).text
    '12,000 CNY to gold'

Rules (all data in `[qualification]` and `[[tiers]]`):

* Upgrade immediately to the highest tier whose criteria the current year to date, or the
  last completed year, meets.
* Downgrade `downgrade_steps` tier(s) after `downgrade_after_years_below` consecutive
  completed qualification years below the current tier's criteria, counting only years
  that ended after `tier_since` (the day the current tier took effect), so feeding a
  decision back in (`tier=decision.tier, tier_since=decision.effective_from`) is a no-op.
  A member who already meets their tier this year is not downgraded.
* Retention bonus: when a member requalifies for the tier they hold after a year below it
  (a year during which they held it), the tier's `retention_bonus` is reported with an
  idempotency key unique to (tier, year); the ledger posts it once.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import Field

from loyalty.rules.earn import RulesModel
from loyalty.rules.errors import TierError
from loyalty.rules.numbers import int_text, money_text, plural
from loyalty.rules.periods import qualification_year_bounds, qualification_year_of
from loyalty.rules.programme import Criteria, Money, Points, Programme


class QualificationYear(RulesModel):
    """A member's qualifying activity in one qualification year (labelled by the calendar
    year it starts in). Years missing from a history count as zero activity."""

    year: Annotated[int, Field(ge=1900, le=9998)]
    spend: Money = Decimal(0)
    nights: Points = 0
    stays: Points = 0


class RetentionBonus(RulesModel):
    tier: str
    year: int
    points: int
    idempotency_key: str


class TierDecision(RulesModel):
    previous_tier: str
    tier: str
    change: Literal["upgrade", "downgrade", "unchanged"]
    effective_from: date
    years_below: int
    at_risk: bool
    retention_bonus: RetentionBonus | None = None
    reason: str


class Need(RulesModel):
    """One threshold of the next tier: what the member has, needs, and lacks."""

    metric: Literal["spend", "nights", "stays"]
    have: Decimal
    need: Decimal
    remaining: Decimal


class Progress(RulesModel):
    tier: str
    next_tier: str | None
    qualified: bool
    needs: list[Need]
    text: str
    keep_text: str


# --- criteria --------------------------------------------------------------------------------


def _metric(year: QualificationYear, metric: str) -> Decimal:
    return Decimal(getattr(year, metric))


def meets(criteria: Criteria, year: QualificationYear) -> bool:
    """Whether a year's activity meets the criteria (no thresholds: always)."""
    results = [
        _metric(year, metric) >= Decimal(threshold)
        for metric in ("spend", "nights", "stays")
        if (threshold := getattr(criteria, metric)) is not None
    ]
    results += [meets(group, year) for group in criteria.groups]
    if not results:
        return True
    return any(results) if criteria.match == "any" else all(results)


def _need_text(metric: str, remaining: Decimal, currency: str) -> str:
    if metric == "spend":
        return money_text(remaining, currency)
    return plural(int(remaining), "night" if metric == "nights" else "stay")


def _missing(criteria: Criteria, year: QualificationYear, currency: str) -> str:
    """What is still missing, e.g. "8 nights or 12,000 CNY"; "" when met."""
    if meets(criteria, year):
        return ""
    parts: list[str] = []
    for metric in ("spend", "nights", "stays"):
        threshold = getattr(criteria, metric)
        if threshold is None:
            continue
        remaining = Decimal(threshold) - _metric(year, metric)
        if remaining > 0:
            parts.append(_need_text(metric, remaining, currency))
    for group in criteria.groups:
        text = _missing(group, year, currency)
        if text:
            nested = " or " in text or " and " in text
            parts.append(f"({text})" if nested else text)
    # nights before spend reads naturally: "8 nights or 12,000 CNY"
    parts.sort(key=lambda p: (p[0] == "(", p.endswith(currency)))
    return (" or " if criteria.match == "any" else " and ").join(parts)


def _needs(criteria: Criteria, year: QualificationYear) -> list[Need]:
    out = []
    for metric in ("spend", "nights", "stays"):
        threshold = getattr(criteria, metric)
        if threshold is None:
            continue
        have = _metric(year, metric)
        need = Decimal(threshold)
        out.append(
            Need(metric=metric, have=have, need=need, remaining=max(Decimal(0), need - have))
        )
    for group in criteria.groups:
        out += _needs(group, year)
    return out


def highest_tier_met(programme: Programme, year: QualificationYear) -> int:
    """Rank of the highest tier whose criteria `year` meets (0 = entry tier)."""
    best = 0
    for rank, tier in enumerate(programme.tiers):
        if meets(tier.qualify, year):
            best = rank
    return best


# --- evaluation ------------------------------------------------------------------------------


def _history(
    programme: Programme, years: Sequence[QualificationYear], as_of: date
) -> dict[int, QualificationYear]:
    current = qualification_year_of(programme, as_of)
    by_year: dict[int, QualificationYear] = {}
    for item in years:
        if item.year in by_year:
            raise TierError(
                "duplicate_year", f"qualification year {item.year} is listed twice; merge them"
            )
        if item.year > current:
            raise TierError(
                "future_year",
                f"qualification year {item.year} has not started as of {as_of} "
                f"(the current year is {current})",
            )
        by_year[item.year] = item
    return by_year


def evaluate_tier(
    programme: Programme,
    current_tier: str,
    years: Sequence[QualificationYear],
    as_of: date,
    *,
    tier_since: date | None = None,
) -> TierDecision:
    """Decide the member's tier as of `as_of` from their qualification history.

    `tier_since` is the day `current_tier` took effect (None: held throughout the
    history). Pure and deterministic; evaluating again with the decision's tier and
    `tier_since=decision.effective_from` returns `unchanged`.
    """
    rank = programme.tier_rank(current_tier)
    if tier_since is not None and tier_since > as_of:
        raise TierError("future_tier_since", f"tier_since {tier_since} is after as_of {as_of}")
    history = _history(programme, years, as_of)
    this_year = qualification_year_of(programme, as_of)
    ytd = history.get(this_year, QualificationYear(year=this_year))
    last_year = history.get(this_year - 1, QualificationYear(year=this_year - 1))
    tier = programme.tiers[rank]
    currency = programme.currency
    names = programme.tier_names
    policy = programme.qualification

    def held_during(year: int) -> bool:
        return tier_since is None or qualification_year_bounds(programme, year)[1] > tier_since

    years_below = 0
    year = this_year - 1
    while years_below < policy.downgrade_after_years_below and held_during(year):
        item = history.get(year, QualificationYear(year=year))
        if meets(tier.qualify, item):
            break
        years_below += 1
        year -= 1
    meets_now = meets(tier.qualify, ytd)
    at_risk = rank > 0 and not meets_now and years_below == policy.downgrade_after_years_below - 1

    def describe(item: QualificationYear) -> str:
        bits = [money_text(item.spend, currency)]
        if item.nights:
            bits.append(plural(item.nights, "night"))
        if item.stays:
            bits.append(plural(item.stays, "stay"))
        return ", ".join(bits)

    best_now, best_last = highest_tier_met(programme, ytd), highest_tier_met(programme, last_year)
    best = max(best_now, best_last)
    if best > rank:
        source = ytd if best_now >= best_last else last_year
        label = f"{source.year} year to date" if source is ytd else f"{source.year}"
        return TierDecision(
            previous_tier=current_tier,
            tier=names[best],
            change="upgrade",
            effective_from=as_of,
            years_below=0,
            at_risk=False,
            reason=f"upgraded to {names[best]}: qualified with {describe(source)} in {label}",
        )

    if rank > 0 and years_below >= policy.downgrade_after_years_below and not meets_now:
        # never below what the last year or this year to date still qualifies for
        new_rank = max(0, rank - policy.downgrade_steps, best)
        effective = qualification_year_bounds(programme, this_year)[0]
        return TierDecision(
            previous_tier=current_tier,
            tier=names[new_rank],
            change="downgrade",
            effective_from=effective,
            years_below=years_below,
            at_risk=False,
            reason=(
                f"downgraded from {current_tier} to {names[new_rank]}: "
                f"{plural(years_below, 'consecutive qualification year')} below the "
                f"{current_tier} threshold ({this_year - years_below}-{this_year - 1})"
            ),
        )

    bonus = None
    if tier.retention_bonus and rank > 0:
        for year in (this_year, this_year - 1):
            item = history.get(year, QualificationYear(year=year))
            before = history.get(year - 1, QualificationYear(year=year - 1))
            if meets(tier.qualify, item):
                if held_during(year - 1) and not meets(tier.qualify, before):
                    bonus = RetentionBonus(
                        tier=tier.name,
                        year=year,
                        points=tier.retention_bonus,
                        idempotency_key=f"retention:{tier.name}:{year}",
                    )
                break
    if bonus is not None:
        reason = (
            f"{current_tier} retained: requalified in {bonus.year} after a year below; "
            f"retention bonus {int_text(bonus.points)} points"
        )
    elif at_risk:
        end = qualification_year_bounds(programme, this_year)[1]
        reason = (
            f"{current_tier} at risk: last year was below the threshold; requalify before "
            f"{end} to keep it"
        )
    else:
        reason = f"{current_tier} unchanged"
    return TierDecision(
        previous_tier=current_tier,
        tier=current_tier,
        change="unchanged",
        effective_from=tier_since or as_of,
        years_below=years_below,
        at_risk=at_risk,
        retention_bonus=bonus,
        reason=reason,
    )


def tier_progress(programme: Programme, tier: str, year_to_date: QualificationYear) -> Progress:
    """How far `year_to_date` is from the tier above `tier` (AND/OR honoured) and from
    keeping `tier`. Text like "8 nights or 12,000 CNY to gold"."""
    rank = programme.tier_rank(tier)
    current = programme.tiers[rank]
    currency = programme.currency
    keep_missing = _missing(current.qualify, year_to_date, currency)
    keep_text = f"{keep_missing} to keep {tier}" if keep_missing else f"{tier} requalified"
    if rank + 1 >= len(programme.tiers):
        return Progress(
            tier=tier,
            next_tier=None,
            qualified=False,
            needs=[],
            text=f"{tier} is the top tier",
            keep_text=keep_text,
        )
    upper = programme.tiers[rank + 1]
    missing = _missing(upper.qualify, year_to_date, currency)
    return Progress(
        tier=tier,
        next_tier=upper.name,
        qualified=not missing,
        needs=_needs(upper.qualify, year_to_date),
        text=f"{missing} to {upper.name}" if missing else f"qualified for {upper.name}",
        keep_text=keep_text,
    )
