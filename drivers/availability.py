"""One place that tracks a device's availability: up/down transitions, the reason, retry
backoff, and logging once when a device drops and once when it returns (never per failed
poll, which floods the journal of a room whose lamp is unplugged).

    tracker = AvailabilityTracker("hvac", clock=clock, on_change=publish)
    try:
        state = await read()
    except DeviceUnavailable as exc:
        tracker.failed(str(exc))
        await asyncio.sleep(tracker.backoff.next())
    else:
        tracker.ok()
"""

from __future__ import annotations

import random
from collections.abc import Callable

from drivers.base import AvailabilityState
from smartroom.clock import Clock, SystemClock
from smartroom.log import get_logger
from sync.wire import Availability

log = get_logger("drivers.availability")


class Backoff:
    """Exponential backoff with full jitter, capped: 0.5 s, 1 s, 2 s ... up to `maximum`."""

    def __init__(
        self,
        initial: float = 0.5,
        factor: float = 2.0,
        maximum: float = 30.0,
        rng: random.Random | None = None,
    ) -> None:
        if initial <= 0 or factor < 1 or maximum < initial:
            raise ValueError("backoff needs 0 < initial <= maximum and factor >= 1")
        self.initial, self.factor, self.maximum = initial, factor, maximum
        self._attempt = 0
        self._rng = rng or random.Random()  # jitter, not security

    @property
    def attempt(self) -> int:
        return self._attempt

    def next(self) -> float:
        ceiling = min(self.maximum, self.initial * self.factor**self._attempt)
        self._attempt += 1
        # Half fixed, half jitter: never retries instantly, and a fleet of agents that lost
        # the same broker does not reconnect in lock-step.
        return ceiling / 2 + self._rng.uniform(0, ceiling / 2)

    def reset(self) -> None:
        self._attempt = 0


class AvailabilityTracker:
    def __init__(
        self,
        device: str,
        *,
        clock: Clock | None = None,
        on_change: Callable[[AvailabilityState], None] | None = None,
        backoff: Backoff | None = None,
    ) -> None:
        self.device = device
        self._clock = clock or SystemClock()
        self._on_change = on_change
        self.backoff = backoff or Backoff()
        self._state = AvailabilityState(Availability.UNKNOWN, None, self._clock.now())

    @property
    def state(self) -> AvailabilityState:
        return self._state

    def ok(self) -> None:
        """A successful exchange with the device."""
        self.backoff.reset()
        if self._state.status is Availability.AVAILABLE:
            return
        was = self._state.status
        self._set(AvailabilityState(Availability.AVAILABLE, None, self._clock.now()))
        if was is Availability.UNAVAILABLE:
            log.info("device_recovered", device=self.device)
        else:
            log.debug("device_available", device=self.device)

    def failed(self, reason: str) -> None:
        """A failed exchange (timeout, transport error, corrupt reply)."""
        if self._state.status is Availability.UNAVAILABLE:
            if reason != self._state.reason:  # keep the latest reason without logging again
                self._state = AvailabilityState(Availability.UNAVAILABLE, reason, self._state.since)
            return
        self._set(AvailabilityState(Availability.UNAVAILABLE, reason, self._clock.now()))
        log.warning("device_unavailable", device=self.device, reason=reason)

    def _set(self, state: AvailabilityState) -> None:
        self._state = state
        if self._on_change is not None:
            self._on_change(state)
