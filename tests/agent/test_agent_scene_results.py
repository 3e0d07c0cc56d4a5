"""A scene's result is credited to the scene that sent the command, over the rig's real
transports: the ceiling lamp (CoAP) answers slowly, and the scene changes while its command
is in flight. The old command's answer must not be reported as the new scene's success,
and every scene run ends with exactly one result (one `scene_applied` event)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from agent_rig import Env, eventually, rig_env

from firmware_mocks.base import Fault
from firmware_mocks.standard_room import standard_devices
from smartroom.services import MosquittoBroker

pytestmark = [pytest.mark.mqtt, pytest.mark.timeout(90)]
SLOW_S = 4.0  # the lamp's answer: well inside its 8 s timeout, long enough to change scene


@pytest.fixture
async def env(tmp_path: Path, mqtt_broker: MosquittoBroker) -> AsyncIterator[Env]:
    devices = standard_devices(hvac_poll_s=0.5)
    devices["ceiling"]["timeout_s"] = 8.0
    async for value in rig_env(tmp_path, mqtt_broker, devices, runtime={"apply_timeout_s": 10}):
        yield value


async def test_a_scene_change_while_a_command_is_in_flight_credits_each_scene_its_own(
    env: Env,
) -> None:
    sims = env.sims
    runs: list[Any] = []
    env.room.on_scene_applied(runs.append)
    # The pre-arrival scene's commands have settled: the lamp is off and nothing is in flight.
    await eventually(
        lambda: "ceiling" not in env.room.inflight and not sims["ceiling"].on,
        what="pre-arrival settled",
    )
    # The lamp answers well inside its timeout, but slowly enough for the guest to come in
    # and go out again while the welcome's "on" is still on its way.
    sims["ceiling"].inject(Fault.SLOW, delay_s=SLOW_S)
    await env.guest_in()
    await eventually(lambda: env.scene() == "welcome", what="welcome")
    await eventually(lambda: "ceiling" in env.room.inflight, what="the lamp's command in flight")
    await env.guest_out()  # the room is empty: `away` wants the lamp off
    await eventually(lambda: env.scene() == "away", what="away")
    assert "ceiling" in env.room.inflight, "the welcome's command settled too soon to test"

    await eventually(
        lambda: any(r.scene == "away" and "ceiling" in r.results for r in runs),
        timeout=30,
        what="the away run's result for the lamp",
    )
    await eventually(lambda: not sims["ceiling"].on, timeout=30, what="the lamp off in the end")
    sims["ceiling"].inject(Fault.NONE)
    for _ in range(5):  # later steps must not end a run a second time
        env.room.step()

    scenes = [r.scene for r in runs]
    seen = [(r.scene, r.results.get("ceiling")) for r in runs]
    assert scenes.count("welcome") == 1 and scenes.count("away") == 1, seen
    welcome = next(r for r in runs if r.scene == "welcome")
    away = next(r for r in runs if r.scene == "away")
    # The welcome's result for the lamp is the welcome's own command ("on"), whatever it did.
    assert welcome.results["ceiling"]["command"]["on"] is True, welcome.results["ceiling"]
    # The away run never reports the welcome's "on" as its success: its lamp result is for
    # its own "off", and an "ok" says the lamp confirmed off.
    mine = away.results["ceiling"]
    assert mine.get("command", {}).get("on") is not True, mine
    if mine["did"] == "ok":
        assert mine["confirmed"]["on"] is False, mine
