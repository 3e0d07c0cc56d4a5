"""Capabilities, not devices.

Scenes ask for `ClimateCommand(setpoint_c=22.5)`, `LightCommand(level_pct=40)`; a driver
turns that into Modbus registers, a CoAP PUT or an MQTT payload, confirms it (read-back or
state report) and returns the confirmed state. Every device reports availability as a
first-class state, and pushes updates (state changes, sensor events, availability changes)
to subscribers.

Contract for every driver:
- `start()` never raises because the device is absent: the device starts UNKNOWN and
  becomes AVAILABLE or UNAVAILABLE (with a reason) as the driver learns.
- `apply()` returns only a confirmed state, or raises a `DriverError`; it never blocks
  longer than the driver's command timeout, and one device's failure never blocks another.
- `stop()` is idempotent and releases the transport.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Literal, Protocol, runtime_checkable

from sync.wire import Availability

CapabilityName = Literal["climate", "light", "media", "cover", "sensor"]

# --- errors: translated once, at the driver boundary ----------------------------------------


class DriverError(Exception):
    """Base of every error a driver raises; carries the device name."""

    def __init__(self, device: str, message: str) -> None:
        self.device = device
        super().__init__(f"{device}: {message}")


class DeviceUnavailable(DriverError):
    """The device did not answer (timeout, transport down) or is marked unavailable."""


class CommandNotConfirmed(DriverError):
    """The device answered but the read-back/state report does not match the command."""


class ProtocolError(DriverError):
    """A malformed, corrupt or unexpected frame/payload from the device."""


class InvalidCommand(DriverError):
    """The command is outside what the device/capability accepts (nothing was sent)."""


# --- availability ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AvailabilityState:
    status: Availability = Availability.UNKNOWN
    reason: str | None = None
    since: datetime | None = None

    @property
    def available(self) -> bool:
        return self.status is Availability.AVAILABLE


# --- states and commands per capability -----------------------------------------------------


class ClimateMode(StrEnum):
    OFF = "off"
    HEAT = "heat"
    COOL = "cool"
    AUTO = "auto"
    FAN_ONLY = "fan_only"


class ClimateAction(StrEnum):
    OFF = "off"
    IDLE = "idle"
    HEATING = "heating"
    COOLING = "cooling"
    FAN = "fan"


class FanMode(StrEnum):
    AUTO = "auto"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


class DoorStation(StrEnum):
    """The thermostat's door-station / in-room button state (SMT-131 register 40006)."""

    NORMAL = "normal"
    MUR = "mur"
    DND = "dnd"


@dataclass(frozen=True, slots=True)
class ClimateState:
    mode: ClimateMode
    setpoint_c: float
    fan: FanMode
    current_c: float | None
    action: ClimateAction
    humidity_pct: float | None = None
    occupancy: bool | None = None
    door_station: DoorStation | None = None
    energy_kwh: float | None = None


@dataclass(frozen=True, slots=True)
class ClimateCommand:
    mode: ClimateMode | None = None
    setpoint_c: float | None = None
    fan: FanMode | None = None


@dataclass(frozen=True, slots=True)
class LightState:
    on: bool
    level_pct: int  # 0..100
    colour_temp_k: int | None = None


@dataclass(frozen=True, slots=True)
class LightCommand:
    on: bool | None = None
    level_pct: int | None = None
    colour_temp_k: int | None = None
    transition_s: float | None = None


@dataclass(frozen=True, slots=True)
class MediaState:
    power: bool
    volume_pct: int
    source: str | None = None
    playing: bool = False


@dataclass(frozen=True, slots=True)
class MediaCommand:
    power: bool | None = None
    volume_pct: int | None = None
    source: str | None = None
    playing: bool | None = None


@dataclass(frozen=True, slots=True)
class CoverState:
    position_pct: int  # 0 closed .. 100 open
    moving: bool = False


@dataclass(frozen=True, slots=True)
class CoverCommand:
    position_pct: int


@dataclass(frozen=True, slots=True)
class SensorState:
    """Latest readings of a multi-sensor; a field is None when the sensor lacks it."""

    temperature_c: float | None = None
    humidity_pct: float | None = None
    occupancy: bool | None = None
    door_open: bool | None = None
    window_open: bool | None = None
    battery_pct: int | None = None


class SensorEventKind(StrEnum):
    DOOR_UNLOCKED = "door_unlocked"  # lock event (keycard/app/staff)
    DOOR_LOCKED = "door_locked"
    BUTTON_DND = "button_dnd"  # in-room DND/MUR button
    BUTTON_MUR = "button_mur"
    BUTTON_CLEAR = "button_clear"


@dataclass(frozen=True, slots=True)
class SensorEvent:
    kind: SensorEventKind
    at: datetime
    actor: str | None = None  # e.g. "guest", "staff", "app" for lock events


State = ClimateState | LightState | MediaState | CoverState | SensorState


@dataclass(frozen=True, slots=True)
class DeviceUpdate:
    """Pushed to subscribers: a new state, an event, or an availability change.
    `manual` is True when the change did not come from our own command (the guest turned
    the thermostat knob): the scene engine records it as feedback."""

    device: str
    availability: AvailabilityState
    state: State | None = None
    event: SensorEvent | None = None
    manual: bool = False
    extra: dict[str, object] = field(default_factory=dict)


Listener = Callable[[DeviceUpdate], None]


@runtime_checkable
class Device(Protocol):
    name: str
    capability: CapabilityName

    @property
    def availability(self) -> AvailabilityState: ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Register a listener; returns a function that unsubscribes it."""
        ...


class Climate(Device, Protocol):
    @property
    def state(self) -> ClimateState | None: ...

    async def apply(self, command: ClimateCommand) -> ClimateState: ...


class Light(Device, Protocol):
    @property
    def state(self) -> LightState | None: ...

    async def apply(self, command: LightCommand) -> LightState: ...


class Media(Device, Protocol):
    @property
    def state(self) -> MediaState | None: ...

    async def apply(self, command: MediaCommand) -> MediaState: ...


class Cover(Device, Protocol):
    @property
    def state(self) -> CoverState | None: ...

    async def apply(self, command: CoverCommand) -> CoverState: ...


class Sensor(Device, Protocol):
    @property
    def state(self) -> SensorState | None: ...
