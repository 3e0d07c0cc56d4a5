"""What the board shows about one room, derived without I/O from the staff's record, the
agent's last report and the room's stays.

    state = stay_state(stays, now=now, tz=tz)            # StayState("in_house", ...)
    flag = discrepancy(state, occupied=True, ...)        # "sleep" | "skip" | None
    rank = priority_rank(view)                           # 0 queue, 1 MUR, 2 departure, 3 other

Stay states follow the front office's words (expected arrival, checked in, in house, expected
departure, departed, day use); the discrepancy flags follow housekeeping's: "sleep" when the
record calls the room vacant and its sensors see people, "skip" when the record calls it
occupied and nobody has moved in it for a day.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict

Condition = Literal["dirty", "pickup", "clean", "inspected"]
CONDITIONS: tuple[Condition, ...] = ("dirty", "pickup", "clean", "inspected")
OutOfOrder = Literal["ooo", "oos"]
StayName = Literal[
    "vacant",
    "expected_arrival",
    "checked_in",
    "in_house",
    "expected_departure",
    "departed",
    "day_use",
]
CleaningKind = Literal["departure", "stayover", "pickup", "deep"]
CLEANING_KINDS: tuple[CleaningKind, ...] = ("departure", "stayover", "pickup", "deep")
StaffRole = Literal["attendant", "supervisor", "front_desk"]
STAFF_ROLES: tuple[StaffRole, ...] = ("attendant", "supervisor", "front_desk")

NO_LIFE = timedelta(hours=24)


@dataclass(frozen=True, slots=True)
class StayFacts:
    """One stay of the room, as the front desk recorded it."""

    status: str  # booked | checked_in | checked_out | cancelled | no_show
    arrival: datetime
    departure: datetime
    checked_in_at: datetime | None = None
    checked_out_at: datetime | None = None
    tier: str | None = None


@dataclass(frozen=True, slots=True)
class StayState:
    name: StayName
    at: datetime | None = None  # the expected arrival/departure time, or when it happened
    queued: bool = False  # an arrival is due and waiting for this room
    tier: str | None = None  # the member in (or arriving to) the room
    occupied_by_record: bool = False
    checked_in_at: datetime | None = None


def stay_state(stays: list[StayFacts], *, now: datetime, tz: ZoneInfo) -> StayState:
    """The front-office state of a room today (the property's local day)."""
    today = now.astimezone(tz).date()

    def local(at: datetime) -> date:
        return at.astimezone(tz).date()

    current = [s for s in stays if s.status == "checked_in"]
    if current:
        stay = max(current, key=lambda s: s.checked_in_at or s.arrival)
        name: StayName
        at: datetime | None
        if local(stay.arrival) == local(stay.departure) == today:
            name, at = "day_use", stay.departure
        elif local(stay.departure) <= today:
            name, at = "expected_departure", stay.departure
        elif stay.checked_in_at is not None and local(stay.checked_in_at) == today:
            name, at = "checked_in", stay.checked_in_at
        else:
            name, at = "in_house", None
        return StayState(
            name, at, tier=stay.tier, occupied_by_record=True, checked_in_at=stay.checked_in_at
        )
    arriving = [
        s for s in stays if s.status == "booked" and local(s.arrival) <= today and s.departure > now
    ]
    if arriving:
        stay = min(arriving, key=lambda s: s.arrival)
        return StayState(
            "expected_arrival", stay.arrival, queued=stay.arrival <= now, tier=stay.tier
        )
    departed = [
        s
        for s in stays
        if s.status == "checked_out" and s.checked_out_at and local(s.checked_out_at) == today
    ]
    if departed:
        stay = max(departed, key=lambda s: s.checked_out_at or s.departure)
        return StayState("departed", stay.checked_out_at)
    return StayState("vacant")


Discrepancy = Literal["sleep", "skip"]


def discrepancy(
    state: StayState,
    *,
    occupied: bool | None,
    stale: bool,
    cleaning: bool,
    alert_kinds: set[str],
    last_occupied_at: datetime | None,
    now: datetime,
) -> Discrepancy | None:
    """'sleep': the record says nobody should be in the room, yet its sensors see people
    (and no attendant is cleaning it). 'skip': the record says a guest is staying, yet the
    room has shown no sign of life for a day. A stale room has no flag: we do not know."""
    if stale or occupied is None:
        return None
    if not state.occupied_by_record:
        return "sleep" if occupied and not cleaning else None
    if "no_motion_24h" in alert_kinds:
        return "skip"
    since = state.checked_in_at
    quiet = last_occupied_at is None or now - last_occupied_at >= NO_LIFE
    if not occupied and since is not None and now - since >= NO_LIFE and quiet:
        return "skip"
    return None


def is_stale(last_report_at: datetime | None, *, now: datetime, after_s: int) -> bool:
    return last_report_at is None or (now - last_report_at).total_seconds() > after_s


class AlertView(BaseModel):
    model_config = ConfigDict(frozen=True)
    kind: str
    since: datetime
    detail: str = ""


class BenefitView(BaseModel):
    model_config = ConfigDict(frozen=True)
    id: str
    label: str
    delivered_at: datetime | None = None


class RoomView(BaseModel):
    """Everything one card of the board shows. No guest name or contact: the tier and VIP
    flag are the only member data staff see here."""

    model_config = ConfigDict(frozen=True)
    property_id: str
    room_id: str
    floor: int | None
    room_type: str | None
    condition: Condition
    out_of_order: OutOfOrder | None = None
    ooo_reason: str | None = None
    ooo_from: str | None = None
    ooo_until: str | None = None
    stay: StayName
    stay_at: datetime | None = None
    queued: bool = False
    tier: str | None = None
    vip: bool = False
    occupied: bool | None = None
    dnd: bool = False
    mur: bool = False
    scene: str | None = None
    alerts: list[AlertView] = []
    discrepancy: Discrepancy | None = None
    stale: bool = True
    last_report_at: datetime | None = None
    assigned_to: str | None = None
    assigned_name: str | None = None
    assigned_kind: CleaningKind | None = None
    assigned_credits: int | None = None
    cleaning_by: str | None = None
    cleaning_name: str | None = None
    cleaning_started_at: datetime | None = None
    benefits: list[BenefitView] = []
    open_problems: int = 0
    change_seq: int = 0

    @property
    def needs_cleaning(self) -> bool:
        return self.condition in ("dirty", "pickup") and self.out_of_order is None

    @property
    def do_not_enter(self) -> bool:
        """A room housekeeping must leave alone now: DND, or a guest is inside."""
        guest_inside = bool(self.occupied) and not self.stale and self.cleaning_by is None
        return self.dnd or (guest_inside and self.stay not in ("vacant", "departed"))


def priority_rank(room: RoomView) -> int | None:
    """Where a room sits in the attendant's list, or None when it is not on it: arrivals
    waiting for the room first, then make-up requests, then rooms whose guest checked out
    today, then the other rooms to clean. Never a room with DND or a guest inside."""
    if not room.needs_cleaning or room.do_not_enter:
        return None
    if room.queued:
        return 0
    if room.mur:
        return 1
    if room.stay == "departed":
        return 2
    return 3


def priority_list(rooms: list[RoomView]) -> list[RoomView]:
    ranked = [(rank, r) for r in rooms if (rank := priority_rank(r)) is not None]
    far = datetime.max.replace(tzinfo=ZoneInfo("UTC"))

    def key(item: tuple[int, RoomView]) -> tuple[int, datetime, str]:
        rank, room = item
        return (rank, room.stay_at or far, room.room_id)

    return [room for _rank, room in sorted(ranked, key=key)]
