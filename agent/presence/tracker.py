"""Arrival and departure from a stream of resolved sightings: RSSI and dwell hysteresis.

RSSI is coarse and noisy (a body between phone and antenna costs 10-20 dB), so one strong
advert is not an arrival and one missed advert is not a departure:

- the signal is smoothed (exponential moving average of the dBm values);
- *arrival*: the smoothed signal stays at or above `enter_dbm` for `dwell_s` and over at
  least `min_sightings` adverts (the corridor outside the door reads weaker);
- it must fall below `exit_dbm` (lower than `enter_dbm`: the hysteresis band) before the
  phone counts as out of range again;
- *departure*: no sighting at or above `exit_dbm` for `timeout_s`. Phones in the background
  advertise rarely or not at all (docs/presence.md), so the room combines this timeout with
  the door and motion rather than leaving on it alone.

    tracker = Tracker(TrackPolicy())
    tracker.sighting("s_abc", rssi=-62, at=now)   # -> "arrived" | None
    tracker.tick(now)                               # -> refs that departed
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal


@dataclass(frozen=True, slots=True)
class TrackPolicy:
    enter_dbm: float = -75.0
    exit_dbm: float = -85.0
    dwell_s: float = 0.6
    min_sightings: int = 3
    timeout_s: float = 120.0
    smoothing: float = 0.4  # weight of the newest reading

    def __post_init__(self) -> None:
        if self.exit_dbm > self.enter_dbm:
            raise ValueError("exit_dbm must be at or below enter_dbm (the hysteresis band)")
        if not 0 < self.smoothing <= 1 or self.min_sightings < 1 or self.timeout_s <= 0:
            raise ValueError("smoothing in (0, 1], min_sightings >= 1, timeout_s > 0")


@dataclass(slots=True)
class _Track:
    smoothed: float
    strong_since: datetime | None
    strong_count: int
    last_in_range: datetime | None
    present: bool = False


class Tracker:
    def __init__(self, policy: TrackPolicy | None = None, max_tracks: int = 256) -> None:
        self.policy = policy or TrackPolicy()
        self._tracks: dict[str, _Track] = {}
        self._max = max_tracks

    def present(self) -> set[str]:
        return {ref for ref, t in self._tracks.items() if t.present}

    def sighting(self, ref: str, rssi: float, at: datetime) -> Literal["arrived"] | None:
        p = self.policy
        track = self._tracks.get(ref)
        if track is None:
            if len(self._tracks) >= self._max:
                self._forget_one()
            track = self._tracks[ref] = _Track(rssi, None, 0, None)
        else:
            track.smoothed += p.smoothing * (rssi - track.smoothed)
        if track.smoothed >= p.exit_dbm:
            track.last_in_range = at
        if track.smoothed >= p.enter_dbm:
            if track.strong_since is None:
                track.strong_since, track.strong_count = at, 0
            track.strong_count += 1
        elif track.smoothed < p.exit_dbm:
            track.strong_since, track.strong_count = None, 0
        if (
            not track.present
            and track.strong_since is not None
            and track.strong_count >= p.min_sightings
            and at - track.strong_since >= timedelta(seconds=p.dwell_s)
        ):
            track.present = True
            return "arrived"
        return None

    def tick(self, now: datetime) -> list[str]:
        timeout = timedelta(seconds=self.policy.timeout_s)
        gone: list[str] = []
        for ref, track in list(self._tracks.items()):
            seen = track.last_in_range
            if seen is not None and now - seen < timeout:
                continue
            if track.present:
                gone.append(ref)
            del self._tracks[ref]
        return gone

    def forget(self, ref: str) -> None:
        self._tracks.pop(ref, None)

    def _forget_one(self) -> None:
        # Bounded memory under a flood: drop a track that is not present, else the oldest.
        for ref, track in self._tracks.items():
            if not track.present:
                del self._tracks[ref]
                return
        del self._tracks[next(iter(self._tracks))]
