"""Each shared fixture does real work: MQTT through Mosquitto, bytes through the pty pair,
and the clock. (The migration on SQLite and PostgreSQL is in tests/loyalty.)"""

from __future__ import annotations

import asyncio
import os
from datetime import UTC, datetime, timedelta

import aiomqtt
import psycopg
import pytest

from firmware_mocks.ptypair import PtyPair
from smartroom.clock import FakeClock
from smartroom.services import MosquittoBroker


async def test_mqtt_round_trip_through_private_broker(mqtt_broker: MosquittoBroker) -> None:
    async with aiomqtt.Client(mqtt_broker.host, mqtt_broker.port, identifier="sub") as sub:
        await sub.subscribe("smartroom/test/#", qos=1)
        async with aiomqtt.Client(mqtt_broker.host, mqtt_broker.port, identifier="pub") as pub:
            await pub.publish("smartroom/test/hello", b'{"n": 1}', qos=1)
        async with asyncio.timeout(5):
            async for message in sub.messages:
                assert message.topic.matches("smartroom/test/hello")
                assert message.payload == b'{"n": 1}'
                break


async def test_broker_restart_keeps_its_port(mqtt_broker_fresh: MosquittoBroker) -> None:
    port = mqtt_broker_fresh.port
    mqtt_broker_fresh.stop()
    with pytest.raises(aiomqtt.MqttError):
        async with aiomqtt.Client("127.0.0.1", port, timeout=1):
            pass
    mqtt_broker_fresh.start()
    async with aiomqtt.Client("127.0.0.1", port) as client:
        await client.publish("smartroom/test/after-restart", b"ok")


def test_postgres_database_is_real_and_private(pg_url: str) -> None:
    dsn = pg_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn) as conn:
        version = conn.execute("SHOW server_version").fetchone()
        assert version is not None and int(version[0].split(".")[0]) >= 13
        name = conn.execute("SELECT current_database()").fetchone()
        assert name is not None and name[0].startswith("smartroom_test_")


def test_bytes_cross_the_pty_pair_both_ways(pty_pair: PtyPair) -> None:
    a = os.open(pty_pair.a, os.O_RDWR | os.O_NOCTTY)
    b = os.open(pty_pair.b, os.O_RDWR | os.O_NOCTTY)
    try:
        frame = bytes(range(256))  # raw mode: every byte value survives, no echo
        os.write(a, frame)
        got = b""
        while len(got) < len(frame):
            got += os.read(b, 4096)
        assert got == frame
        os.write(b, b"\x01\x03\x00\x00")
        assert os.read(a, 16) == b"\x01\x03\x00\x00"
    finally:
        os.close(a)
        os.close(b)


def test_fake_clock_moves_only_when_told(clock: FakeClock) -> None:
    start = clock.now()
    assert start.tzinfo is UTC
    clock.advance(minutes=30)
    assert clock.now() - start == timedelta(minutes=30)
    assert clock.monotonic() == 1800
    clock.set(start - timedelta(hours=1))  # an offline Pi rebooting with a stale clock
    assert clock.now() < start
    assert clock.monotonic() == 1800
    with pytest.raises(ValueError, match="aware"):
        FakeClock(datetime(2026, 1, 1))  # noqa: DTZ001


async def test_embedded_broker_fallback_carries_messages() -> None:
    from smartroom.services import start_broker

    broker = await asyncio.to_thread(start_broker, True)
    try:
        async with aiomqtt.Client(broker.host, broker.port, identifier="esub") as sub:
            await sub.subscribe("demo/#", qos=1)
            async with aiomqtt.Client(broker.host, broker.port, identifier="epub") as pub:
                await pub.publish("demo/x", b"hi", qos=1)
            async with asyncio.timeout(5):
                async for message in sub.messages:
                    assert message.payload == b"hi"
                    break
    finally:
        await asyncio.to_thread(broker.close)


def test_scaled_clock_runs_faster_than_real_time() -> None:
    import time

    from smartroom.clock import ScaledClock

    start = datetime(2026, 1, 15, 18, 0, tzinfo=UTC)
    clock = ScaledClock(120, start)
    time.sleep(0.05)
    assert clock.now() >= start + timedelta(seconds=5.9)
    assert clock.monotonic() >= 5.9
    with pytest.raises(ValueError, match="positive"):
        ScaledClock(0)


def test_jump_clock_moves_every_reader_forward_at_once() -> None:
    from smartroom.clock import JumpClock

    clock = JumpClock()
    before_wall, before_mono = clock.now(), clock.monotonic()
    clock.jump(31)
    assert clock.now() - before_wall >= timedelta(seconds=31)
    assert clock.monotonic() - before_mono >= 31
    with pytest.raises(ValueError, match="forwards"):
        clock.jump(-1)
