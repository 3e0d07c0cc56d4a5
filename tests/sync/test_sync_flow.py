"""Sync end to end against the real central service over real HTTP: a minibar purchase made
while central is down earns its points exactly once when it is back; download streams carry
the stay lifecycle, credentials, profiles, config and staff commands; reset keeps the outbox;
an agent sees only its room; a rotated key keeps the outbox."""

from __future__ import annotations

import gzip
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from sync_harness import PROPERTY, Central, all_event_ids, engine_for, open_store, room_name, spend
from test_sync_model import FateTransport

from agent.presence.vault import CredentialVault
from agent.store import AgentStore
from loyalty.auth import revoke_key
from smartroom.clock import FakeClock
from smartroom.services import AppServer, free_port
from sync import faults
from sync.client import SyncError
from sync.engine import SyncEngine
from sync.wire import MemberPreferences, SyncEvent, SyncUpload


@pytest.fixture(scope="module")
def clock() -> FakeClock:
    return FakeClock(datetime(2026, 3, 2, 10, 0, tzinfo=UTC))


@pytest.fixture(scope="module")
def central(tmp_path_factory: pytest.TempPathFactory, clock: FakeClock) -> Iterator[Central]:
    svc = Central(f"sqlite:///{tmp_path_factory.mktemp('central') / 'central.db'}", clock)
    yield svc
    svc.engine.dispose()


@pytest.fixture(scope="module")
def served(central: Central) -> Iterator[Central]:
    with AppServer(central.app) as server:
        central.base_url = server.url
        yield central


@pytest.fixture
async def room(served: Central, tmp_path: Path, clock: FakeClock) -> AsyncIterator[Room]:
    name = room_name()
    member, stay = served.checked_in_member(name)
    store = open_store(tmp_path / f"{name}.db", clock, name)
    key = served.agent_key(name)
    engine = engine_for(store, served.base_url, key, timeout_s=10)
    made = Room(name, member, stay, store, engine, key)
    try:
        yield made
    finally:
        await engine.client.aclose()  # type: ignore[attr-defined]
        made.store.close()


@dataclass
class Room:
    name: str
    member: str
    stay: str
    store: AgentStore
    engine: SyncEngine
    key: str


def _prefs(member: str, setpoint: float, at: datetime) -> MemberPreferences:
    return MemberPreferences.model_validate(
        {
            "member_id": member,
            "climate": {"setpoint_c": {"value": setpoint, "updated_at": at.isoformat()}},
        }
    )


async def test_minibar_while_down_earns_once(
    tmp_path: Path, central: Central, clock: FakeClock
) -> None:
    port = free_port()
    server = AppServer(central.app, port=port).start()
    before, central.base_url = central.base_url, server.url
    room = room_name()
    member, stay = central.checked_in_member(room)
    store = open_store(tmp_path / "agent.db", clock, room)
    engine = engine_for(store, server.url, central.agent_key(room), timeout_s=2)
    await engine.pull_all()
    assert [s.stay_id for s in store.stays()] == [stay]
    assert CredentialVault(store).room_secret() is not None  # the room's credentials reached it
    assert store.preferences(member) is not None

    server.stop()
    event_id = spend(store, stay, member)
    with pytest.raises(SyncError):
        await engine.push()
    assert store.outbox_depth() == 1 and central.spend_points(member) == (0, 0)

    server = AppServer(central.app, port=port).start()
    try:
        await engine.push()
        count, points = central.spend_points(member)
        assert count == 1 and points > 0 and central.points(member) == points
        # The answer was "lost": the same batch again is a duplicate, counted once.
        (doc,) = store.db.execute(
            "SELECT doc FROM outbox WHERE event_id = ?", [event_id]
        ).fetchone()
        event = SyncEvent.model_validate_json(doc)
        batch = SyncUpload(agent_id=store.agent_id, hlc=store.hlc_now(), events=[event])
        answer = httpx.post(
            f"{server.url}/v1/sync/upload",
            content=gzip.compress(batch.model_dump_json().encode()),
            headers={
                "Authorization": f"Bearer {central.agent_key(room)}",
                "Content-Encoding": "gzip",
            },
            timeout=10,
        ).json()
        assert answer["results"] == [{"event_id": event_id, "status": "duplicate", "reason": None}]
        assert central.spend_points(member) == (1, points)
        assert central.event_ids(store.agent_id) == all_event_ids(store)
    finally:
        await engine.client.aclose()  # type: ignore[attr-defined]
        server.stop()
        store.close()
        central.base_url = before


