"""The room file: everything one agent needs, validated once at start, then injected.

    config = load_room_config(Path("/etc/smartroom/room.toml"))   # raises ConfigError
    config.room.room_id, config.devices["hvac"], config.energy.policy()

Every `SMARTROOM_AGENT_<SECTION>__<KEY>` environment variable overrides the file (e.g.
`SMARTROOM_AGENT_API__PORT=8781`), which is how a systemd drop-in changes one value. Errors
name the setting, the bad value and the fix. The rig reads the same file (`[devices]`).
See docs/agent.md for every key.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from datetime import time
from pathlib import Path
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)

from agent.config_sections import (
    AlertsSection,
    ApiSection,
    CentralSection,
    ComfortSection,
    DeviceName,
    EnergySection,
    LimitsSection,
    OccupancySection,
    RolesSection,
    RoomSection,
    RuntimeSection,
    SafetySection,
    ScenesSection,
    StoreSection,
)
from agent.presence.config import PresenceSection
from drivers.base import CapabilityName
from drivers.config import DeviceConfig, MqttConfig
from smartroom.settings import ConfigError, explain, read_toml

# The sections live in agent.config_sections; the room file's callers find them here too.
__all__ = [
    "ENV_PREFIX",
    "AlertsSection",
    "ApiSection",
    "CentralSection",
    "ComfortSection",
    "DeviceName",
    "EnergySection",
    "LimitsSection",
    "OccupancySection",
    "RolesSection",
    "RoomConfig",
    "RoomSection",
    "RuntimeSection",
    "SafetySection",
    "ScenesSection",
    "StoreSection",
    "environment_overrides",
    "load_room_config",
    "merge_overrides",
    "parse_room_config",
]

FIXES = {
    "room.property_id": 'the property code, letters/digits/._- only, e.g. "SHA-01"',
    "room.room_id": 'the room number, e.g. "1201"',
    "room.timezone": 'an IANA zone name, e.g. "Asia/Shanghai"',
    "room.hemisphere": '"north" or "south" (where the property is)',
    "central.url": 'the loyalty service base URL, e.g. "https://loyalty.example.com"',
    "comfort.model_signing_key": "the public key `smartroom-model keygen` printed "
    "(44 base64 characters), or leave it out to keep the model the agent has",
    "port": "a serial device path for modbus_hvac, an integer port for coap_light",
    "driver": "one of modbus_hvac, coap_light, z2m, mqtt_audio",
    "setpoint_min_c": "guest limits are usually 18 to 27 °C",
    "setpoint_max_c": "guest limits are usually 18 to 27 °C",
    "away_setback_c": "IECC C403.7.4 needs at least 2.2 °C",
    "away_after_min": "IECC C403.7.4 needs the setback within 30 min",
}

ENV_PREFIX = "SMARTROOM_AGENT_"


class RoomConfig(BaseModel):
    """One room's configuration (the whole TOML file, with environment overrides applied
    by `parse_room_config`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    room: RoomSection
    mqtt: MqttConfig = MqttConfig()
    devices: dict[DeviceName, DeviceConfig] = Field(default_factory=dict)
    roles: RolesSection = RolesSection()
    central: CentralSection = CentralSection()
    comfort: ComfortSection = ComfortSection()
    limits: LimitsSection = LimitsSection()
    scenes: ScenesSection = ScenesSection()
    energy: EnergySection = EnergySection()
    occupancy: OccupancySection = OccupancySection()
    safety: SafetySection = SafetySection()
    alerts: AlertsSection = AlertsSection()
    api: ApiSection = ApiSection()
    store: StoreSection = StoreSection()
    runtime: RuntimeSection = RuntimeSection()
    presence: PresenceSection = PresenceSection()

    @model_validator(mode="after")
    def _roles_name_sensors(self) -> RoomConfig:
        problems = []
        for role in ("door", "window", "motion", "outdoor"):
            for name in getattr(self.roles, role):
                device = self.devices.get(name)
                if device is None or device.capability != "sensor":
                    problems.append(f"roles.{role} names {name!r}, which is not a sensor device")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def capabilities(self) -> dict[str, CapabilityName]:
        return {name: dev.capability for name, dev in self.devices.items()}

    @property
    def models_dir(self) -> Path:
        return self.comfort.models_dir or self.store.path.parent / "models"

    def sleep_time(self) -> time | None:
        return _hhmm(self.scenes.default_sleep_time)

    def wake_time(self) -> time | None:
        return _hhmm(self.scenes.default_wake_time)


def _hhmm(value: str | None) -> time | None:
    if value is None:
        return None
    hours, minutes = value.split(":")
    return time(int(hours), int(minutes))


def environment_overrides(environ: Mapping[str, str], prefix: str = ENV_PREFIX) -> dict[str, Any]:
    """`SMARTROOM_AGENT_<SECTION>__<KEY>=value` variables as a nested dict of overrides.

        environment_overrides({"SMARTROOM_AGENT_API__PORT": "8781"})  # {"api": {"port": "8781"}}

    Names are case-insensitive and `__` separates levels; a value that is a JSON list or
    object (`["balcony"]`) is decoded, anything else stays a string for the model to
    convert and validate (so `API__PORT=eighty` is reported as `api.port`)."""
    out: dict[str, Any] = {}
    for name, value in environ.items():
        if not name.upper().startswith(prefix) or len(name) == len(prefix):
            continue
        path = [part.lower() for part in name[len(prefix) :].split("__")]
        if any(not part for part in path):
            continue  # a stray delimiter: not a setting anyone meant
        decoded: Any = value
        if value[:1] in ("[", "{"):
            try:
                decoded = json.loads(value)
            except ValueError:
                decoded = value
        node = out
        for part in path[:-1]:
            child = node.get(part)
            if not isinstance(child, dict):
                child = node[part] = {}
            node = child
        node[path[-1]] = decoded
    return out


def merge_overrides(base: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """`base` with `overrides` laid over it, table by table (overrides win)."""
    merged = dict(base)
    for key, value in overrides.items():
        old = merged.get(key)
        if isinstance(value, Mapping) and isinstance(old, Mapping):
            merged[key] = merge_overrides(old, value)
        else:
            merged[key] = value
    return merged


def parse_room_config(
    data: dict[str, Any], *, source: str, environ: Mapping[str, str] | None = None
) -> RoomConfig:
    """Validate a room file's data; the environment beats the file (a systemd drop-in
    changes one value). Raises ConfigError naming each bad setting and its fix."""
    merged = merge_overrides(
        data, environment_overrides(os.environ if environ is None else environ)
    )
    try:
        config = RoomConfig.model_validate(merged)
    except ValidationError as exc:
        raise ConfigError(source, explain(exc, fixes=FIXES)) from None
    # Scene files and overrides are data too: check them now, not at the first arrival.
    from scenes.loader import load_scenes

    book = load_scenes(config.scenes.directory, config.scenes.overrides)
    problems = book.check_devices(config.capabilities())
    if problems:
        raise ConfigError(source, problems)
    return config


def load_room_config(path: Path) -> RoomConfig:
    """Read, validate and cross-check a room file; raises ConfigError saying what to fix."""
    return parse_room_config(read_toml(path), source=str(path))
