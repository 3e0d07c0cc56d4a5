"""Pure arbitration: one desired state per device, strongest layer first.

    safety interlock  >  guest's manual change  >  active scene  >  defaults

- Interlock: a window/balcony door open for the grace period turns every climate device off,
  whatever the guest or the scene wants.
- Manual: a device the guest changed by hand keeps the guest's setting while they are in the
  room (`manual` holds the command that reproduces it; the agent clears it when they leave).
- Scene: the active scene's table for the device, with `"preference"` values taken from the
  member's resolved preferences and `"energy"` values from the energy rules.
- Default: `"preference"` values fall back to the room defaults when the member has none
  (`origins` says which); a device the scene does not mention is left as it is.

    plan = resolve(EngineInput(scene=welcome, devices={"hvac": "climate"}, values=values))
    plan["hvac"].command   # ClimateCommand(mode=AUTO, setpoint_c=22.5)
    plan["hvac"].layer     # Layer.SCENE; origins={"setpoint_c": "preference", ...}

No I/O here: `scenes.apply` sends the plan to the drivers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from drivers.base import (
    CapabilityName,
    ClimateCommand,
    ClimateMode,
    CoverCommand,
    FanMode,
    LightCommand,
    MediaCommand,
)
from scenes.energy import ClimateTarget
from scenes.model import (
    ClimateSpec,
    Command,
    CoverSpec,
    DesiredState,
    Layer,
    LightSpec,
    MediaSpec,
    Scene,
)

Plan = dict[str, DesiredState]


@dataclass(frozen=True, slots=True)
class PreferenceValues:
    """The member's values for `"preference"` tokens, already resolved (explicit preference
    > learned offset > model prediction > room default) and clamped to the guest limits.
    `origins` names where each came from, e.g. {"setpoint_c": "model"}."""

    setpoint_c: float = 22.0
    fan: FanMode | None = None
    level_pct: int = 70
    colour_temp_k: int | None = None
    volume_pct: int = 20
    source: str | None = None
    curtains_open_on_wake: bool = True
    origins: Mapping[str, str] = field(default_factory=dict)

    def origin(self, name: str) -> str:
        return self.origins.get(name, "default")


@dataclass(frozen=True, slots=True)
class EngineInput:
    scene: Scene
    devices: Mapping[str, CapabilityName]
    values: PreferenceValues = PreferenceValues()
    energy: ClimateTarget | None = None
    manual: Mapping[str, Command] = field(default_factory=dict)
    interlock: str | None = None  # why climate must be off (e.g. "window balcony open 21 s")


def resolve(inp: EngineInput) -> Plan:
    plan: Plan = {}
    for device, capability in sorted(inp.devices.items()):
        if capability == "sensor":
            continue
        if capability == "climate" and inp.interlock is not None:
            plan[device] = DesiredState(
                device,
                capability,
                ClimateCommand(mode=ClimateMode.OFF),
                Layer.INTERLOCK,
                inp.interlock,
                {"mode": "interlock"},
            )
            continue
        if device in inp.manual:
            # The guest's own setting: already on the device (nothing is sent), and put back
            # if something else (the interlock) changed it meanwhile.
            plan[device] = DesiredState(
                device,
                capability,
                inp.manual[device],
                Layer.MANUAL,
                "guest's own setting, held while they are in the room",
                {"*": "guest"},
            )
            continue
        spec = inp.scene.spec_for(device, capability)
        if spec is None or spec.is_empty():
            plan[device] = DesiredState(
                device, capability, None, Layer.SCENE, f"scene {inp.scene.name} leaves it"
            )
            continue
        command, origins = _command(spec, inp)
        reason = f"scene {inp.scene.name}"
        if command is None:
            reason += " (nothing to change yet)"
        elif "energy" in origins.values() and inp.energy is not None:
            reason += f"; {inp.energy.reason}"
        layer = Layer.SCENE
        if origins and all(o == "default" for o in origins.values()):
            layer = Layer.DEFAULT
        plan[device] = DesiredState(device, capability, command, layer, reason, origins)
    return plan


def _command(spec: Any, inp: EngineInput) -> tuple[Command | None, dict[str, str]]:
    values = inp.values
    origins: dict[str, str] = {}

    def pick(name: str, literal: Any, pref: Any) -> Any:
        if literal is None:
            return None
        if literal == "preference":
            if pref is None:
                return None
            origins[name] = values.origin(name)
            return pref
        origins[name] = "scene"
        return literal

    if isinstance(spec, ClimateSpec):
        mode: ClimateMode | None
        setpoint: float | None
        if spec.mode == "energy":
            mode = inp.energy.mode if inp.energy else None
            if mode is not None:
                origins["mode"] = "energy"
        else:
            mode = spec.mode
            if mode is not None:
                origins["mode"] = "scene"
        if spec.setpoint_c == "energy":
            setpoint = inp.energy.setpoint_c if inp.energy else None
            if setpoint is not None:
                origins["setpoint_c"] = "energy"
        else:
            setpoint = pick("setpoint_c", spec.setpoint_c, values.setpoint_c)
        fan = spec.fan
        if fan is not None:
            origins["fan"] = "scene"
        elif values.fan is not None and spec.setpoint_c == "preference":
            fan = values.fan
            origins["fan"] = values.origin("fan")
        if mode is None and setpoint is None and fan is None:
            return None, origins
        return ClimateCommand(mode=mode, setpoint_c=setpoint, fan=fan), origins
    if isinstance(spec, LightSpec):
        on = spec.on
        if on is not None:
            origins["on"] = "scene"
        level = pick("level_pct", spec.level_pct, values.level_pct)
        ct = pick("colour_temp_k", spec.colour_temp_k, values.colour_temp_k)
        if on is False:
            level, ct = None, None  # setting a level switches many lamps back on
            origins.pop("level_pct", None)
            origins.pop("colour_temp_k", None)
        if on is None and level is None and ct is None:
            return None, origins
        return LightCommand(
            on=on, level_pct=level, colour_temp_k=ct, transition_s=spec.transition_s
        ), origins
    if isinstance(spec, MediaSpec):
        power = spec.power
        if power is not None:
            origins["power"] = "scene"
        volume = pick("volume_pct", spec.volume_pct, values.volume_pct)
        source = pick("source", spec.source, values.source)
        playing = spec.playing
        if playing is not None:
            origins["playing"] = "scene"
        if playing and source is None and spec.source == "preference":
            playing = None  # nothing of theirs to play
            origins.pop("playing", None)
        if power is False:
            volume, source, playing = None, None, None
            for key in ("volume_pct", "source", "playing"):
                origins.pop(key, None)
        if power is None and volume is None and source is None and playing is None:
            return None, origins
        return MediaCommand(power=power, volume_pct=volume, source=source, playing=playing), origins
    assert isinstance(spec, CoverSpec)
    if spec.position_pct == "preference":
        if not values.curtains_open_on_wake:
            return None, origins
        origins["position_pct"] = values.origin("curtains_open_on_wake")
        return CoverCommand(position_pct=100), origins
    if spec.position_pct is None:
        return None, origins
    origins["position_pct"] = "scene"
    return CoverCommand(position_pct=spec.position_pct), origins
