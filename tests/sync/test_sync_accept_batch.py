"""Central applies a whole upload in one fast pass and falls back event by event only around
a refusal: the answers and every effect must be exactly those of the same events uploaded
one at a time (points, the stay's transfers on a chain that verifies, dead letters, the
housekeeping board's row), whatever mix of good and refused events a batch holds, on
SQLite and on PostgreSQL (where a pass's in-room spends are written in one statement)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sync_harness import PROPERTY, Central, engine_for, open_store, room_name, serving, sqlite_url

from agent.store import AgentStore, NewEvent
from loyalty.db.board_tables import board_rooms
from loyalty.db.sync_tables import room_spends, sync_dead_letters
from loyalty.db.tables import transfers
from loyalty.ledger.chain import verify_ledger
from smartroom.clock import FakeClock
from sync.client import SyncClient
from sync.wire import EventKind, RoomSpend, SyncUpload


@pytest.fixture(scope="module")
def clock() -> FakeClock:
    return FakeClock(datetime(2026, 3, 2, 10, 0, tzinfo=UTC))


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, clock: FakeClock) -> Iterator[Central]:
    with serving(sqlite_url(tmp_path_factory), clock) as svc:
        yield svc


@pytest.fixture(scope="module")
def served_pg(pg_url: str, clock: FakeClock) -> Iterator[Central]:
    with serving(pg_url, clock) as svc:
        yield svc


def _script(stay: str, member: str) -> list[NewEvent]:
    """Good and refused events interleaved, refusals first, last and back to back."""

    def buy(amount: str, stay_id: str = stay) -> NewEvent:
        payload = RoomSpend(category="minibar", item="cola", amount=amount).model_dump(mode="json")
        return NewEvent(EventKind.ROOM_SPEND, payload, stay_id=stay_id, member_id=member)

    alert = {"kind": "window_open", "since": "2026-03-02T09:58:00+00:00", "detail": "bathroom"}
    return [
        buy("12.00", "stay_that_does_not_exist"),
        buy("36.00"),
        NewEvent(EventKind.HOUSEKEEPING, {"dnd": True, "via": "button"}),
        NewEvent(EventKind.ALERT, {"alert": "not an alert", "raised": True}),
        NewEvent(EventKind.ALERT, {"alert": alert, "raised": "yes"}),
        NewEvent(EventKind.ENERGY, {"kwh": 0.5, "device": "hvac"}),
        buy("18.00"),
        NewEvent(EventKind.ALERT, {"alert": alert, "raised": True}),
        NewEvent(EventKind.HOUSEKEEPING, {"dnd": False, "mur": True, "via": "button"}),
        buy("7.00", "another_missing_stay"),
        buy("54.00"),
        buy("9.00", "a_third_missing_stay"),
    ]


def _board(served: Central, room: str) -> dict[str, Any]:
    with served.engine.connect() as conn:
        row = conn.execute(
            select(board_rooms).where(
                board_rooms.c.property_id == PROPERTY, board_rooms.c.room_id == room
            )
        ).one()
    return {k: row._mapping[k] for k in ("dnd", "mur", "alerts_json", "condition")} | {
        "changed": row.change_seq > 0
    }


def _transfers(served: Central, stay: str) -> list[tuple[str, str, int, int]]:
    """The stay's transfers in chain order (their ids name events, which differ by run)."""
    t = transfers.c
    with served.engine.connect() as conn:
        assert verify_ledger(conn).ok
        rows = conn.execute(
            select(t.ledger, t.code, t.amount, t.chain_seq)
            .where(t.reference == stay)
            .order_by(t.chain_seq)
        ).all()
    first = rows[0].chain_seq if rows else 0
    return [(r.ledger, r.code, r.amount, r.chain_seq - first) for r in rows]


def _dead(served: Central, room: str) -> int:
    with served.engine.connect() as conn:
        return int(
            conn.execute(
                select(func.count()).where(sync_dead_letters.c.room_id == room)
            ).scalar_one()
        )


async def _run(served: Central, tmp_path: Path, clock: FakeClock, batch: int) -> dict[str, Any]:
    room = room_name()
    member, stay = served.checked_in_member(room)
    store: AgentStore = open_store(tmp_path / f"{room}.db", clock, room)
    engine = engine_for(store, served.base_url, served.agent_key(room), timeout_s=30)
    engine.batch_events = batch
    try:
        store.commit(events=_script(stay, member))
        await engine.push()
        assert store.outbox_depth() == 0
        rejected = [reason.split(":")[0] for _, reason in store.rejected_events()]
        return {
            "answers": (engine.accepted, engine.duplicates, engine.rejected),
            "rejected": rejected,
            "spends": served.spend_points(member),
            "points": served.points(member),
            "transfers": _transfers(served, stay),
            "dead": _dead(served, room),
            "board": _board(served, room),
            "events": len(served.event_ids(store.agent_id)),
        }
    finally:
        await engine.client.aclose()  # type: ignore[attr-defined]
        store.close()


