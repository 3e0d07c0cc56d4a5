"""Rotating a running agent's credential against the real central (uvicorn on SQLite): the
old key is revoked first, so what the room records meanwhile waits in its outbox (401s, no
event dropped); the new key written to `central.credential_file` is picked up on the next
401 without a restart, and the waiting events arrive once."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from agent_central import HVAC, PROPERTY, ROOM, Central, room_config
from agent_fakes import FakeDevice, climate
from agent_rig import eventually

from agent.app import Agent
from loyalty.auth import revoke_key
from smartroom.services import MosquittoBroker

pytestmark = [pytest.mark.timeout(90)]


def _write_key(path: Path, key: str) -> None:
    fresh = path.with_suffix(".new")
    fresh.write_text(key)
    os.chmod(fresh, 0o600)
    fresh.replace(path)  # atomic, as an operator's install step should be


async def test_a_rotated_key_is_picked_up_live_and_the_outbox_is_kept(
    tmp_path: Path, central: Central, mqtt_broker: MosquittoBroker
) -> None:
    central.checked_in_member()
    key_file = tmp_path / "agent.key"
    _write_key(key_file, central.keys["agent"])
    config = room_config(tmp_path, central, mqtt_broker, key_file, HVAC)
    hvac: FakeDevice = climate("hvac")
    async with Agent(config, devices={"hvac": hvac}) as agent:
        assert agent.store is not None and agent.room is not None and agent.link is not None
        store, room, sync = agent.store, agent.room, agent.link.worker
        await eventually(lambda: store.outbox_depth() == 0 and sync.online, what="first sync")

        old_id = central.keys["agent"].split(".")[1]
        with central.app.state.ctx.engine.begin() as conn:
            revoke_key(conn, old_id, central.clock.now())
        await room.set_housekeeping(dnd=True, via="app")
        await room.set_housekeeping(mur=True, via="app")
        pending = {e.event_id for e in store.pending()}
        assert pending
        await eventually(lambda: "401" in (sync.last_error or ""), timeout=20, what="401s")
        assert {e.event_id for e in store.pending()} >= pending  # nothing dropped

        # The operator installs the new key (same property and room); no restart.
        _write_key(key_file, central.key("agent", property_id=PROPERTY, room_id=ROOM))
        await eventually(lambda: store.outbox_depth() == 0, timeout=30, what="drained")
        sent = central.call("GET", f"/v1/sync/rooms/{PROPERTY}/{ROOM}/events?limit=500")
        ids = [e["event_id"] for e in sent["events"]]
        assert pending <= set(ids) and len(ids) == len(set(ids))
