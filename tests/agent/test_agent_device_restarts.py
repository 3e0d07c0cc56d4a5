"""Devices frozen, slowed and power-cycled under a running agent, over the rig's real
transports: only a change no command of ours explains is the guest's (a lamp that answers
after the agent gave up, or one that freezes and carries out the held request when it
thaws); a device back with its power-on defaults gets the room's intended state again; the
room's energy total survives the thermostat's meter starting again from zero."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from agent_rig import Env, eventually, rig_env

from drivers.base import ClimateMode
from firmware_mocks.base import Fault
from smartroom.services import MosquittoBroker
from sync.wire import EventKind

pytestmark = [pytest.mark.mqtt, pytest.mark.timeout(90)]


@pytest.fixture
async def env(tmp_path: Path, mqtt_broker: MosquittoBroker) -> AsyncIterator[Env]:
    async for value in rig_env(tmp_path, mqtt_broker):
        yield value


def manual_changes(env: Env) -> list[str]:
    return [
        str(e.payload["device"])
        for e in env.agent.store.pending()  # type: ignore[union-attr]
        if e.kind is EventKind.MANUAL_CHANGE
    ]


async def not_the_guests(env: Env, name: str) -> None:
    """Give a late report every chance to be (mis)taken for the guest, then check it was not:
    not held as a manual setting, no manual-change event."""
    env.clock.jump(5)
    await env.move()
    for _ in range(10):
        env.room.step()
    await eventually(lambda: env.room.steps > 0, what="steps")
    assert name not in env.room.manual
    assert name not in manual_changes(env)


async def welcomed(env: Env) -> None:
    await env.guest_in()
    sims = env.sims
    await eventually(
        lambda: (
            (sims["hvac"].controls.mode, sims["hvac"].controls.setpoint_c)
            == (ClimateMode.AUTO, 23.5)
        ),
        what="thermostat at the member's 23.5 °C",
    )
    await eventually(lambda: sims["ceiling"].on, what="ceiling on")
    await eventually(lambda: sims["bedside"].snapshot()["state"] == "ON", what="bedside on")


async def test_devices_back_from_a_power_cut_get_the_rooms_state_and_energy_keeps_counting(
    env: Env,
) -> None:
    sims = env.sims
    await welcomed(env)
    ceiling_level = sims["ceiling"].dimmer
    bedside_level = sims["bedside"].snapshot()["brightness"]
    assert ceiling_level < sims["ceiling"].dimmer_max  # the member's 40 %, not full
    await eventually(lambda: env.room.memory.energy.counters, what="a first meter reading")
    env.clock.jump(600)  # the HVAC runs a while
    await eventually(lambda: env.room.energy_kwh > 0, what="energy counted")
    before = env.room.energy_kwh

    # A cut long enough for every driver to notice the outage (a blip shorter than that is
    # caught only by a device's energy meter going back to zero: agent.sensing).
    for name in ("hvac", "ceiling", "bedside"):
        await env.rig.power_off(name)
    await eventually(
        lambda: not any(env.room.avail[n].available for n in ("hvac", "ceiling", "bedside")),
        timeout=30,
        what="the outage seen by the drivers",
    )
    for name in ("hvac", "ceiling", "bedside"):
        await env.rig.power_on(name)
    # Back at heat/22 °C and lamps at full: the room's intended state goes back to each.
    await eventually(
        lambda: (
            (sims["hvac"].controls.mode, sims["hvac"].controls.setpoint_c)
            == (ClimateMode.AUTO, 23.5)
        ),
        timeout=30,
        what="thermostat re-applied after its power cut",
    )
    await eventually(
        lambda: sims["ceiling"].on and sims["ceiling"].dimmer == ceiling_level,
        timeout=30,
        what="ceiling back at the member's level",
    )
    await eventually(
        lambda: sims["bedside"].snapshot()["brightness"] == bedside_level,
        timeout=30,
        what="bedside back at the member's level",
    )
    # Never recorded as the guest's choice, never held as a manual setting.
    assert env.room.manual == {}
    assert manual_changes(env) == []
    # The thermostat's meter started again from zero; the room's total did not.
    assert sims["hvac"].meter_zero_kwh > 0  # its meter restarted from zero
    assert env.room.energy_kwh >= before
    await eventually(lambda: env.room.energy_kwh > before, timeout=30, what="energy counting on")
    async with httpx.AsyncClient(base_url=env.agent.api_url) as http:
        status = (await http.get("/status")).json()
    assert status["energy_kwh"] >= before


async def test_a_command_carried_out_late_is_not_the_guests_change(env: Env) -> None:
    sims = env.sims
    # The lamp answers after the agent has given up on it (the rig's apply timeout).
    sims["ceiling"].inject(Fault.SLOW, delay_s=env.agent.config.runtime.apply_timeout_s + 1.5)
    await env.guest_in()
    await eventually(lambda: env.scene() == "welcome", what="welcome")
    await eventually(lambda: sims["ceiling"].on, timeout=20, what="the lamp did it, late")
    sims["ceiling"].inject(Fault.NONE)
    await not_the_guests(env, "ceiling")


async def test_a_command_a_frozen_device_carries_out_after_thawing_is_not_the_guests_change(
    env: Env,
) -> None:
    sims = env.sims
    await eventually(
        lambda: "ceiling" not in env.room.inflight and not sims["ceiling"].on,
        what="pre-arrival settled",
    )
    runs: list[Any] = []
    env.room.on_scene_applied(runs.append)
    # The lamp freezes: the welcome's "on" gets no answer and the agent gives up on it.
    sims["ceiling"].inject(Fault.SILENT)
    await env.guest_in()
    await eventually(lambda: env.scene() == "welcome", what="welcome")
    await eventually(
        lambda: any(
            r.scene == "welcome" and r.results.get("ceiling", {}).get("did") == "failed"
            for r in runs
        ),
        timeout=20,
        what="the welcome's command failed (no answer)",
    )
    assert not sims["ceiling"].on
    # It thaws and carries out the request it was holding: the lamp comes on, reported by
    # the lamp itself, with no command of ours in flight.
    sims["ceiling"].inject(Fault.NONE)
    await eventually(lambda: sims["ceiling"].on, timeout=20, what="the lamp did it, late")
    await not_the_guests(env, "ceiling")
