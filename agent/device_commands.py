"""Commands and states as plain data: what the room stores, logs and compares.

command_dict(LightCommand(on=True, level_pct=40))    # {"on": True, "level_pct": 40}
command_from_dict("light", {"on": True, "level_pct": 40})
command_from_state("light", LightState(on=True, level_pct=40))   # the guest's change
explains(command, state)   # the state is what this command asked for
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from enum import Enum
from typing import Any

from drivers.base import (
    CapabilityName,
    ClimateCommand,
    ClimateMode,
    ClimateState,
    CoverCommand,
    CoverState,
    FanMode,
    LightCommand,
    LightState,
    MediaCommand,
    MediaState,
    State,
)
from scenes.model import Command

COMMAND_TYPES: dict[str, type[Any]] = {
    "climate": ClimateCommand,
    "light": LightCommand,
    "media": MediaCommand,
    "cover": CoverCommand,
}


def _jsonable(value: Any) -> Any:
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    return value


def state_dict(state: Any) -> dict[str, Any]:
    if state is None:
        return {}
    return {k: _jsonable(v) for k, v in dataclasses.asdict(state).items() if v is not None}


def command_dict(command: Command | None) -> dict[str, Any]:
    return state_dict(command)


def command_from_state(capability: CapabilityName | str, state: State) -> Command | None:
    """What a guest's manual change amounts to, as the command that would reproduce it."""
    if capability == "climate" and isinstance(state, ClimateState):
        return ClimateCommand(mode=state.mode, setpoint_c=state.setpoint_c, fan=state.fan)
    if capability == "light" and isinstance(state, LightState):
        return LightCommand(on=state.on, level_pct=state.level_pct)
    if capability == "media" and isinstance(state, MediaState):
        return MediaCommand(power=state.power, volume_pct=state.volume_pct)
    if capability == "cover" and isinstance(state, CoverState):
        return CoverCommand(position_pct=state.position_pct)
    return None


def command_from_dict(capability: str, data: dict[str, Any]) -> Command:
    kind = COMMAND_TYPES[capability]
    if kind is ClimateCommand:
        return ClimateCommand(
            mode=ClimateMode(data["mode"]) if data.get("mode") else None,
            setpoint_c=data.get("setpoint_c"),
            fan=FanMode(data["fan"]) if data.get("fan") else None,
        )
    fields = {k: v for k, v in data.items() if k in kind.__dataclass_fields__}
    return kind(**fields)  # type: ignore[no-any-return]


def explains(command: Command | None, state: State) -> bool:
    """Every field the command sets is what the state shows (a lamp switched off keeps
    whatever level it reports)."""
    if command is None:
        return False
    wanted = {k: v for k, v in dataclasses.asdict(command).items() if v is not None}
    if not wanted:
        return False
    if isinstance(command, LightCommand) and command.on is False:
        wanted.pop("level_pct", None)
        wanted.pop("colour_temp_k", None)
    have = dataclasses.asdict(state)
    for key, value in wanted.items():
        if key not in have:
            continue
        got = have[key]
        if isinstance(value, float) and isinstance(got, float | int):
            if abs(value - got) > 0.051:
                return False
        elif got != value:
            return False
    return True
