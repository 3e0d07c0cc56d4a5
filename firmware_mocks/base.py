"""What every device simulator offers the rig and the tests."""

from __future__ import annotations

from enum import StrEnum
from typing import Protocol


class Fault(StrEnum):
    NONE = "none"
    SILENT = "silent"  # stop answering
    SLOW = "slow"  # answer after a delay
    CORRUPT = "corrupt"  # answer with corrupt frames/payloads


class Simulator(Protocol):
    name: str

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def restart(self) -> None:
        """A power cycle with the simulator's default off time (see `PowerCycled`)."""
        ...

    def inject(self, fault: Fault, *, delay_s: float = 1.0) -> None:
        """Switch a fault on (or off with Fault.NONE) while running."""
        ...

    def describe(self) -> str:
        """Where it listens, for people: e.g. 'modbus rtu on /dev/pts/7 unit 1'."""
        ...


class PowerCycled(Protocol):
    """A simulator whose power can be cut and restored separately (every simulator here).

    `power_off()` makes the device vanish from its bus as a real one does when its supply is
    cut (silence on the serial line, no CoAP answers, its MQTT session dropped so the broker
    fires the last will); `power_on()` brings it back in its power-on state: the settings a
    real unit boots with (the thermostat's power-on setpoint and mode, a lamp's power-on
    behaviour), volatile meters at zero, observers and subscriptions forgotten. What the
    device is *in* (the room's temperature, a curtain's position) carries on."""

    async def power_off(self) -> None: ...

    async def power_on(self) -> None: ...
