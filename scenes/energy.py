"""Occupancy fusion and energy setbacks, as pure functions of time and events.

Occupancy comes from the door, motion and presence, never a keycard holder (spare cards
defeat those). The rule hotels use: a room is occupied once motion is seen with the door
closed, and stays occupied while the door stays closed (sleeping guests do not move);
after the door closes with no motion following within `confirm_after_close`, nobody is in.

    occ = Occupancy()
    occ = on_door(occ, open_=True, at=t0); occ = on_door(occ, open_=False, at=t0 + 5 s)
    occ = on_motion(occ, at=t0 + 40 s)          # -> occupied
    occ = with_motion_state(occ, active=True)   # a motion sensor's current `occupancy`
    occ = evaluate(occ, now, policy)            # time-driven transitions

A motion sensor that still reports `occupancy: true` when the confirmation window ends is
evidence too: PIR sensors hold `true` while anyone keeps moving and only report again after
their hold time (60-90 s), so a guest moving about since the door closed may never produce
a *new* report. `confirm_after_close` must therefore exceed the sensors' hold time.

Setbacks follow IECC C403.7.4 (hotels over 50 rooms):
- rented, unoccupied: setpoint moves at least 2.2 °C (4 °F) within 30 min
  (`away_after` ≤ 30 min, `away_setback_c` ≥ 2.2 °C; optionally deeper after `deep_after`);
- unrented: cooling at ≥ 26.7 °C (80 °F), heating at ≤ 15.6 °C (60 °F);
- pre-conditioning may start up to 60 min before the expected arrival. The start is planned
  from how far the room has drifted and how fast the HVAC recovers, so the member finds
  their temperature on arrival.

    target = climate_target(room, policy)  # ClimateTarget(mode, setpoint_c, reason) | None
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum

from drivers.base import ClimateMode

IECC_MIN_SETBACK_C = 2.2
IECC_MAX_AWAY_DELAY = timedelta(minutes=30)
IECC_UNRENTED_COOLING_C = 26.7
IECC_UNRENTED_HEATING_C = 15.6
IECC_MAX_PRECONDITION = timedelta(minutes=60)


class Season(StrEnum):
    HEATING = "heating"
    COOLING = "cooling"


@dataclass(frozen=True, slots=True)
class EnergyPolicy:
    """The room's energy rules; the constructor refuses settings that break the code."""

    away_after: timedelta = timedelta(minutes=10)
    away_setback_c: float = 2.5
    deep_after: timedelta | None = timedelta(hours=3)
    deep_setback_c: float = 4.0
    unrented_cooling_c: float = IECC_UNRENTED_COOLING_C
    unrented_heating_c: float = IECC_UNRENTED_HEATING_C
    precondition_max: timedelta = IECC_MAX_PRECONDITION
    recovery_c_per_hour: float = 6.0
    precondition_margin: timedelta = timedelta(minutes=10)
    season_hysteresis_c: float = 1.0
    # What the thermostat accepts (many fan-coil controllers stop at 16 °C).
    device_min_c: float = 5.0
    device_max_c: float = 35.0

    def __post_init__(self) -> None:
        problems = []
        if self.device_min_c >= self.device_max_c:
            problems.append("device_min_c must be below device_max_c")
        if not timedelta(0) <= self.away_after <= IECC_MAX_AWAY_DELAY:
            problems.append("away_after must be between 0 and 30 min (IECC C403.7.4)")
        if self.away_setback_c < IECC_MIN_SETBACK_C:
            problems.append(f"away_setback_c must be >= {IECC_MIN_SETBACK_C} °C (IECC)")
        if self.deep_after is not None and (
            self.deep_after < self.away_after or self.deep_setback_c < self.away_setback_c
        ):
            problems.append("deep setback must come after, and go further than, the away one")
        if self.unrented_cooling_c < IECC_UNRENTED_COOLING_C:
            problems.append(f"unrented_cooling_c must be >= {IECC_UNRENTED_COOLING_C} °C")
        if self.unrented_heating_c > IECC_UNRENTED_HEATING_C:
            problems.append(f"unrented_heating_c must be <= {IECC_UNRENTED_HEATING_C} °C")
        if not timedelta(0) <= self.precondition_max <= IECC_MAX_PRECONDITION:
            problems.append("precondition_max must be between 0 and 60 min (IECC)")
        if self.recovery_c_per_hour <= 0:
            problems.append("recovery_c_per_hour must be positive")
        if problems:
            raise ValueError("; ".join(problems))


