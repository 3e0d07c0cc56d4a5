"""A guest room as one thermal zone, and the fan-coil thermostat that heats or cools it.

Pure functions, no I/O and no clock: the thermostat simulator calls `step()` on an
accelerated clock; tests call it directly.

The model (a first-order "RC" zone, the usual single-node building model):

    C · dT/dt = UA·(T_out − T) + X_win·(T_out − T) + X_door·(T_corr − T) + Q_hvac + Q_gain

- C        thermal mass of air, furniture and inner surfaces (J/K), default 1.5 MJ/K
- UA       envelope conductance to outdoors (W/K), default 30 W/K (one façade, glazed)
- X_win    extra exchange with outdoors while the window is open (W/K), default 60 W/K
           (≈ 0.05 m³/s of air × ρ·c_p 1,200 J/(m³·K))
- X_door   exchange with the corridor while the entrance door is open (W/K), default 120 W/K
- Q_hvac   fan-coil output: + heating / − cooling, by fan speed (W)
- Q_gain   occupants (75 W sensible each), internal gains (appliances), and fan motor heat

With all inputs constant over a sub-step h the equation has the exact solution
T(h) = T_eq + (T0 − T_eq)·exp(−h/τ), τ = C / ΣUA, T_eq = (Σ UA_i·T_i + Q) / ΣUA, so the
integration is exact and stable for any h; sub-steps (≤ 30 s) exist only so the thermostat's
on/off decisions are re-taken often. Every heat flow is integrated exactly too, so
C·ΔT = Σ flows holds to rounding (the energy-balance test).

The thermostat: window contact open → HVAC idle (interlock, as fan-coil thermostats wire
it); HEAT runs below setpoint − deadband/2 until setpoint + deadband/2 (hysteresis); COOL
mirrors it; AUTO heats below setpoint − deadband and cools above setpoint + deadband,
stopping at the setpoint; FAN_ONLY only moves air. Fan AUTO picks high beyond 2 K of error,
medium beyond 1 K, else low. Electric energy: heat/COP, cooling/EER, plus the fan motor.

Not modelled (known limits): sun through the window, humidity (a constant), the corridor's
own dynamics, wall layers with their own time constants, fan-coil warm-up.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Protocol

from drivers.base import ClimateAction, ClimateMode, FanMode

SPEEDS = (FanMode.LOW, FanMode.MEDIUM, FanMode.HIGH)
MAX_SUBSTEP_S = 30.0
J_PER_KWH = 3_600_000.0


def _by_speed(low: float, medium: float, high: float) -> dict[FanMode, float]:
    return {FanMode.LOW: low, FanMode.MEDIUM: medium, FanMode.HIGH: high}


@dataclass(frozen=True, slots=True)
class RoomParams:
    thermal_mass_j_per_k: float = 1.5e6
    ua_envelope_w_per_k: float = 30.0
    window_exchange_w_per_k: float = 60.0
    door_exchange_w_per_k: float = 120.0
    corridor_c: float = 21.0
    occupant_gain_w: float = 75.0
    internal_gain_w: float = 30.0
    heating_w: dict[FanMode, float] = field(default_factory=lambda: _by_speed(1200, 1800, 2500))
    cooling_w: dict[FanMode, float] = field(default_factory=lambda: _by_speed(1000, 1500, 2100))
    fan_w: dict[FanMode, float] = field(default_factory=lambda: _by_speed(15, 25, 40))
    cop: float = 3.2  # heating: heat delivered per electric joule
    eer: float = 3.0  # cooling: heat removed per electric joule
    deadband_k: float = 1.0
    humidity_pct: float = 45.0

    def __post_init__(self) -> None:
        positive = {
            "thermal_mass_j_per_k": self.thermal_mass_j_per_k,
            "ua_envelope_w_per_k": self.ua_envelope_w_per_k,
            "cop": self.cop,
            "eer": self.eer,
            "deadband_k": self.deadband_k,
        }
        for name, value in positive.items():
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a positive number, not {value}")
        for name in ("window_exchange_w_per_k", "door_exchange_w_per_k", "occupant_gain_w"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} cannot be negative")
        for table in (self.heating_w, self.cooling_w, self.fan_w):
            if set(table) != set(SPEEDS) or any(v < 0 for v in table.values()):
                raise ValueError("capacity tables need low, medium and high, none negative")


@dataclass(frozen=True, slots=True)
class Controls:
    """What the thermostat is set to."""

    mode: ClimateMode = ClimateMode.HEAT
    setpoint_c: float = 22.0
    fan: FanMode = FanMode.AUTO


@dataclass(frozen=True, slots=True)
class Conditions:
    """What the world is doing to the room during a step."""

    outdoor_c: float = 5.0
    door_open: bool = False
    window_open: bool = False
    occupants: int = 0


@dataclass(frozen=True, slots=True)
class RoomState:
    temperature_c: float = 20.0
    action: ClimateAction = ClimateAction.IDLE
    speed: FanMode | None = None  # the fan speed running now (None when the fan is off)
    energy_kwh: float = 0.0  # electric, cumulative


@dataclass(frozen=True, slots=True)
class Flows:
    """Heat into the room over a step, in joules (negative = out of the room)."""

    envelope_j: float = 0.0
    window_j: float = 0.0
    door_j: float = 0.0
    hvac_j: float = 0.0
    gains_j: float = 0.0
    electric_j: float = 0.0

    @property
    def total_j(self) -> float:
        return self.envelope_j + self.window_j + self.door_j + self.hvac_j + self.gains_j

    def __add__(self, other: Flows) -> Flows:
        return Flows(
            self.envelope_j + other.envelope_j,
            self.window_j + other.window_j,
            self.door_j + other.door_j,
            self.hvac_j + other.hvac_j,
            self.gains_j + other.gains_j,
            self.electric_j + other.electric_j,
        )


def auto_speed(error_k: float) -> FanMode:
    error = abs(error_k)
    if error > 2.0:
        return FanMode.HIGH
    if error > 1.0:
        return FanMode.MEDIUM
    return FanMode.LOW


def decide(
    controls: Controls,
    temperature_c: float,
    previous: ClimateAction,
    window_open: bool,
    deadband_k: float,
) -> tuple[ClimateAction, FanMode | None]:
    """The thermostat's decision for the next sub-step: (action, fan speed or None)."""
    mode, sp = controls.mode, controls.setpoint_c
    if mode is ClimateMode.OFF:
        return ClimateAction.OFF, None
    if window_open:
        return ClimateAction.IDLE, None
    error = sp - temperature_c

    def speed() -> FanMode:
        return auto_speed(error) if controls.fan is FanMode.AUTO else controls.fan

    if mode is ClimateMode.FAN_ONLY:
        return ClimateAction.FAN, FanMode.LOW if controls.fan is FanMode.AUTO else controls.fan
    half = deadband_k / 2
    if mode is ClimateMode.HEAT:
        running = previous is ClimateAction.HEATING
        on = temperature_c < sp - half or (running and temperature_c < sp + half)
        return (ClimateAction.HEATING, speed()) if on else (ClimateAction.IDLE, None)
    if mode is ClimateMode.COOL:
        running = previous is ClimateAction.COOLING
        on = temperature_c > sp + half or (running and temperature_c > sp - half)
        return (ClimateAction.COOLING, speed()) if on else (ClimateAction.IDLE, None)
    # AUTO: a wider neutral zone so it never flips straight from heating to cooling.
    if temperature_c < sp - deadband_k or (previous is ClimateAction.HEATING and error > 0):
        return ClimateAction.HEATING, speed()
    if temperature_c > sp + deadband_k or (previous is ClimateAction.COOLING and error < 0):
        return ClimateAction.COOLING, speed()
    return ClimateAction.IDLE, None


