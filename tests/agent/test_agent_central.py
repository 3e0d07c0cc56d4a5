"""The agent against the real central service (loyalty on SQLite, served by uvicorn on a
real socket): stays and preferences pulled into the cache, the outbox pushed idempotently,
learned preferences pushed back, and the room carrying on while central is down."""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import pytest
from agent_central import HVAC, Central, room_config
from agent_fakes import FakeDevice, climate
from agent_rig import eventually

from agent.app import Agent
from drivers.base import ClimateMode, ClimateState
from smartroom.services import MosquittoBroker
from sync.client import SyncError as CentralError
from sync.client import read_agent_key
from sync.wire import MemberPreferences, SyncEvent, SyncUpload

pytestmark = [pytest.mark.timeout(90)]


def remote_offset(central: Central, member: str) -> int:
    doc = central.call("GET", f"/v1/agent/preferences/{member}", "agent")
    return int(MemberPreferences.model_validate(doc).comfort_offset.observations)


def test_credential_file_must_be_private(tmp_path: Path) -> None:
    key = tmp_path / "agent.key"
    key.write_text("secret-key\n")
    os.chmod(key, 0o644)
    with pytest.raises(CentralError, match="chmod 600"):
        read_agent_key(key)
    os.chmod(key, 0o600)
    assert read_agent_key(key) == "secret-key"
    key.write_text("two words\n")
    with pytest.raises(CentralError, match="one key"):
        read_agent_key(key)


async def test_pull_push_learn_and_outage(
    tmp_path: Path, central: Central, mqtt_broker: MosquittoBroker
) -> None:
    member, stay = central.checked_in_member_preferring(23.5)
    key_file = central.agent_key_file(tmp_path)
    config = room_config(tmp_path, central, mqtt_broker, key_file, HVAC)
    hvac: FakeDevice = climate("hvac")
    async with Agent(config, devices={"hvac": hvac}) as agent:
        assert agent.store is not None and agent.room is not None and agent.link is not None
        store, room = agent.store, agent.room
        # Pulled: the stay, and the member's preferences; the room warms up for them.
        await eventually(lambda: room.active_stay(room.clock.now()) is not None, what="stay")
        assert store.stays()[0].stay_id == stay
        prefs = store.preferences(member)
        assert prefs is not None and prefs.climate.setpoint_c is not None
        await eventually(lambda: hvac.state.setpoint_c == 23.5, what="member's temperature")

        # Pushed: the outbox drains, and central has each event exactly once.
        await room.set_housekeeping(dnd=True, via="app")
        await eventually(lambda: store.outbox_depth() == 0, what="outbox pushed")
        (first_doc,) = store.db.execute("SELECT doc FROM outbox ORDER BY seq LIMIT 1").fetchone()
        first = SyncEvent.model_validate_json(first_doc)
        batch = SyncUpload(agent_id=store.agent_id, hlc=store.hlc_now(), events=[first])
        again = httpx.post(
            f"{central.url}/v1/sync/upload",
            headers={"Authorization": f"Bearer {central.keys['agent']}"},
            content=batch.model_dump_json(),
            timeout=10,
        ).json()
        assert [a["status"] for a in again["results"]] == ["duplicate"]

        # A guest's knob change is learned and the learned offset reaches central.
        hvac.push(
            state=ClimateState(ClimateMode.AUTO, 21.0, hvac.state.fan, 22.0, hvac.state.action),
            manual=True,
        )
        await eventually(lambda: "hvac" in room.manual, what="knob change seen")
        await eventually(
            lambda: store.outbox_depth() == 0 and remote_offset(central, member) == 1,
            what="learned preference pushed",
        )
        remote = MemberPreferences.model_validate(
            central.call("GET", f"/v1/agent/preferences/{member}", "agent")
        )
        assert remote.comfort_offset.observations == 1
        assert remote.climate.setpoint_c is not None and remote.climate.setpoint_c.value == 23.5

        # Central goes down: the room keeps working on its cache and queues events.
        central.stop()
        await room.set_housekeeping(mur=True, via="app")
        sync = agent.link.worker
        await eventually(lambda: sync.online is False, what="central seen down")
        assert store.outbox_depth() >= 1
        assert room.status().mur and room.active_stay(room.clock.now()) is not None
        async with httpx.AsyncClient(base_url=agent.api_url) as http:
            assert (await http.get("/health")).json()["central"]["online"] is False
        central.start()
        await eventually(lambda: store.outbox_depth() == 0, timeout=30, what="drained after outage")
        assert sync.online
