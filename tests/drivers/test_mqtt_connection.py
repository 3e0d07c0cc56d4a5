"""The room's shared MQTT connection on a real Mosquitto: broker restarts, resubscription,
our own retained availability, bounded payloads, misbehaving handlers."""

from __future__ import annotations

import asyncio
import socket
import time
from typing import cast

import aiomqtt
import pytest
import structlog.testing
from polling import eventually

from drivers.base import AvailabilityState, DeviceUnavailable, LightCommand
from drivers.config import MqttConfig, Z2mConfig
from drivers.mqtt import MqttConnection, MqttMessage, topic_matches
from drivers.z2m import Z2mLight
from firmware_mocks.z2m_devices import Z2mLightSim
from smartroom.services import MosquittoBroker
from sync.wire import Availability


async def retained(broker: MosquittoBroker, topic: str) -> bytes | None:
    """What a fresh client sees retained on `topic` (an independent peer, not our code)."""
    async with aiomqtt.Client(broker.host, broker.port) as client:
        await client.subscribe(topic)
        try:
            async with asyncio.timeout(0.5):
                async for message in client.messages:
                    payload = message.payload
                    return payload if isinstance(payload, bytes) else None
        except TimeoutError:
            return None
    return None


async def first_message(broker: MosquittoBroker, topic: str, wanted: bytes) -> bytes:
    """Wait for `wanted` to be published on `topic` (seen by an independent client)."""
    async with aiomqtt.Client(broker.host, broker.port) as client:
        await client.subscribe(topic)
        async for message in client.messages:
            if message.payload == wanted:
                return wanted
    raise AssertionError("unreachable")


async def test_broker_restart_resubscribes_and_republishes_our_availability(
    mqtt_broker_fresh: MosquittoBroker,
) -> None:
    broker = mqtt_broker_fresh
    config = MqttConfig(host=broker.host, port=broker.port)
    conn = MqttConnection(config, client_id="room-777")
    sim = Z2mLightSim("lamp", config)
    lamp = Z2mLight(
        "lamp", Z2mConfig(driver="z2m", capability="light", friendly_name="lamp"), conn, None
    )
    seen: list[AvailabilityState] = []
    conn.on_availability(seen.append)
    await conn.start()
    await conn.wait_connected(5)
    await sim.start()
    await lamp.start()
    try:
        await eventually(lambda: lamp.availability.available)
        assert await retained(broker, conn.status_topic) == b"online"

        broker.stop()
        await eventually(lambda: conn.availability.status is Availability.UNAVAILABLE)
        await eventually(lambda: lamp.availability.status is Availability.UNAVAILABLE)
        assert "mqtt connection down" in (lamp.availability.reason or "")
        with pytest.raises(DeviceUnavailable, match="mqtt connection down"):
            await lamp.apply(LightCommand(on=True))

        broker.start()  # a fresh broker: no retained messages, no subscriptions
        await eventually(lambda: conn.connected, timeout=10)
        await sim.start()  # the simulator reconnects on its own; wait for it
        await eventually(lambda: lamp.availability.available, timeout=10)
        assert conn.connects == 2
        assert await retained(broker, conn.status_topic) == b"online"
        # the device's subscription was restored: commands and reports flow again
        state = await lamp.apply(LightCommand(on=True, level_pct=25))
        assert state.level_pct == 25
        await sim.switch(on=False)
        await eventually(lambda: lamp.state is not None and not lamp.state.on)
        assert [s.status for s in seen] == [
            Availability.AVAILABLE,
            Availability.UNAVAILABLE,
            Availability.AVAILABLE,
        ]
    finally:
        await lamp.stop()
        await sim.stop()
        await conn.stop()
    assert await retained(broker, conn.status_topic) == b"offline"


