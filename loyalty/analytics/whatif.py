"""What-if: a synthetic population's year run through the real rules engine, under the
current programme and a proposed change, side by side. Nothing touches the database: the
programmes are in-memory copies (`Programme.model_copy`), balances live in this process.

What runs through `loyalty.rules` for every member: `compute_earn` prices each stay and
each dinner, `highest_tier_met` upgrades during the year, `quote_redemption` prices award
nights, `expire` expires lots at month ends, `consume_fifo` takes redeemed points oldest
first, and `evaluate_tier` decides the year-end tier (downgrades, retention bonuses). The
rules are pure, so identical questions are asked once (`Engine` memoises by the exact
request); a limited activity earn is re-asked whenever its limit could bind.

    pop = generate(100_000, seed=20)
    current, proposed = compare(pop, programme, proposed_programme, workers=2)
"""

from __future__ import annotations

import multiprocessing
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from loyalty.analytics.population import Population, SimMember
from loyalty.rules import (
    ActivityEarnRequest,
    EarnLot,
    EarnMember,
    FolioLine,
    QualificationYear,
    StayEarnRequest,
    compute_earn,
    consume_fifo,
    evaluate_tier,
    expire,
    highest_tier_met,
    meets,
    quote_redemption,
)
from loyalty.rules.numbers import add_months
from loyalty.rules.programme import Programme

DINNER = Decimal(400)
AWARD_RATE = 800  # award nights are booked in a standard room at 800 CNY cash
OCCUPANCY = Decimal("0.5")


@dataclass
class Tally:
    members: int = 0
    issued: int = 0
    redeemed: int = 0
    expired: int = 0
    opening: int = 0
    closing: int = 0
    revenue_minor: int = 0
    award_nights: int = 0
    bonuses: int = 0
    stayers: int = 0
    repeaters: int = 0
    high_value: int = 0
    active_quarters: list[int] = field(default_factory=lambda: [0, 0, 0, 0])
    tiers_start: Counter[str] = field(default_factory=Counter)
    tiers_end: Counter[str] = field(default_factory=Counter)

    def add(self, other: Tally) -> None:
        for name in (
            "members",
            "issued",
            "redeemed",
            "expired",
            "opening",
            "closing",
            "revenue_minor",
            "award_nights",
            "bonuses",
            "stayers",
            "repeaters",
            "high_value",
        ):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.active_quarters = [
            a + b for a, b in zip(self.active_quarters, other.active_quarters, strict=True)
        ]
        self.tiers_start.update(other.tiers_start)
        self.tiers_end.update(other.tiers_end)