async def test_one_batch_has_the_effects_of_one_event_at_a_time(
    served: Central, tmp_path: Path, clock: FakeClock
) -> None:
    whole = await _run(served, tmp_path, clock, batch=500)
    single = await _run(served, tmp_path, clock, batch=1)
    assert whole == single
    assert whole["answers"] == (7, 0, 5)
    assert whole["rejected"] == ["stay_id", "payload.alert", "payload.raised", "stay_id", "stay_id"]
    count, points = whole["spends"]
    assert count == 3 and points > 0 and whole["points"] == points
    assert whole["dead"] == 5 and whole["events"] == 7
    assert whole["board"]["dnd"] is False and whole["board"]["mur"] is True
    assert '"window_open"' in whole["board"]["alerts_json"] and whole["board"]["changed"]


async def test_one_batch_on_postgresql_has_the_effects_of_one_event_at_a_time(
    served_pg: Central, tmp_path: Path, clock: FakeClock
) -> None:
    whole = await _run(served_pg, tmp_path, clock, batch=500)
    single = await _run(served_pg, tmp_path, clock, batch=1)
    assert whole == single
    assert whole["answers"] == (7, 0, 5)
    count, points = whole["spends"]
    assert count == 3 and points > 0 and whole["points"] == points
    # After the check-in's hold: each of the 3 spends, a points and a qualifying credit.
    spent = [(ledger, amount) for ledger, code, amount, _ in whole["transfers"][1:]]
    assert [ledger for ledger, _ in spent] == ["points", "qualifying"] * 3
    assert sum(amount for ledger, amount in spent if ledger == "points") == points


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
async def test_a_spend_whose_effect_exists_is_refused_and_the_rest_goes_on(
    backend: str, served: Central, served_pg: Central, tmp_path: Path, clock: FakeClock
) -> None:
    """Only a damaged dedupe record can lead to a spend whose effect is already recorded:
    the pass finds it when it writes its spends, and that spend alone is dead-lettered."""
    central = served if backend == "sqlite" else served_pg
    room = room_name()
    member, stay = central.checked_in_member(room)
    store = open_store(tmp_path / f"{room}.db", clock, room)
    engine = engine_for(store, central.base_url, central.agent_key(room), timeout_s=30)
    try:
        buy = RoomSpend(category="minibar", item="cola", amount="20.00").model_dump(mode="json")
        written = store.commit(
            events=[NewEvent(EventKind.ROOM_SPEND, buy, stay_id=stay, member_id=member)] * 3
        )
        with central.engine.begin() as conn:
            conn.execute(
                room_spends.insert().values(
                    event_id=written[1].event_id,
                    stay_id=stay,
                    member_id=member,
                    category="minibar",
                    item="cola",
                    amount_minor=2000,
                    currency=buy["currency"],
                    points=0,
                    at=clock.now(),
                )
            )
        await engine.push()
        assert (engine.accepted, engine.duplicates, engine.rejected) == (2, 0, 1)
        ((event_id, reason),) = store.rejected_events()
        assert event_id == written[1].event_id and reason.startswith("ledger: the effect")
        assert central.spend_points(member)[0] == 3  # 2 accepted and the one planted
        assert _dead(central, room) == 1 and len(_transfers(central, stay)) == 1 + 4
    finally:
        await engine.client.aclose()  # type: ignore[attr-defined]
        store.close()


async def test_known_ids_on_postgresql_are_duplicates_or_refused(
    served_pg: Central, tmp_path: Path, clock: FakeClock
) -> None:
    """The dedupe lookup has a PostgreSQL form (the batch's ids as one array parameter):
    there too a batch sent again is all duplicates, accepted and dead-lettered events alike,
    and the same ids from another incarnation are refused and change nothing."""
    room = room_name()
    member, stay = served_pg.checked_in_member(room)
    store = open_store(tmp_path / f"{room}.db", clock, room)
    key = served_pg.agent_key(room)
    engine = engine_for(store, served_pg.base_url, key, timeout_s=30)
    client = SyncClient(served_pg.base_url, key, timeout_s=30)
    try:
        store.commit(events=_script(stay, member))
        sent = [event for event, _size in store.pending_sized(500)]
        await engine.push()
        assert (engine.accepted, engine.duplicates, engine.rejected) == (7, 0, 5)
        spends, dead = served_pg.spend_points(member), _dead(served_pg, room)
        assert spends[0] == 3 and dead == 5

        async def answers(agent_id: str) -> list[tuple[str, str | None]]:
            upload = SyncUpload(agent_id=agent_id, hlc=store.hlc_now(), events=sent)
            result = await client.upload(upload)
            assert [a.event_id for a in result.results] == [e.event_id for e in sent]
            return [(a.status, a.reason) for a in result.results]

        assert await answers(store.agent_id) == [("duplicate", None)] * len(sent)
        refused = ("rejected", "event_id already used by another agent")
        assert await answers("another_incarnation") == [refused] * len(sent)
        assert served_pg.spend_points(member) == spends and _dead(served_pg, room) == dead
        assert len(served_pg.event_ids(store.agent_id)) == 7
    finally:
        await client.aclose()
        await engine.client.aclose()  # type: ignore[attr-defined]
        store.close()
