"""A real agent process whose thermostat is wedged at its driver: a command gets no answer,
and closing it waits for a goodbye that never comes (as a driver blocked on a hung
transport does). Run as `python tests/agent/wedged_agent.py ROOM.toml` by
test_agent_shutdown.py; the process runs `Agent.run()` exactly as `smartroom-agent run`
does (signals, ordered stop), only with this device in place of the room's drivers."""

from __future__ import annotations

import asyncio
import sys
import tomllib
from collections.abc import Callable
from pathlib import Path

from agent.app import Agent
from agent.config import parse_room_config
from drivers.base import (
    AvailabilityState,
    ClimateAction,
    ClimateCommand,
    ClimateMode,
    ClimateState,
    DeviceUpdate,
    FanMode,
    Listener,
)
from sync.wire import Availability


class WedgedThermostat:
    name = "hvac"
    capability = "climate"

    def __init__(self) -> None:
        self._listeners: list[Listener] = []
        self.state = ClimateState(ClimateMode.HEAT, 22.0, FanMode.AUTO, 20.5, ClimateAction.IDLE)

    @property
    def availability(self) -> AvailabilityState:
        return AvailabilityState(Availability.AVAILABLE)

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    async def start(self) -> None:
        for listener in self._listeners:
            listener(DeviceUpdate(self.name, self.availability, self.state))

    async def apply(self, command: ClimateCommand) -> ClimateState:
        await asyncio.get_running_loop().create_future()  # the answer never comes
        raise AssertionError("unreachable")

    async def stop(self) -> None:
        print("wedged_stop_waiting", flush=True)
        await asyncio.get_running_loop().create_future()  # nor the goodbye


async def main(path: Path) -> None:
    config = parse_room_config(tomllib.loads(path.read_text()), source=str(path))
    await Agent(config, devices={"hvac": WedgedThermostat()}).run()  # type: ignore[dict-item]


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1])))
