"""The programme definition: what a programme TOML file may say, as pydantic models.

Everything the loyalty team tunes is here as data: tiers and how members qualify for
them, earn rules and multipliers, seasons, redemption pricing, expiry, downgrade policy,
transfers, partners and abuse thresholds. `loader.load_programme` reads a file into a
`Programme`; the pure functions in `earn`, `tiers`, `redemption`, `expiry` and
`transfers` take it as their first argument.

Decimals never come from floats: the loader parses TOML floats as `Decimal`, and every
decimal field refuses a Python float.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainValidator,
    StringConstraints,
)

from loyalty.rules.benefits import Benefit
from loyalty.rules.errors import RulesError
from loyalty.rules.numbers import reject_float, valid_month_day
from loyalty.rules.offers import Offers

Name = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,31}$")]
"""Lower-case identifier used for tiers, seasons, categories, channels, partners."""

MonthDay = Annotated[str, StringConstraints(pattern=r"^(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$")]
"""A recurring calendar day, "MM-DD"."""

Factor = Annotated[
    Decimal,
    BeforeValidator(reject_float),
    Field(ge=1, le=100, max_digits=12, decimal_places=6),
]
"""A multiplier ≥ 1 (bonus factors never reduce points)."""

PriceFactor = Annotated[
    Decimal,
    BeforeValidator(reject_float),
    Field(gt=0, le=100, max_digits=12, decimal_places=6),
]
"""A pricing factor > 0 (may be below 1: cheaper when occupancy is low)."""

Rate = Annotated[
    Decimal,
    BeforeValidator(reject_float),
    Field(ge=0, le=10_000, max_digits=16, decimal_places=6),
]
"""Points per currency unit (0 means "does not earn")."""

Money = Annotated[
    Decimal,
    BeforeValidator(reject_float),
    Field(ge=0, le=Decimal("1000000000"), max_digits=16, decimal_places=2),
]
Points = Annotated[int, Field(ge=0, le=1_000_000_000)]
Share = Annotated[
    Decimal, BeforeValidator(reject_float), Field(ge=0, le=1, max_digits=8, decimal_places=6)
]


def _season_bound(value: object) -> date | str:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, str):
        if re.fullmatch(r"(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])", value) and valid_month_day(
            value
        ):
            return value
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise ValueError(
        'a season bound is a date (2026-02-14) for a one-off range or a string "MM-DD" '
        '("10-01") for a range that recurs every year'
    )


SeasonBound = Annotated[date | str, PlainValidator(_season_bound)]


class Rules(BaseModel):
    """Base: unknown keys are errors (typos must not silently do nothing); immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


# --- seasons ---------------------------------------------------------------------------------


class Season(Rules):
    """A date range with a kind. `start`/`end` are inclusive; both dates (one-off range) or
    both "MM-DD" (recurs every year; may wrap the year end, e.g. "12-20" to "01-05")."""

    name: Name
    kind: Name
    start: SeasonBound
    end: SeasonBound


# --- tiers and qualification -----------------------------------------------------------------


class Criteria(Rules):
    """Thresholds over a qualification year. `match = "any"` (OR) or `"all"` (AND) combines
    the metrics given here and the nested `groups`. No thresholds at all: always met."""

    match: Literal["any", "all"] = "any"
    spend: Money | None = None
    nights: Points | None = None
    stays: Points | None = None
    groups: list[Criteria] = Field(default_factory=list, max_length=8)


class Tier(Rules):
    name: Name
    earn_multiplier: Factor = Decimal(1)
    qualify: Criteria = Criteria()
    retention_bonus: Points = 0


class Qualification(Rules):
    year_starts: MonthDay = "01-01"
    downgrade_after_years_below: int = Field(default=2, ge=1, le=10)
    downgrade_steps: int = Field(default=1, ge=1, le=10)


# --- earning ---------------------------------------------------------------------------------


class Condition(Rules):
    """When a multiplier applies. Every condition given must hold (AND); a list matches
    any of its items. `seasons` names season names or kinds and applies pro rata to the
    nights of a stay that fall in them; `start`/`end` (inclusive) bound a promotion the
    same way."""

    kinds: list[Name] = Field(default_factory=lambda: ["stay"], min_length=1, max_length=32)
    # The folio categories of a stay the step multiplies (None: every earning category).
    # Activities (dining, spa outside a stay) are selected by `kinds`, not by this.
    categories: list[Name] | None = Field(default=None, min_length=1, max_length=64)
    seasons: list[Name] | None = Field(default=None, max_length=32)
    channels: list[Name] | None = Field(default=None, max_length=32)
    room_types: list[Name] | None = Field(default=None, max_length=64)
    tiers: list[Name] | None = Field(default=None, max_length=16)
    start: date | None = None
    end: date | None = None


class Multiplier(Rules):
    """One stacking step. `source = "tier"` takes the member's tier earn multiplier;
    `"fixed"` uses `factor`. `applies_to = "running"` compounds on the total so far,
    `"base"` adds a share of base points (Marriott/Hilton-style elite bonus).
    `max_bonus_points` caps what this step may add to one earn."""

    name: Name
    source: Literal["fixed", "tier"] = "fixed"
    factor: Factor | None = None
    applies_to: Literal["running", "base"] = "running"
    when: Condition = Condition()
    max_bonus_points: Points | None = None


class Limit(Rules):
    points: Points
    period: Literal["day", "week", "month", "year", "qualification_year", "lifetime"]