async def test_streams_carry_the_stay_lifecycle(
    served: Central, room: Room, clock: FakeClock
) -> None:
    store, engine = room.store, room.engine
    await engine.pull_all()
    assert CredentialVault(store).room_secret() is not None
    assert CredentialVault(store).pinned_signing_key() == served.app.state.ctx.signer.public_b64
    first = store.sync_cursors()
    assert set(first) == {"stays", "members", "credentials", "config", "models", "commands"}

    served.call(
        "PUT",
        f"/v1/sync/rooms/{PROPERTY}/{room.name}/config",
        "admin",
        json={"settings": {"energy": {"away_setback_c": 2.5}}},
    )
    command = served.call(
        "POST",
        f"/v1/sync/rooms/{PROPERTY}/{room.name}/commands",
        json={"action": "make_up_room_done"},
    )
    clock.advance(60)
    served.call(
        "PUT",
        f"/v1/members/{room.member}/preferences",
        json=_prefs(room.member, 21.5, clock.now()).model_dump(mode="json"),
    )
    applied = await engine.pull_all()
    streams = set().union(*(a.streams for a in applied))
    assert {"config", "commands", "members"} <= streams
    config = store.room_config()
    assert (
        config is not None
        and config.version == 1
        and config.settings == {"energy": {"away_setback_c": 2.5}}
    )
    assert [c["command_id"] for c in store.pending_commands()] == [command["command_id"]]
    prefs = store.preferences(room.member)
    assert prefs is not None and prefs.climate.setpoint_c is not None
    assert prefs.climate.setpoint_c.value == 21.5
    assert all(store.sync_cursors()[s] >= first[s] for s in first)

    served.call(
        "POST",
        f"/v1/stays/{room.stay}/check-out",
        json={"folio": [{"category": "room", "amount": "1600.00"}]},
    )
    await engine.pull_all()
    assert store.stays() == [] and CredentialVault(store).revocation(room.stay) == "checked_out"
    assert store.preferences(room.member) is None  # data minimisation after the stay


async def test_local_change_during_upload_is_not_lost(
    served: Central, room: Room, clock: FakeClock
) -> None:
    store, engine = room.store, room.engine
    await engine.pull_all()
    store.put_preferences(_prefs(room.member, 22.0, clock.now()), dirty=True)
    await engine.push()  # central merges 22.0 ...
    clock.advance(1)
    store.put_preferences(
        _prefs(room.member, 23.0, clock.now()), dirty=True
    )  # ... while we move on
    await engine.pull_all()  # central's merged 22.0 comes down: merged, not replacing 23.0
    local = store.preferences(room.member)
    assert local is not None and local.climate.setpoint_c is not None
    assert local.climate.setpoint_c.value == 23.0
    await engine.push()
    profile = served.call("GET", f"/v1/members/{room.member}/preferences")
    assert profile["climate"]["setpoint_c"]["value"] == 23.0


async def test_reset_keeps_the_outbox(served: Central, room: Room) -> None:
    store, engine = room.store, room.engine
    await engine.pull_all()
    event_id = spend(store, room.stay, room.member)
    served.call("POST", f"/v1/sync/rooms/{PROPERTY}/{room.name}/reset", "admin")
    (applied,) = await engine.pull_all()
    assert applied.reset and [s.stay_id for s in store.stays()] == [room.stay]
    assert store.outbox_depth() == 1
    await engine.push()
    assert event_id in served.event_ids(store.agent_id)
    assert served.spend_points(room.member)[0] == 1


def _command(served: Central, room: str) -> str:
    made = served.call(
        "POST", f"/v1/sync/rooms/{PROPERTY}/{room}/commands", json={"action": "make_up_room_done"}
    )
    return str(made["command_id"])


async def test_commands_queued_before_a_snapshot_reach_the_room_once(
    served: Central, room: Room, tmp_path: Path, clock: FakeClock
) -> None:
    store, engine = room.store, room.engine
    early = _command(served, room.name)  # the room has never pulled: its first pull is a snapshot
    await engine.pull_all()
    await engine.pull_all()  # the owed commands come after the snapshot, on the next pull
    assert [c["command_id"] for c in store.pending_commands()] == [early]
    # Queued between a reset and the room's next pull: owed too.
    served.call("POST", f"/v1/sync/rooms/{PROPERTY}/{room.name}/reset", "admin")
    during = _command(served, room.name)
    await engine.pull_all()
    await engine.pull_all()
    # (each once; the room orders pending commands by arrival time, the same on this clock)
    assert sorted(c["command_id"] for c in store.pending_commands()) == sorted([early, during])
    # A room whose database is replaced gets no command its old copy had already applied.
    await engine.pull_all()  # tells central how far the room has applied the stream
    fresh = open_store(tmp_path / "replaced.db", clock, room.name)
    replaced = engine_for(fresh, served.base_url, room.key, timeout_s=10)
    try:
        await replaced.pull_all()
        await replaced.pull_all()
        assert fresh.pending_commands() == []
        late = _command(served, room.name)
        await replaced.pull_all()
        assert [c["command_id"] for c in fresh.pending_commands()] == [late]
    finally:
        await replaced.client.aclose()  # type: ignore[attr-defined]
        fresh.close()


