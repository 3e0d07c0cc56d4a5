"""IPSO Light Control (object 3311) as JSON bodies, pure functions (no I/O).

Two dialects, chosen by `dimmer_max` in the device config:

- **IPSO JSON** (`dimmer_max = 100`): the resource `/3311/<instance>` carries one flat JSON
  object keyed by IPSO resource id, content format `application/json` (50):
  `{"5850": true, "5851": 40, "5711": 370, "5852": 125, "5805": 3.2}`.
- **Tradfri-style** (`dimmer_max = 254`): the same resources wrapped as Tradfri does,
  `{"3311": [{"5850": 1, "5851": 102, "5711": 370}]}`, dimmer 0-254.

| id   | resource                         | type              | access   |
|------|----------------------------------|-------------------|----------|
| 5850 | On/Off                           | bool (or 0/1)     | R/W      |
| 5851 | Dimmer                           | int 0..dimmer_max | R/W      |
| 5711 | Colour temperature (mireds)      | int 50..1000      | R/W      |
| 5712 | Transition time (s; 1/10 s Tradfri) | number         | W        |
| 5706 | Colour (hex RGB, e.g. `f1e0b5`)  | string            | R        |
| 5852 | On time (s)                      | int >= 0          | R        |
| 5805 | Cumulative active power (Wh)     | number >= 0       | R        |

    >>> encode_put(LightCommand(on=True, level_pct=40), dimmer_max=254)
    b'{"3311":[{"5850":1,"5851":102}]}'
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any

from drivers.base import LightCommand, LightState
from drivers.z2m_codec import (
    KELVIN_MAX,
    KELVIN_MIN,
    TRANSITION_MAX_S,
    brightness_from_level,
    kelvin_from_mireds,
    level_from_brightness,
    mireds_from_kelvin,
)

CONTENT_FORMAT_JSON = 50
MAX_PAYLOAD = 2048
_HEX = re.compile(r"^[0-9a-fA-F]{6}$")
# Tradfri's white-spectrum presets for 5706 -> kelvin, for bulbs that only report 5706.
TRADFRI_WHITES = {"f5faf6": 4000, "f1e0b5": 2700, "efd275": 2200}


class CoapPayloadError(ValueError):
    """A CoAP light body outside the dialect."""


@dataclass(frozen=True, slots=True)
class CoapLightReport:
    on: bool
    dimmer: int
    mireds: int | None = None
    colour: str | None = None
    on_time_s: int | None = None
    energy_wh: float | None = None

    def to_state(self, dimmer_max: int, hint_k: int | None = None) -> LightState:
        if self.mireds is not None:
            kelvin: int | None = kelvin_from_mireds(self.mireds, hint_k)
        elif self.colour is not None:
            kelvin = TRADFRI_WHITES.get(self.colour.lower())
        else:
            kelvin = None
        return LightState(
            on=self.on, level_pct=level_from_dimmer(self.dimmer, dimmer_max), colour_temp_k=kelvin
        )


def level_from_dimmer(dimmer: int, dimmer_max: int) -> int:
    return dimmer if dimmer_max == 100 else level_from_brightness(dimmer)


def dimmer_from_level(level: int, dimmer_max: int) -> int:
    return level if dimmer_max == 100 else brightness_from_level(level)


def _check_dialect(dimmer_max: int) -> None:
    if dimmer_max not in (100, 254):
        raise ValueError(f"dimmer_max {dimmer_max} is not 100 (IPSO) or 254 (Tradfri)")


def decode_light(payload: bytes, dimmer_max: int) -> CoapLightReport:
    _check_dialect(dimmer_max)
    if len(payload) > MAX_PAYLOAD:
        raise CoapPayloadError(f"body of {len(payload)} bytes exceeds {MAX_PAYLOAD}")
    try:
        doc = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CoapPayloadError(f"body is not JSON: {exc}") from None
    except RecursionError:
        raise CoapPayloadError("body is nested too deeply") from None
    if dimmer_max == 254:
        if not isinstance(doc, dict) or not isinstance(doc.get("3311"), list) or not doc["3311"]:
            raise CoapPayloadError('Tradfri body needs {"3311": [{...}]}')
        doc = doc["3311"][0]
    if not isinstance(doc, dict):
        raise CoapPayloadError(f"body is a JSON {type(doc).__name__}, expected an object")
    on = doc.get("5850")
    if on in (0, 1) and not isinstance(on, float):
        on = bool(on)
    if not isinstance(on, bool):
        raise CoapPayloadError(f"5850 (on/off) {on!r} is not a boolean")
    dimmer = _int(doc, "5851", 0, dimmer_max)
    if dimmer is None:
        raise CoapPayloadError("5851 (dimmer) is missing")
    colour = doc.get("5706")
    if colour is not None and (not isinstance(colour, str) or not _HEX.match(colour)):
        raise CoapPayloadError(f"5706 (colour) {colour!r} is not a 6-digit hex string")
    energy = doc.get("5805")
    if energy is not None and (
        isinstance(energy, bool)
        or not isinstance(energy, int | float)
        or not math.isfinite(energy)
        or energy < 0
    ):
        raise CoapPayloadError(f"5805 (energy) {energy!r} is not a non-negative number")
    return CoapLightReport(
        on=on,
        dimmer=dimmer,
        mireds=_int(doc, "5711", 50, 1000),
        colour=colour,
        on_time_s=_int(doc, "5852", 0, 2**31 - 1),
        energy_wh=None if energy is None else float(energy),
    )


def _int(doc: dict[str, Any], key: str, lo: int, hi: int) -> int | None:
    value = doc.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise CoapPayloadError(f"{key} {value!r} is not a number")
    if isinstance(value, float) and (not math.isfinite(value) or not value.is_integer()):
        raise CoapPayloadError(f"{key} {value!r} is not a whole number")
    if not lo <= value <= hi:
        raise CoapPayloadError(f"{key} {value!r} is outside {lo}..{hi}")
    return int(value)


def put_fields(command: LightCommand, dimmer_max: int) -> dict[str, Any]:
    """The resources a command writes; ValueError (nothing sent) when out of range."""
    _check_dialect(dimmer_max)
    fields: dict[str, Any] = {}
    level = command.level_pct
    if level is not None:
        if isinstance(level, bool) or not 0 <= level <= 100:
            raise ValueError(f"level_pct {level!r} is outside 0..100")
        if level == 0 and command.on is True:
            raise ValueError("level_pct 0 with on=True is contradictory; send on=False")
    if command.on is not None:
        fields["5850"] = command.on
    if level is not None:
        if level == 0:
            fields["5850"] = False
        elif command.on is not False:
            fields["5850"] = True
            fields["5851"] = dimmer_from_level(level, dimmer_max)
    if command.colour_temp_k is not None:
        kelvin = command.colour_temp_k
        if isinstance(kelvin, bool) or not KELVIN_MIN <= kelvin <= KELVIN_MAX:
            raise ValueError(f"colour_temp_k {kelvin!r} is outside {KELVIN_MIN}..{KELVIN_MAX}")
        fields["5711"] = mireds_from_kelvin(kelvin)
    if not fields:
        raise ValueError("the command changes nothing (no on, level or colour temperature)")
    if command.transition_s is not None:
        t = command.transition_s
        if isinstance(t, bool) or not math.isfinite(t) or not 0 <= t <= TRANSITION_MAX_S:
            raise ValueError(f"transition_s {t!r} is outside 0..{TRANSITION_MAX_S:g}")
        fields["5712"] = round(t * 10) if dimmer_max == 254 else round(t, 1)
    return fields


def encode_fields(fields: dict[str, Any], dimmer_max: int) -> bytes:
    if dimmer_max == 254:
        tradfri = {k: int(v) if isinstance(v, bool) else v for k, v in fields.items()}
        return json.dumps({"3311": [tradfri]}, separators=(",", ":")).encode()
    return json.dumps(fields, separators=(",", ":")).encode()


def encode_put(command: LightCommand, dimmer_max: int) -> bytes:
    return encode_fields(put_fields(command, dimmer_max), dimmer_max)


def confirms(fields: dict[str, Any], report: CoapLightReport) -> bool:
    """Does a read-back show every resource the PUT wrote?"""
    if "5850" in fields and report.on != bool(fields["5850"]):
        return False
    if "5851" in fields and report.dimmer != fields["5851"]:
        return False
    return "5711" not in fields or (
        report.mireds is not None and abs(report.mireds - fields["5711"]) <= 1
    )
