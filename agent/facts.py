"""What the room learnt since the last step, as typed facts and intents: the only input of
`agent.decide.decide` besides the room's memory, the member's preferences and the time.

Sensing (`agent.sensing`) turns device updates into facts; the other producers feed the
room controller directly, and every fact carries the time it happened (not when the loop
got to it):

    room.feed(PresenceSignal(stay_id, present=True, via="ble", at=now))     # member recognition
    room.feed(StaysChanged(tuple(stays), at=now))                            # central: booked,
                                                                             # checked in/out, moved
    room.feed(PreferencesChanged(member_id, at=now))                         # central: app edit
    room.feed(HousekeepingRequest(dnd=None, mur=False, via="staff", at=now)) # staff action

No fact holds a decision: "the door opened", not "the guest arrived".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

# The member-recognition seam's signal (agent.presence, issue 15): a member recognised in
# (or gone from) this room, already resolved to a stay here, or a staff badge.
from agent.presence.hub import PresenceSignal as PresenceSignal
from drivers.base import AvailabilityState, ClimateState, DoorStation, State
from scenes.model import Command
from sync.wire import StayAssignment

# --- from the devices (agent.sensing) -----------------------------------------------------


@dataclass(frozen=True, slots=True)
class AvailabilityChanged:
    device: str
    availability: AvailabilityState
    at: datetime
    returned: bool = False  # available again after being unavailable (it may have restarted)


@dataclass(frozen=True, slots=True)
class DoorChanged:
    open: bool
    at: datetime


@dataclass(frozen=True, slots=True)
class WindowChanged:
    source: str  # the sensor, or "<thermostat>.window" for a contact wired to it
    open: bool
    at: datetime


@dataclass(frozen=True, slots=True)
class MotionChanged:
    sensor: str
    active: bool
    at: datetime


@dataclass(frozen=True, slots=True)
class DoorUnlocked:
    actor: str | None  # "staff", "keycard", "app", ...
    at: datetime


@dataclass(frozen=True, slots=True)
class ClimateReported:
    """A thermostat report: the room's temperature and humidity (telemetry), the HVAC's
    state, the reception key, and the door station buttons."""

    device: str
    state: ClimateState
    at: datetime
    reception: bool | None = None
    door_station: DoorStation | None = None  # set only when it changed


@dataclass(frozen=True, slots=True)
class IndoorReading:
    """A room sensor's temperature/humidity (used when no thermostat reports them)."""

    temperature_c: float | None
    humidity_pct: float | None
    at: datetime


@dataclass(frozen=True, slots=True)
class OutdoorReading:
    temperature_c: float
    at: datetime


@dataclass(frozen=True, slots=True)
class DeviceChanged:
    """A device now reports a state different from what it reported before. The driver's
    `manual` flag says no command of *its* explains it; decide() checks the room's own
    commands (one that timed out may land late) before calling it the guest's."""

    device: str
    state: State
    previous: State | None
    manual: bool
    at: datetime


@dataclass(frozen=True, slots=True)
class CommandSettled:
    """The dispatcher's report of one command: what the device confirmed (or not)."""

    device: str
    command: Command
    ok: bool
    state: State | None
    at: datetime


# --- intents: people and head office ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HousekeepingRequest:
    """DND/MUR asked for (None: unchanged). `via`: button, door_station, app, staff, ..."""

    dnd: bool | None
    mur: bool | None
    via: str
    at: datetime


@dataclass(frozen=True, slots=True)
class StaffService:
    """The housekeeping board's command (`sync.wire.StaffCommand`): an attendant started
    (`active`) or finished cleaning. `seq` orders the room's commands; one already applied
    (seq not above the memory's) changes nothing."""

    active: bool
    seq: int
    at: datetime


@dataclass(frozen=True, slots=True)
class GuestOverride:
    """The guest set a device through the app; applied already, held like a knob change."""

    device: str
    command: Command
    state: State
    via: str
    at: datetime


@dataclass(frozen=True, slots=True)
class Released:
    """Hand a device back to automation (the guest's app or staff)."""

    device: str
    at: datetime


@dataclass(frozen=True, slots=True)
class StaysChanged:
    """Central's current list of stays for this room (booked, checked in, checked out,
    moved, late checkout: the list says it all)."""

    stays: tuple[StayAssignment, ...]
    at: datetime


@dataclass(frozen=True, slots=True)
class PreferencesChanged:
    member_id: str
    at: datetime


Fact = (
    PresenceSignal
    | AvailabilityChanged
    | DoorChanged
    | WindowChanged
    | MotionChanged
    | DoorUnlocked
    | ClimateReported
    | IndoorReading
    | OutdoorReading
    | DeviceChanged
    | CommandSettled
    | HousekeepingRequest
    | StaffService
    | GuestOverride
    | Released
    | StaysChanged
    | PreferencesChanged
)


@dataclass(frozen=True, slots=True)
class DeviceView:
    """What sensing holds about the devices right now (not persisted: relearnt at start)."""

    states: dict[str, State] = field(default_factory=dict)
    availability: dict[str, AvailabilityState] = field(default_factory=dict)
