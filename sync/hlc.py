"""Hybrid logical clock (Kulkarni et al.): a stamp that orders events like wall time when
clocks agree, and still never goes backwards when they do not (a Pi without a real-time
clock rebooting offline, a skewed peer).

Pure: the caller passes the wall time in milliseconds and persists `Hlc.last` (the agent
in its SQLite, in the same transaction as what it stamps).

    clock = Hlc.parse(saved)              # or Hlc() on a fresh device
    stamp = clock.tick(wall_ms)           # a local event
    clock.receive(remote_stamp, wall_ms)  # a stamp from the other side (refuses the far future)
    saved = str(clock.last)

A stamp's text is `"<wall_ms:13 digits>:<counter>"`, so text order is not stamp order once
the counter has more digits: compare `Stamp` values (or `Stamp.parse`), never strings.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# How far ahead of our own wall clock a received stamp may be. Implementations use 5-60 s;
# one minute tolerates an unsynchronised Pi without letting one bad clock drag everyone
# into the future (a stamp a day ahead would win every last-writer-wins merge for a day).
MAX_SKEW_MS = 60_000
MAX_COUNTER = 999_999  # the wire pattern allows six digits
_PATTERN = re.compile(r"^(\d{13}):(\d{1,6})$")


class ClockSkewError(ValueError):
    """A stamp is further in the future than `MAX_SKEW_MS`; it is refused, not adopted."""


@dataclass(frozen=True, order=True, slots=True)
class Stamp:
    wall_ms: int
    counter: int = 0

    @classmethod
    def parse(cls, text: str) -> Stamp:
        match = _PATTERN.match(text)
        if match is None:
            raise ValueError(f"not an HLC stamp (expected <13 digits>:<counter>): {text!r}")
        return cls(int(match.group(1)), int(match.group(2)))

    def __str__(self) -> str:
        return f"{self.wall_ms:013d}:{self.counter}"


ZERO = Stamp(0, 0)


class Hlc:
    """The clock's state is the last stamp it issued or received."""

    def __init__(self, last: Stamp = ZERO, *, max_skew_ms: int = MAX_SKEW_MS) -> None:
        self.last = last
        self.max_skew_ms = max_skew_ms

    @classmethod
    def parse(cls, text: str | None, *, max_skew_ms: int = MAX_SKEW_MS) -> Hlc:
        return cls(Stamp.parse(text) if text else ZERO, max_skew_ms=max_skew_ms)

    def _advance(self, candidate: Stamp) -> Stamp:
        if candidate.counter > MAX_COUNTER:
            # A million events in one millisecond of a stalled clock: borrow the next ms
            # rather than overflow the wire format.
            candidate = Stamp(candidate.wall_ms + 1, 0)
        self.last = candidate
        return candidate

    def tick(self, wall_ms: int) -> Stamp:
        """A stamp for a local event: greater than every stamp seen so far."""
        last = self.last
        if wall_ms > last.wall_ms:
            return self._advance(Stamp(wall_ms, 0))
        return self._advance(Stamp(last.wall_ms, last.counter + 1))

    def check(self, remote: Stamp, wall_ms: int) -> None:
        if remote.wall_ms > wall_ms + self.max_skew_ms:
            raise ClockSkewError(
                f"stamp {remote} is {(remote.wall_ms - wall_ms) / 1000:.0f} s ahead of this "
                f"clock (at most {self.max_skew_ms / 1000:.0f} s accepted)"
            )

    def receive(self, remote: Stamp, wall_ms: int) -> Stamp:
        """Advance past a stamp from the other side (refusing one from the far future), so
        our next local stamp orders after everything we have seen."""
        self.check(remote, wall_ms)
        last = self.last
        wall = max(wall_ms, last.wall_ms, remote.wall_ms)
        if wall == last.wall_ms == remote.wall_ms:
            counter = max(last.counter, remote.counter) + 1
        elif wall == last.wall_ms:
            counter = last.counter + 1
        elif wall == remote.wall_ms:
            counter = remote.counter + 1
        else:
            counter = 0
        return self._advance(Stamp(wall, counter))
