"""Pricing an earn: how many points a stay or a non-stay activity is worth, and why.

    >>> breakdown = compute_earn(programme, StayEarnRequest(
    ...     check_in=date(2026, 11, 20), check_out=date(2026, 11, 23),
    ...     channel="direct", room_type="suite",
    ...     lines=[FolioLine(category="room", amount=Decimal("3000")),
    ...            FolioLine(category="fnb", amount=Decimal("500")),
    ...            FolioLine(category="tax", amount=Decimal("210"))]),
    ...     EarnMember(tier="gold"))
    >>> breakdown.points
    9072
    >>> [step.rule for step in breakdown.steps]
    ['excluded:tax', 'base', 'tier', 'off_peak', 'direct_booking', 'premium_room']

Arithmetic is exact (`Fraction` built from `Decimal`); the total is floored to an int once,
at the very end. Each step's `points` is shown to 2 decimals for the explanation only.
Multipliers apply in the order the programme declares them: a `running` multiplier
compounds on the total so far, a `base` one adds a share of the base points; a step's
`max_bonus_points` caps what it adds; `max_combined_multiplier` caps the whole; an
activity's per-period limit is applied last.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Annotated, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from loyalty.rules.errors import EarnError
from loyalty.rules.numbers import (
    decimal_text,
    display,
    factor_text,
    floor_points,
    int_text,
    money_text,
    to_fraction,
)
from loyalty.rules.periods import limit_window
from loyalty.rules.programme import Money, Multiplier, Name, Points, Programme
from loyalty.rules.seasons import tags_on

MAX_NIGHTS_PER_STAY = 365


class RulesModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FolioLine(RulesModel):
    """One line of a stay's folio: a category (room, fnb, spa, tax, ...) and an amount."""

    category: Name
    amount: Money
    description: Annotated[str, StringConstraints(max_length=128)] = ""


class StayEarnRequest(RulesModel):
    """Points for a stay, priced from its folio at check-out (or estimated for dry runs)."""

    kind: Literal["stay"] = "stay"
    check_in: date
    check_out: date
    channel: Name
    room_type: Name
    lines: list[FolioLine] = Field(default_factory=list, max_length=500)

    @model_validator(mode="after")
    def _dates(self) -> Self:
        nights = (self.check_out - self.check_in).days
        if nights < 1:
            raise ValueError("check_out must be at least one day after check_in")
        if nights > MAX_NIGHTS_PER_STAY:
            raise ValueError(f"a stay may not exceed {MAX_NIGHTS_PER_STAY} nights")
        return self

    @property
    def nights(self) -> list[date]:
        count = (self.check_out - self.check_in).days
        return [self.check_in + timedelta(days=i) for i in range(count)]


class ActivityEarnRequest(RulesModel):
    """Points for a non-stay activity (`kind` names an activity of the programme: fnb, spa,
    partner, profile_completion, survey, ...)."""

    kind: Name
    on: date
    amount: Money = Decimal(0)
    channel: Name | None = None
    partner: Name | None = None

    @model_validator(mode="after")
    def _not_stay(self) -> Self:
        if self.kind == "stay":
            raise ValueError('kind "stay" needs a StayEarnRequest (folio lines and dates)')
        return self


EarnRequest = StayEarnRequest | ActivityEarnRequest


class EarnMember(RulesModel):
    """What the rules need to know about the member: their tier and, per activity kind,
    points already earned in that activity's current limit period (see `limit_window`)."""

    tier: Name
    earned_this_period: dict[Name, Points] = Field(default_factory=dict, max_length=64)


StepKind = Literal["excluded", "base", "multiplier", "skipped", "cap", "limit"]


class EarnStep(RulesModel):
    rule: str
    kind: StepKind
    points: Decimal
    running_total: Decimal
    factor: Decimal | None = None
    explanation: str


class EarnBreakdown(RulesModel):
    """The result and its explanation (what the API's `dry_run` returns)."""

    kind: str
    tier: str
    points: int
    exact_points: Decimal
    eligible_amount: Decimal
    qualifying_spend: Decimal
    qualifying_nights: int
    qualifying_stays: int
    steps: list[EarnStep]
    limit_window: tuple[date, date] | None = None
    rounding: str = "exact arithmetic, floored once at the end"

    @property
    def explanation(self) -> str:
        return "\n".join(step.explanation for step in self.steps)


class _Ledger:
    """Accumulates steps while computing (local to one call)."""

    def __init__(self) -> None:
        self.steps: list[EarnStep] = []
        self.running = Fraction(0)

    def add(
        self,
        rule: str,
        kind: StepKind,
        points: Fraction,
        explanation: str,
        factor: Decimal | None = None,
    ) -> None:
        self.running += points
        self.steps.append(
            EarnStep(
                rule=rule,
                kind=kind,
                points=display(points),
                running_total=display(self.running),
                factor=factor,
                explanation=explanation,
            )
        )


