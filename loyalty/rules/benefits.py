"""Member benefits as programme data, and the pure rules that grant them.

A benefit is defined once, in the programme file's `[[benefits]]` catalogue::

    [[benefits]]
    code = "late_checkout"
    names = { en = "Late check-out", zh = "延迟退房" }
    fulfilment = "room"                  # the room agent delivers it by itself
    eligible = { tiers = ["platinum", "diamond"] }
    limits = { per_stay = 1 }
    unit_cost = 60                       # what one delivery costs the hotel (CNY)
    room = { action = "late_checkout", until = "16:00" }

and granted per stay by `stay_entitlements`, which knows nothing of databases or clocks:

    >>> from loyalty.rules import default_programme
    >>> grant = stay_entitlements(default_programme().benefits, MemberFacts(tier="platinum"),
    ...     StayFacts(check_in=date(2026, 11, 20), check_out=date(2026, 11, 22)))
   >>> sorted(e.code for e in grant)
    ['breakfast', 'late_checkout', 'lounge', 'room_upgrade']

Who gets a benefit: members of the listed `tiers` (a higher tier inherits nothing
implicitly: the catalogue lists every tier that gets it, so reading one entry tells the
whole story), members in one of the listed `segments`, or anyone who buys it for
`points_price` points (`purchasable`). `birthday = true` restricts a benefit to stays that
include the member's birthday.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, tzinfo
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints

from loyalty.rules.errors import RulesError
from loyalty.rules.numbers import reject_float

Code = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,31}$")]
Text = Annotated[str, StringConstraints(min_length=1, max_length=80)]
Cost = Annotated[
    Decimal,
    BeforeValidator(reject_float),
    Field(ge=0, le=Decimal("1000000"), max_digits=12, decimal_places=2),
]
Count = Annotated[int, Field(ge=1, le=10_000)]

Fulfilment = Literal["room", "staff", "partner"]
RoomActionKind = Literal["late_checkout", "welcome_amenity", "exclusive_scene"]


class BenefitError(RulesError):
    """A benefit request the catalogue refuses (unknown code, wrong tier, limit reached,
    capacity exhausted, late check-out the next booking does not allow)."""


class _Rules(BaseModel):
    """As `programme.Rules` (which imports this module): unknown keys are errors; immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Names(_Rules):
    """Display names; both languages are required so no screen falls back silently."""

    en: Text
    zh: Text


class Eligibility(_Rules):
    tiers: list[Code] = Field(default_factory=list, max_length=16)
    segments: list[Code] = Field(default_factory=list, max_length=32)
    points_price: Annotated[int, Field(ge=1, le=10_000_000)] | None = None
    birthday: bool = False


class Limits(_Rules):
    """`per_stay`: how many a stay grants (or may buy); `per_night`: the grant scales with
    the nights (breakfast: one per night); `per_year`: deliveries per member per calendar
    year; `capacity_per_day`: how many the property can deliver on one day (experiences)."""

    per_stay: Count = 1
    per_night: bool = False
    per_year: Count | None = None
    capacity_per_day: Count | None = None


