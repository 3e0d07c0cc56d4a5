"""The room file's sections (`[room]`, `[central]`, `[limits]`, `[energy]`, `[api]` ...):
one pydantic model each, validated with the whole file by `agent.config.RoomConfig`.
Each field's comment says what it does; docs/agent.md lists every key."""

from __future__ import annotations

import base64
import zoneinfo
from datetime import time, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from scenes.energy import EnergyPolicy, OccupancyPolicy
from sync.brake import UPLOAD_BATCH
from sync.outbox import DEFAULT_BUDGETS, Budget, BudgetClass
from sync.room_settings import (
    ArrivalHoldMin,
    AwayAfterMin,
    AwaySetbackC,
    Climate,
    ColourTempK,
    ConfirmAfterCloseS,
    DeepAfterMin,
    DeepSetbackC,
    DoorLeftOpenMin,
    GuestSetpointC,
    Hhmm,
    NoMotionH,
    OpenDoorVacancyMin,
    Percent,
    Season,
    StatusHeartbeatS,
    UnrentedCoolingC,
    UnrentedHeatingC,
)
from sync.wire import PropertyId, RoomId

DeviceName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_-]{0,31}$")]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RoomSection(_Section):
    property_id: PropertyId
    room_id: RoomId
    timezone: str = "UTC"
    # Köppen–Geiger climate code of the property (e.g. "Cfa"), a comfort-model input.
    climate: Climate | None = None
    # Which half of the globe the property is in: the comfort model's season (summer is
    # December-February in the south).
    hemisphere: Literal["north", "south"] = "north"
    # Whether the room is air-conditioned (a comfort-model input); unset, the model runs with
    # the cooling type unknown and the agent says at start what that costs.
    air_conditioned: bool | None = None

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value

    @property
    def tz(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.timezone)


class RolesSection(_Section):
    """Which sensors mean what. Empty lists: every sensor's own fields decide (door_open,
    window_open, occupancy). A sensor named under `window` cuts the HVAC when it opens."""

    door: list[DeviceName] = Field(default_factory=list)
    window: list[DeviceName] = Field(default_factory=list)
    motion: list[DeviceName] = Field(default_factory=list)
    # Sensors outside (balcony, roof): their temperature is the outdoor one, never the room's.
    outdoor: list[DeviceName] = Field(default_factory=list)


class CentralSection(_Section):
    url: Annotated[str, StringConstraints(pattern=r"^https?://[^\s]+$")] | None = None
    credential_file: Path | None = None  # holds the agent key; never the key itself here
    pull_interval_s: Annotated[float, Field(ge=0.05, le=3600)] = 60.0
    push_interval_s: Annotated[float, Field(ge=0.05, le=3600)] = 10.0
    timeout_s: Annotated[float, Field(gt=0, le=60)] = 5.0
    # Retry delays of the sync tasks (sync/worker.py): about `backoff_initial_s` after the
    # first failure, doubling (with jitter) up to `backoff_max_s`; a Retry-After from central
    # is honoured above both. The network chaos test shortens them to fit 2,000 faults.
    backoff_initial_s: Annotated[float, Field(ge=0.001, le=60)] = 0.5
    backoff_max_s: Annotated[float, Field(ge=0.001, le=300)] = 4.0
    # The upload brake (sync/brake.py): after an upload gets no answer within its timeout,
    # the next carries half as many events (not fewer than `upload_batch_min`); at that
    # floor, it waits twice as long instead (not longer than `timeout_max_s`, default the
    # larger of 30 s and `timeout_s`); answers bring both back.
    # `upload_batch_min = 500` and `timeout_max_s = timeout_s` turn it off.
    upload_batch_min: Annotated[int, Field(ge=1, le=UPLOAD_BATCH)] = 25
    timeout_max_s: Annotated[float, Field(gt=0, le=300)] | None = None

    @property
    def upload_timeout_max_s(self) -> float:
        return max(30.0, self.timeout_s) if self.timeout_max_s is None else self.timeout_max_s

    @model_validator(mode="after")
    def _needs_key(self) -> CentralSection:
        if self.url is not None and self.credential_file is None:
            raise ValueError("central.url is set but central.credential_file is not")
        if self.backoff_initial_s > self.backoff_max_s:
            raise ValueError("need central.backoff_initial_s <= central.backoff_max_s")
        if self.timeout_max_s is not None and self.timeout_s > self.timeout_max_s:
            raise ValueError("need central.timeout_s <= central.timeout_max_s")
        return self


