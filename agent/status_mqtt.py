"""RoomStatus on MQTT for the housekeeping board and the corridor display.

Published retained (QoS 1) on `smartroom/<property>/<room>/status` on every change and on a
heartbeat; the broker holds a last will with the same document and `online: false`, so a
dead or unplugged agent shows as offline. On a clean stop an explicit offline status is
published before disconnecting.

    publisher = StatusPublisher(config, room)
    supervisor.add("status", publisher.run)     # raises on broker loss; restarted w/ backoff
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import aiomqtt

from agent.config import RoomConfig
from agent.room import RoomController
from smartroom.log import get_logger

log = get_logger("agent.status")


def status_topic(config: RoomConfig) -> str:
    return f"smartroom/{config.room.property_id}/{config.room.room_id}/status"


def read_secret(path: str | Path | None) -> str | None:
    if path is None:
        return None
    return Path(path).read_text(encoding="utf-8").strip()


class StatusPublisher:
    def __init__(self, config: RoomConfig, room: RoomController) -> None:
        self.config = config
        self.room = room
        self.topic = status_topic(config)
        self.published = 0
        self.connected = asyncio.Event()

    async def run(self) -> None:
        mqtt = self.config.mqtt
        will = aiomqtt.Will(
            self.topic, self.room.status(online=False).model_dump_json(), qos=1, retain=True
        )
        changed = asyncio.Event()
        unsubscribe = self.room.on_status(lambda _s: changed.set())
        try:
            async with aiomqtt.Client(
                mqtt.host,
                mqtt.port,
                identifier=f"smartroom-agent-{self.config.room.property_id}-"
                f"{self.config.room.room_id}-status",
                username=mqtt.username,
                password=read_secret(mqtt.password_file),
                will=will,
                keepalive=15,
                timeout=5,
            ) as client:
                self.connected.set()
                log.info("status_connected", topic=self.topic)
                try:
                    while True:
                        await client.publish(
                            self.topic,
                            self.room.status().model_dump_json(),
                            qos=1,
                            retain=True,
                        )
                        self.published += 1
                        with contextlib.suppress(TimeoutError):
                            async with asyncio.timeout(self.config.runtime.status_heartbeat_s):
                                await changed.wait()
                        changed.clear()
                finally:
                    # Clean stop (or crash): say offline ourselves rather than wait for the
                    # broker to notice the keepalive lapse.
                    with contextlib.suppress(Exception):
                        async with asyncio.timeout(2):
                            await client.publish(
                                self.topic,
                                self.room.status(online=False).model_dump_json(),
                                qos=1,
                                retain=True,
                            )
        finally:
            self.connected.clear()
            unsubscribe()
