"""Sensing: device updates become typed facts. No decisions here.

It holds what the devices said last (their states and availability: the `DeviceView`
the status and alerts show), so it can tell a change from a repeat and which role a
sensor plays (the entrance door, a window, a motion sensor, the outdoor probe).

    sensing = Sensing(config, capabilities)
    facts = sensing.observe(update, at=clock.now())    # -> [DoorChanged(open=True, at=...)]
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import datetime

from agent.config import RoomConfig
from agent.facts import (
    AvailabilityChanged,
    ClimateReported,
    DeviceChanged,
    DeviceView,
    DoorChanged,
    DoorUnlocked,
    Fact,
    HousekeepingRequest,
    IndoorReading,
    MotionChanged,
    OutdoorReading,
    WindowChanged,
)
from drivers.base import (
    AvailabilityState,
    CapabilityName,
    ClimateState,
    DeviceUpdate,
    DoorStation,
    SensorEventKind,
    SensorState,
    State,
)
from sync.wire import Availability

_BUTTONS: dict[SensorEventKind, tuple[bool | None, bool | None]] = {
    # Buttons request a state, they do not toggle: the thermostat's door station reports
    # the same press as both a state change and an event.
    SensorEventKind.BUTTON_DND: (True, None),
    SensorEventKind.BUTTON_MUR: (None, True),
    SensorEventKind.BUTTON_CLEAR: (False, False),
}

_STATION: dict[DoorStation, tuple[bool | None, bool | None]] = {
    DoorStation.DND: (True, None),
    DoorStation.MUR: (None, True),
    DoorStation.NORMAL: (False, False),
}


class Sensing:
    def __init__(self, config: RoomConfig, capabilities: Mapping[str, CapabilityName]) -> None:
        self._config = config
        self._caps = dict(capabilities)
        self.states: dict[str, State] = {}
        self.availability: dict[str, AvailabilityState] = {}
        self._meters: dict[str, float] = {}  # each device's own energy meter, last seen (Wh)

    def start(self, now: datetime) -> None:
        self.availability = {
            name: AvailabilityState(Availability.UNKNOWN, None, now) for name in self._caps
        }

    def view(self) -> DeviceView:
        return DeviceView(states=dict(self.states), availability=dict(self.availability))

    def roles(self, name: str) -> set[str]:
        roles = {
            r
            for r in ("door", "window", "motion", "outdoor")
            if name in getattr(self._config.roles, r)
        }
        return roles or {"auto"}

    def confirmed(self, name: str, state: State) -> None:
        """A command's reply is the device's state: known without a new report."""
        self.states[name] = state

    def observe(self, update: DeviceUpdate, *, at: datetime) -> list[Fact]:
        name = update.device
        if name not in self._caps:
            return []
        facts: list[Fact] = []
        self._availability(name, update.availability, at, facts)
        event = update.event
        if event is not None:
            if event.kind is SensorEventKind.DOOR_UNLOCKED:
                facts.append(DoorUnlocked(event.actor, at))
            elif event.kind in _BUTTONS:
                dnd, mur = _BUTTONS[event.kind]
                facts.append(HousekeepingRequest(dnd, mur, "button", at))
        state = update.state
        if state is None:
            return facts
        if self._restarted(name, update, state):
            facts.append(AvailabilityChanged(name, self.availability[name], at, returned=True))
        previous = self.states.get(name)
        self.states[name] = state
        if isinstance(state, SensorState):
            self._sensor(name, state, at, facts)
            return facts
        if isinstance(state, ClimateState):
            self._climate(name, update, state, previous, at, facts)
            changed = previous is not None and _climate_key(previous) != _climate_key(state)
        else:
            changed = state != previous
        if changed:
            facts.append(DeviceChanged(name, state, previous, update.manual, at))
        return facts

    def _restarted(self, name: str, update: DeviceUpdate, state: State) -> bool:
        """Did the device restart (with its power-on defaults) unseen? The driver saw an
        outage too short to report as one (`after_outage`), or the device's energy meter,
        which only a restart sets back, went backwards."""
        meter = update.extra.get("energy_wh")
        if isinstance(state, ClimateState) and state.energy_kwh is not None:
            meter = state.energy_kwh * 1000
        last = self._meters.get(name)
        if isinstance(meter, int | float):
            self._meters[name] = float(meter)
        went_back = isinstance(meter, int | float) and last is not None and meter < last - 1e-6
        return update.extra.get("after_outage") is True or went_back

    def _availability(
        self, name: str, avail: AvailabilityState, at: datetime, facts: list[Fact]
    ) -> None:
        old = self.availability.get(name)
        if old is not None and old.status == avail.status:
            if old.reason != avail.reason:
                self.availability[name] = dataclasses.replace(old, reason=avail.reason)
            return
        current = dataclasses.replace(avail, since=avail.since or at)
        self.availability[name] = current
        returned = old is not None and old.status is Availability.UNAVAILABLE and current.available
        facts.append(AvailabilityChanged(name, current, at, returned=returned))

    def _climate(
        self,
        name: str,
        update: DeviceUpdate,
        state: ClimateState,
        previous: State | None,
        at: datetime,
        facts: list[Fact],
    ) -> None:
        reception = update.extra.get("contact_reception")
        old = previous if isinstance(previous, ClimateState) else None
        station = state.door_station
        changed = station is not None and (old is None or old.door_station != station)
        report_station = changed and (old is not None or station is not DoorStation.NORMAL)
        facts.append(
            ClimateReported(
                name,
                state,
                at,
                reception=reception if isinstance(reception, bool) else None,
                door_station=station if report_station else None,
            )
        )
        if report_station and station is not None:
            dnd, mur = _STATION[station]
            facts.append(HousekeepingRequest(dnd, mur, "door_station", at))
        # A window contact wired to the thermostat counts like a window sensor.
        wired = update.extra.get("window_open")
        if isinstance(wired, bool):
            facts.append(WindowChanged(f"{name}.window", wired, at))

    def _sensor(self, name: str, state: SensorState, at: datetime, facts: list[Fact]) -> None:
        roles = self.roles(name)
        contact = state.door_open if state.door_open is not None else state.window_open
        door: bool | None = None
        window: bool | None = None
        if "door" in roles:
            door = contact
        if "window" in roles:
            window = (state.window_open or False) or (state.door_open or False)
            if state.window_open is None and state.door_open is None:
                window = None
        if "auto" in roles:
            door, window = state.door_open, state.window_open
        if door is not None:
            facts.append(DoorChanged(door, at))
        if window is not None:
            facts.append(WindowChanged(name, window, at))
        if state.occupancy is not None and ("motion" in roles or "auto" in roles):
            facts.append(MotionChanged(name, state.occupancy, at))
        if "outdoor" in roles:
            if state.temperature_c is not None:
                facts.append(OutdoorReading(state.temperature_c, at))
            return
        if state.temperature_c is not None or state.humidity_pct is not None:
            facts.append(IndoorReading(state.temperature_c, state.humidity_pct, at))


def _climate_key(state: State) -> tuple[object, ...]:
    if isinstance(state, ClimateState):
        return (state.mode, state.setpoint_c, state.fan)
    return (state,)