class Engine:
    """The rules, asked through a memo (they are pure functions of their arguments)."""

    def __init__(self, programme: Programme) -> None:
        self.p = programme
        self.stays: dict[tuple[object, ...], tuple[int, Decimal, int]] = {}
        self.meals: dict[tuple[object, ...], int] = {}
        self.awards: dict[tuple[date, int], int] = {}
        self.years: dict[tuple[object, ...], tuple[str, int]] = {}
        limit = programme.earn.activities.get("fnb")
        self.meal_limit = limit.limit.points if limit and limit.limit else None
        self.cutoffs: dict[date, date] = {}
        self.ends: dict[int, list[date]] = {}

    def month_ends(self, year: int) -> list[date]:
        if year not in self.ends:
            ends = [add_months(date(year, 1, 1), k) - timedelta(days=1) for k in range(1, 13)]
            e = self.p.expiry
            months = e.months_after_earning if e.policy == "fixed" else e.inactivity_months
            for day in ends:
                self.cutoffs[day] = add_months(day, -months) + timedelta(days=3)
            self.ends[year] = ends
        return self.ends[year]

    def stay(
        self, tier: str, m: SimMember, arrival: date, nights: int, channel: str
    ) -> tuple[int, Decimal, int]:
        key = (tier, arrival, nights, channel, m.room_type, m.rate)
        if key not in self.stays:
            room = Decimal(m.rate * nights)
            request = StayEarnRequest(
                check_in=arrival,
                check_out=arrival + timedelta(days=nights),
                channel=channel,
                room_type=m.room_type,
                lines=[
                    FolioLine(category="room", amount=room),
                    FolioLine(category="fnb", amount=room * Decimal("0.15")),
                ],
            )
            b = compute_earn(self.p, request, EarnMember(tier=tier))
            self.stays[key] = (b.points, b.qualifying_spend, b.qualifying_nights)
        return self.stays[key]

    def meal(self, tier: str, on: date, earned: int) -> tuple[int, Decimal]:
        """Points for a dinner, and its qualifying spend."""
        if "fnb" not in self.p.earn.activities:
            return 0, Decimal(0)
        qualifying = DINNER if self.p.earn.activities["fnb"].qualifying else Decimal(0)
        key = (tier, on)
        if key not in self.meals:
            b = compute_earn(
                self.p, ActivityEarnRequest(kind="fnb", on=on, amount=DINNER), EarnMember(tier=tier)
            )
            self.meals[key] = b.points
        points = self.meals[key]
        if self.meal_limit is not None and earned + points > self.meal_limit:
            b = compute_earn(
                self.p,
                ActivityEarnRequest(kind="fnb", on=on, amount=DINNER),
                EarnMember(tier=tier, earned_this_period={"fnb": earned}),
            )
            points = b.points
        return points, qualifying

    def award(self, on: date, rate: int) -> int:
        key = (on, rate)
        if key not in self.awards:
            q = quote_redemption(self.p, Decimal(rate), [on], OCCUPANCY)
            self.awards[key] = q.total_points
        return self.awards[key]

    def year_end(
        self, tier: str, m: SimMember, year: int, spend: Decimal, nights: int, stays: int
    ) -> tuple[str, int]:
        this = QualificationYear(year=year, spend=spend, nights=nights, stays=stays)
        signature = tuple(meets(t.qualify, this) for t in self.p.tiers)
        key = (tier, m.years_below, signature)
        if key not in self.years:
            held = self.p.tier(tier).qualify.spend or Decimal(0)
            last = Decimal(0) if m.years_below else held
            history = [
                QualificationYear(year=year - 2, spend=held),
                QualificationYear(year=year - 1, spend=last),
                this,
            ]
            d = evaluate_tier(self.p, tier, history, date(year + 1, 1, 1))
            bonus = d.retention_bonus.points if d.retention_bonus else 0
            self.years[key] = (d.tier, bonus)
        return self.years[key]


@dataclass
class Lot:
    earned_on: date
    left: int


def _lots(lots: list[Lot]) -> list[EarnLot]:
    return [
        EarnLot(lot_id=str(i), earned_at=lot.earned_on, remaining=lot.left)
        for i, lot in enumerate(lots)
    ]


def _expire_due(p: Programme, lots: list[Lot], last: date | None, cutoff: date) -> bool:
    """Whether `expire` may find anything (skips asking it on most month ends): `cutoff`
    is a few days after the month end moved back by the expiry period, so month-end
    clamping never hides a due lot; `expire` itself decides."""
    if not lots or p.expiry.policy == "never":
        return False
    if p.expiry.policy == "fixed":
        return lots[0].earned_on <= cutoff
    newest = max(lot.earned_on for lot in lots)
    return (max(newest, last) if last else newest) <= cutoff


