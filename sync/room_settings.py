"""What central may set in a room (issue 16): the server-authoritative part of the room file.

A `RoomConfigDoc.settings` is a partial overlay of the room file's sections, e.g.

    {"limits": {"setpoint_max_c": 25}, "energy": {"away_after_min": 5},
     "scenes": {"default_sleep_time": "22:30"}, "room": {"air_conditioned": true}}

Central checks it against `RoomSettings` when staff set it (422 naming the field); the
agent checks it again laid over its own room file (`agent.central_config`), where settings
that are fine alone can still clash with the file (a maximum below the file's default
setpoint): refused there, the previous config stays in force and central hears why.

The ranges are declared once here and used by the agent's own config sections too, so a
value central accepts alone is a value the room file would accept.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

# Shared ranges (agent/config.py declares its sections with these).
GuestSetpointC = Annotated[float, Field(ge=16, le=30)]
AwayAfterMin = Annotated[float, Field(ge=0, le=30)]  # IECC C403.7.4: setback within 30 min
AwaySetbackC = Annotated[float, Field(ge=2.2, le=8)]  # IECC C403.7.4: at least 2.2 °C
DeepAfterMin = Annotated[float, Field(ge=0, le=24 * 60)]
DeepSetbackC = Annotated[float, Field(ge=2.2, le=10)]
UnrentedCoolingC = Annotated[float, Field(ge=26.7, le=32)]
UnrentedHeatingC = Annotated[float, Field(ge=5, le=15.6)]
ArrivalHoldMin = Annotated[float, Field(ge=0, le=240)]
Season = Literal["auto", "heating", "cooling"]
ConfirmAfterCloseS = Annotated[float, Field(ge=5, le=3600)]
OpenDoorVacancyMin = Annotated[float, Field(ge=1, le=240)]
Percent = Annotated[int, Field(ge=0, le=100)]
ColourTempK = Annotated[int, Field(ge=2000, le=6500)]
Hhmm = Annotated[str, StringConstraints(pattern=r"^([01]\d|2[0-3]):[0-5]\d$")]
Climate = Annotated[str, StringConstraints(pattern=r"^[A-E][a-zA-Z]{1,2}$")]
DoorLeftOpenMin = Annotated[float, Field(gt=0, le=240)]
NoMotionH = Annotated[float, Field(gt=0, le=168)]
StatusHeartbeatS = Annotated[float, Field(ge=1, le=3600)]


class _Part(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class LimitsSettings(_Part):
    """The guest's setpoint range and the room's default setpoint."""

    setpoint_min_c: GuestSetpointC | None = None
    setpoint_max_c: GuestSetpointC | None = None
    default_setpoint_c: GuestSetpointC | None = None


class EnergySettings(_Part):
    """Setback depth and vacancy delays."""

    away_after_min: AwayAfterMin | None = None
    away_setback_c: AwaySetbackC | None = None
    deep_after_min: DeepAfterMin | None = None
    deep_setback_c: DeepSetbackC | None = None
    unrented_cooling_c: UnrentedCoolingC | None = None
    unrented_heating_c: UnrentedHeatingC | None = None
    arrival_hold_min: ArrivalHoldMin | None = None
    season: Season | None = None


class OccupancySettings(_Part):
    confirm_after_close_s: ConfirmAfterCloseS | None = None
    open_door_vacancy_min: OpenDoorVacancyMin | None = None


class ScenesSettings(_Part):
    """Room defaults, and quiet hours (`default_sleep_time` to `default_wake_time`)."""

    default_light_pct: Percent | None = None
    default_colour_temp_k: ColourTempK | None = None
    default_volume_pct: Percent | None = None
    default_sleep_time: Hhmm | None = None
    default_wake_time: Hhmm | None = None


class RoomContextSettings(_Part):
    """The comfort model's property context."""

    climate: Climate | None = None
    air_conditioned: bool | None = None


class AlertsSettings(_Part):
    door_left_open_min: DoorLeftOpenMin | None = None
    no_motion_h: NoMotionH | None = None


class RuntimeSettings(_Part):
    """The telemetry rate: status and telemetry on MQTT at least this often."""

    status_heartbeat_s: StatusHeartbeatS | None = None


class RoomSettings(_Part):
    limits: LimitsSettings | None = None
    energy: EnergySettings | None = None
    occupancy: OccupancySettings | None = None
    scenes: ScenesSettings | None = None
    room: RoomContextSettings | None = None
    alerts: AlertsSettings | None = None
    runtime: RuntimeSettings | None = None

    def sections(self) -> dict[str, dict[str, Any]]:
        """Only what is set (null is the same as absent: the room file's value stands):
        {"limits": {"setpoint_max_c": 25.0}, ...}."""
        out: dict[str, dict[str, Any]] = {}
        for name in type(self).model_fields:
            part = getattr(self, name)
            if part is not None:
                values = part.model_dump(exclude_none=True)
                if values:
                    out[name] = values
        return out


class SettingsError(ValueError):
    """Settings that are not a valid `RoomSettings`; the message names every bad field."""


def parse_settings(data: Any) -> RoomSettings:
    """Validate a settings document strictly: unknown sections or keys, wrong types (a
    string for a number, an integer for a boolean) and values out of range are refused."""
    if not isinstance(data, dict):
        raise SettingsError("settings: must be an object of sections")
    try:  # strict: only an integer may stand for a float (JSON has one kind of number)
        return RoomSettings.model_validate(data)
    except ValidationError as exc:
        raise SettingsError(describe(exc)) from None


def describe(exc: ValidationError) -> str:
    parts = []
    for item in exc.errors(include_url=False):
        where = ".".join(str(p) for p in item["loc"]) or "settings"
        parts.append(f"{where}: {item['msg']} (got {item.get('input')!r})"[:200])
    return "; ".join(parts)
