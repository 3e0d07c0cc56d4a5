"""The room on MQTT, through the room's one session (the drivers' `MqttConnection`):

    smartroom/<property>/<room>/availability   "online" retained on every connect; the
                                               session's last will is a plain "offline"
                                               (and a clean stop says it too)
    smartroom/<property>/<room>/status         RoomStatus, retained, QoS 1, stamped `at`:
                                               published fresh on every (re)connect, on
                                               every real change, and on a heartbeat
    smartroom/<property>/<room>/telemetry      {at, indoor_c, humidity_pct, outdoor_c,
                                               energy_kwh}, not retained, at a steady rate

A temperature or energy reading is telemetry, not a status change: the room's status key
leaves device telemetry out (`agent.room_view.status_key`). A dead agent's retained status
is not stale truth: the availability topic says "offline" (the will), and a status older
than the heartbeat says it is old by its own `at`.

    publisher = StatusPublisher(config, room, connection)
    supervisor.add("status", publisher.run)
"""

from __future__ import annotations

import asyncio
import contextlib
import json

from agent.config import RoomConfig
from agent.room import RoomController
from drivers.base import AvailabilityState, DeviceUnavailable
from drivers.mqtt import MqttConnection
from smartroom.log import get_logger

log = get_logger("agent.status")


def status_topic(config: RoomConfig) -> str:
    return f"smartroom/{config.room.property_id}/{config.room.room_id}/status"


def availability_topic(config: RoomConfig) -> str:
    return f"smartroom/{config.room.property_id}/{config.room.room_id}/availability"


def telemetry_topic(config: RoomConfig) -> str:
    return f"smartroom/{config.room.property_id}/{config.room.room_id}/telemetry"


class StatusPublisher:
    def __init__(
        self, config: RoomConfig, room: RoomController, connection: MqttConnection
    ) -> None:
        self.config = config
        self.room = room
        self.connection = connection
        self.topic = status_topic(config)
        self.telemetry = telemetry_topic(config)
        self.published = 0
        self._wake = asyncio.Event()

    async def run(self) -> None:
        unsubscribe = self.room.on_status(lambda _s: self._wake.set())
        # A (re)connect publishes the current status at once.
        unfollow = self.connection.on_availability(self._on_session)
        loop = asyncio.get_running_loop()
        next_telemetry = loop.time()
        try:
            while True:
                # Read each round: central's room config can change the telemetry rate.
                heartbeat = self.room.config.runtime.status_heartbeat_s
                if self.connection.connected:
                    with contextlib.suppress(DeviceUnavailable):
                        await self._publish_status()
                        if loop.time() >= next_telemetry:
                            await self._publish_telemetry()
                            next_telemetry = loop.time() + heartbeat
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(heartbeat):
                        await self._wake.wait()
                self._wake.clear()
        finally:
            unsubscribe()
            unfollow()

    def _on_session(self, availability: AvailabilityState) -> None:
        if availability.available:
            self._wake.set()

    async def _publish_status(self, *, online: bool = True) -> None:
        status = self.room.status(online=online)
        await self.connection.publish(
            self.topic, status.model_dump_json().encode(), qos=1, retain=True
        )
        self.published += 1

    async def _publish_telemetry(self) -> None:
        m = self.room.memory
        body = {
            "at": self.room.clock.now().isoformat(),
            "indoor_c": m.indoor_c,
            "humidity_pct": m.humidity_pct,
            "outdoor_c": m.outdoor_c,
            "energy_kwh": m.energy.total_kwh,
        }
        await self.connection.publish(self.telemetry, json.dumps(body).encode(), qos=0)

    async def say_offline(self, timeout_s: float) -> None:
        """Clean stop: the retained status says offline before the session closes (which
        then publishes the plain "offline" availability itself)."""
        if not self.connection.connected:
            return
        with contextlib.suppress(DeviceUnavailable, TimeoutError):
            async with asyncio.timeout(timeout_s):
                await self._publish_status(online=False)
