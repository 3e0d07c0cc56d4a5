"""The Zigbee2MQTT payload dialect, as pure functions (no I/O).

State arrives on `zigbee2mqtt/<name>` as a JSON object; commands go to
`zigbee2mqtt/<name>/set`. Lights: `state` "ON"/"OFF", `brightness` 0-254, `color_temp`
150-500 mireds, `transition` seconds. Covers: `position` 0 (closed) - 100 (open). Sensors:
`occupancy`, `contact` (true = closed), `temperature`, `humidity`, `battery`, and `action`
for lock events and buttons. Availability: `{"state":"online"}` (or the legacy bare string).

Every decoder raises `Z2mPayloadError` (a ValueError) with a message that names the field
and the bad value; every encoder raises `ValueError` before anything is sent.

    >>> light_set_payload(LightCommand(on=True, level_pct=40))
    {'state': 'ON', 'brightness': 102}
    >>> level_from_brightness(102)
    40
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from drivers.base import (
    CoverCommand,
    CoverState,
    LightCommand,
    LightState,
    SensorEvent,
    SensorEventKind,
    SensorState,
)

BRIGHTNESS_MAX = 254
MIREDS_MIN, MIREDS_MAX = 150, 500  # 6667 K .. 2000 K
KELVIN_MIN, KELVIN_MAX = 2000, 6666
TRANSITION_MAX_S = 3600.0
MAX_PAYLOAD = 16 * 1024


class Z2mPayloadError(ValueError):
    """A payload that does not follow the Zigbee2MQTT dialect."""


# --- numeric conversions ---------------------------------------------------------------


def brightness_from_level(level_pct: int) -> int:
    """0-100 % -> 0-254; chosen so that `level_from_brightness` gives the level back."""
    if not 0 <= level_pct <= 100:
        raise ValueError(f"level_pct {level_pct} is outside 0..100")
    return round(level_pct * BRIGHTNESS_MAX / 100)


def level_from_brightness(brightness: int) -> int:
    """0-254 -> 0-100 %. |b - 2.54 L| <= 0.5 implies |b / 2.54 - L| < 0.2, so a level we sent
    comes back unchanged; a dim but lit bulb (brightness 1) reads as 1 %, never 0 %."""
    level = round(brightness * 100 / BRIGHTNESS_MAX)
    return max(level, 1) if brightness > 0 else 0


def mireds_from_kelvin(kelvin: int) -> int:
    return round(1_000_000 / kelvin)


def kelvin_from_mireds(mireds: int, hint_k: int | None = None) -> int:
    """Mireds -> kelvin. When `hint_k` (the kelvin we last asked for) maps to these mireds,
    it is returned as is, so a scene asking for 2700 K reads back 2700 K, not 2703 K."""
    if hint_k is not None and hint_k > 0 and mireds_from_kelvin(hint_k) == mireds:
        return hint_k
    return round(1_000_000 / mireds)


# --- payload decoding --------------------------------------------------------------------


def decode_object(payload: bytes, *, max_bytes: int = MAX_PAYLOAD) -> dict[str, Any]:
    if len(payload) > max_bytes:
        raise Z2mPayloadError(f"payload of {len(payload)} bytes exceeds {max_bytes}")
    try:
        obj = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise Z2mPayloadError(f"payload is not JSON: {exc}") from None
    except RecursionError:
        raise Z2mPayloadError("payload is nested too deeply") from None
    if not isinstance(obj, dict):
        raise Z2mPayloadError(f"payload is a JSON {type(obj).__name__}, expected an object")
    return obj


def decode_online(payload: bytes) -> bool:
    """Availability / bridge state: `{"state":"online"}` or the legacy `online`."""
    text = payload.decode("utf-8", errors="replace").strip()
    if text in ("online", "offline"):
        return text == "online"
    obj = decode_object(payload)
    state = obj.get("state")
    if state not in ("online", "offline"):
        raise Z2mPayloadError(f"availability state {state!r} is not 'online' or 'offline'")
    return bool(state == "online")


def _int(obj: dict[str, Any], key: str, lo: int, hi: int) -> int | None:
    value = obj.get(key)
    if value is None:
        return None
    # bool is an int in Python; a device saying `"brightness": true` is malformed.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise Z2mPayloadError(f"{key} {value!r} is not a number")
    if isinstance(value, float) and (not math.isfinite(value) or not value.is_integer()):
        raise Z2mPayloadError(f"{key} {value!r} is not a whole number")
    if not lo <= value <= hi:
        raise Z2mPayloadError(f"{key} {value!r} is outside {lo}..{hi}")
    return int(value)


def _float(obj: dict[str, Any], key: str, lo: float, hi: float) -> float | None:
    value = obj.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise Z2mPayloadError(f"{key} {value!r} is not a number")
    if not math.isfinite(value) or not lo <= value <= hi:
        raise Z2mPayloadError(f"{key} {value!r} is outside {lo:g}..{hi:g}")
    return float(value)


def _bool(obj: dict[str, Any], key: str) -> bool | None:
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, bool):
        raise Z2mPayloadError(f"{key} {value!r} is not true/false")
    return value


def _on_off(obj: dict[str, Any]) -> bool | None:
    value = obj.get("state")
    if value is None:
        return None
    if value not in ("ON", "OFF"):
        raise Z2mPayloadError(f"state {value!r} is not 'ON' or 'OFF'")
    return bool(value == "ON")


@dataclass(frozen=True, slots=True)
class LightReport:
    """The fields a light state message carried (None = not in this message)."""

    on: bool | None = None
    brightness: int | None = None
    color_temp: int | None = None

    def merge(self, previous: LightState | None, hint_k: int | None = None) -> LightState:
        base = previous or LightState(on=False, level_pct=0)
        return LightState(
            on=base.on if self.on is None else self.on,
            level_pct=(
                base.level_pct
                if self.brightness is None
                else level_from_brightness(self.brightness)
            ),
            colour_temp_k=(
                base.colour_temp_k
                if self.color_temp is None
                else kelvin_from_mireds(self.color_temp, hint_k)
            ),
        )


def parse_light(obj: dict[str, Any]) -> LightReport:
    report = LightReport(
        on=_on_off(obj),
        brightness=_int(obj, "brightness", 0, BRIGHTNESS_MAX),
        # Devices report their own mired range; anything in 50..1000 is plausible.
        color_temp=_int(obj, "color_temp", 50, 1000),
    )
    if report == LightReport():
        raise Z2mPayloadError("light state has none of state, brightness, color_temp")
    return report


def parse_cover(obj: dict[str, Any], previous: CoverState | None) -> CoverState:
    position = _int(obj, "position", 0, 100)
    moving_raw = obj.get("moving")
    if moving_raw is not None and moving_raw not in ("UP", "DOWN", "STOP"):
        raise Z2mPayloadError(f"moving {moving_raw!r} is not UP, DOWN or STOP")
    if position is None:
        if previous is None or moving_raw is None:
            raise Z2mPayloadError("cover state has no position")
        position = previous.position_pct
    return CoverState(position_pct=position, moving=moving_raw in ("UP", "DOWN"))


def parse_sensor(
    obj: dict[str, Any], previous: SensorState | None, *, contact_is_window: bool
) -> SensorState:
    base = previous or SensorState()
    contact = _bool(obj, "contact")
    door_open, window_open = base.door_open, base.window_open
    if contact is not None:  # Zigbee2MQTT: contact true = magnet present = closed
        if contact_is_window:
            window_open = not contact
        else:
            door_open = not contact
    temperature = _float(obj, "temperature", -40.0, 125.0)
    humidity = _float(obj, "humidity", 0.0, 100.0)
    battery = _int(obj, "battery", 0, 100)
    occupancy = _bool(obj, "occupancy")
    return SensorState(
        temperature_c=base.temperature_c if temperature is None else temperature,
        humidity_pct=base.humidity_pct if humidity is None else humidity,
        occupancy=base.occupancy if occupancy is None else occupancy,
        door_open=door_open,
        window_open=window_open,
        battery_pct=base.battery_pct if battery is None else battery,
    )


# Lock action sources (Zigbee2MQTT's `<source>_unlock` actions and `action_source_name`)
# -> who opened the door, in hotel words.
LOCK_ACTORS = {
    "rfid": "keycard",
    "keycard": "keycard",
    "card": "keycard",
    "keypad": "keypad",
    "rf": "app",
    "remote": "app",
    "app": "app",
    "ble": "app",
    "staff": "staff",
    "master": "staff",
    "manual": "manual",
    "auto": "auto",
    "one_touch": "manual",
}
BUTTON_ACTIONS = {
    "dnd": SensorEventKind.BUTTON_DND,
    "dnd_on": SensorEventKind.BUTTON_DND,
    "mur": SensorEventKind.BUTTON_MUR,
    "mur_on": SensorEventKind.BUTTON_MUR,
    "clear": SensorEventKind.BUTTON_CLEAR,
    "dnd_off": SensorEventKind.BUTTON_CLEAR,
    "mur_off": SensorEventKind.BUTTON_CLEAR,
}


def parse_action(obj: dict[str, Any], at: datetime) -> SensorEvent | None:
    """A lock or button event from `action`, or None (no action, empty action, or an action
    we do not know, such as a plain `single` click)."""
    action = obj.get("action")
    if action is None or action == "":
        return None
    if not isinstance(action, str) or len(action) > 64:
        raise Z2mPayloadError(f"action {action!r} is not a short string")
    if action in BUTTON_ACTIONS:
        return SensorEvent(BUTTON_ACTIONS[action], at)
    source_name = obj.get("action_source_name")
    if source_name is not None and not isinstance(source_name, str):
        raise Z2mPayloadError(f"action_source_name {source_name!r} is not a string")
    for verb, kind in (
        ("unlock", SensorEventKind.DOOR_UNLOCKED),
        ("lock", SensorEventKind.DOOR_LOCKED),
    ):
        if action == verb or action.endswith("_" + verb):
            prefix = action[: -len(verb)].rstrip("_")
            source = source_name or prefix or None
            actor = LOCK_ACTORS.get(source, "unknown") if source else None
            return SensorEvent(kind, at, actor=actor)
    return None


# --- command encoding --------------------------------------------------------------------


def light_set_payload(command: LightCommand) -> dict[str, Any]:
    """The `/set` body for a light command; ValueError (nothing sent) when out of range."""
    body: dict[str, Any] = {}
    if command.level_pct is not None:
        if isinstance(command.level_pct, bool) or not 0 <= command.level_pct <= 100:
            raise ValueError(f"level_pct {command.level_pct!r} is outside 0..100")
        if command.level_pct == 0 and command.on is True:
            raise ValueError("level_pct 0 with on=True is contradictory; send on=False")
    if command.on is not None:
        body["state"] = "ON" if command.on else "OFF"
    if command.level_pct is not None:
        if command.level_pct == 0:
            body["state"] = "OFF"
        elif command.on is not False:
            body["state"] = "ON"
            body["brightness"] = brightness_from_level(command.level_pct)
    if command.colour_temp_k is not None:
        kelvin = command.colour_temp_k
        if isinstance(kelvin, bool) or not KELVIN_MIN <= kelvin <= KELVIN_MAX:
            raise ValueError(
                f"colour_temp_k {kelvin!r} is outside {KELVIN_MIN}..{KELVIN_MAX} "
                f"({MIREDS_MIN}..{MIREDS_MAX} mireds)"
            )
        body["color_temp"] = mireds_from_kelvin(kelvin)
    if command.transition_s is not None:
        t = command.transition_s
        if isinstance(t, bool) or not math.isfinite(t) or not 0 <= t <= TRANSITION_MAX_S:
            raise ValueError(f"transition_s {t!r} is outside 0..{TRANSITION_MAX_S:g}")
        body["transition"] = round(t, 1)
    if not body or set(body) == {"transition"}:
        raise ValueError("the command changes nothing (no on, level or colour temperature)")
    return body


def light_confirms(body: dict[str, Any], report: LightReport) -> bool:
    """Does a state report show every field the `/set` body asked for?"""
    if "state" in body and report.on != (body["state"] == "ON"):
        return False
    if "brightness" in body and report.brightness != body["brightness"]:
        return False
    # Bulbs clamp colour temperature to their own range and some round it: allow 1 mired.
    return "color_temp" not in body or (
        report.color_temp is not None and abs(report.color_temp - body["color_temp"]) <= 1
    )


def cover_set_payload(command: CoverCommand) -> dict[str, Any]:
    position = command.position_pct
    if isinstance(position, bool) or not isinstance(position, int) or not 0 <= position <= 100:
        raise ValueError(f"position_pct {position!r} is outside 0..100")
    return {"position": position}


def contact_is_window(friendly_name: str) -> bool:
    """A contact sensor whose friendly name mentions a window reports `window_open`; every
    other contact sensor reports `door_open` (e.g. `room101_window_left` vs `room101_door`)."""
    return "window" in friendly_name.lower()
