"""Injectable time. Nothing in Smartroom calls `datetime.now()` directly: it asks a Clock.

Tests and backfills pass a `FakeClock` (or a clock pinned "as of" a date); production uses
`SystemClock`. All wall-clock values are timezone-aware UTC.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """Aware UTC wall-clock time."""
        ...

    def monotonic(self) -> float:
        """Seconds from an arbitrary origin that never goes backwards."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()


class FakeClock:
    """A clock that only moves when told to. `monotonic` follows `now`, except that a
    backwards jump of wall time (a Pi without an RTC rebooting offline) leaves it alone."""

    def __init__(self, start: datetime | None = None) -> None:
        start = start or datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
        if start.tzinfo is None:
            raise ValueError("FakeClock needs an aware datetime (tzinfo=UTC)")
        self._now = start.astimezone(UTC)
        self._mono = 0.0

    def now(self) -> datetime:
        return self._now

    def monotonic(self) -> float:
        return self._mono

    def advance(self, seconds: float = 0.0, **delta: float) -> datetime:
        step = timedelta(seconds=seconds, **delta)
        if step < timedelta(0):
            raise ValueError("advance() moves forwards; use set() for a wall-clock jump")
        self._now += step
        self._mono += step.total_seconds()
        return self._now

    def set(self, when: datetime) -> None:
        """Jump wall time to `when` (forwards or backwards); monotonic time only moves forwards."""
        if when.tzinfo is None:
            raise ValueError("set() needs an aware datetime")
        when = when.astimezone(UTC)
        if when > self._now:
            self._mono += (when - self._now).total_seconds()
        self._now = when


class JumpClock(SystemClock):
    """Real time that can be moved forward in one jump: every part of a system sharing it sees
    the same jump, so a test or a benchmark skips a 30 s vacancy confirmation instantly.

        clock = JumpClock()
        clock.jump(31)   # 31 s later, now
    """

    def __init__(self) -> None:
        self.offset = 0.0

    def now(self) -> datetime:
        return super().now() + timedelta(seconds=self.offset)

    def monotonic(self) -> float:
        return super().monotonic() + self.offset

    def jump(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("jump() moves forwards")
        self.offset += seconds


def utcnow_from(clock: Clock | None) -> datetime:
    return (clock or SystemClock()).now()


class ScaledClock:
    """Simulated time running `speed` times faster than real time, from `start`.

    The demo and the rig run rooms on it so an evening plays in a minute; `monotonic` is
    scaled the same way, so timeouts expressed in simulated seconds keep their meaning."""

    def __init__(
        self, speed: float, start: datetime | None = None, *, anchor: float | None = None
    ) -> None:
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.speed = speed
        self._start = (start or datetime.now(UTC)).astimezone(UTC)
        # `anchor`: the real Unix time at which simulated time was `start`. Processes given
        # the same start and anchor share one simulated time (a test's central and its
        # agent process); without it, time counts from this object's creation.
        self._anchor = anchor
        self._origin = time.monotonic()

    def elapsed(self) -> float:
        """Simulated seconds since the clock started."""
        if self._anchor is not None:
            return (time.time() - self._anchor) * self.speed
        return (time.monotonic() - self._origin) * self.speed

    def now(self) -> datetime:
        return self._start + timedelta(seconds=self.elapsed())

    def monotonic(self) -> float:
        return self.elapsed()
