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

A checked-in guest who goes out is expected back at a time predicted from their own pattern
this stay and the time of day (`expected_return`): the setback deepens with the expected
absence (up to the unrented limits) and recovery starts from the room's measured recovery
rate (`observe_recovery`, °C per hour of full-capacity HVAC read off the thermostat), so the
room is back at the guest's temperature when they are.

    target = climate_target(room, policy)  # ClimateTarget(mode, setpoint_c, reason) | None
    back = expected_return(left_at, history, tz=zone, policy=policy)
    rates = observe_recovery(rates, at=now, current_c=21.3, setpoint_c=22.5, heating=True)
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, replace
from datetime import datetime, time, timedelta, tzinfo
from enum import StrEnum

from drivers.base import ClimateMode
from scenes.energy_history import day_out

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
    # A checked-in guest out of the room: predicted return and planned recovery.
    predict_returns: bool = True
    day_out_return: time = time(18, 0)  # a guest out for the day comes back around then
    short_absence: timedelta = timedelta(hours=2)  # any other outing, until we know better
    return_hold: timedelta = timedelta(minutes=30)  # held at their temperature once overdue
    recovery_max: timedelta = timedelta(hours=3)  # longest planned recovery of a rented room
    # Arrivals and returns predicted from the room's own history (scenes.energy_history):
    # this quantile of what has not happened yet (low: an early guest finds their
    # temperature; a late one moves the prediction on).
    learned_quantile: float = 0.35
    # ... moved by the room's own occupied comfort (scenes.energy_comfort): up by
    # `comfort_gain` per unit of the share within `comfort_band_c` above `comfort_target`,
    # down below it, within [learned_quantile_min, learned_quantile_max], once the last
    # days hold `comfort_min_occupied` of occupied time. None: the quantile is fixed.
    comfort_target: float | None = 0.96
    comfort_band_c: float = 1.0
    comfort_gain: float = 5.0
    learned_quantile_min: float = 0.3
    learned_quantile_max: float = 0.5
    comfort_min_occupied: timedelta = timedelta(hours=12)

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
        if not 0.0 <= self.learned_quantile <= 1.0:
            problems.append("learned_quantile must be between 0 and 1")
        if (
            not 0.0
            <= self.learned_quantile_min
            <= self.learned_quantile
            <= self.learned_quantile_max
        ):
            problems.append("learned_quantile must lie within learned_quantile_min/max")
        if self.comfort_target is not None and not 0.0 < self.comfort_target <= 1.0:
            problems.append("comfort_target must be above 0 and at most 1")
        if self.comfort_band_c <= 0 or self.comfort_gain < 0:
            problems.append("comfort_band_c must be positive and comfort_gain not negative")
        if self.comfort_min_occupied < timedelta(0):
            problems.append("comfort_min_occupied must not be negative")
        if self.short_absence <= timedelta(0) or self.return_hold < timedelta(0):
            problems.append("short_absence must be positive and return_hold not negative")
        if problems:
            raise ValueError("; ".join(problems))


@dataclass(frozen=True, slots=True)
class ClimateTarget:
    mode: ClimateMode
    setpoint_c: float
    reason: str
    recovering_for: datetime | None = None  # pre-conditioning for this arrival or return


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
    # Continuous evidence (the member's phone in BLE range) holds the room occupied until it
    # times out; one-off evidence (room key, mobile-key unlock) only starts the occupancy.
    member_sticky: bool = False
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


def on_presence(occ: Occupancy, *, present: bool, at: datetime, sticky: bool = True) -> Occupancy:
    if present:
        return occ._set(True, at, member_present=True, member_sticky=occ.member_sticky or sticky)
    return replace(occ, member_present=False, member_sticky=False)


def evaluate(occ: Occupancy, now: datetime, policy: OccupancyPolicy | None = None) -> Occupancy:
    """Time-driven transitions: call on every tick."""
    policy = policy or OccupancyPolicy()
    if not occ.occupied or (occ.member_present and occ.member_sticky):
        return occ
    left = evaluate_sensors(occ, now, policy)
    if left.occupied or not occ.member_present:
        return left
    return replace(left, member_present=False)  # the door and motion say they left


def evaluate_sensors(occ: Occupancy, now: datetime, policy: OccupancyPolicy) -> Occupancy:
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
    indoor_c: float | None,
    preferred_c: float,
    policy: EnergyPolicy,
    *,
    setback_c: float,
    rate_c_per_hour: float | None = None,
    cap: timedelta | None = None,
) -> timedelta:
    """How long before arrival to start recovering: the drift to make up at the room's
    recovery rate (measured when known, else the configured one), plus a margin, never more
    than `cap` (the code's 60 min before an arrival)."""
    gap = abs(indoor_c - preferred_c) if indoor_c is not None else setback_c
    rate = rate_c_per_hour or policy.recovery_c_per_hour
    lead = timedelta(hours=gap / rate) + policy.precondition_margin
    return min(lead, policy.precondition_max if cap is None else cap)


