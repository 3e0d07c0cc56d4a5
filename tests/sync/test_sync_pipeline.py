"""A drain overlaps the room's work with central's (sync/engine.py): while one batch is at
central the room acknowledges the previous answers and reads the next batch, yet exactly
one upload is in flight, batches go in `seq` order, each event once; and a batch read
ahead is not sent when the outbox changed under it. Real central (SQLite) over HTTP."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sync_harness import Central, engine_for, open_store, room_name, serving, sqlite_url

from agent.store import NewEvent
from smartroom.clock import FakeClock
from sync.wire import EventAnswer, EventKind


@pytest.fixture(scope="module")
def clock() -> FakeClock:
    return FakeClock(datetime(2026, 3, 2, 10, 0, tzinfo=UTC))


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, clock: FakeClock) -> Iterator[Central]:
    with serving(sqlite_url(tmp_path_factory), clock) as svc:
        yield svc


def _energy(n: int) -> list[NewEvent]:
    return [NewEvent(EventKind.ENERGY, {"kwh": i / 10, "device": "hvac"}) for i in range(n)]


async def test_a_drain_acknowledges_while_the_next_batch_is_at_central(
    served: Central, tmp_path: Path, clock: FakeClock
) -> None:
    room = room_name()
    store = open_store(tmp_path / "agent.db", clock, room)
    engine = engine_for(store, served.base_url, served.agent_key(room), timeout_s=30)
    engine.batch_events = 100
    written = store.commit(events=_energy(450))
    steps: list[tuple[str, int]] = []  # what the room did, in order
    client = engine.client
    upload, acknowledge = client.upload, store.acknowledge  # type: ignore[attr-defined]

    async def traced_upload(batch, timeout_s=None, written=None):  # type: ignore[no-untyped-def]
        if batch.events:
            steps.append(("sent", batch.events[0].seq))
        result = await upload(batch, timeout_s, written)
        if batch.events:
            steps.append(("answered", batch.events[0].seq))
        return result

    def traced_acknowledge(answers: Sequence[EventAnswer]) -> None:
        steps.append(("acknowledged", len(answers)))
        acknowledge(answers)

    client.upload = traced_upload  # type: ignore[attr-defined]
    store.acknowledge = traced_acknowledge  # type: ignore[method-assign]
    try:
        assert await engine.push() == 450
        assert store.outbox_depth() == 0
        assert (engine.accepted, engine.duplicates, engine.rejected) == (450, 0, 0)
        assert served.event_ids(store.agent_id) == {e.event_id for e in written}
        first = written[0].seq
        sent = [seq - first for step, seq in steps if step == "sent"]
        assert sent == [0, 100, 200, 300, 400]  # in seq order, each batch once
        # One upload in flight: each batch answered before the next is sent.
        flight = [step for step, _ in steps if step != "acknowledged"]
        assert flight == ["sent", "answered"] * 5
        # Each batch's answers acknowledged once the next batch was sent (while it was at
        # central), the last ones at the end.
        acks = [step for step, _ in steps if step != "answered"]
        assert acks == ["sent"] + ["sent", "acknowledged"] * 4 + ["acknowledged"]
    finally:
        await client.aclose()  # type: ignore[attr-defined]
        store.close()


def test_a_batch_read_ahead_is_read_again_when_the_outbox_changed(
    served: Central, tmp_path: Path, clock: FakeClock
) -> None:
    room = room_name()
    store = open_store(tmp_path / "agent.db", clock, room)
    engine = engine_for(store, served.base_url, served.agent_key(room))
    engine.batch_events = 10
    try:
        events = store.commit(events=_energy(30))
        after = events[9].seq  # the batch in flight: the first ten
        ahead = engine._cut(after)
        assert [e.event_id for e in ahead.events] == [e.event_id for e in events[10:20]]
        assert engine._cut(after, ahead) is ahead  # nothing changed: no parsing again
        # A telemetry drop (the budget) takes one of them away meanwhile.
        with store.db.atomic():
            store.db.execute("DELETE FROM outbox WHERE seq = ?", [events[12].seq])
        again = engine._cut(after, ahead)
        assert again is not ahead
        assert [e.event_id for e in again.events] == [
            e.event_id for e in events[10:21] if e is not events[12]
        ]
    finally:
        store.close()
