"""Sending a resolved plan to the devices: all at once, each on its own deadline, so one dead
or slow device never holds up (or cancels) the others; the result says what each one did.

    result = await apply_plan(plan, devices, timeout_s=3.0)
    result.outcomes["hvac"].ok, result.outcomes["lamp"].error   # True, "lamp: timed out"
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from drivers.base import DriverError, State
from scenes.engine import Plan
from scenes.model import Command, DesiredState, Layer
from smartroom.log import get_logger

log = get_logger("scenes.apply")


class Commandable(Protocol):
    name: str

    async def apply(self, command: Any) -> Any: ...


@dataclass(frozen=True, slots=True)
class DeviceOutcome:
    device: str
    layer: Layer
    command: Command | None
    ok: bool
    state: State | None = None
    error: str | None = None
    elapsed_ms: float = 0.0

    def summary(self) -> str:
        if self.command is None:
            return "unchanged"
        return "ok" if self.ok else f"failed: {self.error}"


@dataclass(frozen=True, slots=True)
class ApplyResult:
    outcomes: dict[str, DeviceOutcome]

    @property
    def failed(self) -> list[str]:
        return sorted(name for name, o in self.outcomes.items() if not o.ok)

    @property
    def applied(self) -> list[str]:
        return sorted(n for n, o in self.outcomes.items() if o.ok and o.command is not None)


async def apply_one(
    desired: DesiredState, device: Commandable | None, timeout_s: float
) -> DeviceOutcome:
    """Send one device its desired state; never raises, the outcome says what happened."""
    if desired.command is None:
        return DeviceOutcome(desired.device, desired.layer, None, ok=True)
    if device is None:
        return DeviceOutcome(
            desired.device, desired.layer, desired.command, ok=False, error="no such device"
        )
    started = time.perf_counter()
    error: str | None = None
    state: Any = None
    try:
        async with asyncio.timeout(timeout_s):
            state = await device.apply(desired.command)
    except DriverError as exc:
        error = str(exc)
    except TimeoutError:
        error = f"{desired.device}: no confirmation within {timeout_s:.1f} s"
    except Exception as exc:  # a buggy driver must not stop the other devices
        log.exception("driver_bug", device=desired.device)
        error = f"{desired.device}: driver error {type(exc).__name__}: {exc}"
    elapsed = (time.perf_counter() - started) * 1000
    if error is not None:
        return DeviceOutcome(
            desired.device, desired.layer, desired.command, False, None, error, elapsed
        )
    return DeviceOutcome(desired.device, desired.layer, desired.command, True, state, None, elapsed)


async def apply_plan(
    plan: Plan, devices: Mapping[str, Commandable], *, timeout_s: float = 5.0
) -> ApplyResult:
    names = sorted(plan)
    outcomes = await asyncio.gather(
        *(apply_one(plan[name], devices.get(name), timeout_s) for name in names)
    )
    return ApplyResult(dict(zip(names, outcomes, strict=True)))