# --- the guest's return ----------------------------------------------------------------------


def expected_return(
    left_at: datetime,
    history: list[tuple[datetime, datetime]],
    *,
    tz: tzinfo,
    policy: EnergyPolicy,
) -> datetime:
    """When a guest who left the room at `left_at` is expected back, from their outings so
    far this stay (`history`: (left, back) pairs) and the time of day.

    A guest leaving between 05:00 and 14:00 is out for the day: back at the earliest time of
    day they came back from an earlier day out, else at `policy.day_out_return` (18:00).
    Any other outing lasts as long as their shortest earlier one, else `short_absence`.
    The earliest, not the average: coming back to a cold room costs comfort, coming back
    to a ready one a little energy.

    >>> expected_return(datetime(2026, 1, 13, 8, tzinfo=UTC), [], tz=UTC, policy=EnergyPolicy())
    datetime.datetime(2026, 1, 13, 18, 0, tzinfo=datetime.timezone.utc)
    """
    left_local = left_at.astimezone(tz)
    floor = left_at + timedelta(minutes=30)
    if day_out(left_local):
        back_times = [
            b.astimezone(tz).time()
            for a, b in history
            if day_out(a.astimezone(tz)) and b.astimezone(tz).date() == a.astimezone(tz).date()
        ]
        at = min(back_times) if back_times else policy.day_out_return
        back = datetime.combine(left_local.date(), at, tzinfo=left_local.tzinfo)
        return max(back, floor)
    durations = [b - a for a, b in history if not day_out(a.astimezone(tz)) and b > a]
    return left_at + max(min(durations) if durations else policy.short_absence, floor - left_at)


@dataclass(frozen=True, slots=True)
class RecoveryRates:
    """The room's measured full-capacity recovery rates (°C per hour), and the run being
    measured now. Rates are smoothed over runs; None until one run has been seen."""

    heating_c_per_hour: float | None = None
    cooling_c_per_hour: float | None = None
    run_started: datetime | None = None
    run_start_c: float | None = None
    run_heating: bool | None = None

    def rate(self, season: Season) -> float | None:
        return self.heating_c_per_hour if season is Season.HEATING else self.cooling_c_per_hour


RECOVERY_MIN_ERROR_C = 1.5  # below this the fan coil is not at full capacity (fan auto)
RECOVERY_MIN_RUN = timedelta(minutes=10)
RECOVERY_SMOOTHING = 0.3
RECOVERY_RANGE = (0.5, 30.0)


def observe_recovery(
    rates: RecoveryRates,
    *,
    at: datetime,
    current_c: float | None,
    setpoint_c: float,
    heating: bool | None,
) -> RecoveryRates:
    """Feed one thermostat reading: `heating` True/False while it heats/cools, None when
    idle or off. A run counts while the room is at least 1.5 °C from the setpoint (full fan);
    when it ends (or every 30 min), its rate is smoothed into the estimate."""
    error = None if current_c is None else setpoint_c - current_c
    full = (
        heating is not None
        and error is not None
        and (error >= RECOVERY_MIN_ERROR_C if heating else -error >= RECOVERY_MIN_ERROR_C)
    )
    running = rates.run_started is not None and rates.run_heating == heating and full
    if running and at - rates.run_started < timedelta(minutes=30):  # type: ignore[operator]
        return rates
    done = rates
    if rates.run_started is not None and rates.run_start_c is not None and current_c is not None:
        took = at - rates.run_started
        if took >= RECOVERY_MIN_RUN:
            moved = current_c - rates.run_start_c
            rate = (moved if rates.run_heating else -moved) / (took.total_seconds() / 3600)
            if RECOVERY_RANGE[0] <= rate <= RECOVERY_RANGE[1]:
                old = rates.heating_c_per_hour if rates.run_heating else rates.cooling_c_per_hour
                new = rate if old is None else old + RECOVERY_SMOOTHING * (rate - old)
                if rates.run_heating:
                    done = replace(rates, heating_c_per_hour=round(new, 3))
                else:
                    done = replace(rates, cooling_c_per_hour=round(new, 3))
    if full:
        return replace(done, run_started=at, run_start_c=current_c, run_heating=heating)
    return replace(done, run_started=None, run_start_c=None, run_heating=None)


