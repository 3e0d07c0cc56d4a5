from __future__ import annotations

import random

import pytest
import structlog.testing
from hypothesis import given
from hypothesis import strategies as st

from drivers.availability import AvailabilityTracker, Backoff
from drivers.base import AvailabilityState
from smartroom.clock import FakeClock
from sync.wire import Availability


def test_logs_once_on_drop_and_once_on_recovery(clock: FakeClock) -> None:
    seen: list[AvailabilityState] = []
    tracker = AvailabilityTracker("lamp", clock=clock, on_change=seen.append)
    assert tracker.state.status is Availability.UNKNOWN
    with structlog.testing.capture_logs() as logs:
        tracker.ok()
        for _ in range(5):
            tracker.failed("timeout after 2 s")
            clock.advance(1)
        tracker.failed("connection refused")
        tracker.ok()
        tracker.ok()
    events = [entry["event"] for entry in logs if entry["log_level"] != "debug"]
    assert events == ["device_unavailable", "device_recovered"]
    assert [s.status for s in seen] == [
        Availability.AVAILABLE,
        Availability.UNAVAILABLE,
        Availability.AVAILABLE,
    ]
    assert tracker.state.available


def test_unavailable_keeps_latest_reason_and_first_since(clock: FakeClock) -> None:
    tracker = AvailabilityTracker("hvac", clock=clock)
    tracker.failed("timeout")
    since = tracker.state.since
    clock.advance(10)
    tracker.failed("corrupt frame")
    assert tracker.state.reason == "corrupt frame"
    assert tracker.state.since == since


@given(st.integers(min_value=0, max_value=40), st.integers(min_value=0, max_value=2**32))
def test_backoff_grows_is_capped_and_never_zero(attempts: int, seed: int) -> None:
    backoff = Backoff(initial=0.5, factor=2, maximum=30, rng=random.Random(seed))
    delays = [backoff.next() for _ in range(attempts + 1)]
    assert all(0.25 <= d <= 30 for d in delays)
    assert delays[-1] >= min(30, 0.5 * 2**attempts) / 2
    backoff.reset()
    assert backoff.next() <= 0.5


def test_backoff_rejects_nonsense() -> None:
    with pytest.raises(ValueError, match="backoff"):
        Backoff(initial=0)
