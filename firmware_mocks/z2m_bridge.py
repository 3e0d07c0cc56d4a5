"""The Zigbee2MQTT bridge itself: the process whose `bridge/*` topics say what is there.

    bridge = Z2mBridgeSim(mqtt, devices=[lamp, door])   # Z2m*Sim instances, same base topic
    await bridge.start()      # bridge/state online (retained, last will offline),
                              # bridge/info and bridge/devices (retained)
    await bridge.stop()       # or a crash: the broker publishes bridge/state offline

As Zigbee2MQTT 1.x/2.x does: `bridge/state` is `{"state":"online"}` with the last will
`{"state":"offline"}`, so a bridge that dies is seen offline; `bridge/info` carries the
version, coordinator and network; `bridge/devices` lists the coordinator and every device
with its `definition` and `exposes` (each simulator's `definition()`), which the driver
checks the room file against.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from drivers.config import MqttConfig
from firmware_mocks.mqtt_device import MqttDeviceSim
from firmware_mocks.z2m_devices import Z2mDeviceSim

VERSION = "1.42.0"  # the Zigbee2MQTT release whose bridge topics this follows
COORDINATOR_IEEE = "0x00124b0000000001"


class Z2mBridgeSim(MqttDeviceSim):
    def __init__(
        self,
        mqtt: MqttConfig,
        *,
        devices: Sequence[Z2mDeviceSim] = (),
        base_topic: str = "zigbee2mqtt",
    ) -> None:
        foreign = [d.name for d in devices if d.base_topic != base_topic]
        if foreign:
            raise ValueError(f"devices {foreign} are not under base topic {base_topic!r}")
        self.base_topic = base_topic
        self.devices = list(devices)
        for device in self.devices:
            device.publish_bridge = False  # the bridge speaks for itself
        super().__init__(
            f"{base_topic}-bridge",
            mqtt,
            availability_topic=f"{base_topic}/bridge/state",
            online=b'{"state":"online"}',
            offline=b'{"state":"offline"}',
            subscriptions=(),
        )

    def describe(self) -> str:
        return (
            f"zigbee2mqtt bridge {self.base_topic}/bridge on "
            f"mqtt://{self.mqtt.host}:{self.mqtt.port}, {len(self.devices)} device(s)"
        )

    def info(self) -> dict[str, Any]:
        return {
            "version": VERSION,
            "commit": "simulated",
            "coordinator": {
                "ieee_address": COORDINATOR_IEEE,
                "type": "zStack3x0",
                "meta": {"revision": 20221226, "transportrev": 2},
            },
            "network": {"channel": 15, "pan_id": 6754, "extended_pan_id": "0xdddddddddddddddd"},
            "log_level": "info",
            "permit_join": False,
            "restart_required": False,
            "config": {"mqtt": {"base_topic": self.base_topic}, "advanced": {}},
        }

    def device_list(self) -> list[dict[str, Any]]:
        coordinator = {
            "ieee_address": COORDINATOR_IEEE,
            "friendly_name": "Coordinator",
            "type": "Coordinator",
            "network_address": 0,
            "supported": True,
            "disabled": False,
            "interview_completed": True,
            "interviewing": False,
            "definition": None,
        }
        return [coordinator, *(d.definition() for d in self.devices)]

    async def on_connect(self) -> None:
        await self.publish_devices()
        await self.publish_raw(
            f"{self.base_topic}/bridge/info", json.dumps(self.info()).encode(), retain=True
        )

    async def publish_devices(self) -> None:
        """(Re)publish `bridge/devices`, as Zigbee2MQTT does after a device joins or leaves."""
        body = json.dumps(self.device_list()).encode()
        await self.publish_raw(f"{self.base_topic}/bridge/devices", body, retain=True)

    async def on_message(self, topic: str, payload: bytes) -> None:
        del topic, payload  # no bridge requests are modelled