@dataclass(frozen=True, slots=True)
class ClimateTarget:
    mode: ClimateMode
    setpoint_c: float
    reason: str


# --- occupancy -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OccupancyPolicy:
    confirm_after_close: timedelta = timedelta(minutes=5)
    # Motion reported this soon after the door closes is the leaving guest, not someone inside.
    motion_grace: timedelta = timedelta(seconds=2)
    # Door propped open with nobody moving for this long: nobody is in.
    open_door_vacancy: timedelta = timedelta(minutes=15)


@dataclass(frozen=True, slots=True)
class Occupancy:
    occupied: bool = False
    door_open: bool = False
    door_closed_at: datetime | None = None
    door_opened_at: datetime | None = None
    motion_since_close: bool = False
    last_motion_at: datetime | None = None
    member_present: bool = False
    changed_at: datetime | None = None
    motion_active: bool = False  # a motion sensor reports occupancy right now

    def _set(self, occupied: bool, at: datetime, **changes: object) -> Occupancy:
        if occupied != self.occupied:
            changes["changed_at"] = at
        return dataclasses.replace(self, occupied=occupied, **changes)  # type: ignore[arg-type]


def on_motion(occ: Occupancy, at: datetime, policy: OccupancyPolicy | None = None) -> Occupancy:
    policy = policy or OccupancyPolicy()
    inside = (
        not occ.door_open
        and occ.door_closed_at is not None
        and at >= occ.door_closed_at + policy.motion_grace
    )
    if occ.door_closed_at is not None and not occ.door_open and not inside:
        # The leaving guest's last movement: it says nothing about who stayed in.
        return replace(occ, last_motion_at=at)
    return occ._set(
        True, at, last_motion_at=at, motion_since_close=occ.motion_since_close or inside
    )


def with_motion_state(occ: Occupancy, *, active: bool) -> Occupancy:
    """Record whether any motion sensor currently reports occupancy (its state, not an
    event: `on_motion` handles reports)."""
    if active == occ.motion_active:
        return occ
    return replace(occ, motion_active=active)


def on_door(occ: Occupancy, *, open_: bool, at: datetime) -> Occupancy:
    if open_ == occ.door_open:
        return occ
    if open_:
        return replace(occ, door_open=True, door_opened_at=at)
    return replace(occ, door_open=False, door_closed_at=at, motion_since_close=False)


def on_presence(occ: Occupancy, *, present: bool, at: datetime) -> Occupancy:
    if present:
        return occ._set(True, at, member_present=True)
    return replace(occ, member_present=False)


def evaluate(occ: Occupancy, now: datetime, policy: OccupancyPolicy | None = None) -> Occupancy:
    """Time-driven transitions: call on every tick."""
    policy = policy or OccupancyPolicy()
    if not occ.occupied or occ.member_present:
        return occ
    if occ.motion_active:
        if (
            not occ.door_open
            and occ.door_closed_at is not None
            and not occ.motion_since_close
            and now - occ.door_closed_at >= policy.confirm_after_close
        ):
            # Still reporting presence when the window ends: someone is inside.
            return replace(occ, motion_since_close=True)
        return occ  # a sensor that sees someone never lets the room go empty
    # Vacancy is dated back to when it really began (the door closing behind the guest,
    # their last movement): setback deadlines count from there, not from the confirmation.
    if (
        not occ.door_open
        and occ.door_closed_at is not None
        and not occ.motion_since_close
        and now - occ.door_closed_at >= policy.confirm_after_close
    ):
        return occ._set(False, occ.door_closed_at)
    if occ.door_open:
        last = max(t for t in (occ.last_motion_at, occ.door_opened_at) if t is not None)
        if now - last >= policy.open_door_vacancy:
            return occ._set(False, last)
    return occ


# --- setbacks --------------------------------------------------------------------------------


def season_for(
    indoor_c: float | None,
    preferred_c: float,
    *,
    outdoor_c: float | None = None,
    previous: Season | None = None,
    hysteresis_c: float = 1.0,
) -> Season:
    """Which way the room needs conditioning. The outdoor temperature decides when known;
    otherwise the indoor one, with hysteresis so a room hovering at the preference does not
    flip between heating and cooling setbacks on every reading."""
    reference = outdoor_c if outdoor_c is not None else indoor_c
    if reference is None:
        return previous or Season.COOLING
    if previous is None:
        return Season.COOLING if reference >= preferred_c else Season.HEATING
    if previous is Season.COOLING and reference < preferred_c - hysteresis_c:
        return Season.HEATING
    if previous is Season.HEATING and reference > preferred_c + hysteresis_c:
        return Season.COOLING
    return previous


