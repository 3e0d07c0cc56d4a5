"""A checked-in guest out of the room: predicted return, setback depth, recovery timed from
the measured recovery rate (pure functions, with the simulators' thermal model as plant)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.base import ClimateAction, ClimateMode, FanMode
from firmware_mocks.thermal import Conditions, Controls, RoomParams, RoomState, step
from scenes.energy import (
    EnergyPolicy,
    RecoveryRates,
    RoomEnergyState,
    Season,
    climate_target,
    expected_return,
    observe_recovery,
    recovering_for,
)

DAY = datetime(2026, 1, 13, tzinfo=UTC)
POLICY = EnergyPolicy()


def at(hhmm: str, day: int = 0) -> datetime:
    h, m = hhmm.split(":")
    return DAY + timedelta(days=day, hours=int(h), minutes=int(m))


def test_a_day_out_is_expected_back_at_18_then_at_the_guests_own_earliest_time() -> None:
    assert expected_return(at("08:00"), [], tz=UTC, policy=POLICY) == at("18:00")
    history = [(at("08:30", -2), at("19:30", -2)), (at("09:00", -1), at("17:15", -1))]
    assert expected_return(at("08:00"), history, tz=UTC, policy=POLICY) == at("17:15")
    # Evening outings do not teach the day-out time, and vice versa.
    evening = [(at("19:00", -1), at("20:10", -1))]
    assert expected_return(at("08:00"), evening, tz=UTC, policy=POLICY) == at("18:00")
    assert expected_return(at("19:30"), evening, tz=UTC, policy=POLICY) == at("20:40")
    assert expected_return(at("19:30"), [], tz=UTC, policy=POLICY) == at("21:30")


def test_the_time_of_day_is_the_propertys_local_one() -> None:
    shanghai = ZoneInfo("Asia/Shanghai")  # UTC+8: leaving 01:00 UTC is 09:00 local
    back = expected_return(at("01:00"), [], tz=shanghai, policy=POLICY)
    assert back.astimezone(shanghai).hour == 18 and back == at("10:00")


instants = st.integers(0, 6 * 24 * 60).map(lambda m: DAY + timedelta(minutes=m))


@given(
    left=instants,
    history=st.lists(
        st.tuples(instants, st.integers(1, 20 * 60)).map(
            lambda p: (p[0], p[0] + timedelta(minutes=p[1]))
        ),
        max_size=6,
    ),
)
def test_expected_return_is_always_at_least_half_an_hour_later(
    left: datetime, history: list[tuple[datetime, datetime]]
) -> None:
    back = expected_return(left, history, tz=UTC, policy=POLICY)
    assert back >= left + timedelta(minutes=30)
    assert back <= left + timedelta(hours=24)


def _out(now: datetime, indoor: float, **changes: object) -> RoomEnergyState:
    fields: dict[str, object] = {
        "now": now,
        "rented": True,
        "occupied": False,
        "vacant_since": at("08:00"),
        "preferred_c": 22.5,
        "season": Season.HEATING,
        "indoor_c": indoor,
        "expected_return": at("18:00"),
        "recovery_c_per_hour": 4.5,
        "departure": at("11:00", 2),
    }
    fields.update(changes)
    return RoomEnergyState(**fields)  # type: ignore[arg-type]


def test_long_absence_sets_back_to_the_unrented_limit_and_recovers_in_time() -> None:
    deep = climate_target(_out(at("10:00"), 21.0), POLICY)
    assert deep is not None and deep.setpoint_c == 15.6 and deep.mode is ClimateMode.HEAT
    assert deep.reason.startswith("return setback")
    # 6.5 °C to make up at 4.5 °C/h = 87 min + 10 min margin: recovery starts at 16:23.
    early = climate_target(_out(at("16:15"), 16.0), POLICY)
    assert early is not None and early.mode is ClimateMode.HEAT
    start = climate_target(_out(at("16:25"), 16.0), POLICY)
    assert start is not None and start.mode is ClimateMode.AUTO and start.setpoint_c == 22.5
    assert recovering_for(start) == at("18:00")
    # Once started it runs to the end, even when the room warms faster than planned.
    latched = climate_target(_out(at("16:45"), 21.0, recovering_for=recovering_for(start)), POLICY)
    assert latched is not None and latched.mode is ClimateMode.AUTO
    # Late: waited for 30 min, then the plain away setback (the code's rented rule).
    assert climate_target(_out(at("18:20"), 22.5), POLICY).mode is ClimateMode.AUTO  # type: ignore[union-attr]
    late = climate_target(_out(at("18:45"), 22.5), POLICY)
    assert late is not None and late.reason.startswith(("away setback", "deep setback"))


def test_short_absence_gets_a_shallow_setback_and_check_out_no_recovery() -> None:
    short = _out(at("13:20"), 22.0, vacant_since=at("13:00"), expected_return=at("13:40"))
    target = climate_target(short, POLICY)
    assert target is not None and 22.5 - target.setpoint_c == POLICY.away_setback_c
    leaving = _out(at("10:20"), 21.5, expected_return=at("18:00"), departure=at("11:00"))
    target = climate_target(leaving, POLICY)
    assert target is not None and "not expected back" in target.reason
    assert target.setpoint_c == 15.6


@settings(max_examples=60, deadline=None)
@given(
    minutes=st.integers(30, 12 * 60),
    elapsed=st.integers(0, 16 * 60),
    indoor=st.floats(10.0, 34.0),
    season=st.sampled_from(list(Season)),
    rate=st.one_of(st.none(), st.floats(0.5, 30.0)),
)
def test_a_rented_empty_room_is_set_back_at_least_2_2_or_recovering(
    minutes: int, elapsed: int, indoor: float, season: Season, rate: float | None
) -> None:
    left = at("08:00")
    room = _out(
        left + timedelta(minutes=30 + elapsed),
        indoor,
        vacant_since=left,
        expected_return=left + timedelta(minutes=minutes),
        season=season,
        recovery_c_per_hour=rate,
    )
    target = climate_target(room, POLICY)
    assert target is not None
    if target.mode is ClimateMode.AUTO:
        assert target.reason.startswith("pre-conditioning") and target.setpoint_c == 22.5
    else:
        assert abs(target.setpoint_c - 22.5) >= 2.2 - 1e-9
        limit = 15.6 if season is Season.HEATING else 26.7
        assert (
            (target.setpoint_c >= limit)
            if season is Season.HEATING
            else (target.setpoint_c <= limit)
        )


def _run(rates: RecoveryRates, outdoor_c: float, start_c: float, sp: float) -> RecoveryRates:
    """Drive the thermal model at full capacity, the thermostat read once a minute
    (rounded to 0.1 °C, as the Modbus map reports it)."""
    params = RoomParams()
    state = RoomState(temperature_c=start_c)
    controls = Controls(mode=ClimateMode.AUTO, setpoint_c=sp, fan=FanMode.AUTO)
    now = at("06:00")
    for _ in range(90):
        state, _ = step(params, state, controls, Conditions(outdoor_c=outdoor_c), 60.0)
        now += timedelta(minutes=1)
        action = {ClimateAction.HEATING: True, ClimateAction.COOLING: False}.get(state.action)
        rates = observe_recovery(
            rates, at=now, current_c=round(state.temperature_c, 1), setpoint_c=sp, heating=action
        )
    return rates


def test_recovery_rate_is_measured_from_thermostat_readings() -> None:
    heating = _run(RecoveryRates(), outdoor_c=5.0, start_c=15.6, sp=22.5)
    # 2.5 kW + fan against ~30 W/K of loss into 1.5 MJ/K: ~5 °C/h from 16 °C.
    assert heating.heating_c_per_hour is not None and 4.0 <= heating.heating_c_per_hour <= 6.0
    assert heating.cooling_c_per_hour is None
    cooling = _run(heating, outdoor_c=30.0, start_c=26.7, sp=22.5)
    assert cooling.cooling_c_per_hour is not None and 3.0 <= cooling.cooling_c_per_hour <= 5.5
    assert cooling.heating_c_per_hour == heating.heating_c_per_hour
    # Holding the setpoint (small error) teaches nothing.
    idle = _run(RecoveryRates(), outdoor_c=5.0, start_c=22.0, sp=22.5)
    assert idle.heating_c_per_hour is None


@settings(max_examples=50, deadline=None)
@given(
    readings=st.lists(
        st.tuples(
            st.integers(1, 20),
            st.floats(5.0, 35.0),
            st.floats(16.0, 30.0),
            st.sampled_from([True, False, None]),
        ),
        max_size=60,
    )
)
def test_recovery_estimates_stay_plausible_whatever_the_readings(
    readings: list[tuple[int, float, float, bool | None]],
) -> None:
    rates, now = RecoveryRates(), at("00:00")
    for gap, current, sp, heating in readings:
        now += timedelta(minutes=gap)
        rates = observe_recovery(rates, at=now, current_c=current, setpoint_c=sp, heating=heating)
        for rate in (rates.heating_c_per_hour, rates.cooling_c_per_hour):
            assert rate is None or 0.5 <= rate <= 30.0


@settings(max_examples=8, deadline=None)
@given(outdoor=st.floats(-5.0, 12.0))
def test_the_room_is_back_within_1c_when_the_guest_returns_as_expected(outdoor: float) -> None:
    """Closed loop: the rules and the thermal model, 08:00-18:00 out on a cold day."""
    params, state = RoomParams(), RoomState(temperature_c=22.5)
    rates = RecoveryRates(heating_c_per_hour=4.0)  # learnt earlier in the week
    latch = None
    now = at("08:00")
    while now < at("18:00"):
        room = _out(
            now,
            round(state.temperature_c, 1),
            recovery_c_per_hour=rates.heating_c_per_hour,
            recovering_for=latch,
        )
        target = climate_target(room, POLICY) or Controls(ClimateMode.AUTO, 22.5)  # 10 min
        latch = recovering_for(target) if not isinstance(target, Controls) else None
        sp = max(16.0, target.setpoint_c)  # the thermostat's own minimum
        mode = (
            target.mode
            if target.setpoint_c >= 16.0 or target.mode is ClimateMode.AUTO
            else (ClimateMode.OFF if state.temperature_c > target.setpoint_c else ClimateMode.HEAT)
        )
        controls = Controls(mode=mode, setpoint_c=sp, fan=FanMode.AUTO)
        state, _ = step(params, state, controls, Conditions(outdoor_c=outdoor), 60.0)
        now += timedelta(minutes=1)
        action = {ClimateAction.HEATING: True, ClimateAction.COOLING: False}.get(state.action)
        rates = observe_recovery(
            rates, at=now, current_c=round(state.temperature_c, 1), setpoint_c=sp, heating=action
        )
    assert abs(state.temperature_c - 22.5) <= 1.0
