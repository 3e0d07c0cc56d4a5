"""The room thermal model: physics sanity, energy balance, and the thermostat's decisions."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.base import ClimateAction, ClimateMode, FanMode
from firmware_mocks.thermal import (
    Conditions,
    Controls,
    DailySine,
    HourlyProfile,
    RoomParams,
    RoomState,
    auto_speed,
    decide,
    steady_state_c,
    step,
)

P = RoomParams()
OFF = Controls(mode=ClimateMode.OFF)


@settings(max_examples=60)
@given(
    t0=st.floats(0, 35),
    outdoor=st.floats(-20, 40),
    mode=st.sampled_from(list(ClimateMode)),
    setpoint=st.floats(16, 30),
    fan=st.sampled_from(list(FanMode)),
    door=st.booleans(),
    window=st.booleans(),
    occupants=st.integers(0, 4),
    dt=st.floats(0, 4 * 3600),
)
def test_energy_balance(
    t0: float,
    outdoor: float,
    mode: ClimateMode,
    setpoint: float,
    fan: FanMode,
    door: bool,
    window: bool,
    occupants: int,
    dt: float,
) -> None:
    """C·ΔT equals the heat that flowed in, whatever the inputs."""
    state = RoomState(temperature_c=t0)
    conditions = Conditions(outdoor, door, window, occupants)
    new, flows = step(P, state, Controls(mode, setpoint, fan), conditions, dt)
    stored = P.thermal_mass_j_per_k * (new.temperature_c - t0)
    assert stored == pytest.approx(flows.total_j, rel=1e-6, abs=1e-3)
    assert new.energy_kwh >= state.energy_kwh
    # Electric energy is what the fan-coil drew: heat/COP or cooling/EER plus the fan.
    fan_max = max(P.fan_w.values())
    heat_max = max(max(P.heating_w.values()) / P.cop, max(P.cooling_w.values()) / P.eer)
    assert flows.electric_j <= (fan_max + heat_max) * dt + 1e-6


def test_unheated_room_settles_at_the_steady_state() -> None:
    conditions = Conditions(outdoor_c=0.0)
    state, _ = step(P, RoomState(22.0), OFF, conditions, 30 * 24 * 3600)
    expected = steady_state_c(P, conditions)  # outdoor + internal gains / UA = 1 °C
    assert expected == pytest.approx(0.0 + P.internal_gain_w / P.ua_envelope_w_per_k)
    assert state.temperature_c == pytest.approx(expected, abs=0.01)


def test_occupants_warm_the_room() -> None:
    empty = steady_state_c(P, Conditions(outdoor_c=10.0))
    two = steady_state_c(P, Conditions(outdoor_c=10.0, occupants=2))
    assert two - empty == pytest.approx(2 * P.occupant_gain_w / P.ua_envelope_w_per_k)


def test_heating_holds_the_setpoint_within_the_deadband() -> None:
    state = RoomState(15.0)
    controls = Controls(ClimateMode.HEAT, 22.0, FanMode.AUTO)
    state, _ = step(P, state, controls, Conditions(outdoor_c=0.0), 6 * 3600)
    temps = []
    for _ in range(120):  # the next two hours, a minute at a time
        state, _ = step(P, state, controls, Conditions(outdoor_c=0.0), 60)
        temps.append(state.temperature_c)
    assert 22.0 - P.deadband_k / 2 - 0.2 <= min(temps)
    assert max(temps) <= 22.0 + P.deadband_k / 2 + 0.2
    assert state.energy_kwh > 0


def test_heating_energy_follows_the_cop() -> None:
    controls = Controls(ClimateMode.HEAT, 30.0, FanMode.HIGH)  # far below: runs flat out
    state, flows = step(P, RoomState(10.0), controls, Conditions(outdoor_c=0.0), 3600)
    assert state.action is ClimateAction.HEATING
    expected_kwh = (P.heating_w[FanMode.HIGH] / P.cop + P.fan_w[FanMode.HIGH]) / 1000
    assert state.energy_kwh == pytest.approx(expected_kwh)
    assert flows.hvac_j == pytest.approx(P.heating_w[FanMode.HIGH] * 3600)


def test_cooling_uses_the_eer_and_cools() -> None:
    controls = Controls(ClimateMode.COOL, 18.0, FanMode.MEDIUM)
    state, flows = step(P, RoomState(28.0), controls, Conditions(outdoor_c=32.0), 1800)
    assert state.action is ClimateAction.COOLING
    assert flows.hvac_j < 0
    expected_kwh = (P.cooling_w[FanMode.MEDIUM] / P.eer + P.fan_w[FanMode.MEDIUM]) * 0.5 / 1000
    assert state.energy_kwh == pytest.approx(expected_kwh)


def test_open_door_pulls_the_room_towards_the_corridor() -> None:
    start = RoomState(26.0)  # warmer than the 21 °C corridor, HVAC off
    closed, _ = step(P, start, OFF, Conditions(outdoor_c=26.0), 1800)
    opened, flows = step(P, start, OFF, Conditions(outdoor_c=26.0, door_open=True), 1800)
    assert opened.temperature_c < closed.temperature_c - 0.5
    assert flows.door_j < 0


def test_open_window_cools_faster_in_winter_and_cuts_the_hvac() -> None:
    heating = Controls(ClimateMode.HEAT, 22.0, FanMode.AUTO)
    start = RoomState(21.0)
    closed, _ = step(P, start, heating, Conditions(outdoor_c=0.0), 600)
    opened, flows = step(P, start, heating, Conditions(outdoor_c=0.0, window_open=True), 600)
    assert closed.action is ClimateAction.HEATING
    assert opened.action is ClimateAction.IDLE  # window contact interlock
    assert flows.hvac_j == 0
    assert opened.temperature_c < start.temperature_c < closed.temperature_c


def test_step_refuses_nonsense() -> None:
    with pytest.raises(ValueError, match="dt_s must be"):
        step(P, RoomState(), OFF, Conditions(), -1)
    with pytest.raises(ValueError, match="finite"):
        step(P, RoomState(), Controls(setpoint_c=float("nan")), Conditions(), 1)
    with pytest.raises(ValueError, match="thermal_mass_j_per_k must be a positive"):
        RoomParams(thermal_mass_j_per_k=0)


def test_decisions() -> None:
    def act(mode: ClimateMode, t: float, prev: ClimateAction = ClimateAction.IDLE) -> ClimateAction:
        return decide(Controls(mode, 22.0, FanMode.AUTO), t, prev, False, 1.0)[0]

    assert act(ClimateMode.HEAT, 21.0) is ClimateAction.HEATING
    assert act(ClimateMode.HEAT, 21.8) is ClimateAction.IDLE  # inside the deadband, was idle
    assert act(ClimateMode.HEAT, 22.3, ClimateAction.HEATING) is ClimateAction.HEATING
    assert act(ClimateMode.COOL, 23.0) is ClimateAction.COOLING
    assert act(ClimateMode.AUTO, 22.5) is ClimateAction.IDLE
    assert act(ClimateMode.AUTO, 20.5) is ClimateAction.HEATING
    assert act(ClimateMode.AUTO, 23.5) is ClimateAction.COOLING
    assert act(ClimateMode.FAN_ONLY, 30.0) is ClimateAction.FAN
    assert act(ClimateMode.OFF, 5.0) is ClimateAction.OFF
    assert [auto_speed(e) for e in (0.5, 1.5, 3.0, -3.0)] == [
        FanMode.LOW,
        FanMode.MEDIUM,
        FanMode.HIGH,
        FanMode.HIGH,
    ]


def test_outdoor_profiles() -> None:
    sine = DailySine(mean_c=5.0, amplitude_k=4.0, warmest_hour=15.0)
    assert sine.at(datetime(2026, 1, 15, 15, 0, tzinfo=UTC)) == pytest.approx(9.0)
    assert sine.at(datetime(2026, 1, 15, 3, 0, tzinfo=UTC)) == pytest.approx(1.0)
    hourly = HourlyProfile(tuple(float(h) for h in range(24)))
    assert hourly.at(datetime(2026, 1, 15, 10, 30, tzinfo=UTC)) == pytest.approx(10.5)
    assert hourly.at(datetime(2026, 1, 15, 23, 30, tzinfo=UTC)) == pytest.approx(11.5)
    with pytest.raises(ValueError, match="needs 24 values"):
        HourlyProfile((1.0, 2.0))
