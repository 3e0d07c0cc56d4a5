"""The room's own comfort record, and the pre-conditioning quantile it feeds back into.

A learnt arrival or return is a spread, not a time (every guest's entry is jittered on its
own), so the quantile the room pre-conditions for is a trade: low, and the room recovers
for returns that do not come (saving lost); high, and early guests find it not ready
(comfort lost). No fixed quantile suits every week (docs/benchmarks.md). The room can see
which side it is on: it knows when its guest is in and whether the room is within
`band_c` of their temperature. `ComfortLedger` keeps that share over the last
`WINDOW_DAYS` days (one bucket of seconds per UTC day, no guest ids); `feedback_quantile`
moves the quantile up (later pre-conditioning, more saving) while the share is above the
target and down (earlier, more comfort) below it.

    ledger = ComfortLedger().observe(now, occupied=True, in_band=False)
    q = feedback_quantile(ledger, now, policy)   # policy: scenes.energy.EnergyPolicy
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from scenes.energy import EnergyPolicy

WINDOW_DAYS = 7
# A longer silence between two steps is the agent down (or a clock jump): what the room
# was then is unknown, so at most this much of it is credited.
MAX_CREDIT = timedelta(minutes=15)


@dataclass(frozen=True, slots=True)
class ComfortLedger:
    """Occupied and in-band seconds per UTC day, the last `WINDOW_DAYS` days."""

    days: tuple[tuple[int, int, int], ...] = ()  # (date ordinal, occupied s, in band s)
    last_at: datetime | None = None
    last_occupied: bool = False
    last_in_band: bool = False

    def observe(self, now: datetime, *, occupied: bool, in_band: bool) -> ComfortLedger:
        """Credit the state seen at the previous step for the time since, then hold this
        one. A step earlier than the previous one credits nothing."""
        days = self.days
        if self.last_at is not None and now > self.last_at and self.last_occupied:
            seconds = int(min(now - self.last_at, MAX_CREDIT).total_seconds())
            days = _credit(days, _day(now), seconds, self.last_in_band)
        floor = _day(now) - WINDOW_DAYS
        days = tuple(d for d in days if d[0] > floor)
        return ComfortLedger(days, now, occupied, occupied and in_band)

    def share(self, now: datetime) -> tuple[int, int]:
        """(occupied s, in band s) over the window ending today."""
        floor = _day(now) - WINDOW_DAYS
        kept = [d for d in self.days if d[0] > floor]
        return sum(d[1] for d in kept), sum(d[2] for d in kept)

    def to_json(self) -> dict[str, Any]:
        return {
            "days": [list(d) for d in self.days],
            "last_at": None if self.last_at is None else self.last_at.isoformat(),
            "last_occupied": self.last_occupied,
            "last_in_band": self.last_in_band,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> ComfortLedger:
        data = data or {}
        last = data.get("last_at")
        days = tuple(
            (int(o), max(0, int(s)), max(0, min(int(s), int(b))))
            for o, s, b in data.get("days") or ()
        )[-WINDOW_DAYS:]
        return cls(
            days,
            None if last is None else datetime.fromisoformat(last),
            bool(data.get("last_occupied")),
            bool(data.get("last_in_band")),
        )


def _day(now: datetime) -> int:
    return now.astimezone(UTC).date().toordinal()


def _credit(
    days: tuple[tuple[int, int, int], ...], day: int, seconds: int, in_band: bool
) -> tuple[tuple[int, int, int], ...]:
    band = seconds if in_band else 0
    if days and days[-1][0] == day:
        _, occupied, comfortable = days[-1]
        return (*days[:-1], (day, occupied + seconds, comfortable + band))
    return (*days, (day, seconds, band))


def feedback_quantile(ledger: ComfortLedger, now: datetime, policy: EnergyPolicy) -> float:
    """`learned_quantile` moved by `comfort_gain` per unit of occupied comfort above (up)
    or below (down) `comfort_target`, within [learned_quantile_min, learned_quantile_max].
    No target, or fewer than `comfort_min_occupied` occupied in the window: unmoved."""
    occupied, comfortable = ledger.share(now)
    if policy.comfort_target is None or occupied < policy.comfort_min_occupied.total_seconds():
        return policy.learned_quantile
    moved = policy.learned_quantile + policy.comfort_gain * (
        comfortable / occupied - policy.comfort_target
    )
    return max(policy.learned_quantile_min, min(policy.learned_quantile_max, moved))
