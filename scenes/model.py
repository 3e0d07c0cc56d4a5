"""Scenes as data, and the desired state the engine resolves them into.

A scene says, per capability (and optionally per device), what the room should look like::

    name = "welcome"
    [climate]
    mode = "auto"
    setpoint_c = "preference"     # the member's setpoint (explicit > learned > model > default)
    [light]
    on = true
    level_pct = "preference"

Values are literals or one of two tokens: `"preference"` (resolved from the member's
preferences, falling back to the room defaults) and `"energy"` (climate only: the energy
rules' setback / pre-conditioning target). A field left out means "leave it as it is".

    scene = Scene.model_validate(tomllib.loads(text))
    spec = scene.spec_for("ceiling", "light")      # LightSpec | None
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from drivers.base import (
    CapabilityName,
    ClimateCommand,
    ClimateMode,
    CoverCommand,
    FanMode,
    LightCommand,
    MediaCommand,
)

Preference = Literal["preference"]
Energy = Literal["energy"]
SceneName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,31}$")]

Command = ClimateCommand | LightCommand | MediaCommand | CoverCommand


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    def is_empty(self) -> bool:
        return all(v is None for v in self.model_dump().values())


class ClimateSpec(_Spec):
    mode: ClimateMode | Energy | None = None
    setpoint_c: Annotated[float, Field(ge=5.0, le=35.0)] | Preference | Energy | None = None
    fan: FanMode | None = None


class LightSpec(_Spec):
    on: bool | None = None
    level_pct: Annotated[int, Field(ge=0, le=100)] | Preference | None = None
    colour_temp_k: Annotated[int, Field(ge=1500, le=7000)] | Preference | None = None
    transition_s: Annotated[float, Field(ge=0, le=600)] | None = None


class MediaSpec(_Spec):
    power: bool | None = None
    volume_pct: Annotated[int, Field(ge=0, le=100)] | Preference | None = None
    # "preference" = the member's welcome playlist (or their usual source)
    source: Annotated[str, StringConstraints(max_length=128)] | Preference | None = None
    playing: bool | None = None


class CoverSpec(_Spec):
    # "preference" = open when the member wants curtains opened on wake, else untouched
    position_pct: Annotated[int, Field(ge=0, le=100)] | Preference | None = None


Spec = ClimateSpec | LightSpec | MediaSpec | CoverSpec
SPEC_TYPES: dict[str, type[_Spec]] = {
    "climate": ClimateSpec,
    "light": LightSpec,
    "media": MediaSpec,
    "cover": CoverSpec,
}


class Scene(BaseModel):
    """One scene file. `devices` holds per-device tables (`[devices.reading_lamp]`) that
    replace the capability table for that one device; they are checked against the room's
    devices when the agent loads its config."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: SceneName
    description: Annotated[str, StringConstraints(max_length=512)] = ""
    climate: ClimateSpec | None = None
    light: LightSpec | None = None
    media: MediaSpec | None = None
    cover: CoverSpec | None = None
    devices: dict[str, dict[str, Any]] = Field(default_factory=dict)

    def spec_for(self, device: str, capability: CapabilityName) -> Spec | None:
        if capability == "sensor":
            return None
        if device in self.devices:
            return SPEC_TYPES[capability].model_validate(self.devices[device])  # type: ignore[return-value]
        spec: Spec | None = getattr(self, capability)
        return spec

    def check_devices(self, devices: dict[str, CapabilityName]) -> list[str]:
        """Problems with the per-device tables against a room's devices (empty if fine)."""
        problems = []
        for name, table in self.devices.items():
            capability = devices.get(name)
            if capability is None:
                problems.append(
                    f"scene {self.name}: devices.{name} names no device of this room "
                    f"(fix: one of {sorted(devices)})"
                )
                continue
            if capability == "sensor":
                problems.append(f"scene {self.name}: devices.{name} is a sensor, it takes no state")
                continue
            try:
                SPEC_TYPES[capability].model_validate(table)
            except ValidationError as exc:
                for err in exc.errors(include_url=False):
                    where = ".".join(str(p) for p in err["loc"])
                    problems.append(
                        f"scene {self.name}: devices.{name}.{where} = {err.get('input')!r} -- "
                        f"{err['msg']}"
                    )
        return problems

    def merged(self, override: dict[str, Any]) -> Scene:
        """This scene with an override table merged in (per capability, per field)."""
        data = self.model_dump(exclude_none=True)
        for key, value in override.items():
            if isinstance(value, dict) and isinstance(data.get(key), dict):
                data[key] = {**data[key], **value}
            else:
                data[key] = value
        return Scene.model_validate(data)


# --- what the engine produces ----------------------------------------------------------------


class Layer(StrEnum):
    """Who decided a device's desired state, strongest first."""

    INTERLOCK = "interlock"
    MANUAL = "manual"
    SCENE = "scene"
    DEFAULT = "default"


@dataclass(frozen=True, slots=True)
class DesiredState:
    """What one device should do, who decided it, and where each value came from
    (`origins["setpoint_c"] == "preference"`, `"learned"`, `"default"`, `"energy"`...)."""

    device: str
    capability: CapabilityName
    command: Command | None  # None: leave the device as it is
    layer: Layer
    reason: str = ""
    origins: dict[str, str] = field(default_factory=dict)

    def describe(self) -> str:
        if self.command is None:
            return f"{self.device}: unchanged ({self.layer}: {self.reason})"
        values = {
            k: v
            for k, v in (
                (name, getattr(self.command, name)) for name in self.command.__dataclass_fields__
            )
            if v is not None
        }
        return f"{self.device}: {values} ({self.layer}: {self.reason})"
