"""From config to running drivers: what the room agent calls.

    room = build_room(config.devices, mqtt=config.mqtt, clock=clock, client_id="room-101")
    async with room:                       # connects MQTT once, starts every device
        lamp = room.light("bedside")
        await lamp.apply(LightCommand(on=True, level_pct=40))

`build_device` dispatches one `[devices.<name>]` table on its `driver`:

| driver        | module                 | transport                          |
|---------------|------------------------|------------------------------------|
| `modbus_hvac` | `drivers.modbus_hvac`  | Modbus RTU on a serial port        |
| `coap_light`  | `drivers.coap_light`   | CoAP/UDP, IPSO 3311                |
| `z2m`         | `drivers.z2m`          | the room's shared MQTT connection  |
| `mqtt_audio`  | `drivers.mqtt_audio`   | the room's shared MQTT connection  |

Every MQTT device of a room shares one `MqttConnection` (one broker session, one retained
availability flag for the agent). Devices start concurrently and a device that is absent
starts UNKNOWN/UNAVAILABLE rather than failing the room.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, cast

from drivers.base import CapabilityName, Climate, Cover, Device, Light, Media, Sensor
from drivers.config import (
    CoapLightConfig,
    DeviceConfig,
    ModbusHvacConfig,
    MqttAudioConfig,
    MqttConfig,
    Z2mConfig,
)
from smartroom.clock import Clock, SystemClock
from smartroom.settings import ConfigError

if TYPE_CHECKING:
    from drivers.modbus_bus import BusPool
    from drivers.mqtt import MqttConnection

# Each driver module (and its protocol library: aiocoap, pymodbus + pyserial, aiomqtt) is
# imported only when a room has such a device: a room without a CoAP light never pays for
# aiocoap's memory (docs/benchmarks.md, agent-footprint).


def build_device(
    name: str,
    config: DeviceConfig,
    *,
    mqtt: MqttConnection | None,
    clock: Clock,
    buses: BusPool | None = None,
) -> Device:
    """One driver for one device table; ConfigError when an MQTT device has no connection.
    `buses` shares one serial bus between the Modbus devices on the same port."""
    if isinstance(config, CoapLightConfig):
        from drivers import coap_light

        return coap_light.create(name, config, clock)
    if isinstance(config, Z2mConfig | MqttAudioConfig):
        if mqtt is None:
            raise ConfigError(
                f"devices.{name}",
                [f"driver = {config.driver!r} needs an [mqtt] table (broker host and port)"],
            )
        if isinstance(config, Z2mConfig):
            from drivers import z2m

            return z2m.create(name, config, mqtt, clock)
        from drivers import mqtt_audio

        return mqtt_audio.create(name, config, mqtt, clock)
    if isinstance(config, ModbusHvacConfig):
        from drivers import modbus_hvac

        return modbus_hvac.create(name, config, clock, pool=buses)
    raise ConfigError(f"devices.{name}", [f"unknown driver {getattr(config, 'driver', '?')!r}"])


def read_password(mqtt: MqttConfig) -> str | None:
    """The broker password from `password_file` (never from the config file itself)."""
    if mqtt.password_file is None:
        return None
    path = Path(mqtt.password_file)
    try:
        return path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigError(
            "mqtt.password_file",
            [f"{path}: cannot be read ({exc.strerror}); fix: point it at a readable file"],
        ) from None


class RoomDevices:
    """Every device of a room and the MQTT connection they share; one owner for both."""

    def __init__(self, devices: dict[str, Device], mqtt: MqttConnection | None) -> None:
        self.devices = devices
        self.mqtt = mqtt

    async def start(self) -> None:
        if self.mqtt is not None:
            await self.mqtt.start()
        await asyncio.gather(*(device.start() for device in self.devices.values()))

    async def stop(self) -> None:
        await asyncio.gather(
            *(device.stop() for device in self.devices.values()), return_exceptions=True
        )
        if self.mqtt is not None:
            await self.mqtt.stop()

    async def __aenter__(self) -> RoomDevices:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    def get(self, name: str, capability: CapabilityName | None = None) -> Device:
        """The device called `name`; with `capability`, TypeError if it has another one."""
        device = self.devices.get(name)
        if device is None:
            raise KeyError(f"no device {name!r} in this room (have: {sorted(self.devices)})")
        if capability is not None and device.capability != capability:
            raise TypeError(f"device {name!r} is a {device.capability}, not a {capability}")
        return device

    def light(self, name: str) -> Light:
        return cast(Light, self.get(name, "light"))

    def climate(self, name: str) -> Climate:
        return cast(Climate, self.get(name, "climate"))

    def media(self, name: str) -> Media:
        return cast(Media, self.get(name, "media"))

    def cover(self, name: str) -> Cover:
        return cast(Cover, self.get(name, "cover"))

    def sensor(self, name: str) -> Sensor:
        return cast(Sensor, self.get(name, "sensor"))


def build_room(
    devices: Mapping[str, DeviceConfig],
    *,
    mqtt: MqttConfig | None,
    clock: Clock | None = None,
    client_id: str,
    status_topic: str | None = None,
    session: bool = False,
) -> RoomDevices:
    """Every driver of a room, sharing one MQTT connection (created if some device speaks
    MQTT, or if `session` asks for it: the agent publishes its own status through it, so a
    room holds one session with the broker). `client_id` names the agent to the broker; its
    availability (`online`, and `offline` as the last will) is retained on `status_topic`,
    by default `smartroom/agent/<client_id>/availability`."""
    clock = clock or SystemClock()
    needs_mqtt = session or any(
        isinstance(c, Z2mConfig | MqttAudioConfig) for c in devices.values()
    )
    connection = None
    if needs_mqtt and mqtt is not None:
        from drivers.mqtt import MqttConnection

        connection = MqttConnection(
            mqtt,
            client_id=client_id,
            clock=clock,
            password=read_password(mqtt),
            status_topic=status_topic,
        )
    buses = None
    if any(isinstance(c, ModbusHvacConfig) for c in devices.values()):
        from drivers.modbus_bus import BusPool

        buses = BusPool()  # one per room: thermostats on one RS-485 line share its bus
    built = {
        name: build_device(name, config, mqtt=connection, clock=clock, buses=buses)
        for name, config in devices.items()
    }
    return RoomDevices(built, connection)
