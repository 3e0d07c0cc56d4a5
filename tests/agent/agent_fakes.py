"""Test-only in-process devices that satisfy the drivers.base protocols, for unit tests of
the room controller (time under a FakeClock, no transport). Integration tests use the real
drivers against the simulators instead."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable
from typing import Any

from drivers.base import (
    AvailabilityState,
    CapabilityName,
    ClimateAction,
    ClimateCommand,
    ClimateMode,
    ClimateState,
    CoverCommand,
    CoverState,
    DeviceUnavailable,
    DeviceUpdate,
    FanMode,
    LightCommand,
    LightState,
    Listener,
    MediaCommand,
    MediaState,
    SensorEvent,
    SensorState,
    State,
)
from sync.wire import Availability

UP = AvailabilityState(Availability.AVAILABLE)
DOWN = AvailabilityState(Availability.UNAVAILABLE, "unplugged")


class FakeDevice:
    def __init__(self, name: str, capability: CapabilityName, state: State | None) -> None:
        self.name = name
        self.capability = capability
        self._state = state
        self._availability = UP
        self._listeners: list[Listener] = []
        self.commands: list[Any] = []
        self.dead = False
        self.delay_s = 0.0

    @property
    def availability(self) -> AvailabilityState:
        return self._availability

    @property
    def state(self) -> Any:
        return self._state

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def push(
        self,
        *,
        state: State | None = None,
        manual: bool = False,
        event: Any = None,
        extra: dict[str, object] | None = None,
    ) -> None:
        if state is not None:
            self._state = state
        for listener in list(self._listeners):
            listener(DeviceUpdate(self.name, self._availability, state, event, manual, extra or {}))

    def set_available(self, up: bool) -> None:
        self._availability = UP if up else DOWN
        for listener in list(self._listeners):
            listener(DeviceUpdate(self.name, self._availability))

    async def apply(self, command: Any) -> Any:
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        if self.dead:
            raise DeviceUnavailable(self.name, "no answer")
        self.commands.append(command)
        self._state = self._merge(command)
        return self._state

    def _merge(self, command: Any) -> Any:
        assert self._state is not None
        changes = {
            f: getattr(command, f)
            for f in command.__dataclass_fields__
            if getattr(command, f) is not None and f in self._state.__dataclass_fields__
        }
        return dataclasses.replace(self._state, **changes)


def climate(name: str = "hvac", current_c: float = 21.0) -> FakeDevice:
    return FakeDevice(
        name,
        "climate",
        ClimateState(ClimateMode.AUTO, 22.0, FanMode.AUTO, current_c, ClimateAction.IDLE),
    )


def light(name: str = "ceiling") -> FakeDevice:
    return FakeDevice(name, "light", LightState(False, 0))


def media(name: str = "speaker") -> FakeDevice:
    return FakeDevice(name, "media", MediaState(False, 10))


def cover(name: str = "curtains") -> FakeDevice:
    return FakeDevice(name, "cover", CoverState(0))


def sensor(name: str) -> FakeDevice:
    return FakeDevice(name, "sensor", SensorState())


def event(kind: Any, at: Any, actor: str | None = None) -> SensorEvent:
    return SensorEvent(kind, at, actor)


_ = (ClimateCommand, LightCommand, MediaCommand, CoverCommand)