def precondition_lead(
    indoor_c: float | None, preferred_c: float, policy: EnergyPolicy, *, setback_c: float
) -> timedelta:
    """How long before arrival to start recovering: the drift to make up at the room's
    recovery rate, plus a margin, never more than the code allows."""
    gap = abs(indoor_c - preferred_c) if indoor_c is not None else setback_c
    lead = timedelta(hours=gap / policy.recovery_c_per_hour) + policy.precondition_margin
    return min(lead, policy.precondition_max)


@dataclass(frozen=True, slots=True)
class RoomEnergyState:
    now: datetime
    rented: bool
    occupied: bool
    vacant_since: datetime | None
    preferred_c: float
    season: Season
    indoor_c: float | None = None
    next_arrival: datetime | None = None  # expected arrival (booked stay) or predicted return


def climate_target(room: RoomEnergyState, policy: EnergyPolicy) -> ClimateTarget | None:
    """The energy rules' climate target, or None when the guest's own preference applies
    (occupied) or it is too early to set back."""
    if room.occupied:
        return None
    mode = ClimateMode.COOL if room.season is Season.COOLING else ClimateMode.HEAT
    sign = 1.0 if room.season is Season.COOLING else -1.0
    if room.next_arrival is not None and room.now <= room.next_arrival:
        setback = policy.away_setback_c if room.rented else _unrented_gap(room, policy)
        lead = precondition_lead(room.indoor_c, room.preferred_c, policy, setback_c=setback)
        if room.next_arrival - room.now <= lead:
            return ClimateTarget(
                ClimateMode.AUTO,
                room.preferred_c,
                f"pre-conditioning to {room.preferred_c:.1f} °C for the arrival at "
                f"{room.next_arrival:%H:%M} UTC ({int(lead.total_seconds() // 60)} min lead)",
            )
    if not room.rented:
        setpoint = _unrented_setpoint(room, policy)
        return _held_at(
            room, policy, mode, setpoint, f"unrented: {room.season} held at {setpoint:.1f} °C"
        )
    if room.vacant_since is None:
        return None
    vacant_for = room.now - room.vacant_since
    if policy.deep_after is not None and vacant_for >= policy.deep_after:
        delta = policy.deep_setback_c
        label = "deep setback"
    elif vacant_for >= policy.away_after:
        delta = policy.away_setback_c
        label = "away setback"
    else:
        return None
    setpoint = round(room.preferred_c + sign * delta, 1)
    return _held_at(
        room,
        policy,
        mode,
        setpoint,
        f"{label}: rented, empty {int(vacant_for.total_seconds() // 60)} min, "
        f"{room.season} {sign * delta:+.1f} °C",
    )


def _held_at(
    room: RoomEnergyState, policy: EnergyPolicy, mode: ClimateMode, setpoint: float, why: str
) -> ClimateTarget:
    """Hold the room at `setpoint` (heating never above it, cooling never below it) even when
    the thermostat cannot be set that far: then it is switched off while the room is on the
    right side of the limit, and run at its own limit only when the room has drifted past."""
    if mode is ClimateMode.HEAT and setpoint < policy.device_min_c:
        if room.indoor_c is None or room.indoor_c > setpoint:
            return ClimateTarget(ClimateMode.OFF, policy.device_min_c, f"{why} (heating off)")
        return ClimateTarget(ClimateMode.HEAT, policy.device_min_c, f"{why} (device minimum)")
    if mode is ClimateMode.COOL and setpoint > policy.device_max_c:
        if room.indoor_c is None or room.indoor_c < setpoint:
            return ClimateTarget(ClimateMode.OFF, policy.device_max_c, f"{why} (cooling off)")
        return ClimateTarget(ClimateMode.COOL, policy.device_max_c, f"{why} (device maximum)")
    return ClimateTarget(mode, setpoint, why)


def _unrented_setpoint(room: RoomEnergyState, policy: EnergyPolicy) -> float:
    if room.season is Season.COOLING:
        return policy.unrented_cooling_c
    return policy.unrented_heating_c


def _unrented_gap(room: RoomEnergyState, policy: EnergyPolicy) -> float:
    return abs(_unrented_setpoint(room, policy) - room.preferred_c)