class ComfortSection(_Section):
    # Ed25519 public key (base64 of the 32 raw bytes) that signs comfort-model versions.
    # Versions offered through sync are installed only when signed by it; unset, the agent
    # keeps the model it has (the shipped one) and ignores offers.
    model_signing_key: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9+/]{43}=$")] | None = (
        None
    )
    # Where installed versions live; default: `models/` next to the store.
    models_dir: Path | None = None

    @field_validator("model_signing_key")
    @classmethod
    def _raw_key(cls, v: str | None) -> str | None:
        if v is not None and len(base64.b64decode(v)) != 32:
            raise ValueError("is not a 32-byte Ed25519 public key")
        return v


class LimitsSection(_Section):
    setpoint_min_c: GuestSetpointC = 18.0
    setpoint_max_c: GuestSetpointC = 27.0
    default_setpoint_c: GuestSetpointC = 22.0
    # What the thermostat itself accepts; setbacks beyond it switch the HVAC off instead.
    device_setpoint_min_c: Annotated[float, Field(ge=5, le=30)] = 16.0
    device_setpoint_max_c: Annotated[float, Field(ge=16, le=40)] = 30.0

    @model_validator(mode="after")
    def _ordered(self) -> LimitsSection:
        if not self.setpoint_min_c <= self.default_setpoint_c <= self.setpoint_max_c:
            raise ValueError("need setpoint_min_c <= default_setpoint_c <= setpoint_max_c")
        return self

    def clamp(self, value: float) -> float:
        return min(max(value, self.setpoint_min_c), self.setpoint_max_c)


class ScenesSection(_Section):
    directory: Path | None = None  # extra scene files; same name replaces a built-in
    overrides: dict[str, dict[str, Any]] = Field(default_factory=dict)
    default_light_pct: Percent = 70
    default_colour_temp_k: ColourTempK | None = 3000
    default_volume_pct: Percent = 20
    default_sleep_time: Hhmm | None = None
    default_wake_time: Hhmm | None = None


class EnergySection(_Section):
    away_after_min: AwayAfterMin = 10.0
    away_setback_c: AwaySetbackC = 2.5
    deep_after_min: DeepAfterMin | None = None
    deep_setback_c: DeepSetbackC = 4.0
    unrented_cooling_c: UnrentedCoolingC = 26.7
    unrented_heating_c: UnrentedHeatingC = 15.6
    precondition_max_min: Annotated[float, Field(ge=0, le=60)] = 60.0
    recovery_c_per_hour: Annotated[float, Field(gt=0, le=30)] = 4.0
    # How long a room is kept at the member's temperature for a guest who has not shown up:
    # after the expected arrival (not yet checked in), or after check-in (not yet in the
    # room). Then it falls back to the unrented limits / the away setback until they come.
    arrival_hold_min: ArrivalHoldMin = 60.0
    season: Season = "auto"
    # A checked-in guest out of the room: expected back from their pattern this stay and
    # the time of day (out between 05:00 and 14:00: back at `day_out_return`; otherwise
    # after `short_absence_min`); the setback deepens with the expected absence and the
    # recovery is timed from the measured recovery rate. False: the plain away setback.
    predict_returns: bool = True
    day_out_return: Hhmm = "18:00"
    short_absence_min: Annotated[float, Field(ge=15, le=24 * 60)] = 120.0
    return_hold_min: Annotated[float, Field(ge=0, le=240)] = 30.0
    recovery_max_min: Annotated[float, Field(ge=0, le=6 * 60)] = 180.0
    # Arrivals (delay after the booked time) and returns predicted from what this room has
    # seen of its guests: this quantile of the observations not yet passed.
    learned_quantile: Annotated[float, Field(ge=0, le=1)] = 0.35
    # ... moved by the room's own occupied comfort over the last 7 days: up (later
    # pre-conditioning) while the share of occupied time within `comfort_band_c` of the
    # guest's temperature is above `comfort_target_pct`, down below it (`comfort_gain`
    # quantile per percentage point), within the min/max. No target: the quantile is fixed.
    comfort_target_pct: Annotated[float, Field(gt=0, le=100)] | None = 96.0
    comfort_band_c: Annotated[float, Field(gt=0, le=5)] = 1.0
    comfort_gain: Annotated[float, Field(ge=0, le=1)] = 0.05
    learned_quantile_min: Annotated[float, Field(ge=0, le=1)] = 0.3
    learned_quantile_max: Annotated[float, Field(ge=0, le=1)] = 0.5
    comfort_min_occupied_h: Annotated[float, Field(ge=0, le=7 * 24)] = 12.0

    @model_validator(mode="after")
    def _coherent(self) -> EnergySection:
        self.policy()  # EnergyPolicy checks the code's rules; its message names them
        return self

    def policy(self, limits: LimitsSection | None = None) -> EnergyPolicy:
        limits = limits or LimitsSection()
        return EnergyPolicy(
            device_min_c=limits.device_setpoint_min_c,
            device_max_c=limits.device_setpoint_max_c,
            away_after=timedelta(minutes=self.away_after_min),
            away_setback_c=self.away_setback_c,
            deep_after=None
            if self.deep_after_min is None
            else timedelta(minutes=self.deep_after_min),
            deep_setback_c=self.deep_setback_c,
            unrented_cooling_c=self.unrented_cooling_c,
            unrented_heating_c=self.unrented_heating_c,
            precondition_max=timedelta(minutes=self.precondition_max_min),
            recovery_c_per_hour=self.recovery_c_per_hour,
            predict_returns=self.predict_returns,
            day_out_return=time.fromisoformat(self.day_out_return),
            short_absence=timedelta(minutes=self.short_absence_min),
            return_hold=timedelta(minutes=self.return_hold_min),
            recovery_max=timedelta(minutes=self.recovery_max_min),
            learned_quantile=self.learned_quantile,
            comfort_target=None
            if self.comfort_target_pct is None
            else self.comfort_target_pct / 100,
            comfort_band_c=self.comfort_band_c,
            # per percentage point here, per unit share in the policy
            comfort_gain=self.comfort_gain * 100,
            learned_quantile_min=self.learned_quantile_min,
            learned_quantile_max=self.learned_quantile_max,
            comfort_min_occupied=timedelta(hours=self.comfort_min_occupied_h),
        )