class RoomAction(_Rules):
    """What the room agent does for a room-fulfilled benefit."""

    action: RoomActionKind
    until: Annotated[str, StringConstraints(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")] | None = (
        None
    )
    scene: Code | None = None
    amenity: Text | None = None


class Benefit(_Rules):
    code: Code
    names: Names
    fulfilment: Fulfilment
    eligible: Eligibility
    limits: Limits = Limits()
    unit_cost: Cost
    subject_to_availability: bool = False
    room: RoomAction | None = None

    @property
    def purchasable(self) -> bool:
        return self.eligible.points_price is not None


# --- facts the rules work on (plain values; the service reads them from the database) ------


@dataclass(frozen=True)
class MemberFacts:
    tier: str
    segments: frozenset[str] = frozenset()
    birthday: date | None = None


@dataclass(frozen=True)
class StayFacts:
    check_in: date
    check_out: date

    @property
    def nights(self) -> int:
        return (self.check_out - self.check_in).days


@dataclass(frozen=True)
class Entitlement:
    """One benefit promised for one stay: what the member sees, the room and staff honour."""

    code: str
    quantity: int
    source: str  # "tier:gold", "segment:corporate", "birthday", "purchase"
    fulfilment: Fulfilment
    unit_cost: Decimal
    subject_to_availability: bool = False
    room: RoomAction | None = None
    points_paid: int = 0

    def total_cost(self) -> Decimal:
        return self.unit_cost * self.quantity


@dataclass(frozen=True)
class Usage:
    """What a member has already used this calendar year, by benefit code."""

    this_year: Mapping[str, int] = field(default_factory=dict)


# --- validation across the catalogue --------------------------------------------------------


def catalogue_problems(
    benefits: list[Benefit], tier_names: list[str]
) -> Iterable[tuple[tuple[str | int, ...], str]]:
    """Yield (key path, message with fix) for what pydantic cannot see on one entry."""
    seen: set[str] = set()
    for i, benefit in enumerate(benefits):
        at: tuple[str | int, ...] = ("benefits", i)
        if benefit.code in seen:
            yield (*at, "code"), f"benefit {benefit.code!r} is defined twice (fix: rename one)"
        seen.add(benefit.code)
        for tier in benefit.eligible.tiers:
            if tier not in tier_names:
                yield (
                    (*at, "eligible", "tiers"),
                    f"benefit {benefit.code!r} names unknown tier {tier!r} "
                    f"(fix: one of {', '.join(tier_names)})",
                )
        e = benefit.eligible
        if not e.tiers and not e.segments and e.points_price is None:
            yield (
                (*at, "eligible"),
                f"benefit {benefit.code!r} is granted to nobody (fix: list tiers or segments, "
                "or set points_price)",
            )
        if benefit.fulfilment == "room" and benefit.room is None:
            yield (
                (*at, "room"),
                f"benefit {benefit.code!r} is fulfilled by the room but says nothing of what "
                'the room does (fix: add room = { action = "late_checkout", until = "14:00" })',
            )
        if benefit.fulfilment != "room" and benefit.room is not None:
            yield (
                (*at, "room"),
                f'benefit {benefit.code!r} has a room action but fulfilment = "'
                f'{benefit.fulfilment}" (fix: set fulfilment = "room" or remove room)',
            )
        room = benefit.room
        if room is not None:
            if room.action == "late_checkout" and room.until is None:
                yield (
                    (*at, "room", "until"),
                    f'late check-out {benefit.code!r} needs until = "HH:MM"',
                )
            if room.action == "exclusive_scene" and room.scene is None:
                yield (
                    (*at, "room", "scene"),
                    f'exclusive scene {benefit.code!r} needs scene = "name"',
                )
            if room.action == "welcome_amenity" and room.amenity is None:
                yield (
                    (*at, "room", "amenity"),
                    f'welcome amenity {benefit.code!r} needs amenity = "what is placed"',
                )


# --- granting ----------------------------------------------------------------------------------


def find(benefits: Iterable[Benefit], code: str) -> Benefit:
    catalogue = list(benefits)
    for benefit in catalogue:
        if benefit.code == code:
            return benefit
    known = ", ".join(b.code for b in catalogue) or "none"
    raise BenefitError("unknown_benefit", f"unknown benefit {code!r}; the catalogue has: {known}")


def includes_birthday(stay: StayFacts, birthday: date | None) -> bool:
    """True when the stay's nights or its check-out day include the member's birthday
    (a 29 February birthday is celebrated on 28 February in common years)."""
    if birthday is None:
        return False
    day = stay.check_in
    while day <= stay.check_out:
        month, dom = birthday.month, birthday.day
        if month == 2 and dom == 29 and not _leap(day.year):
            dom = 28
        if (day.month, day.day) == (month, dom):
            return True
        day += timedelta(days=1)
    return False


def _leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def _granted_by(benefit: Benefit, member: MemberFacts) -> str | None:
    if member.tier in benefit.eligible.tiers:
        return f"tier:{member.tier}"
    for segment in benefit.eligible.segments:
        if segment in member.segments:
            return f"segment:{segment}"
    return None


def _quantity(benefit: Benefit, stay: StayFacts, used: int) -> int:
    quantity = benefit.limits.per_stay * (max(stay.nights, 1) if benefit.limits.per_night else 1)
    if benefit.limits.per_year is not None:
        quantity = min(quantity, benefit.limits.per_year - used)
    return max(quantity, 0)


def stay_entitlements(
    catalogue: Sequence[Benefit],
    member: MemberFacts,
    stay: StayFacts,
    usage: Usage = Usage(),
) -> list[Entitlement]:
    """What the programme grants this member for this stay, without purchases.

    Deterministic in its inputs: a tier change, a birthday or a year's usage changes the
    answer, nothing else. Benefits whose yearly limit is used up are left out."""
    if stay.check_out < stay.check_in:
        raise BenefitError("bad_stay", "check-out is before check-in")
    granted: list[Entitlement] = []
    for benefit in catalogue:
        source = _granted_by(benefit, member)
        if source is None:
            continue
        if benefit.eligible.birthday:
            if not includes_birthday(stay, member.birthday):
                continue
            source = "birthday"
        quantity = _quantity(benefit, stay, usage.this_year.get(benefit.code, 0))
        if quantity == 0:
            continue
        granted.append(entitlement_of(benefit, quantity, source))
    return granted


def purchase(
    catalogue: Sequence[Benefit],
    code: str,
    member: MemberFacts,
    stay: StayFacts,
    *,
    quantity: int = 1,
    usage: Usage = Usage(),
    booked_on_day: int = 0,
) -> Entitlement:
    """Price a benefit bought with points; refuse what the catalogue does not allow.

    `booked_on_day` is how many the property has already booked for the delivery day
    (the service counts them); capacity is checked against it."""
    benefit = find(catalogue, code)
    price = benefit.eligible.points_price
    if price is None:
        raise BenefitError(
            "not_purchasable",
            f"benefit {code!r} cannot be bought with points; it is granted by {_who(benefit)}",
        )
    if quantity < 1:
        raise BenefitError("bad_quantity", "quantity must be at least 1")
    if quantity > benefit.limits.per_stay:
        raise BenefitError(
            "limit_per_stay",
            f"benefit {code!r} allows {benefit.limits.per_stay} per stay; asked for {quantity}",
        )
    used = usage.this_year.get(code, 0)
    if benefit.limits.per_year is not None and used + quantity > benefit.limits.per_year:
        raise BenefitError(
            "limit_per_year",
            f"benefit {code!r} allows {benefit.limits.per_year} a year; "
            f"{used} already used this year",
        )
    capacity = benefit.limits.capacity_per_day
    if capacity is not None and booked_on_day + quantity > capacity:
        left = max(capacity - booked_on_day, 0)
        raise BenefitError(
            "capacity_exhausted",
            f"benefit {code!r} has {left} of {capacity} places left on that day",
        )
    if stay.check_out < stay.check_in:
        raise BenefitError("bad_stay", "check-out is before check-in")
    return entitlement_of(benefit, quantity, "purchase", points_paid=price * quantity)


def late_checkout_until(
    entitlement: Entitlement,
    check_out: date,
    next_arrival: datetime | None,
    *,
    tz: tzinfo,
    turnaround: timedelta = timedelta(hours=2),
) -> datetime:
    """When the room must be vacated under a late check-out entitlement: the entitlement's
    time on the check-out day in the property's time zone `tz`. Refused when the room's next
    booking arrives too soon for housekeeping to turn the room around (`turnaround` before
    that arrival)."""
    if entitlement.room is None or entitlement.room.action != "late_checkout":
        raise BenefitError("not_late_checkout", f"{entitlement.code!r} is not a late check-out")
    assert entitlement.room.until is not None  # checked by catalogue_problems
    until = datetime.combine(check_out, time.fromisoformat(entitlement.room.until), tzinfo=tz)
    if next_arrival is not None and until + turnaround > next_arrival:
        latest = next_arrival - turnaround
        raise BenefitError(
            "late_checkout_conflict",
            f"late check-out until {until:%H:%M} leaves less than "
            f"{int(turnaround.total_seconds() // 60)} minutes before the next arrival at "
            f"{next_arrival.astimezone(tz):%Y-%m-%d %H:%M}; the latest possible is "
            f"{latest.astimezone(tz):%H:%M}",
        )
    return until


def entitlement_of(
    benefit: Benefit, quantity: int, source: str, points_paid: int = 0
) -> Entitlement:
    """The catalogue entry as an entitlement of `quantity`, granted by `source`."""
    return Entitlement(
        code=benefit.code,
        quantity=quantity,
        source=source,
        fulfilment=benefit.fulfilment,
        unit_cost=benefit.unit_cost,
        subject_to_availability=benefit.subject_to_availability,
        room=benefit.room,
        points_paid=points_paid,
    )


def _who(benefit: Benefit) -> str:
    parts = []
    if benefit.eligible.tiers:
        parts.append("tiers " + ", ".join(benefit.eligible.tiers))
    if benefit.eligible.segments:
        parts.append("segments " + ", ".join(benefit.eligible.segments))
    return " and ".join(parts) or "nobody"
