"""The Zigbee2MQTT bridge's own topics, and the driver checking the room file against
`bridge/devices` (a missing or mistyped device is named), on a real Mosquitto."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from polling import eventually

from drivers.base import DeviceUnavailable, LightCommand
from drivers.config import MqttConfig, Z2mConfig
from drivers.mqtt import MqttConnection
from drivers.z2m import create
from drivers.z2m_inventory import InventoryError, check_device, parse_devices
from firmware_mocks.z2m_bridge import Z2mBridgeSim
from firmware_mocks.z2m_devices import Z2mLightSim, Z2mSensorSim
from smartroom.services import MosquittoBroker

ROOT = Path(__file__).resolve().parents[2]


def cfg(name: str, capability: Any, base: str, **extra: Any) -> Z2mConfig:
    return Z2mConfig(
        driver="z2m", capability=capability, friendly_name=name, base_topic=base, timeout_s=1.0,
        **extra,
    )  # fmt: skip


def test_inventory_checks_name_and_capability() -> None:
    mqtt = MqttConfig()
    lamp, door = Z2mLightSim("lamp", mqtt), Z2mSensorSim("door", mqtt, kind="door")
    bridge = Z2mBridgeSim(mqtt, devices=[lamp, door])
    devices = parse_devices(json.dumps(bridge.device_list()).encode())
    assert check_device(cfg("lamp", "light", "zigbee2mqtt"), devices) is None
    assert check_device(cfg("door", "sensor", "zigbee2mqtt", contact="door"), devices) is None
    missing = check_device(cfg("lmap", "light", "zigbee2mqtt"), devices)
    assert missing is not None and "no device 'lmap'" in missing and "door, lamp" in missing
    wrong = check_device(cfg("door", "light", "zigbee2mqtt"), devices)
    assert wrong is not None and "'door' (SR-DOOR, exposes" in wrong and "not a light" in wrong
    assert "not a cover" in (check_device(cfg("lamp", "cover", "zigbee2mqtt"), devices) or "")
    nocontact = check_device(cfg("lamp", "sensor", "zigbee2mqtt", contact="window"), devices)
    assert nocontact is not None and "has no contact" in nocontact
    for bad in (b"{", b'{"a": 1}', b'[{"name": 1}]'):
        with pytest.raises(InventoryError):
            parse_devices(bad)


@pytest.fixture
async def conn(mqtt_broker: MosquittoBroker) -> AsyncIterator[MqttConnection]:
    connection = MqttConnection(
        MqttConfig(host=mqtt_broker.host, port=mqtt_broker.port),
        client_id=f"inv-{time.monotonic_ns()}",
    )
    await connection.start()
    await connection.wait_connected(5)
    yield connection
    await connection.stop()


async def test_driver_names_a_missing_or_mistyped_device(
    mqtt_broker: MosquittoBroker, conn: MqttConnection
) -> None:
    base = f"z2m{time.monotonic_ns()}"  # a network of its own on the shared broker
    mqtt = MqttConfig(host=mqtt_broker.host, port=mqtt_broker.port)
    lamp = Z2mLightSim("lamp", mqtt, base_topic=base)
    door = Z2mSensorSim("door", mqtt, kind="door", base_topic=base)
    bridge = Z2mBridgeSim(mqtt, devices=[lamp, door], base_topic=base)
    await bridge.start()
    await lamp.start()
    await door.start()
    good = create("lamp", cfg("lamp", "light", base), conn)
    typo = create("lmap", cfg("lmap", "light", base), conn)
    mistyped = create("door", cfg("door", "light", base), conn)
    drivers = [good, typo, mistyped]
    try:
        for driver in drivers:
            await driver.start()
        await eventually(lambda: good.availability.available, timeout=5)
        assert (await good.apply(LightCommand(on=True))).on  # type: ignore[union-attr]
        await eventually(lambda: "no device 'lmap'" in (typo.availability.reason or ""))
        await eventually(lambda: "not a light" in (mistyped.availability.reason or ""))
        with pytest.raises(DeviceUnavailable, match="no device 'lmap'"):
            await typo.apply(LightCommand(on=True))  # type: ignore[arg-type]
    finally:
        for driver in drivers:
            await driver.stop()
        for sim in (door, lamp, bridge):
            await sim.stop()


BRIDGE_PROCESS = """
import asyncio, sys
from drivers.config import MqttConfig
from firmware_mocks.z2m_bridge import Z2mBridgeSim
async def main():
    mqtt = MqttConfig(host=sys.argv[1], port=int(sys.argv[2]))
    bridge = Z2mBridgeSim(mqtt, base_topic=sys.argv[3])
    await bridge.start()
    print("up", flush=True)
    await asyncio.Event().wait()