async def test_rejected_event_is_dead_lettered_and_never_blocks(
    served: Central, room: Room
) -> None:
    store, engine = room.store, room.engine
    bad = spend(store, "stay_that_does_not_exist", room.member)
    good = spend(store, room.stay, room.member)
    await engine.push()
    assert store.outbox_depth() == 0
    assert store.rejected_events()[0][0] == bad and "no stay" in store.rejected_events()[0][1]
    assert good in served.event_ids(store.agent_id)
    state = served.call("GET", f"/v1/sync/rooms/{PROPERTY}/{room.name}")
    assert state["dead_letters"] == 1
    assert [a["kind"] for a in state["open_alerts"]] == ["dead_letter"]


async def test_an_agent_sees_only_its_room(
    served: Central, room: Room, tmp_path: Path, clock: FakeClock
) -> None:
    other = room_name()
    served.checked_in_member(other)
    await room.engine.pull_all()
    assert {s.room_id for s in room.store.stays()} == {room.name}
    # Another room's agent key cannot take over this agent's incarnation ...
    intruder = engine_for(room.store, served.base_url, served.agent_key(other))
    spend(room.store, room.stay, room.member)
    with pytest.raises(SyncError, match="403"):
        await intruder.push()
    await intruder.client.aclose()  # type: ignore[attr-defined]
    # ... nor call staff endpoints.
    response = httpx.post(
        f"{served.base_url}/v1/sync/rooms/{PROPERTY}/{other}/reset",
        headers={"Authorization": f"Bearer {served.agent_key(room.name)}"},
    )
    assert response.status_code == 403


async def test_rotated_key_keeps_the_outbox(served: Central, room: Room) -> None:
    store = room.store
    event_id = spend(store, room.stay, room.member)
    old_key_id = room.key.split(".")[1]
    with served.engine.begin() as conn:  # the key the room had is revoked (rotation) ...
        revoke_key(conn, old_key_id, served.clock.now())
    with pytest.raises(SyncError, match="401"):
        await room.engine.push()
    # ... the new one, for the same property and room, drains the same outbox.
    rotated = engine_for(store, served.base_url, served.agent_key(room.name))
    await rotated.push()
    await rotated.client.aclose()  # type: ignore[attr-defined]
    assert event_id in served.event_ids(store.agent_id) and store.outbox_depth() == 0


async def test_a_lost_answer_is_not_counted_twice(served: Central, room: Room) -> None:
    transport = FateTransport()
    engine = engine_for(room.store, served.base_url, room.key, transport=transport)
    try:
        spend(room.store, room.stay, room.member)
        await engine.check_clock()  # the clock is read first, with its answer delivered
        transport.fate = "lost_response"  # central commits, the answer never arrives
        with pytest.raises(SyncError):
            await engine.push()
        assert room.store.outbox_depth() == 1 and served.spend_points(room.member)[0] == 1
        transport.fate = "duplicate"  # the retry, and a copy of it on the wire
        await engine.push()
        assert served.spend_points(room.member)[0] == 1  # counted once, not three times
        assert engine.duplicates == 1 and room.store.outbox_depth() == 0
    finally:
        await engine.client.aclose()  # type: ignore[attr-defined]


async def test_a_crash_mid_page_leaves_the_cursor_behind_the_data(
    served: Central, room: Room, tmp_path: Path, clock: FakeClock
) -> None:
    await room.engine.pull_all()
    served.call(
        "PUT",
        f"/v1/sync/rooms/{PROPERTY}/{room.name}/config",
        "admin",
        json={"settings": {"scenes": {"default_volume_pct": 1}}},
    )
    before = room.store.sync_cursors()["config"]

    def crash(name: str) -> None:
        if name == "agent.apply.after_items":
            raise RuntimeError("simulated power cut")  # the transaction never commits

    faults.set_hook(crash)
    try:
        with pytest.raises(RuntimeError, match="power cut"):
            await room.engine.pull()
    finally:
        faults.set_hook(None)
    room.store.close()
    room.store = open_store(tmp_path / f"{room.name}.db", clock, room.name)
    # After the restart the room has neither the config nor a cursor past it ...
    assert room.store.sync_cursors()["config"] == before, "cursor saved without its page"
    assert room.store.room_config() is None
    # ... and the next pull brings it.
    engine = engine_for(room.store, served.base_url, room.key)
    await engine.pull_all()
    await engine.client.aclose()  # type: ignore[attr-defined]
    config = room.store.room_config()
    assert config is not None and config.settings == {"scenes": {"default_volume_pct": 1}}
