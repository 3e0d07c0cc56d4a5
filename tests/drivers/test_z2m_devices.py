"""Zigbee2MQTT drivers against the simulated devices on a real Mosquitto."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
import structlog.testing
from polling import eventually

from drivers.base import (
    CommandNotConfirmed,
    CoverCommand,
    DeviceUnavailable,
    DeviceUpdate,
    InvalidCommand,
    LightCommand,
    SensorEventKind,
)
from drivers.config import MqttConfig, Z2mConfig
from drivers.mqtt import MqttConnection
from drivers.z2m import Z2mCover, Z2mLight, Z2mSensor, create
from firmware_mocks.base import Fault
from firmware_mocks.z2m_devices import Z2mCoverSim, Z2mLightSim, Z2mSensorSim, sensor_kind
from smartroom.services import MosquittoBroker
from sync.wire import Availability


@pytest.fixture
def mqtt_config(mqtt_broker: MosquittoBroker) -> MqttConfig:
    return MqttConfig(host=mqtt_broker.host, port=mqtt_broker.port)


@pytest.fixture
async def conn(mqtt_config: MqttConfig) -> AsyncIterator[MqttConnection]:
    connection = MqttConnection(mqtt_config, client_id=f"test-{time.monotonic_ns()}")
    await connection.start()
    await connection.wait_connected(5)
    yield connection
    await connection.stop()


def cfg(friendly_name: str, capability: Any, timeout_s: float = 1.0) -> Z2mConfig:
    return Z2mConfig(
        driver="z2m", capability=capability, friendly_name=friendly_name, timeout_s=timeout_s
    )


class Harness:
    def __init__(self) -> None:
        self.sims: list[Any] = []
        self.drivers: list[Any] = []

    async def close(self) -> None:
        for driver in self.drivers:
            await driver.stop()
        for sim in self.sims:
            await sim.stop()


@pytest.fixture
async def rig() -> AsyncIterator[Harness]:
    harness = Harness()
    yield harness
    await harness.close()


def unique(prefix: str) -> str:
    return f"{prefix}_{time.monotonic_ns()}"


async def light_pair(
    rig: Harness, conn: MqttConnection, mqtt_config: MqttConfig, timeout_s: float = 1.0
) -> tuple[Z2mLightSim, Z2mLight]:
    name = unique("lamp")
    sim = Z2mLightSim(name, mqtt_config)
    await sim.start()
    rig.sims.append(sim)
    driver = create(name, cfg(name, "light", timeout_s), conn)
    assert isinstance(driver, Z2mLight)
    rig.drivers.append(driver)
    await driver.start()
    await eventually(lambda: driver.availability.available and driver.state is not None)
    return sim, driver


async def test_light_command_is_confirmed_by_the_state_report(
    rig: Harness, conn: MqttConnection, mqtt_config: MqttConfig
) -> None:
    sim, lamp = await light_pair(rig, conn, mqtt_config)
    state = await lamp.apply(LightCommand(on=True, level_pct=40, colour_temp_k=2700))
    assert (state.on, state.level_pct, state.colour_temp_k) == (True, 40, 2700)
    assert (sim.on, sim.brightness, sim.color_temp) == (True, 102, 370)
    state = await lamp.apply(LightCommand(on=False, transition_s=0.5))
    assert not state.on and not sim.on
    for level in (1, 33, 99, 100):  # no drift through 0-254
        assert (await lamp.apply(LightCommand(level_pct=level))).level_pct == level


async def test_wall_switch_change_is_pushed_as_manual(
    rig: Harness, conn: MqttConnection, mqtt_config: MqttConfig
) -> None:
    sim, lamp = await light_pair(rig, conn, mqtt_config)
    await lamp.apply(LightCommand(on=True, level_pct=50))
    updates: list[DeviceUpdate] = []
    lamp.subscribe(updates.append)
    await sim.switch(on=False)
    await eventually(lambda: any(u.manual for u in updates))
    assert lamp.state is not None and not lamp.state.on


async def test_invalid_command_sends_nothing(
    rig: Harness, conn: MqttConnection, mqtt_config: MqttConfig
) -> None:
    sim, lamp = await light_pair(rig, conn, mqtt_config)
    before = sim.commands_seen
    for bad in (
        LightCommand(level_pct=101),
        LightCommand(colour_temp_k=1000),
        LightCommand(on=True, level_pct=0),
        LightCommand(transition_s=-1, on=True),
    ):
        with pytest.raises(InvalidCommand):
            await lamp.apply(bad)
    await asyncio.sleep(0.2)
    assert sim.commands_seen == before


async def test_silent_light_is_not_confirmed_then_unavailable_then_recovers_logging_once(
    rig: Harness, conn: MqttConnection, mqtt_config: MqttConfig
) -> None:
    sim, lamp = await light_pair(rig, conn, mqtt_config, timeout_s=0.5)
    with structlog.testing.capture_logs() as logs:
        sim.inject(Fault.SILENT)
        for _ in range(3):
            start = time.monotonic()
            with pytest.raises(CommandNotConfirmed, match="no state report"):
                await lamp.apply(LightCommand(on=True))
            assert time.monotonic() - start < 1.0
        assert lamp.availability.status is Availability.UNAVAILABLE
        assert "no state report" in (lamp.availability.reason or "")
        sim.inject(Fault.NONE)
        # the driver retries `/get` with backoff on its own, without a new command
        await eventually(lambda: lamp.availability.available, timeout=5)
    drops = [e for e in logs if e["event"] == "device_unavailable" and e.get("device") == lamp.name]
    backs = [e for e in logs if e["event"] == "device_recovered" and e.get("device") == lamp.name]
    assert len(drops) == 1 and len(backs) == 1


async def test_slow_light_within_timeout_is_confirmed(
    rig: Harness, conn: MqttConnection, mqtt_config: MqttConfig
) -> None:
    sim, lamp = await light_pair(rig, conn, mqtt_config, timeout_s=1.0)
    sim.inject(Fault.SLOW, delay_s=0.3)
    assert (await lamp.apply(LightCommand(on=True, level_pct=10))).level_pct == 10


async def test_device_going_offline_and_bridge_offline(
    rig: Harness, conn: MqttConnection, mqtt_config: MqttConfig
) -> None:
    sim, lamp = await light_pair(rig, conn, mqtt_config)
    await sim.stop()  # its retained availability becomes offline
    await eventually(lambda: lamp.availability.status is Availability.UNAVAILABLE)
    assert lamp.availability.reason == "zigbee2mqtt reports the device offline"
    start = time.monotonic()
    with pytest.raises(DeviceUnavailable, match="offline"):
        await lamp.apply(LightCommand(on=True))
    assert time.monotonic() - start < 0.1  # refused at once, not after the timeout
    await sim.start()
    await eventually(lambda: lamp.availability.available)
    await sim.set_bridge_online(False)
    await eventually(lambda: lamp.availability.reason == "zigbee2mqtt bridge offline")
    with pytest.raises(DeviceUnavailable, match="bridge"):
        await lamp.apply(LightCommand(on=True))
    await sim.set_bridge_online(True)
    await eventually(lambda: lamp.availability.available)
    assert (await lamp.apply(LightCommand(on=True))).on


async def test_corrupt_payloads_are_logged_once_and_ignored(
    rig: Harness, conn: MqttConnection, mqtt_config: MqttConfig
) -> None:
    sim, lamp = await light_pair(rig, conn, mqtt_config)
    await lamp.apply(LightCommand(on=True, level_pct=30))
    with structlog.testing.capture_logs() as logs:
        for garbage in (b"\xff\x00", b"[1,2]", b'{"brightness": 999}', b'{"state": "MAYBE"}'):
            await sim.publish_raw(sim.topic, garbage)
        await sim.publish_raw(sim.topic + "/availability", b"garbage")
        await asyncio.sleep(0.3)
    assert lamp.state is not None and lamp.state.level_pct == 30 and lamp.state.on
    assert lamp.availability.available
    warned = [e for e in logs if e["event"] == "malformed_payload_ignored"]
    assert len(warned) == 1 and lamp.name == warned[0]["device"]
    sim.inject(Fault.CORRUPT)  # the device answers with garbage: never confirmed
    with pytest.raises(CommandNotConfirmed):
        await lamp.apply(LightCommand(level_pct=80))
    sim.inject(Fault.NONE)
    assert (await lamp.apply(LightCommand(level_pct=80))).level_pct == 80


async def test_curtain_moves_and_confirms_at_target(
    rig: Harness, conn: MqttConnection, mqtt_config: MqttConfig
) -> None:
    name = unique("curtain")
    sim = Z2mCoverSim(name, mqtt_config, speed_pct_s=200, step_s=0.05)
    await sim.start()
    rig.sims.append(sim)
    curtain = create(name, cfg(name, "cover", timeout_s=0.5), conn)
    assert isinstance(curtain, Z2mCover)
    rig.drivers.append(curtain)
    await curtain.start()
    await eventually(lambda: curtain.state is not None)
    # the full travel (0.5 s) is longer than the timeout between reports: progress counts
    state = await curtain.apply(CoverCommand(100))
    assert state.position_pct == 100 and not state.moving
    sim.stuck_at = 60
    with pytest.raises(CommandNotConfirmed, match="short of"):
        await curtain.apply(CoverCommand(20))
    with pytest.raises(InvalidCommand):
        await curtain.apply(CoverCommand(140))


async def sensor_pair(
    rig: Harness, conn: MqttConnection, mqtt_config: MqttConfig, name: str
) -> tuple[Z2mSensorSim, Z2mSensor, list[DeviceUpdate]]:
    sim = Z2mSensorSim(name, mqtt_config, kind=sensor_kind(name))
    await sim.start()
    rig.sims.append(sim)
    driver = create(name, cfg(name, "sensor"), conn)
    assert isinstance(driver, Z2mSensor)
    rig.drivers.append(driver)
    updates: list[DeviceUpdate] = []
    driver.subscribe(updates.append)
    await driver.start()
    await eventually(lambda: driver.state is not None and driver.availability.available)
    return sim, driver, updates


async def test_door_window_and_multi_sensor(
    rig: Harness, conn: MqttConnection, mqtt_config: MqttConfig
) -> None:
    door_sim, door, _ = await sensor_pair(rig, conn, mqtt_config, unique("r101_door"))
    window_sim, window, _ = await sensor_pair(rig, conn, mqtt_config, unique("r101_window"))
    multi_sim, multi, _ = await sensor_pair(rig, conn, mqtt_config, unique("r101_multi"))
    assert door.state is not None and door.state.door_open is False  # retained state
    await door_sim.open()
    await window_sim.open()
    await multi_sim.walk_in()
    await multi_sim.set_climate(24.5, 38)
    await eventually(lambda: door.state is not None and door.state.door_open is True)
    await eventually(lambda: window.state is not None and window.state.window_open is True)
    await eventually(lambda: multi.state is not None and multi.state.temperature_c == 24.5)
    assert multi.state is not None
    assert (multi.state.occupancy, multi.state.humidity_pct, multi.state.battery_pct) == (
        True,
        38.0,
        97,
    )
    assert window.state is not None and window.state.door_open is None


async def test_contact_role_from_config_beats_the_name(
    rig: Harness, conn: MqttConnection, mqtt_config: MqttConfig
) -> None:
    """A balcony door is a window for safety: `contact = "window"` says so, whatever its name."""
    name = unique("r101_balcony")
    config = Z2mConfig(driver="z2m", capability="sensor", friendly_name=name, contact="window")
    sim = Z2mSensorSim(name, mqtt_config, kind="window")
    await sim.start()
    rig.sims.append(sim)
    driver = create(name, config, conn)
    rig.drivers.append(driver)
    await driver.start()
    await eventually(lambda: isinstance(driver, Z2mSensor) and driver.state is not None)
    await sim.open()
    assert isinstance(driver, Z2mSensor)
    await eventually(lambda: driver.state is not None and driver.state.window_open is True)
    assert driver.state is not None and driver.state.door_open is None
    assert sensor_kind(name) == "multi"  # the name alone would not have said "window"


async def test_lock_and_button_events_and_retained_action_not_replayed(
    rig: Harness, conn: MqttConnection, mqtt_config: MqttConfig
) -> None:
    lock_sim, _lock, lock_updates = await sensor_pair(rig, conn, mqtt_config, unique("r101_lock"))
    button_sim, _button, button_updates = await sensor_pair(
        rig, conn, mqtt_config, unique("r101_dnd_button")
    )
    await lock_sim.unlock(by="rfid")
    await button_sim.press("dnd")
    await eventually(lambda: any(u.event for u in lock_updates))
    await eventually(lambda: any(u.event for u in button_updates))
    unlock = next(u.event for u in lock_updates if u.event)
    assert (unlock.kind, unlock.actor) == (SensorEventKind.DOOR_UNLOCKED, "keycard")
    press = next(u.event for u in button_updates if u.event)
    assert press.kind is SensorEventKind.BUTTON_DND
    # A second agent subscribing later gets the retained state (with the old action): no event.
    late = create(button_sim.name, cfg(button_sim.name, "sensor"), conn)
    rig.drivers.append(late)
    late_updates: list[DeviceUpdate] = []
    late.subscribe(late_updates.append)
    await late.start()
    await eventually(lambda: late.state is not None)
    await asyncio.sleep(0.2)
    assert not any(u.event for u in late_updates)


async def test_one_silent_light_does_not_block_nine_others(
    rig: Harness, conn: MqttConnection, mqtt_config: MqttConfig
) -> None:
    pairs = [await light_pair(rig, conn, mqtt_config, timeout_s=1.0) for _ in range(10)]
    pairs[3][0].inject(Fault.SILENT)
    start = time.monotonic()
    results = await asyncio.gather(
        *(lamp.apply(LightCommand(on=True, level_pct=70)) for _, lamp in pairs),
        return_exceptions=True,
    )
    elapsed = time.monotonic() - start
    failures = [r for r in results if isinstance(r, BaseException)]
    assert len(failures) == 1 and isinstance(results[3], CommandNotConfirmed)
    assert elapsed < 1.8, f"10 commands with one silent device took {elapsed:.2f} s"