class OccupancySection(_Section):
    confirm_after_close_s: ConfirmAfterCloseS = 300.0
    motion_grace_s: Annotated[float, Field(ge=0, le=60)] = 2.0
    open_door_vacancy_min: OpenDoorVacancyMin = 15.0
    # A guest unlock this recent makes the next occupancy a guest entry (staff unlock: staff).
    entry_window_s: Annotated[float, Field(ge=5, le=600)] = 120.0

    def policy(self) -> OccupancyPolicy:
        return OccupancyPolicy(
            confirm_after_close=timedelta(seconds=self.confirm_after_close_s),
            motion_grace=timedelta(seconds=self.motion_grace_s),
            open_door_vacancy=timedelta(minutes=self.open_door_vacancy_min),
        )


class SafetySection(_Section):
    window_grace_s: Annotated[float, Field(ge=0, le=600)] = 20.0


class AlertsSection(_Section):
    door_left_open_min: DoorLeftOpenMin = 5.0
    device_unavailable_s: Annotated[float, Field(ge=0, le=3600)] = 60.0
    hvac_tolerance_c: Annotated[float, Field(gt=0, le=10)] = 1.5
    hvac_reach_min: Annotated[float, Field(gt=0, le=24 * 60)] = 60.0
    no_motion_h: NoMotionH = 24.0


class ApiSection(_Section):
    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=0, le=65535)] = 8780  # 0: any free port (tests)
    # Bearer key required by the changing endpoints (DND/MUR, overrides). Mandatory when
    # the API listens beyond loopback (the hotel app reaching the room over the LAN).
    token_file: Path | None = None

    @model_validator(mode="after")
    def _key_beyond_loopback(self) -> ApiSection:
        if self.host not in ("127.0.0.1", "::1", "localhost") and self.token_file is None:
            raise ValueError(
                f"api.host {self.host!r} is reachable from the network but api.token_file is "
                "not set (fix: set api.token_file, or listen on 127.0.0.1)"
            )
        return self


class BudgetSection(_Section):
    max_events: Annotated[int, Field(ge=1, le=10_000_000)]
    max_mib: Annotated[float, Field(gt=0, le=4096)]


class StoreSection(_Section):
    path: Path = Path("/var/lib/smartroom-agent/agent.db")
    # Outbox budgets per class, replacing sync.outbox.DEFAULT_BUDGETS's (size them to the
    # card): `[store.outbox.telemetry] max_events = 20000, max_mib = 16`.
    outbox: dict[Literal["ledger", "records", "telemetry"], BudgetSection] = Field(
        default_factory=dict
    )

    def budgets(self) -> dict[BudgetClass, Budget]:
        given = {
            cls: Budget(b.max_events, int(b.max_mib * 1024 * 1024))
            for cls, b in self.outbox.items()
        }
        return {**DEFAULT_BUDGETS, **given}


class RuntimeSection(_Section):
    tick_s: Annotated[float, Field(ge=0.01, le=60)] = 1.0
    apply_timeout_s: Annotated[float, Field(gt=0, le=60)] = 5.0
    status_heartbeat_s: StatusHeartbeatS = 60.0
    # At start, commands wait (at most this long) for each device to report itself
    # available: MQTT devices are not reachable until the broker session is up.
    start_grace_s: Annotated[float, Field(ge=0, le=120)] = 10.0
    log_level: Literal["debug", "info", "warning", "error"] = "info"
