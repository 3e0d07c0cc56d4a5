"""Device configuration as data: the `[devices.<name>]` tables of a room file.

The same models serve the agent (which builds drivers from them) and the rig (which starts a
simulator for each, or leaves the address pointing at real hardware). `driver` selects the
protocol module; the rest are that protocol's addressing and dialect options.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field


class _Dev(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    # Seconds a command may take before the device is treated as not answering.
    timeout_s: Annotated[float, Field(gt=0, le=30)] = 2.0


class ModbusHvacConfig(_Dev):
    driver: Literal["modbus_hvac"]
    capability: Literal["climate"] = "climate"
    port: str  # serial device path, e.g. /dev/ttyUSB0 (or a pty in tests)
    unit: Annotated[int, Field(ge=1, le=247)] = 1
    baudrate: Literal[2400, 4800, 9600, 19200, 38400, 57600, 115200] = 9600
    # Line settings: unset, the map's `[serial]` (else the spec's 8E1; 8N2 without parity).
    # "N" alone means two stop bits (the spec); say stopbits = 1 for an 8N1 device.
    parity: Literal["E", "O", "N"] | None = None
    stopbits: Literal[1, 2] | None = None
    register_map: str = "smt131"  # a file in drivers/maps/, without .toml
    poll_interval_s: Annotated[float, Field(gt=0, le=300)] = 2.0


class CoapLightConfig(_Dev):
    driver: Literal["coap_light"]
    capability: Literal["light"] = "light"
    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=1, le=65535)] = 5683
    instance: Annotated[int, Field(ge=0, le=65534)] = 0  # /3311/<instance>
    dimmer_max: Literal[100, 254] = 100  # IPSO 0-100; Tradfri-style dialects 0-254


class Z2mConfig(_Dev):
    driver: Literal["z2m"]
    capability: Literal["light", "cover", "sensor"]
    friendly_name: str  # zigbee2mqtt/<friendly_name>
    base_topic: str = "zigbee2mqtt"
    # What a contact sensor guards. A balcony door is a "window" for safety: opening it cuts
    # the HVAC. Unset, the friendly name decides (one containing "window" is a window).
    contact: Literal["door", "window"] | None = None


class MqttAudioConfig(_Dev):
    driver: Literal["mqtt_audio"]
    capability: Literal["media"] = "media"
    speaker_id: str  # smartroom/audio/<speaker_id>/...


DeviceConfig = Annotated[
    ModbusHvacConfig | CoapLightConfig | Z2mConfig | MqttAudioConfig,
    Field(discriminator="driver"),
]


class MqttConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=1, le=65535)] = 1883
    username: str | None = None
    password_file: str | None = None  # never the password itself in a config file