def _covered(mult: Multiplier, programme: Programme, days: list[date]) -> tuple[int, str | None]:
    """How many of the request's nights (or its single day) a multiplier covers, and why
    not when it covers none."""
    when = mult.when
    matching = days
    if when.start is not None or when.end is not None:
        lo, hi = when.start or date.min, when.end or date.max
        matching = [d for d in matching if lo <= d <= hi]
        if not matching:
            return 0, f"outside the promotion dates {lo} to {hi}"
    if when.seasons is not None:
        wanted = set(when.seasons)
        matching = [d for d in matching if tags_on(programme, d) & wanted]
        if not matching:
            return 0, f"no date in season {' / '.join(when.seasons)}"
    return len(matching), None


def _applies(
    mult: Multiplier, kind: str, tier: str, channel: str | None, room_type: str | None
) -> str | None:
    """None when the multiplier's non-date conditions hold, else the reason it does not."""
    when = mult.when
    if kind not in when.kinds:
        return f"does not apply to {kind}"
    if when.tiers is not None and tier not in when.tiers:
        return f"only for tiers {', '.join(when.tiers)}"
    if when.channels is not None and channel not in when.channels:
        return f"booking channel {channel or 'none'} is not one of {', '.join(when.channels)}"
    if when.room_types is not None and room_type not in when.room_types:
        return f"room type {room_type or 'none'} is not one of {', '.join(when.room_types)}"
    return None


