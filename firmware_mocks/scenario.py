"""Scenario files: a timeline of guest and device events the rig plays on an accelerated clock.

    [scenario]
    name = "winter evening arrival"
    speed = 120                 # simulated seconds per real second while playing
    duration = "01:00:00"       # optional: keep the room running until this simulated time

    [[events]]
    at = "00:00:10"             # simulated time from the start: "HH:MM:SS", "MM:SS" or seconds
    device = "room"             # a device name from the room file, or "room" for everyone
    action = "door"             # see ACTIONS below
    value = "open"

    scenario = load_scenario(Path("examples/rooms/evening-arrival.toml"))

Validation is strict (unknown keys, actions, values, times out of order are errors naming the
event); whether the room has the named device is checked by the rig.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from firmware_mocks.base import Fault
from smartroom.settings import read_toml, validate_or_explain

# action -> what `value` means (for the docs and the error messages)
ACTIONS: dict[str, str] = {
    "fault": "silent | slow | corrupt | none (with delay_s for slow)",
    "restart": "(no value) power-cycle the device",
    "guest_setpoint": "°C the guest sets at the thermostat",
    "mode": "thermostat mode set at the unit: off | heat | cool | auto | fan_only",
    "fan": "thermostat fan set at the unit: auto | low | medium | high",
    "button": "dnd | mur | normal (the in-room button / door station)",
    "call_reception": "true | false (the thermostat's 'contact reception' key)",
    "occupancy": "true | false (the thermostat's occupancy input)",
    "occupants": "number of people in the room (heat gain)",
    "motion": "true | false (motion sensors; the thermostat's occupancy)",
    "door": "open | closed (door contacts; the thermal model's door)",
    "window": "open | closed (window contacts; the thermal model's window)",
    "lock": "locked | unlocked (a door lock)",
    "light": "on | off | 0-100 (a guest at the wall switch)",
    "volume": "0-100 (a guest at the speaker's knob)",
    "busy": "true | false (the thermostat answers SLAVE DEVICE BUSY)",
    "note": "text printed when reached (no device)",
}
NO_VALUE = frozenset({"restart"})
_CLOCK = re.compile(r"^(?:(\d+):)?([0-5]?\d):([0-5]\d(?:\.\d+)?)$")


def parse_at(value: object) -> float:
    """'01:02:03' -> 3723.0; '05:00' -> 300.0; 90 -> 90.0."""
    if isinstance(value, bool):
        raise ValueError(f"time {value!r} is not a time")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        match = _CLOCK.match(value.strip())
        if match is None:
            raise ValueError(f"time {value!r} is not HH:MM:SS, MM:SS or a number of seconds")
        hours, minutes, secs = match.groups()
        seconds = int(hours or 0) * 3600 + int(minutes) * 60 + float(secs)
    else:
        raise ValueError(f"time {value!r} is not a time")
    if not 0 <= seconds <= 30 * 86400:
        raise ValueError(f"time {value!r} must be between 0 and 30 days")
    return seconds


class Event(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    at: float
    device: Annotated[str, Field(min_length=1, max_length=64)] = "room"
    action: str
    value: bool | int | float | str | None = None
    delay_s: Annotated[float, Field(gt=0, le=60)] = 1.0  # for fault = "slow"

    @field_validator("at", mode="before")
    @classmethod
    def _at(cls, value: object) -> float:
        return parse_at(value)

    @field_validator("action")
    @classmethod
    def _known_action(cls, value: str) -> str:
        if value not in ACTIONS:
            raise ValueError(f"unknown action {value!r}; known: {', '.join(sorted(ACTIONS))}")
        return value

    @model_validator(mode="after")
    def _value_fits(self) -> Event:
        if self.action in NO_VALUE:
            return self
        if self.value is None:
            raise ValueError(f"action {self.action!r} needs a value: {ACTIONS[self.action]}")
        if self.action == "fault" and str(self.value) not in {f.value for f in Fault}:
            raise ValueError(f"fault {self.value!r} is not one of silent, slow, corrupt, none")
        if self.action in ("fault", "restart") and self.device == "room":
            raise ValueError(f"{self.action} needs a device name, not 'room'")
        return self

    @property
    def fault(self) -> Fault:
        return Fault(str(self.value))


class ScenarioInfo(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str = "scenario"
    speed: Annotated[float, Field(gt=0, le=100_000)] = 60.0
    duration: float | None = None

    @field_validator("duration", mode="before")
    @classmethod
    def _duration(cls, value: object) -> float | None:
        return None if value is None else parse_at(value)


class Scenario(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    scenario: ScenarioInfo = ScenarioInfo()
    events: Annotated[list[Event], Field(max_length=10_000)] = Field(default_factory=list)

    @model_validator(mode="after")
    def _in_order(self) -> Scenario:
        last = 0.0
        for i, event in enumerate(self.events):
            if event.at < last:
                raise ValueError(f"events[{i}] at {event.at:g} s comes before the one above it")
            last = event.at
        return self

    @property
    def end_s(self) -> float:
        last = self.events[-1].at if self.events else 0.0
        return max(last, self.scenario.duration or 0.0)


def parse_scenario(data: dict[str, Any], *, source: str = "<scenario>") -> Scenario:
    return validate_or_explain(Scenario, data, source=source)


def load_scenario(path: Path) -> Scenario:
    return parse_scenario(read_toml(path, what="scenario file"), source=str(path))
