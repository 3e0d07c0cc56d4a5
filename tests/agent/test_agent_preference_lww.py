"""Lighting and audio, per-field last writer wins, end to end: a running agent (in-process
devices, real Mosquitto) against the real central service (loyalty on SQLite, uvicorn on a
real socket). A guest's change in the room beats an older app value and reaches central as
a stamped field; a newer app value beats the room's change, in central and back in the
room; an app write older than the room's change loses at central. The pure table and the
merge properties are tests/sync/test_preference_lww.py."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from agent_central import Central, room_config
from agent_fakes import FakeDevice, light, media
from polling import eventually

from agent.app import Agent
from drivers.base import LightState, MediaState
from smartroom.services import MosquittoBroker
from sync.wire import MemberPreferences

pytestmark = [pytest.mark.timeout(90)]


def _field(value: int, at: datetime) -> dict[str, Any]:
    return {"value": value, "updated_at": at.isoformat(), "source": "member"}


def app_sets(central: Central, member: str, at: datetime, **fields: int) -> MemberPreferences:
    """The member's app writes some fields, stamped `at` (its clock), as the app does."""
    sections: dict[str, dict[str, Any]] = {"lighting": {}, "audio": {}}
    for name, value in fields.items():
        sections["audio" if name == "volume_pct" else "lighting"][name] = _field(value, at)
    doc = central.call(
        "PUT",
        f"/v1/members/{member}/preferences",
        json={"member_id": member, **sections},
    )
    return MemberPreferences.model_validate(doc)


def at_central(central: Central, member: str) -> MemberPreferences:
    return MemberPreferences.model_validate(
        central.call("GET", f"/v1/members/{member}/preferences")
    )


async def central_shows(central: Central, member: str, check: Any, what: str) -> None:
    """Poll central (off the event loop, every 0.1 s) until `check(values)` holds."""
    deadline = time.monotonic() + 20
    while not check(values(await asyncio.to_thread(at_central, central, member))):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.1)


def values(prefs: MemberPreferences | None) -> tuple[Any, ...]:
    if prefs is None:
        return (None, None, None)
    fields = (prefs.lighting.level_pct, prefs.lighting.colour_temp_k, prefs.audio.volume_pct)
    return tuple(None if f is None else f.value for f in fields)


async def test_in_room_changes_and_app_changes_last_writer_wins_per_field(
    tmp_path: Path, central: Central, mqtt_broker: MosquittoBroker
) -> None:
    member, _stay = central.checked_in_member()
    before = central.clock.now() - timedelta(minutes=5)
    app_sets(central, member, before, level_pct=40, colour_temp_k=3000, volume_pct=20)
    key_file = central.agent_key_file(tmp_path)
    config = room_config(
        tmp_path,
        central,
        mqtt_broker,
        key_file,
        {
            "ceiling": {"driver": "coap_light"},
            "speaker": {"driver": "mqtt_audio", "speaker_id": "s1"},
        },
    )
    ceiling: FakeDevice = light("ceiling")
    speaker: FakeDevice = media("speaker")
    async with Agent(config, devices={"ceiling": ceiling, "speaker": speaker}) as agent:
        assert agent.store is not None and agent.room is not None
        store, room = agent.store, agent.room
        await eventually(
            lambda: values(store.preferences(member)) == (40, 3000, 20),
            timeout=20,
            what="app values pulled",
        )

        # The guest changes the light and the volume in the room, after the app values:
        # their change wins and reaches central as stamped, learned fields.
        ceiling.push(state=LightState(True, 70, 2700), manual=True)
        speaker.push(state=MediaState(True, 35), manual=True)
        await eventually(
            lambda: {"ceiling", "speaker"} <= set(room.manual), timeout=20, what="seen"
        )
        await central_shows(
            central, member, lambda v: v == (70, 2700, 35), "the room's change at central"
        )
        remote = at_central(central, member)
        level = remote.lighting.level_pct
        assert level is not None and level.source == "learned" and level.hlc is not None
        room_write = level.updated_at

        # An app write stamped before the guest's change (a phone that was offline) loses
        # at central, field by field; central answers with what it kept.
        kept = app_sets(central, member, room_write - timedelta(seconds=30), volume_pct=5)
        assert values(kept) == (70, 2700, 35)

        # The member sets a newer level in the app: it wins at central and in the room;
        # the other fields keep the room's values.
        app_sets(central, member, central.clock.now(), level_pct=25)
        assert values(at_central(central, member)) == (25, 2700, 35)
        await eventually(
            lambda: values(store.preferences(member)) == (25, 2700, 35),
            timeout=20,
            what="the newer app value in the room",
        )

        # A later change in the room wins again over that app value.
        ceiling.push(state=LightState(True, 55, 2700), manual=True)
        await central_shows(
            central, member, lambda v: v[0] == 55, "the room's later change at central"
        )
        assert values(store.preferences(member)) == (55, 2700, 35)
