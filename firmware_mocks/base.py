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
        """Stop and start again, as a device power-cycle does (state may reset)."""
        ...

    def inject(self, fault: Fault, *, delay_s: float = 1.0) -> None:
        """Switch a fault on (or off with Fault.NONE) while running."""
        ...

    def describe(self) -> str:
        """Where it listens, for people: e.g. 'modbus rtu on /dev/pts/7 unit 1'."""
        ...