asyncio.run(main())
"""


async def test_bridge_killed_is_offline_by_its_last_will(mqtt_broker: MosquittoBroker) -> None:
    base = f"z2m{time.monotonic_ns()}"
    args = [sys.executable, "-c", BRIDGE_PROCESS, mqtt_broker.host, str(mqtt_broker.port), base]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, env=env, cwd=ROOT)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == b"up"
        sub = ["mosquitto_sub", "-h", mqtt_broker.host, "-p", str(mqtt_broker.port), "-C", "1"]
        state = subprocess.run([*sub, "-t", f"{base}/bridge/state"], capture_output=True, timeout=5)
        assert json.loads(state.stdout) == {"state": "online"}
        info = subprocess.run([*sub, "-t", f"{base}/bridge/info"], capture_output=True, timeout=5)
        assert json.loads(info.stdout)["config"]["mqtt"]["base_topic"] == base
        proc.send_signal(signal.SIGKILL)  # no goodbye: only the broker can say it is gone
        proc.wait(timeout=5)
        deadline = time.monotonic() + 5
        while True:
            state = subprocess.run(
                [*sub, "-t", f"{base}/bridge/state"], capture_output=True, timeout=5
            )
            if json.loads(state.stdout) == {"state": "offline"} or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert json.loads(state.stdout) == {"state": "offline"}
    finally:
        if proc.poll() is None:
            proc.kill()
        if proc.stdout is not None:
            proc.stdout.close()


async def test_sleepy_sensor_answers_get_only_when_it_wakes(mqtt_broker: MosquittoBroker) -> None:
    mqtt = MqttConfig(host=mqtt_broker.host, port=mqtt_broker.port)
    base = f"z2m{time.monotonic_ns()}"
    never = Z2mSensorSim("never", mqtt, kind="door", base_topic=base)
    polls = Z2mSensorSim("polls", mqtt, kind="door", base_topic=base, wake_interval_s=1.0)
    for sim in (never, polls):
        await sim.start()
    topics = ["-t", f"{base}/never", "-t", f"{base}/polls"]
    sub = subprocess.Popen(
        ["mosquitto_sub", "-h", mqtt_broker.host, "-p", str(mqtt_broker.port), "-R", "-v", *topics],
        stdout=subprocess.PIPE,
    )
    try:
        time.sleep(0.3)
        for name in ("never", "polls"):
            pub = ["mosquitto_pub", "-h", mqtt_broker.host, "-p", str(mqtt_broker.port)]
            subprocess.run([*pub, "-t", f"{base}/{name}/get", "-m", '{"contact":""}'], check=True)
        sent = time.monotonic()
        await eventually(lambda: polls.commands_seen >= 1 and never.commands_seen >= 1)
        await asyncio.sleep(1.6)
    finally:
        sub.terminate()
        out, _ = sub.communicate(timeout=5)
        for sim in (never, polls):
            await sim.stop()
    lines = out.decode().splitlines()
    assert [line.split(" ")[0] for line in lines] == [f"{base}/polls"], lines
    assert time.monotonic() - sent >= 1.0  # not at once: at its next wake-up
