"""Breakage from the programme's own history, by issue cohort.

Every member's points are walked in ledger order as FIFO lots (the order the ledger's
expiry job and redemptions consume them in). Each lot belongs to the month it was issued
(its cohort); each point leaves its lot as *redeemed* (with the lot's age in months),
*expired*, or *moved* to another member, or is still *open*.

The expected redemption rate (ERR) is projected with the chain-ladder method actuaries use
for loyalty liabilities: the cumulative share redeemed by age `a` in the cohorts old
enough to show age `a+1` gives a development factor `f_a`; each cohort's redeemed points
are projected to the expiry age with the factors (1 beyond the oldest age observed: the
programme's history says nothing there, and the figure says so via `observed_months`).
ERR = projected redeemed / issued, breakage = 1 − ERR.

    table = cohort_table(facts.moves, as_of=date(2026, 12, 31), expiry_months=36)
    table.expected_redemption_rate   # Decimal("0.6512")
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_EVEN, Decimal

from loyalty.analytics.facts import Move

RATE = Decimal("0.0001")
MOVED_IN = "moved-in"  # points received from another member: spendable, no cohort of their own


def month_of(day: date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


def months_between(start: str, day: date) -> int:
    year, month = (int(x) for x in start.split("-"))
    return (day.year - year) * 12 + day.month - month


@dataclass
class Cohort:
    month: str
    issued: int = 0
    redeemed: int = 0
    expired: int = 0
    moved: int = 0
    redeemed_by_age: dict[int, int] = field(default_factory=dict)

    @property
    def open(self) -> int:
        return self.issued - self.redeemed - self.expired - self.moved


@dataclass(frozen=True)
class CohortTable:
    cohorts: list[Cohort]
    factors: dict[int, Decimal]
    projected_redeemed: dict[str, Decimal]
    expected_redemption_rate: Decimal
    observed_months: int

    @property
    def breakage_rate(self) -> Decimal:
        return Decimal(1) - self.expected_redemption_rate


@dataclass
class _Lot:
    month: str
    left: int


def _walk(moves: Iterable[Move]) -> dict[str, Cohort]:
    cohorts: dict[str, Cohort] = {}
    lots: defaultdict[str, list[_Lot]] = defaultdict(list)  # per owner, oldest first
    spent: defaultdict[str, list[tuple[str, int, int]]] = defaultdict(list)  # redemptions

    def cohort(month: str) -> Cohort:
        return cohorts.setdefault(month, Cohort(month))

    def consume(owner: str, points: int, at: date, kind: str) -> None:
        for lot in lots[owner]:
            if points <= 0:
                break
            take = min(lot.left, points)
            if take <= 0:
                continue
            lot.left -= take
            points -= take
            c = cohort(lot.month)
            if kind == "redeemed":
                age = months_between(c.month, at)
                c.redeemed += take
                c.redeemed_by_age[age] = c.redeemed_by_age.get(age, 0) + take
                spent[owner].append((c.month, take, age))
            elif kind == "expired":
                c.expired += take
            else:
                c.moved += take
        lots[owner] = [lot for lot in lots[owner] if lot.left > 0]

    for m in moves:
        day = m.at.date()
        if m.kind == "issued" and m.points > 0:
            cohort(month_of(day)).issued += m.points
            lots[m.owner].append(_Lot(month_of(day), m.points))
        elif m.kind == "issued":  # a reversal takes back the newest points
            take = -m.points
            for lot in reversed(lots[m.owner]):
                got = min(lot.left, take)
                lot.left -= got
                if lot.month != MOVED_IN:
                    cohort(lot.month).issued -= got
                take -= got
        elif m.kind == "redeemed" and m.points > 0:
            consume(m.owner, m.points, day, "redeemed")
        elif m.kind == "redeemed":  # a refund gives back what the last redemptions took
            back = -m.points
            while back > 0 and spent[m.owner]:
                month, took, age = spent[m.owner].pop()
                got = min(took, back)
                c = cohort(month)
                c.redeemed -= got
                c.redeemed_by_age[age] -= got
                lots[m.owner].insert(0, _Lot(month, got))
                back -= got
                if took > got:
                    spent[m.owner].append((month, took - got, age))
        elif m.kind == "expired":
            consume(m.owner, m.points, day, "expired")
        elif m.points < 0:  # moved to another member
            consume(m.owner, -m.points, day, "moved")
        else:  # received from another member: spendable, but not a new issue
            lots[m.owner].append(_Lot(MOVED_IN, m.points))
    cohorts.pop(MOVED_IN, None)
    return cohorts


def cohort_table(moves: Iterable[Move], *, as_of: date, expiry_months: int) -> CohortTable:
    cohorts = sorted(_walk(moves).values(), key=lambda c: c.month)
    horizon = max(expiry_months, 1)
    age_of = {c.month: months_between(c.month, as_of) for c in cohorts}

    def cumulative(c: Cohort, age: int) -> int:
        return sum(p for a, p in c.redeemed_by_age.items() if a <= age)

    oldest = max(age_of.values(), default=0)
    factors: dict[int, Decimal] = {}
    for a in range(0, horizon):
        seen = [c for c in cohorts if age_of[c.month] >= a + 1]
        before = sum(cumulative(c, a) for c in seen)
        after = sum(cumulative(c, a + 1) for c in seen)
        factors[a] = Decimal(after) / Decimal(before) if before else Decimal(1)
    projected: dict[str, Decimal] = {}
    for c in cohorts:
        age = min(age_of[c.month], horizon)
        value = Decimal(cumulative(c, age))
        for a in range(age, horizon):
            value *= factors[a]
        projected[c.month] = min(value, Decimal(c.issued - c.expired - c.moved))
    issued = sum(c.issued - c.moved for c in cohorts)
    err = sum(projected.values(), Decimal(0)) / issued if issued else Decimal(0)
    return CohortTable(
        cohorts,
        factors,
        projected,
        err.quantize(RATE, rounding=ROUND_HALF_EVEN),
        oldest,
    )
