"""The room's history of its guests (scenes.energy_history.RoomHistory): bounded, and kept
across a restart through the agent's real SQLite store."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from agent.room_memory import Memory
from agent.store import AgentStore
from scenes.energy_comfort import ComfortLedger
from scenes.energy_history import HISTORY_KEPT, RoomHistory
from smartroom.clock import FakeClock

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


def test_each_kind_keeps_only_the_latest_observations() -> None:
    history = RoomHistory()
    for n in range(3 * HISTORY_KEPT):
        day = T0 + timedelta(days=n)
        history = history.observe_arrival(n)
        history = history.observe_outing(day, day + timedelta(hours=10), tz=UTC)  # day out
        evening = day + timedelta(hours=11)
        history = history.observe_outing(evening, evening + timedelta(minutes=n + 1), tz=UTC)
    assert history.arrival_delays_min == tuple(range(2 * HISTORY_KEPT, 3 * HISTORY_KEPT))
    assert len(history.day_out_returns_min) == HISTORY_KEPT
    assert set(history.day_out_returns_min) == {18 * 60}
    assert history.outing_minutes == tuple(range(2 * HISTORY_KEPT + 1, 3 * HISTORY_KEPT + 1))
    # A document written by hand (or by a longer-keeping version) is cut to the bound too.
    longer = {"arrival_delays_min": list(range(5 * HISTORY_KEPT))}
    assert len(RoomHistory.from_json(longer).arrival_delays_min) == HISTORY_KEPT


@pytest.mark.parametrize(
    ("delay", "kept"),
    [(-30, 0), (0, 0), (95, 95), (10 * 24 * 60, 24 * 60)],
)
def test_an_arrival_delay_is_clamped_to_a_day(delay: int, kept: int) -> None:
    assert RoomHistory().observe_arrival(delay).arrival_delays_min == (kept,)


def test_an_outing_that_ends_before_it_starts_is_not_learnt() -> None:
    assert RoomHistory().observe_outing(T0, T0, tz=UTC) == RoomHistory()


def _after_restart(tmp_path: Path, memory: Memory) -> Memory:
    """`memory` written by one agent store and read back by the next on the same file."""
    clock = FakeClock(T0)
    path = tmp_path / "agent.db"
    store = AgentStore(path, clock=clock, property_id="SHA-01", room_id="1201")
    store.commit_step(memory.to_json(), [])
    store.close()
    reopened = AgentStore(path, clock=clock, property_id="SHA-01", room_id="1201")
    saved = reopened.load_memory()
    reopened.close()
    assert saved is not None
    return Memory.from_json(saved, {})


def test_the_history_survives_a_restart_of_the_agent(tmp_path: Path) -> None:
    history = RoomHistory(
        arrival_delays_min=(180, 210), day_out_returns_min=(1170,), outing_minutes=(45,)
    )
    restored = _after_restart(tmp_path, replace(Memory.fresh(T0), history=history))
    assert restored.history == history


def test_too_few_observations_predict_nothing() -> None:
    two = RoomHistory(arrival_delays_min=(60, 90))
    assert not two.knows_arrivals
    assert two.arrival_after(T0, T0, quantile=0.25, hold=timedelta(0)) is None
    three = two.observe_arrival(120)
    assert three.arrival_after(T0, T0, quantile=0.0, hold=timedelta(0)) == T0 + timedelta(
        minutes=60
    )


def test_the_comfort_ledger_survives_a_restart_of_the_agent(tmp_path: Path) -> None:
    ledger = ComfortLedger().observe(T0, occupied=True, in_band=False)
    ledger = ledger.observe(T0 + timedelta(minutes=10), occupied=True, in_band=True)
    restored = _after_restart(tmp_path, replace(Memory.fresh(T0), comfort=ledger)).comfort
    assert restored == ledger
    assert restored.share(T0 + timedelta(minutes=10)) == (600, 0)
