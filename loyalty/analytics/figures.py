"""What a KPI report is made of: figures that carry their own definition, tables, the
query that produced them. Pure data; `kpis.report` fills it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Literal

Unit = Literal["points", "money", "share", "members", "months", "ratio"]
SHARE = Decimal("0.0001")
CENT = Decimal("0.01")


def share(part: Decimal | int, whole: Decimal | int) -> Decimal | None:
    """part / whole to 4 places; None when there is nothing to divide by."""
    if not whole:
        return None
    return (Decimal(part) / Decimal(whole)).quantize(SHARE, rounding=ROUND_HALF_EVEN)


def money(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_EVEN)


@dataclass(frozen=True)
class Figure:
    key: str
    value: int | Decimal | None
    unit: Unit
    definition: str
    flag: str | None = None


@dataclass(frozen=True)
class Query:
    """A period [start, end) and the slices of it asked for."""

    start: date
    end: date
    property_id: str | None = None
    tier: str | None = None
    segment: tuple[str, str] | None = None
    high_value_line: Decimal = Decimal(30000)
    cost_per_point: Decimal | None = None  # default: the programme's redemption point value
    inactive_days: int = 90
    cost_band: tuple[Decimal, Decimal] = (Decimal("0.02"), Decimal("0.05"))
    # Finance's own assumption, when the programme's history is too short to trust.
    redemption_rate_override: Decimal | None = None

    def __post_init__(self) -> None:
        if self.end <= self.start:
            raise ValueError(f"the period must end after it starts ({self.start} .. {self.end})")
        if self.high_value_line < 0:
            raise ValueError("the high-value line must be zero or more")
        if self.cost_per_point is not None and self.cost_per_point <= 0:
            raise ValueError("cost per point must be more than zero")
        if self.redemption_rate_override is not None and not (
            0 <= self.redemption_rate_override <= 1
        ):
            raise ValueError("the expected redemption rate must be between 0 and 1")
        if not 1 <= self.inactive_days <= 3650:
            raise ValueError("inactive days must be between 1 and 3650")


@dataclass(frozen=True)
class Drifting:
    member_id: str
    tier: str
    last_activity: date
    days_inactive: int
    points: int
    spend_12m: Decimal


@dataclass
class Report:
    query: Query
    currency: str
    figures: list[Figure] = field(default_factory=list)
    tier_distribution: dict[str, int] = field(default_factory=dict)
    tier_migration: dict[str, dict[str, int]] = field(default_factory=dict)
    retention_by_tier: dict[str, Decimal | None] = field(default_factory=dict)
    cohorts: list[dict[str, object]] = field(default_factory=list)
    monthly: list[dict[str, object]] = field(default_factory=list)
    quarterly: list[dict[str, object]] = field(default_factory=list)
    drifting: list[Drifting] = field(default_factory=list)

    def figure(self, key: str) -> Figure:
        for f in self.figures:
            if f.key == key:
                return f
        raise KeyError(key)

    def value(self, key: str) -> int | Decimal | None:
        return self.figure(key).value