@dataclass(frozen=True, slots=True)
class RoomEnergyState:
    now: datetime
    rented: bool
    occupied: bool
    vacant_since: datetime | None
    preferred_c: float
    season: Season
    indoor_c: float | None = None
    next_arrival: datetime | None = None  # expected arrival of a booked (or not yet seen) stay
    # A checked-in guest out of the room: when they are expected back (None: not predicted).
    expected_return: datetime | None = None
    recovery_c_per_hour: float | None = None  # measured; None: the policy's figure
    departure: datetime | None = None  # the checked-in stay's check-out
    # The arrival or return the previous target was already recovering for: recovery, once
    # started, runs to the end (a room that warms faster than planned would otherwise
    # flip between setback and recovery every few minutes, each a thermostat write).
    recovering_for: datetime | None = None


def recovering_for(target: ClimateTarget | None) -> datetime | None:
    """The arrival or return a target is recovering for (feed it back as `recovering_for`)."""
    return None if target is None else target.recovering_for


def climate_target(room: RoomEnergyState, policy: EnergyPolicy) -> ClimateTarget | None:
    """The energy rules' climate target, or None when the guest's own preference applies
    (occupied) or it is too early to set back."""
    if room.occupied:
        return None
    mode = ClimateMode.COOL if room.season is Season.COOLING else ClimateMode.HEAT
    sign = 1.0 if room.season is Season.COOLING else -1.0
    if room.next_arrival is not None and room.now <= room.next_arrival:
        setback = policy.away_setback_c if room.rented else _unrented_gap(room, policy)
        lead = precondition_lead(
            room.indoor_c,
            room.preferred_c,
            policy,
            setback_c=setback,
            rate_c_per_hour=room.recovery_c_per_hour,
        )
        if room.next_arrival - room.now <= lead or room.recovering_for == room.next_arrival:
            return ClimateTarget(
                ClimateMode.AUTO,
                room.preferred_c,
                f"pre-conditioning to {room.preferred_c:.1f} °C for the arrival at "
                f"{room.next_arrival:%H:%M} UTC ({int(lead.total_seconds() // 60)} min lead)",
                recovering_for=room.next_arrival,
            )
    if not room.rented:
        setpoint = _unrented_setpoint(room, policy)
        return _held_at(
            room, policy, mode, setpoint, f"unrented: {room.season} held at {setpoint:.1f} °C"
        )
    if room.vacant_since is None:
        return None
    vacant_for = room.now - room.vacant_since
    if room.expected_return is not None and vacant_for >= policy.away_after:
        planned = _planned_return(room, policy, mode, sign)
        if planned is not None:
            return planned
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


def _planned_return(
    room: RoomEnergyState, policy: EnergyPolicy, mode: ClimateMode, sign: float
) -> ClimateTarget | None:
    """A checked-in guest out: set back as deep as the expected absence makes worthwhile,
    recover in time for the expected return, wait at their temperature a while if they
    are late. None once they are overdue by more than `return_hold` (the away setback)."""
    assert room.expected_return is not None and room.vacant_since is not None
    back = room.expected_return
    if room.now > back + policy.return_hold:
        return None
    rate = room.recovery_c_per_hour or policy.recovery_c_per_hour
    depth = _return_depth(room, policy, rate)
    if room.departure is not None and back >= room.departure:
        # Not expected back before check-out: nothing to recover for.
        setpoint = round(room.preferred_c + sign * depth, 1)
        return _held_at(
            room,
            policy,
            mode,
            setpoint,
            f"return setback: guest not expected back before check-out, "
            f"{room.season} {sign * depth:+.1f} °C",
        )
    lead = precondition_lead(
        room.indoor_c,
        room.preferred_c,
        policy,
        setback_c=depth,
        rate_c_per_hour=rate,
        cap=policy.recovery_max,
    )
    if back - room.now <= lead or room.recovering_for == back:
        return ClimateTarget(
            ClimateMode.AUTO,
            room.preferred_c,
            f"pre-conditioning to {room.preferred_c:.1f} °C for the guest's expected return at "
            f"{back:%H:%M %Z} ({int(lead.total_seconds() // 60)} min lead at {rate:.1f} °C/h)",
            recovering_for=back,
        )
    setpoint = round(room.preferred_c + sign * depth, 1)
    hours = (back - room.vacant_since).total_seconds() / 3600
    return _held_at(
        room,
        policy,
        mode,
        setpoint,
        f"return setback: guest expected back at {back:%H:%M %Z} ({hours:.1f} h out), "
        f"{room.season} {sign * depth:+.1f} °C",
    )


def _return_depth(room: RoomEnergyState, policy: EnergyPolicy, rate: float) -> float:
    """How far the room may drift while the guest is out: what the HVAC can recover in half
    the expected absence, at least the code's away setback, at most the unrented limit."""
    assert room.expected_return is not None and room.vacant_since is not None
    absence_h = max(0.0, (room.expected_return - room.vacant_since).total_seconds() / 3600)
    deepest = max(policy.away_setback_c, _unrented_gap(room, policy))
    return round(min(deepest, max(policy.away_setback_c, rate * absence_h / 2)), 1)


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