def _substep(
    p: RoomParams, s: RoomState, controls: Controls, c: Conditions, h: float
) -> tuple[RoomState, Flows]:
    action, speed = decide(controls, s.temperature_c, s.action, c.window_open, p.deadband_k)
    q_hvac = 0.0
    electric_w = 0.0
    if speed is not None:
        electric_w += p.fan_w[speed]
        if action is ClimateAction.HEATING:
            q_hvac = p.heating_w[speed]
            electric_w += q_hvac / p.cop
        elif action is ClimateAction.COOLING:
            q_hvac = -p.cooling_w[speed]
            electric_w += -q_hvac / p.eer
    fan_heat = p.fan_w[speed] if speed is not None else 0.0
    q_gain = c.occupants * p.occupant_gain_w + p.internal_gain_w + fan_heat
    ua_win = p.window_exchange_w_per_k if c.window_open else 0.0
    ua_door = p.door_exchange_w_per_k if c.door_open else 0.0
    ua_total = p.ua_envelope_w_per_k + ua_win + ua_door
    t_eq = (
        (p.ua_envelope_w_per_k + ua_win) * c.outdoor_c + ua_door * p.corridor_c + q_hvac + q_gain
    ) / ua_total
    tau = p.thermal_mass_j_per_k / ua_total
    decay = math.exp(-h / tau)
    t0 = s.temperature_c
    t1 = t_eq + (t0 - t_eq) * decay
    integral_t = t_eq * h + (t0 - t_eq) * tau * (1 - decay)  # ∫T dt over the sub-step
    flows = Flows(
        envelope_j=p.ua_envelope_w_per_k * (c.outdoor_c * h - integral_t),
        window_j=ua_win * (c.outdoor_c * h - integral_t),
        door_j=ua_door * (p.corridor_c * h - integral_t),
        hvac_j=q_hvac * h,
        gains_j=q_gain * h,
        electric_j=electric_w * h,
    )
    new = RoomState(t1, action, speed, s.energy_kwh + flows.electric_j / J_PER_KWH)
    return new, flows