def compute_earn(programme: Programme, request: EarnRequest, member: EarnMember) -> EarnBreakdown:
    """Points for `request`, with each rule's contribution explained. Pure: the member's
    period totals come in `member`; nothing is read from a clock or a database.

    Raises `EarnError` (code `unknown_tier`, `unknown_kind` or `amount_too_large`).
    """
    if member.tier not in programme.tier_names:
        raise EarnError(
            "unknown_tier",
            f"unknown tier {member.tier!r}; this programme's tiers are "
            f"{', '.join(programme.tier_names)}",
        )
    tier = programme.tier(member.tier)
    earn = programme.earn
    currency = programme.currency
    book = _Ledger()
    qualifying_spend = Decimal(0)
    qualifying_nights = qualifying_stays = 0
    window: tuple[date, date] | None = None
    channel: str | None
    room_type: str | None
    rate = to_fraction(earn.base_points_per_unit)
    # A stay's points per folio category, base and running: a multiplier limited to some
    # categories (`when.categories`) multiplies only theirs.
    base_of: dict[str, Fraction] = {}
    running_of: dict[str, Fraction] = {}

    if isinstance(request, StayEarnRequest):
        kind = "stay"
        days = request.nights
        channel, room_type = request.channel, request.room_type
        eligible = Decimal(0)
        by_category: dict[str, Decimal] = {}
        base = Fraction(0)
        excluded: dict[str, Decimal] = {}
        for line in request.lines:
            weight = earn.stay_categories.get(line.category, Decimal(0))
            if weight == 0:
                excluded[line.category] = excluded.get(line.category, Decimal(0)) + line.amount
                continue
            eligible += line.amount
            by_category[line.category] = by_category.get(line.category, Decimal(0)) + line.amount
            line_points = to_fraction(line.amount) * to_fraction(weight) * rate
            base += line_points
            base_of[line.category] = base_of.get(line.category, Fraction(0)) + line_points
        running_of.update(base_of)
        total = sum((line.amount for line in request.lines), Decimal(0))
        if total > earn.max_amount_per_request:
            raise EarnError(
                "amount_too_large",
                f"folio total {money_text(total, currency)} exceeds the programme's "
                f"per-request maximum of {money_text(earn.max_amount_per_request, currency)}",
            )
        for category, amount in excluded.items():
            book.add(
                f"excluded:{category}",
                "excluded",
                Fraction(0),
                f"{category} ({money_text(amount, currency)}) does not earn points",
            )
        qualifying = earn.qualifying_categories
        qualifying_spend = sum(
            (
                amount
                for category, amount in by_category.items()
                if qualifying is None or category in qualifying
            ),
            Decimal(0),
        )
        qualifying_nights, qualifying_stays = len(days), 1
        parts = ", ".join(f"{c} {decimal_text(a)}" for c, a in by_category.items())
        book.add(
            "base",
            "base",
            base,
            f"base: {factor_text(earn.base_points_per_unit)} point per {currency} on "
            f"{money_text(eligible, currency)} eligible spend ({parts or 'none'}) "
            f"= {decimal_text(base)} points",
        )
    else:
        kind = request.kind
        activity = earn.activities.get(kind)
        if activity is None:
            known = ", ".join(["stay", *earn.activities])
            raise EarnError(
                "unknown_kind", f"unknown earn kind {kind!r}; the programme knows {known}"
            )
        if request.amount > earn.max_amount_per_request:
            raise EarnError(
                "amount_too_large",
                f"amount {money_text(request.amount, currency)} exceeds the programme's "
                f"per-request maximum of {money_text(earn.max_amount_per_request, currency)}",
            )
        days = [request.on]
        channel, room_type = request.channel, None
        eligible = request.amount
        base = (
            to_fraction(request.amount) * to_fraction(activity.points_per_unit)
            + activity.fixed_points
        )
        if activity.qualifying:
            qualifying_spend = request.amount
        pieces = []
        if activity.points_per_unit:
            pieces.append(
                f"{factor_text(activity.points_per_unit)} point per {currency} on "
                f"{money_text(request.amount, currency)}"
            )
        if activity.fixed_points:
            pieces.append(f"{int_text(activity.fixed_points)} points per {kind}")
        book.add("base", "base", base, f"base: {' + '.join(pieces)} = {decimal_text(base)} points")

    for mult in earn.multipliers:
        factor = tier.earn_multiplier if mult.source == "tier" else mult.factor
        assert factor is not None  # the loader refuses a fixed multiplier without a factor
        label = f"{mult.name} x{factor_text(factor)}"
        if mult.source == "tier":
            label = f"tier {tier.name} x{factor_text(factor)}"
        why_not = _applies(mult, kind, tier.name, channel, room_type)
        covered = 0
        if why_not is None:
            covered, why_not = _covered(mult, programme, days)
        wanted = mult.when.categories
        on_folio = kind == "stay" and wanted is not None
        if why_not is None and on_folio and not any(base_of.get(c, 0) > 0 for c in wanted or []):
            why_not = f"no {' or '.join(wanted or [])} spend on this folio"
        if why_not is not None or factor == 1:
            book.add(
                mult.name,
                "skipped",
                Fraction(0),
                f"{label}: not applied ({why_not})" if why_not else f"{label}: no bonus",
                factor,
            )
            continue
        basis = book.running if mult.applies_to == "running" else base
        share = (to_fraction(factor) - 1) * Fraction(covered, len(days))
        parts_of = running_of if mult.applies_to == "running" else base_of
        chosen: list[str] = []
        if kind == "stay" and wanted is not None:
            chosen = [c for c in parts_of if c in wanted]
            basis = sum((parts_of[c] for c in chosen), Fraction(0))
        else:
            chosen = list(parts_of)
        gains = {c: parts_of[c] * share for c in chosen}
        bonus = basis * share
        note = "" if covered == len(days) else f" on {covered} of {len(days)} nights"
        of = "running total" if mult.applies_to == "running" else "base points"
        if kind == "stay" and wanted is not None:
            of += f" of {', '.join(chosen)}"
        text = f"{label} on the {of}{note}: +{decimal_text(bonus)} points"
        if mult.max_bonus_points is not None and bonus > mult.max_bonus_points:
            text = (
                f"{label} on the {of}{note}: +{decimal_text(bonus)} capped at "
                f"{int_text(mult.max_bonus_points)} points"
            )
            scale = Fraction(mult.max_bonus_points) / bonus
            gains = {c: g * scale for c, g in gains.items()}
            bonus = Fraction(mult.max_bonus_points)
        for category, gain in gains.items():
            running_of[category] += gain
        book.add(mult.name, "multiplier", bonus, text, factor)

    if earn.max_combined_multiplier is not None:
        ceiling = base * to_fraction(earn.max_combined_multiplier)
        if book.running > ceiling:
            book.add(
                "max_combined_multiplier",
                "cap",
                ceiling - book.running,
                f"cap: at most x{factor_text(earn.max_combined_multiplier)} the base points "
                f"= {decimal_text(ceiling)} points",
            )

    if kind != "stay":
        activity = earn.activities[kind]
        if activity.limit is not None:
            window = limit_window(programme, activity.limit.period, days[0])
            already = member.earned_this_period.get(kind, 0)
            room = Fraction(max(0, activity.limit.points - already))
            if book.running > room:
                period = activity.limit.period.replace("_", " ")
                book.add(
                    f"limit:{kind}",
                    "limit",
                    room - book.running,
                    f"limit: {int_text(activity.limit.points)} {kind} points per {period}, "
                    f"{int_text(already)} already earned, so at most {int_text(int(room))} more",
                )

    points = max(0, floor_points(book.running))
    return EarnBreakdown(
        kind=kind,
        tier=tier.name,
        points=points,
        exact_points=display(book.running, 4),
        eligible_amount=eligible,
        qualifying_spend=qualifying_spend,
        qualifying_nights=qualifying_nights,
        qualifying_stays=qualifying_stays,
        steps=book.steps,
        limit_window=window,
    )


def earn_limit_window(programme: Programme, kind: str, on: date) -> tuple[date, date] | None:
    """The `[start, end)` window whose earned points the caller must sum into
    `EarnMember.earned_this_period[kind]`; None when `kind` has no limit.

        >>> earn_limit_window(programme, "survey", date(2026, 5, 2))
        (datetime.date(2026, 1, 1), datetime.date(2027, 1, 1))
    """
    activity = programme.earn.activities.get(kind)
    if activity is None or activity.limit is None:
        return None
    return limit_window(programme, activity.limit.period, on)


__all__ = [
    "ActivityEarnRequest",
    "EarnBreakdown",
    "EarnMember",
    "EarnRequest",
    "EarnStep",
    "FolioLine",
    "StayEarnRequest",
    "compute_earn",
    "earn_limit_window",
]
