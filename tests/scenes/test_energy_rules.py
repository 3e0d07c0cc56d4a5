"""Energy rules (IECC C403.7.4) and occupancy fusion: pure functions, properties."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.base import ClimateMode
from scenes.energy import (
    EnergyPolicy,
    Occupancy,
    OccupancyPolicy,
    RoomEnergyState,
    Season,
    climate_target,
    evaluate,
    on_door,
    on_motion,
    on_presence,
    precondition_lead,
    season_for,
    with_motion_state,
)

T0 = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
prefs = st.floats(min_value=18.0, max_value=27.0).map(lambda v: round(v * 2) / 2)
indoor = st.one_of(st.none(), st.floats(min_value=5.0, max_value=38.0))
seasons = st.sampled_from(list(Season))
policies = st.builds(
    EnergyPolicy,
    away_after=st.integers(0, 30).map(lambda m: timedelta(minutes=m)),
    away_setback_c=st.floats(2.2, 4.0),
    deep_after=st.none(),
    recovery_c_per_hour=st.floats(1.0, 12.0),
)


@given(pref=prefs, season=seasons, policy=policies, inside=indoor)
def test_rented_empty_room_moves_at_least_2_2_within_30_minutes(
    pref: float, season: Season, policy: EnergyPolicy, inside: float | None
) -> None:
    room = RoomEnergyState(
        now=T0 + timedelta(minutes=30),
        rented=True,
        occupied=False,
        vacant_since=T0,
        preferred_c=pref,
        season=season,
        indoor_c=inside,
    )
    target = climate_target(room, policy)
    assert target is not None
    assert abs(target.setpoint_c - pref) >= 2.2 - 1e-9
    # The setback goes the way that saves energy, and the mode cannot undo it.
    if season is Season.COOLING:
        assert target.mode is ClimateMode.COOL and target.setpoint_c > pref
    else:
        assert target.mode is ClimateMode.HEAT and target.setpoint_c < pref


@given(pref=prefs, season=seasons, inside=indoor, minutes=st.integers(0, 10 * 24 * 60))
def test_unrented_room_is_held_at_the_code_limits(
    pref: float, season: Season, inside: float | None, minutes: int
) -> None:
    room = RoomEnergyState(
        now=T0 + timedelta(minutes=minutes),
        rented=False,
        occupied=False,
        vacant_since=T0,
        preferred_c=pref,
        season=season,
        indoor_c=inside,
    )
    target = climate_target(room, EnergyPolicy())
    assert target is not None
    if season is Season.COOLING:
        assert target.mode is ClimateMode.COOL and target.setpoint_c >= 26.7
    else:
        assert target.mode is ClimateMode.HEAT and target.setpoint_c <= 15.6


@given(
    pref=prefs,
    inside=indoor,
    rented=st.booleans(),
    season=seasons,
    until_arrival=st.integers(0, 6 * 3600),
)
def test_preconditioning_never_starts_more_than_60_minutes_early(
    pref: float, inside: float | None, rented: bool, season: Season, until_arrival: int
) -> None:
    room = RoomEnergyState(
        now=T0,
        rented=rented,
        occupied=False,
        vacant_since=T0 - timedelta(hours=5),
        preferred_c=pref,
        season=season,
        indoor_c=inside,
        next_arrival=T0 + timedelta(seconds=until_arrival),
    )
    target = climate_target(room, EnergyPolicy())
    assert target is not None
    if target.setpoint_c == pref and target.mode is ClimateMode.AUTO:
        assert until_arrival <= 3600
    else:
        assert until_arrival > 0


@given(inside=st.floats(5.0, 38.0), pref=prefs, policy=policies)
def test_recovery_lead_grows_with_the_drift_and_is_capped(
    inside: float, pref: float, policy: EnergyPolicy
) -> None:
    lead = precondition_lead(inside, pref, policy, setback_c=3.0)
    assert policy.precondition_margin <= lead or lead == policy.precondition_max
    assert lead <= timedelta(minutes=60)
    further = precondition_lead(
        inside + 1 if inside >= pref else inside - 1, pref, policy, setback_c=3
    )
    assert further >= lead


def test_occupied_room_gets_no_energy_target() -> None:
    room = RoomEnergyState(T0, True, True, None, 22.0, Season.HEATING, 18.0)
    assert climate_target(room, EnergyPolicy()) is None


def test_too_early_for_the_away_setback_then_deep_setback() -> None:
    policy = EnergyPolicy()
    early = RoomEnergyState(T0 + timedelta(minutes=5), True, False, T0, 22.0, Season.HEATING)
    assert climate_target(early, policy) is None
    away = RoomEnergyState(T0 + timedelta(minutes=10), True, False, T0, 22.0, Season.HEATING)
    assert climate_target(away, policy).setpoint_c == 19.5  # type: ignore[union-attr]
    deep = RoomEnergyState(T0 + timedelta(hours=3), True, False, T0, 22.0, Season.HEATING)
    assert climate_target(deep, policy).setpoint_c == 18.0  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"away_after": timedelta(minutes=31)}, "30 min"),
        ({"away_setback_c": 2.0}, "2.2"),
        ({"unrented_cooling_c": 26.0}, "26.7"),
        ({"unrented_heating_c": 17.0}, "15.6"),
        ({"precondition_max": timedelta(minutes=61)}, "60 min"),
        ({"deep_setback_c": 2.3}, "deep setback"),
    ],
)
def test_policies_that_break_the_code_are_refused(changes: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        EnergyPolicy(**changes)  # type: ignore[arg-type]


def test_season_has_hysteresis() -> None:
    assert season_for(23.0, 22.0) is Season.COOLING
    assert season_for(21.5, 22.0, previous=Season.COOLING) is Season.COOLING
    assert season_for(20.9, 22.0, previous=Season.COOLING) is Season.HEATING
    assert season_for(22.5, 22.0, previous=Season.HEATING) is Season.HEATING
    assert season_for(None, 22.0, outdoor_c=30.0) is Season.COOLING
    assert season_for(None, 22.0) is Season.COOLING  # nothing known: the safe default


# --- occupancy ------------------------------------------------------------------------------

POLICY = OccupancyPolicy()


def test_door_closes_with_motion_inside_means_occupied_until_the_door_opens() -> None:
    occ = on_door(Occupancy(), open_=True, at=T0)
    occ = on_door(occ, open_=False, at=T0 + timedelta(seconds=5))
    occ = on_motion(occ, T0 + timedelta(seconds=40), POLICY)
    assert occ.occupied and occ.motion_since_close
    # Asleep: no motion for 10 hours, door closed -> still occupied.
    assert evaluate(occ, T0 + timedelta(hours=10), POLICY).occupied


def test_door_opens_and_no_motion_follows_means_empty_dated_at_the_close() -> None:
    occ = Occupancy(occupied=True)
    occ = on_door(occ, open_=True, at=T0)
    occ = on_motion(occ, T0 + timedelta(seconds=1), POLICY)
    occ = on_door(occ, open_=False, at=T0 + timedelta(seconds=4))
    # The leaving guest's last movement, within the grace, does not count as inside.
    occ = on_motion(occ, T0 + timedelta(seconds=5), POLICY)
    assert evaluate(occ, T0 + timedelta(minutes=4), POLICY).occupied
    empty = evaluate(occ, T0 + timedelta(minutes=6), POLICY)
    assert not empty.occupied and empty.changed_at == T0 + timedelta(seconds=4)


def test_member_presence_holds_occupancy() -> None:
    occ = on_presence(Occupancy(), present=True, at=T0)
    occ = on_door(occ, open_=True, at=T0)
    occ = on_door(occ, open_=False, at=T0 + timedelta(seconds=3))
    assert evaluate(occ, T0 + timedelta(hours=1), POLICY).occupied
    gone = on_presence(occ, present=False, at=T0 + timedelta(hours=1))
    assert not evaluate(gone, T0 + timedelta(hours=1), POLICY).occupied


def test_door_propped_open_and_nobody_moving() -> None:
    occ = on_motion(on_door(Occupancy(), open_=True, at=T0), T0, POLICY)
    assert evaluate(occ, T0 + timedelta(minutes=14), POLICY).occupied
    assert not evaluate(occ, T0 + timedelta(minutes=15), POLICY).occupied


def test_a_motion_sensor_still_reporting_at_the_end_of_the_window_means_someone_inside() -> None:
    # The guest came in and keeps moving: the PIR holds `occupancy: true`, no new report.
    occ = on_motion(on_door(Occupancy(), open_=True, at=T0), T0 + timedelta(seconds=1), POLICY)
    occ = with_motion_state(occ, active=True)
    occ = on_door(occ, open_=False, at=T0 + timedelta(seconds=3))
    held = evaluate(occ, T0 + timedelta(minutes=6), POLICY)
    assert held.occupied and held.motion_since_close
    # Later the guest sits still (the sensor goes quiet): still inside, the door is shut.
    quiet = with_motion_state(held, active=False)
    assert evaluate(quiet, T0 + timedelta(hours=8), POLICY).occupied


def test_the_leaving_guests_motion_ends_within_the_window_and_the_room_empties() -> None:
    occ = Occupancy(occupied=True, motion_active=True)
    occ = on_door(occ, open_=True, at=T0)
    occ = on_door(occ, open_=False, at=T0 + timedelta(seconds=4))
    occ = with_motion_state(occ, active=False)  # the PIR's hold time ran out (90 s)
    empty = evaluate(occ, T0 + timedelta(minutes=6), POLICY)
    assert not empty.occupied and empty.changed_at == T0 + timedelta(seconds=4)


events = st.lists(
    st.tuples(
        st.integers(1, 900),
        st.sampled_from(["open", "close", "motion", "present", "absent", "pir_on", "pir_off"]),
    ),
    max_size=40,
)


@settings(max_examples=200)
@given(script=events)
def test_occupancy_invariants_over_any_event_sequence(script: list[tuple[int, str]]) -> None:
    occ = Occupancy()
    now = T0
    for gap, what in script:
        now += timedelta(seconds=gap)
        occ = evaluate(occ, now, POLICY)
        if what == "open":
            occ = on_door(occ, open_=True, at=now)
        elif what == "close":
            occ = on_door(occ, open_=False, at=now)
        elif what == "motion":
            before_inside = (
                not occ.door_open
                and occ.door_closed_at is not None
                and now < occ.door_closed_at + POLICY.motion_grace
            )
            occ = on_motion(occ, now, POLICY)
            assert occ.occupied or before_inside  # motion inside always means someone is in
        elif what in ("pir_on", "pir_off"):
            occ = with_motion_state(occ, active=what == "pir_on")
        elif what == "present":
            occ = on_presence(occ, present=True, at=now)
            assert occ.occupied
        else:
            occ = on_presence(occ, present=False, at=now)
        was_occupied = occ.occupied
        occ = evaluate(occ, now, POLICY)
        if was_occupied and occ.motion_active:
            assert occ.occupied  # a sensor that sees someone never lets the room go empty
        if occ.member_present:
            assert occ.occupied
        if occ.occupied and not occ.door_open and occ.motion_since_close:
            # held while the door stays shut, however long nobody moves
            assert evaluate(occ, now + timedelta(days=2), POLICY).occupied
        if occ.changed_at is not None:
            assert occ.changed_at <= now


@given(inside=st.none() | st.floats(5.0, 38.0), season=seasons, pref=prefs)
def test_limits_the_thermostat_cannot_take_switch_it_off_instead(
    inside: float | None, season: Season, pref: float
) -> None:
    policy = EnergyPolicy(device_min_c=16.0, device_max_c=26.0)
    room = RoomEnergyState(T0, False, False, T0, pref, season, inside)
    target = climate_target(room, policy)
    assert target is not None
    assert policy.device_min_c <= target.setpoint_c <= policy.device_max_c
    if target.mode is ClimateMode.HEAT:
        # heating only when the room is already at or below the code's limit
        assert inside is not None and inside <= 15.6
    if target.mode is ClimateMode.COOL:
        assert inside is not None and inside >= 26.7