class Activity(Rules):
    """Non-stay earning: `points_per_unit` of the amount plus `fixed_points` per event,
    limited per period. `qualifying = true` adds the amount to tier qualifying spend."""

    points_per_unit: Rate = Decimal(0)
    fixed_points: Points = 0
    limit: Limit | None = None
    qualifying: bool = False


def _default_categories() -> dict[str, Decimal]:
    return {"room": Decimal(1), "fnb": Decimal(1), "spa": Decimal(1)}


class Earn(Rules):
    base_points_per_unit: Annotated[
        Decimal,
        BeforeValidator(reject_float),
        Field(gt=0, le=1000, max_digits=12, decimal_places=6),
    ] = Decimal(1)
    stay_categories: dict[Name, Rate] = Field(default_factory=_default_categories, max_length=64)
    qualifying_categories: list[Name] | None = Field(default=None, max_length=64)
    multipliers: list[Multiplier] = Field(default_factory=list, max_length=32)
    max_combined_multiplier: Factor | None = None
    max_amount_per_request: Money = Decimal(1_000_000)
    activities: dict[Name, Activity] = Field(default_factory=dict, max_length=32)


# --- redemption ------------------------------------------------------------------------------


class InventoryBand(Rules):
    up_to: Share
    factor: PriceFactor


class PointsAndCash(Rules):
    step_points: int = Field(default=1000, ge=1, le=1_000_000)
    cash_per_point: (
        Annotated[
            Decimal,
            BeforeValidator(reject_float),
            Field(gt=0, le=1000, max_digits=12, decimal_places=6),
        ]
        | None
    ) = None
    max_options: int = Field(default=50, ge=2, le=500)


def _default_bands() -> list[InventoryBand]:
    return [InventoryBand(up_to=Decimal(1), factor=Decimal(1))]


class Redemption(Rules):
    point_value: Annotated[
        Decimal,
        BeforeValidator(reject_float),
        Field(gt=0, le=1000, max_digits=12, decimal_places=6),
    ] = Decimal("0.01")
    minimum_points: Points = 5000
    round_up_to: int = Field(default=100, ge=1, le=100_000)
    season_factors: dict[Name, PriceFactor] = Field(default_factory=dict, max_length=32)
    inventory_bands: list[InventoryBand] = Field(
        default_factory=_default_bands, min_length=1, max_length=16
    )
    points_and_cash: PointsAndCash | None = None
    free_night_every: int | None = Field(default=None, ge=2, le=30)
    max_nights: int = Field(default=30, ge=1, le=365)
    max_cash_rate: Money = Decimal(1_000_000)


# --- expiry, transfers, partners, abuse ------------------------------------------------------


class Expiry(Rules):
    policy: Literal["fixed", "inactivity", "never"] = "fixed"
    months_after_earning: int = Field(default=36, ge=1, le=600)
    inactivity_months: int = Field(default=24, ge=1, le=600)


class Transfers(Rules):
    enabled: bool = True
    annual_cap_points: Points = 50_000
    minimum_points: Points = 1000
    step_points: int = Field(default=1, ge=1, le=1_000_000)


class Partner(Rules):
    """Outbound conversion: `points` programme points become `units` partner units
    (airline miles 3:1 → points = 3, units = 1)."""

    kind: Literal["airline", "rail", "hotel", "retail", "other"] = "other"
    points: int = Field(ge=1, le=1_000_000)
    units: int = Field(ge=1, le=1_000_000)
    unit_name: Annotated[str, StringConstraints(min_length=1, max_length=32)] = "miles"
    minimum_points: Points = 0


class Velocity(Rules):
    max_earns: int = Field(default=5, ge=1, le=100_000)
    window_minutes: int = Field(default=10, ge=1, le=60 * 24 * 31)
    action: Literal["flag", "reject"] = "flag"


class ReversalLoops(Rules):
    max_reversals: int = Field(default=3, ge=1, le=100_000)
    window_days: int = Field(default=30, ge=1, le=3660)


class Abuse(Rules):
    velocity: Velocity = Velocity()
    reversal_loops: ReversalLoops = ReversalLoops()


# --- the programme ---------------------------------------------------------------------------


class Programme(Rules):
    """A whole programme. Tiers are listed lowest first; the first is the entry tier."""

    name: Annotated[str, StringConstraints(min_length=1, max_length=80)]
    currency: Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")] = "CNY"
    version: Annotated[str, StringConstraints(min_length=1, max_length=32)] = "1"
    seasons: list[Season] = Field(default_factory=list, max_length=256)
    tiers: list[Tier] = Field(min_length=1, max_length=16)
    qualification: Qualification = Qualification()
    earn: Earn = Earn()
    redemption: Redemption = Redemption()
    expiry: Expiry = Expiry()
    transfers: Transfers = Transfers()
    partners: dict[Name, Partner] = Field(default_factory=dict, max_length=64)
    abuse: Abuse = Abuse()
    benefits: list[Benefit] = Field(default_factory=list, max_length=256)
    offers: Offers = Offers()
    """The benefit catalogue (`loyalty.rules.benefits`); empty means the programme grants
    no benefits beyond points."""

    @property
    def tier_names(self) -> list[str]:
        return [tier.name for tier in self.tiers]

    def tier(self, name: str) -> Tier:
        """The tier called `name`; a `RulesError` (code "unknown_tier") names the known ones."""
        for tier in self.tiers:
            if tier.name == name:
                return tier
        raise RulesError(
            "unknown_tier",
            f"unknown tier {name!r}; this programme's tiers are {', '.join(self.tier_names)}",
        )

    def tier_rank(self, name: str) -> int:
        """0 for the entry tier, increasing upwards."""
        self.tier(name)
        return self.tier_names.index(name)