def run_member(engine: Engine, m: SimMember, pop: Population, t: Tally) -> None:
    p, year = engine.p, pop.year
    tier = m.tier
    t.members += 1
    t.tiers_start[tier] += 1
    lots = [Lot(d, n) for d, n in m.lots]  # FIFO, oldest first
    t.opening += sum(lot.left for lot in lots)
    spend = Decimal(0)
    nights_total = stays_done = meal_points = 0
    last: date | None = None
    quarters: set[int] = set()
    events = sorted(
        [(s.arrival, 0, i) for i, s in enumerate(m.stays)]
        + [(d, 1, i) for i, d in enumerate(m.meals)]
    )
    pending = list(engine.month_ends(year))

    def run_expiry(day: date) -> None:
        if _expire_due(p, lots, last, engine.cutoffs[day]):
            for a in expire(p, _lots(lots), last, day):
                lots[int(a.lot_id)].left -= a.points
                t.expired += a.points
            lots[:] = [lot for lot in lots if lot.left]

    for day, kind, i in events:
        while pending and pending[0] < day:
            run_expiry(pending.pop(0))
        quarters.add((day.month - 1) // 3)
        last = day
        if kind == 1:
            points, qualifying = engine.meal(tier, day, meal_points)
            meal_points += points
            spend += qualifying
            t.revenue_minor += int(DINNER * 100)
        else:
            stay = m.stays[i]
            points, qualifying, nights = engine.stay(
                tier, m, stay.arrival, stay.nights, stay.channel
            )
            t.revenue_minor += int(Decimal(m.rate * stay.nights) * Decimal("1.15") * 100)
            spend += qualifying
            nights_total += nights or stay.nights
            stays_done += 1
            up = highest_tier_met(
                p, QualificationYear(year=year, spend=spend, nights=nights_total, stays=stays_done)
            )
            tier = p.tier_names[max(up, p.tier_rank(tier))]
        if points:
            lots.append(Lot(day, points))
            t.issued += points
        if kind == 0 and m.redeem_draws[i] < pop.targets.redeem_probability:
            price = engine.award(day + timedelta(days=60), AWARD_RATE)
            if 0 < price <= sum(lot.left for lot in lots):
                for debit in consume_fifo(_lots(lots), price):
                    lots[int(debit.lot_id)].left -= debit.points
                lots[:] = [lot for lot in lots if lot.left]
                t.redeemed += price
                t.award_nights += 1
    for day in pending:
        run_expiry(day)
    tier, bonus = engine.year_end(tier, m, year, spend, nights_total, stays_done)
    if bonus:
        lots.append(Lot(date(year + 1, 1, 1), bonus))
        t.issued += bonus
        t.bonuses += 1
    t.tiers_end[tier] += 1
    t.closing += sum(lot.left for lot in lots)
    t.stayers += stays_done >= 1
    t.repeaters += stays_done >= 2
    yearly = sum(int(Decimal(m.rate * s.nights) * Decimal("1.15") * 100) for s in m.stays)
    yearly += len(m.meals) * int(DINNER * 100)
    t.high_value += yearly >= int(pop.targets.high_value_line * 100)
    for q in quarters:
        t.active_quarters[q] += 1


# --- running a population --------------------------------------------------------------------

_POP: Population | None = None  # set before the workers fork (read-only in them)
_ENGINES: dict[int, Engine] = {}  # per process: one memo per programme, across chunks


def _chunk(args: tuple[int, Programme, int, int]) -> Tally:
    number, programme, start, end = args
    assert _POP is not None
    engine = _ENGINES.get(number)
    if engine is None or (engine.p is not programme and engine.p != programme):
        engine = _ENGINES[number] = Engine(programme)
    tally = Tally()
    for m in _POP.members[start:end]:
        run_member(engine, m, _POP, tally)
    return tally


def simulate(pop: Population, programmes: list[Programme], *, workers: int = 2) -> list[Tally]:
    """One Tally per programme, the same members under each."""
    global _POP
    _POP = pop
    n = len(pop.members)
    parts = max(1, workers) * 4
    bounds = [(n * k // parts, n * (k + 1) // parts) for k in range(parts)]
    jobs = [(k, prog, a, b) for k, prog in enumerate(programmes) for a, b in bounds]
    try:
        if workers <= 1:
            results = [_chunk(job) for job in jobs]
        else:
            fork = multiprocessing.get_context("fork")
            with ProcessPoolExecutor(workers, mp_context=fork) as pool:
                results = list(pool.map(_chunk, jobs))
    finally:
        _POP = None
        _ENGINES.clear()
    out = []
    for k in range(len(programmes)):
        total = Tally()
        for r in results[k * parts : (k + 1) * parts]:
            total.add(r)
        out.append(total)
    return out
