"""The outbox budgets on the agent's real SQLite store: a never-dropped class refuses the
change that would overflow it (nothing of the change is written), telemetry is thinned and
then dropped oldest first, and a commit of many events counts every one of them against
the budget (the store counts the unsent rows once per commit, then adds as it writes)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from agent.store import AgentStore, NewEvent, OutboxRefused
from smartroom.clock import FakeClock
from sync.outbox import Budget
from sync.wire import EventKind

BIG = Budget(max_events=1_000_000, max_bytes=1_000_000_000)
SPEND = {"category": "minibar", "item": "water", "amount": "18.00"}


def _store(tmp_path: Path, **budgets: Budget) -> AgentStore:
    chosen = {"ledger": BIG, "records": BIG, "telemetry": BIG} | budgets
    return AgentStore(
        tmp_path / "agent.db",
        clock=FakeClock(datetime(2026, 3, 2, 10, 0, tzinfo=UTC)),
        property_id="SHA-01",
        room_id="1201",
        budgets=chosen,  # type: ignore[arg-type]
    )


def _spends(n: int) -> list[NewEvent]:
    return [NewEvent(EventKind.ROOM_SPEND, SPEND, stay_id="st_00000001") for _ in range(n)]


def _energy(n: int) -> list[NewEvent]:
    return [NewEvent(EventKind.ENERGY, {"kwh": i / 1000, "device": "hvac"}) for i in range(n)]


def _unsent(store: AgentStore, cls: str) -> tuple[int, int]:
    count, size = store.db.execute(
        "SELECT count(*), coalesce(sum(size), 0) FROM outbox WHERE sent_at IS NULL AND budget = ?",
        [cls],
    ).fetchone()
    return int(count), int(size)


def test_one_commit_overflowing_a_never_dropped_budget_is_refused_whole(tmp_path: Path) -> None:
    store = _store(tmp_path, ledger=Budget(max_events=5, max_bytes=10_000_000))
    store.commit(events=_spends(3))
    with pytest.raises(OutboxRefused):
        store.commit(events=_spends(3))  # the 6th event of the class does not fit
    assert store.outbox_depth() == 3  # none of the refused change's events was written
    store.commit(events=_spends(2))
    assert store.outbox_depth() == 5
    assert store.refused == {"ledger": 1}
    store.close()


def test_bytes_are_counted_for_every_event_of_one_commit(tmp_path: Path) -> None:
    probe = _store(tmp_path / "probe")
    probe.commit(events=_spends(1))
    one = _unsent(probe, "ledger")[1]
    probe.close()
    # Room for 4.5 events' bytes (each admission also reserves an envelope's estimate).
    store = _store(tmp_path, ledger=Budget(max_events=1000, max_bytes=one * 4 + one // 2))
    with pytest.raises(OutboxRefused):
        store.commit(events=_spends(10))
    assert store.outbox_depth() == 0
    store.commit(events=_spends(3))
    assert _unsent(store, "ledger") == (3, one * 3)
    store.close()


def test_telemetry_in_one_big_commit_is_thinned_within_its_budget(tmp_path: Path) -> None:
    store = _store(tmp_path, telemetry=Budget(max_events=40, max_bytes=10_000_000))
    store.commit(events=_energy(100))
    count, _ = _unsent(store, "telemetry")
    assert count <= 40
    assert store.dropped == 100 - count
    # The newest sample is always kept; the oldest half lost resolution first.
    kwh = [e.payload["kwh"] for e in store.pending(1000)]
    assert kwh[-1] == 0.099
    assert kwh == sorted(kwh)
    store.close()