def step(
    params: RoomParams,
    state: RoomState,
    controls: Controls,
    conditions: Conditions,
    dt_s: float,
) -> tuple[RoomState, Flows]:
    """Advance the room by `dt_s` seconds with constant controls and conditions.

    >>> s, flows = step(RoomParams(), RoomState(18.0), Controls(setpoint_c=22), Conditions(), 600)
    >>> s.action, round(s.temperature_c, 2) > 18
    (<ClimateAction.HEATING: 'heating'>, True)
    """
    if not (math.isfinite(dt_s) and dt_s >= 0):
        raise ValueError(f"dt_s must be a finite number >= 0, not {dt_s}")
    if not math.isfinite(controls.setpoint_c) or not math.isfinite(conditions.outdoor_c):
        raise ValueError("setpoint and outdoor temperature must be finite")
    if conditions.occupants < 0:
        raise ValueError("occupants cannot be negative")
    total = Flows()
    remaining = dt_s
    while remaining > 0:
        h = min(MAX_SUBSTEP_S, remaining)
        state, flows = _substep(params, state, controls, conditions, h)
        total = total + flows
        remaining -= h
    if dt_s == 0:
        action, speed = decide(
            controls, state.temperature_c, state.action, conditions.window_open, params.deadband_k
        )
        state = replace(state, action=action, speed=speed)
    return state, total


def steady_state_c(params: RoomParams, conditions: Conditions, hvac_w: float = 0.0) -> float:
    """Where the room settles with constant conditions and a constant HVAC output."""
    ua_win = params.window_exchange_w_per_k if conditions.window_open else 0.0
    ua_door = params.door_exchange_w_per_k if conditions.door_open else 0.0
    gains = conditions.occupants * params.occupant_gain_w + params.internal_gain_w
    numerator = (
        (params.ua_envelope_w_per_k + ua_win) * conditions.outdoor_c
        + ua_door * params.corridor_c
        + hvac_w
        + gains
    )
    return numerator / (params.ua_envelope_w_per_k + ua_win + ua_door)


# --- outdoor temperature ------------------------------------------------------------------


class OutdoorProfile(Protocol):
    def at(self, when: datetime) -> float: ...


@dataclass(frozen=True, slots=True)
class DailySine:
    """mean ± amplitude over the day, warmest at `warmest_hour` (local solar hour, UTC here)."""

    mean_c: float = 5.0
    amplitude_k: float = 4.0
    warmest_hour: float = 15.0

    def at(self, when: datetime) -> float:
        hour = when.hour + when.minute / 60 + when.second / 3600
        return self.mean_c + self.amplitude_k * math.cos(
            2 * math.pi * (hour - self.warmest_hour) / 24
        )


@dataclass(frozen=True, slots=True)
class HourlyProfile:
    """24 hourly temperatures (00:00 .. 23:00), linearly interpolated, wrapping at midnight."""

    hourly_c: tuple[float, ...]

    def __post_init__(self) -> None:
        if len(self.hourly_c) != 24:
            raise ValueError(f"an hourly profile needs 24 values, got {len(self.hourly_c)}")

    def at(self, when: datetime) -> float:
        hour = when.hour + when.minute / 60 + when.second / 3600
        i = int(hour) % 24
        frac = hour - int(hour)
        return self.hourly_c[i] + (self.hourly_c[(i + 1) % 24] - self.hourly_c[i]) * frac