async def test_last_will_marks_the_agent_offline_when_the_session_dies(
    mqtt_broker: MosquittoBroker,
) -> None:
    config = MqttConfig(host=mqtt_broker.host, port=mqtt_broker.port)
    conn = MqttConnection(config, client_id=f"will-{time.monotonic_ns()}")
    await conn.start()
    await conn.wait_connected(5)
    assert await retained(mqtt_broker, conn.status_topic) == b"online"
    try:
        # Cut the TCP connection under the client, as a crash or a cable pull would: the
        # broker sends our will, and the connection comes back on its own.
        client = conn._client
        assert client is not None
        sock = client._client.socket()
        assert sock is not None
        watcher = asyncio.create_task(first_message(mqtt_broker, conn.status_topic, b"offline"))
        await asyncio.sleep(0.2)
        cast(socket.socket, sock).shutdown(socket.SHUT_RDWR)
        assert await asyncio.wait_for(watcher, 10) == b"offline"
        await eventually(lambda: conn.connected, timeout=10)
        assert await retained(mqtt_broker, conn.status_topic) == b"online"
    finally:
        await conn.stop()


async def test_broker_down_at_start_is_unavailable_not_an_error(
    mqtt_broker_fresh: MosquittoBroker,
) -> None:
    broker = mqtt_broker_fresh
    broker.stop()
    conn = MqttConnection(MqttConfig(host=broker.host, port=broker.port), client_id="early")
    await conn.start()
    try:
        await eventually(lambda: conn.availability.status is Availability.UNAVAILABLE)
        with pytest.raises(DeviceUnavailable, match="not connected"):
            await conn.publish("x/y", b"1")
        with pytest.raises(DeviceUnavailable, match="not connected after"):
            await conn.wait_connected(0.1)
        broker.start()
        await conn.wait_connected(10)
    finally:
        await conn.stop()


async def test_oversized_payloads_and_failing_handlers_are_logged_once(
    mqtt_broker: MosquittoBroker,
) -> None:
    config = MqttConfig(host=mqtt_broker.host, port=mqtt_broker.port)
    conn = MqttConnection(config, client_id=f"bounds-{time.monotonic_ns()}", max_payload=1024)
    await conn.start()
    await conn.wait_connected(5)
    got: list[MqttMessage] = []

    def broken(_msg: MqttMessage) -> None:
        raise RuntimeError("a driver bug")

    topic = f"test/{time.monotonic_ns()}/state"
    await conn.subscribe(topic, broken)
    unsubscribe = await conn.subscribe(topic, got.append)
    try:
        with structlog.testing.capture_logs() as logs:
            for _ in range(3):
                await conn.publish(topic, b"x" * 5000)
            for i in range(3):
                await conn.publish(topic, str(i).encode())
            await eventually(lambda: len(got) == 3)
        assert [m.payload for m in got] == [b"0", b"1", b"2"]
        events = [e["event"] for e in logs if e["log_level"] == "warning"]
        assert events.count("mqtt_payload_too_large") == 1
        assert events.count("mqtt_handler_failed") == 1
        assert conn.connected
        unsubscribe()
        await asyncio.sleep(0.1)
        await conn.publish(topic, b"after")
        await asyncio.sleep(0.2)
        assert len(got) == 3
    finally:
        await conn.stop()


def test_topic_filters() -> None:
    assert topic_matches("zigbee2mqtt/lamp/availability", "zigbee2mqtt/+/availability")
    assert topic_matches("zigbee2mqtt/lamp", "zigbee2mqtt/#")
    assert not topic_matches("zigbee2mqtt/lamp/set", "zigbee2mqtt/+")


async def test_bad_filters_and_client_ids_are_refused(mqtt_broker: MosquittoBroker) -> None:
    config = MqttConfig(host=mqtt_broker.host, port=mqtt_broker.port)
    with pytest.raises(ValueError, match="client_id"):
        MqttConnection(config, client_id="")
    conn = MqttConnection(config, client_id="filters")
    for bad in ("a/#/b", "a/b+", ""):
        with pytest.raises(ValueError, match=r"filter|level"):
            await conn.subscribe(bad, lambda _m: None)
