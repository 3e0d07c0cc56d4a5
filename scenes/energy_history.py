"""What a room has learnt of its own guests, and the predictions it makes from it.

The booked arrival is the hotel's check-in time, not when the guest comes, and "back at
18:00 after a day out" is a guess. A room that has been in service has seen its guests:
how long after the booked arrival they first came in, when they came back from a day out,
how long their other outings lasted. `RoomHistory` keeps the last `HISTORY_KEPT` of each
(minutes, as integers), outlives stays and restarts (it is part of the room's memory), and
never holds who the guest was.

Predictions are a quantile of what has NOT happened yet: a guest still out at 20:00 is
expected at the `quantile` of the returns seen later than 20:00 (less the hold), so a late
guest moves the prediction on instead of leaving the room waiting at their temperature, and
an early one is likely (a low quantile: coming back to a cold room costs comfort, to a ready
one a little energy). Fewer than `MIN_SAMPLES` observations: no prediction (the caller's
defaults apply).

    h = RoomHistory().observe_arrival(delay_min=210).observe_outing(left, back, tz=zone)
    h.arrival_after(booked, now, quantile=0.25, hold=timedelta(0))    # datetime | None
    h.return_after(left, now, tz=zone, quantile=0.25, hold=timedelta(minutes=30))
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, time, timedelta, tzinfo
from typing import Any

HISTORY_KEPT = 40  # per kind: a few weeks of a room's stays; old habits age out
MIN_SAMPLES = 3
DAY_OUT_FROM, DAY_OUT_UNTIL = time(5, 0), time(14, 0)
MINUTES_PER_DAY = 24 * 60


def day_out(left_local: datetime) -> bool:
    """A guest leaving between 05:00 and 14:00 (local) is out for the day."""
    return DAY_OUT_FROM <= left_local.time() < DAY_OUT_UNTIL


def _kept(values: tuple[int, ...], value: int) -> tuple[int, ...]:
    return (*values, value)[-HISTORY_KEPT:]


def _quantile(values: list[int], q: float) -> int:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


@dataclass(frozen=True, slots=True)
class RoomHistory:
    """The room's observations, oldest first, the last `HISTORY_KEPT` of each kind."""

    arrival_delays_min: tuple[int, ...] = ()  # first entry minus the booked arrival
    day_out_returns_min: tuple[int, ...] = ()  # local minute of the day back from a day out
    outing_minutes: tuple[int, ...] = ()  # how long any other outing lasted

    def observe_arrival(self, delay_min: int) -> RoomHistory:
        # A guest who came in before the booked time waited for nothing: delay 0.
        delay = max(0, min(delay_min, MINUTES_PER_DAY))
        return replace(self, arrival_delays_min=_kept(self.arrival_delays_min, delay))

    def observe_outing(self, left: datetime, back: datetime, *, tz: tzinfo) -> RoomHistory:
        left_local, back_local = left.astimezone(tz), back.astimezone(tz)
        if back <= left:
            return self
        if day_out(left_local) and back_local.date() == left_local.date():
            minute = back_local.hour * 60 + back_local.minute
            return replace(self, day_out_returns_min=_kept(self.day_out_returns_min, minute))
        minutes = min(int((back - left).total_seconds() // 60), MINUTES_PER_DAY)
        return replace(self, outing_minutes=_kept(self.outing_minutes, minutes))

    # --- predictions -------------------------------------------------------------------------

    @property
    def knows_arrivals(self) -> bool:
        return len(self.arrival_delays_min) >= MIN_SAMPLES

    def arrival_after(
        self, booked: datetime, now: datetime, *, quantile: float, hold: timedelta
    ) -> datetime | None:
        """When a booked guest not yet here is expected: the booked arrival plus the
        `quantile` of the delays not yet passed (`hold` after them). None: too few
        observations, or every guest seen came earlier than now."""
        return _after(booked, self.arrival_delays_min, now, quantile, hold)

    def return_after(
        self, left: datetime, now: datetime, *, tz: tzinfo, quantile: float, hold: timedelta
    ) -> datetime | None:
        """When a guest who left at `left` and is still out at `now` is expected back."""
        left_local = left.astimezone(tz)
        if day_out(left_local):
            midnight = datetime.combine(left_local.date(), time(0), tzinfo=left_local.tzinfo)
            since = int((left - midnight).total_seconds() // 60)
            # Returns seen before the time this guest left are not theirs to make.
            later = [m - since for m in self.day_out_returns_min if m > since]
            if len(self.day_out_returns_min) < MIN_SAMPLES or not later:
                return None
            return _after(left, tuple(later), now, quantile, hold, minimum=0)
        return _after(left, self.outing_minutes, now, quantile, hold)

    # --- JSON --------------------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        return {
            "arrival_delays_min": list(self.arrival_delays_min),
            "day_out_returns_min": list(self.day_out_returns_min),
            "outing_minutes": list(self.outing_minutes),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> RoomHistory:
        data = data or {}

        def ints(key: str) -> tuple[int, ...]:
            return tuple(int(v) for v in data.get(key) or ())[-HISTORY_KEPT:]

        return cls(ints("arrival_delays_min"), ints("day_out_returns_min"), ints("outing_minutes"))


def _after(
    start: datetime,
    offsets_min: tuple[int, ...],
    now: datetime,
    quantile: float,
    hold: timedelta,
    *,
    minimum: int = MIN_SAMPLES,
) -> datetime | None:
    if len(offsets_min) < max(1, minimum):
        return None
    pending = [m for m in offsets_min if start + timedelta(minutes=m) + hold >= now]
    if not pending:
        return None
    return start + timedelta(minutes=_quantile(pending, quantile))
