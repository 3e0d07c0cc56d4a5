"""The room controller: turns what the devices, presence and central say into scenes,
commands, housekeeping signals, alerts and a RoomStatus.

It is driven by `step()`, which the supervisor calls on every device update and on a
steady tick (time-driven rules: vacancy confirmation, the window interlock, setbacks,
alerts). `step()` never waits on a device: commands run as one task per device, so a dead
lamp cannot hold up the HVAC, the interlock or the next step.

    room = RoomController(config, store=store, devices=devices, scenes=book,
                          resolver=resolver, clock=clock)
    for device in devices.values():
        device.subscribe(room.on_device_update)
    room.step()                 # or: await room.run() under the supervisor
    room.status()               # sync.wire.RoomStatus
    await room.set_housekeeping(dnd=True, via="app")
    await room.override("hvac", ClimateCommand(setpoint_c=20.5), via="app")
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import Enum
from typing import Any

from agent.alerts import RoomFacts, room_alerts
from agent.config import RoomConfig
from agent.metrics import AgentMetrics
from agent.preferences import ComfortInputs, PreferenceResolver, RunningMean
from agent.presence import PresenceSignal
from agent.store import AgentStore, NewEvent
from drivers.base import (
    AvailabilityState,
    CapabilityName,
    ClimateAction,
    ClimateCommand,
    ClimateMode,
    ClimateState,
    CoverCommand,
    CoverState,
    Device,
    DeviceUpdate,
    DoorStation,
    DriverError,
    FanMode,
    LightCommand,
    LightState,
    MediaCommand,
    MediaState,
    SensorEventKind,
    SensorState,
    State,
)
from scenes import energy
from scenes.apply import DeviceOutcome, apply_one
from scenes.engine import EngineInput, Plan, PreferenceValues, resolve
from scenes.loader import SceneBook
from scenes.model import Command, DesiredState
from scenes.select import Entry, SceneChoice, Situation, select_scene
from smartroom.clock import Clock
from smartroom.log import get_logger
from sync.wire import (
    Alert,
    Availability,
    DeviceStatus,
    EventKind,
    MemberPreferences,
    RoomStatus,
    StayAssignment,
)

log = get_logger("agent.room")

RETRY_INITIAL_S, RETRY_MAX_S = 5.0, 120.0
PREFS_REFRESH = timedelta(minutes=15)


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


def command_from_state(capability: CapabilityName, state: State) -> Command | None:
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


_COMMAND_TYPES: dict[str, type[Any]] = {
    "climate": ClimateCommand,
    "light": LightCommand,
    "media": MediaCommand,
    "cover": CoverCommand,
}


def command_from_dict(capability: str, data: dict[str, Any]) -> Command:
    kind = _COMMAND_TYPES[capability]
    if kind is ClimateCommand:
        return ClimateCommand(
            mode=ClimateMode(data["mode"]) if data.get("mode") else None,
            setpoint_c=data.get("setpoint_c"),
            fan=FanMode(data["fan"]) if data.get("fan") else None,
        )
    fields = {k: v for k, v in data.items() if k in kind.__dataclass_fields__}
    return kind(**fields)  # type: ignore[no-any-return]


@dataclass(slots=True)
class SceneRun:
    """One scene change being applied: which devices are still pending and what each did.
    `started`/`done_at` are `time.perf_counter()` readings: real elapsed time, for latency."""

    scene: str
    why: str
    started: float
    pending: set[str]
    results: dict[str, dict[str, Any]] = field(default_factory=dict)
    done_at: float | None = None

    @property
    def seconds(self) -> float | None:
        return None if self.done_at is None else self.done_at - self.started


class RoomController:
    def __init__(
        self,
        config: RoomConfig,
        *,
        store: AgentStore,
        devices: Mapping[str, Device],
        scenes: SceneBook,
        resolver: PreferenceResolver,
        clock: Clock,
        metrics: AgentMetrics | None = None,
    ) -> None:
        self.config = config
        self.store = store
        self.devices = dict(devices)
        self.scenes = scenes
        self.resolver = resolver
        self.clock = clock
        self.metrics = metrics or AgentMetrics()
        self._caps: dict[str, CapabilityName] = {
            name: dev.capability for name, dev in self.devices.items()
        }
        self._occ_policy = config.occupancy.policy()
        self._energy_policy = config.energy.policy(config.limits)
        # Stamped on arrival: the time a thing happened, not when the loop got to it.
        self._updates: deque[tuple[DeviceUpdate | PresenceSignal, datetime]] = deque()
        self.wake = asyncio.Event()

        # Restored across restarts; everything else is relearnt from the devices.
        now = clock.now()
        occupied = bool(store.get_state("occupied", False))
        vacant = store.get_state("vacant_since")
        self.occ = energy.Occupancy(occupied=occupied, changed_at=now)
        self.vacant_since: datetime | None = (
            datetime.fromisoformat(vacant) if vacant else (None if occupied else now)
        )
        self.entry: Entry | None = store.get_state("entry")
        self.dnd: bool = bool(store.get_state("dnd", False))
        self.mur: bool = bool(store.get_state("mur", False))
        self.manual: dict[str, Command] = {
            name: command_from_dict(self._caps[name], data)
            for name, data in (store.get_state("manual", {}) or {}).items()
            if name in self._caps and self._caps[name] != "sensor"
        }
        last_motion = store.get_state("last_motion_at")
        self.last_motion_at: datetime | None = (
            datetime.fromisoformat(last_motion) if last_motion else None
        )
        departed = store.get_state("departed_at")
        self.departed_at: datetime | None = datetime.fromisoformat(departed) if departed else None
        self._active_stay_id: str | None = store.get_state("active_stay")
        # The checked-in guest's last departure from the room (staff visits do not count).
        guest_left = store.get_state("guest_left_at")
        self.guest_left_at: datetime | None = (
            datetime.fromisoformat(guest_left) if guest_left else None
        )
        saved_rates = store.get_state("recovery_rates") or {}
        self.recovery = energy.RecoveryRates(
            heating_c_per_hour=saved_rates.get("heating"),
            cooling_c_per_hour=saved_rates.get("cooling"),
        )
        self.expected_return: datetime | None = None
        self.outdoor_c: float | None = None
        self.outdoor_mean = RunningMean.from_json(store.get_state("outdoor_running_mean"))
        checked_in_at = store.get_state("checked_in_at")
        self.checked_in_at: datetime | None = (
            datetime.fromisoformat(checked_in_at) if checked_in_at else None
        )

        self.states: dict[str, State] = {}
        self.avail: dict[str, AvailabilityState] = {
            name: AvailabilityState(Availability.UNKNOWN, None, now) for name in self.devices
        }
        self.door_open_since: datetime | None = None
        self.reception_since: datetime | None = None
        self.window_open_since: dict[str, datetime] = {}
        self._motion_now: dict[str, bool] = {}  # motion sensor -> its current `occupancy`
        self.last_unlock: tuple[str | None, datetime] | None = None
        self._stranger_entry = False
        self.indoor_c: float | None = None
        self.humidity_pct: float | None = None
        self.season: energy.Season | None = None
        # What each device was last sent (or is known to be in): a held manual setting is.
        self.sent: dict[str, Command] = dict(self.manual)
        self.inflight: dict[str, asyncio.Task[None]] = {}
        self._retry: dict[str, tuple[float, float]] = {}  # device -> (next try, delay)
        self.outcomes: dict[str, DeviceOutcome] = {}
        self.choice: SceneChoice | None = None
        self.plan: Plan = {}
        self.values = PreferenceValues(setpoint_c=config.limits.default_setpoint_c)
        self._values_key: tuple[Any, ...] | None = None
        self._values_at: datetime | None = None
        self.energy_target: energy.ClimateTarget | None = None
        self.alerts: dict[str, Alert] = {}
        self._setpoint_since: dict[str, tuple[float, datetime]] = {}
        self.scene_run: SceneRun | None = None
        self.last_scene_run: SceneRun | None = None
        self._scene_listeners: list[Callable[[SceneRun], None]] = []
        self._status_listeners: list[Callable[[RoomStatus], None]] = []
        self._stays: list[StayAssignment] = store.stays()
        self._last_status_key: str | None = None
        self.last_step_monotonic = time.monotonic()
        self.steps = 0
        self._started_mono = clock.monotonic()

    # --- inputs --------------------------------------------------------------------------

    def on_device_update(self, update: DeviceUpdate) -> None:
        """Driver listener: queue and wake the loop (drivers call this from their tasks)."""
        self._updates.append((update, self.clock.now()))
        self.wake.set()

    def on_presence(self, signal: PresenceSignal) -> None:
        self._updates.append((signal, signal.at))
        self.wake.set()

    def prime(self) -> None:
        """Take every device's current state and availability (at start-up)."""
        for name, device in self.devices.items():
            state = getattr(device, "state", None)
            self.on_device_update(DeviceUpdate(name, device.availability, state))

    def stays_changed(self) -> None:
        self._stays = self.store.stays()
        self._values_key = None
        self.wake.set()

    def preferences_changed(self) -> None:
        self._values_key = None
        self.wake.set()

    def on_scene_applied(self, listener: Callable[[SceneRun], None]) -> None:
        self._scene_listeners.append(listener)

    def on_status(self, listener: Callable[[RoomStatus], None]) -> Callable[[], None]:
        self._status_listeners.append(listener)
        return lambda: self._status_listeners.remove(listener)

    async def set_housekeeping(
        self, *, dnd: bool | None = None, mur: bool | None = None, via: str
    ) -> None:
        self._housekeeping(dnd=dnd, mur=mur, via=via)
        self.step()

    async def override(self, device: str, command: Command, *, via: str = "app") -> State:
        """A guest's change through the app: applied now, then held like a knob change."""
        target = self.devices.get(device)
        capability = self._caps.get(device)
        if target is None or capability in (None, "sensor"):
            raise KeyError(device)
        expected = _COMMAND_TYPES[capability or ""]
        if not isinstance(command, expected):
            raise TypeError(f"{device} is a {capability}: it takes {expected.__name__}")
        previous = self.manual.get(device)
        self.manual[device] = command  # automation keeps off it while we are applying
        try:
            async with asyncio.timeout(self.config.runtime.apply_timeout_s):
                state: State = await target.apply(command)  # type: ignore[attr-defined]
        except (DriverError, TimeoutError):
            if previous is None:
                self.manual.pop(device, None)
            else:
                self.manual[device] = previous
            raise
        self.states[device] = state
        self.sent.pop(device, None)
        self._record_manual(device, capability or "", state, via=via)
        self.step()
        return state

    def release(self, device: str) -> bool:
        """Hand a device back to automation (the guest's app or staff)."""
        if self.manual.pop(device, None) is None:
            return False
        self.sent.pop(device, None)
        self.store.commit(state={"manual": self._manual_json()})
        self.wake.set()
        return True

    # --- the loop ------------------------------------------------------------------------

    async def run(self) -> None:
        tick = self.config.runtime.tick_s
        while True:
            try:
                async with asyncio.timeout(tick):
                    await self.wake.wait()
            except TimeoutError:
                pass
            self.wake.clear()
            started = time.monotonic()
            self.metrics.loop_lag.set(max(0.0, started - self.last_step_monotonic - tick))
            self.step()

    def step(self) -> None:
        """One pass: ingest updates, evaluate time, pick the scene, dispatch, alerts, status."""
        now = self.clock.now()
        was_occupied = self.occ.occupied
        self._check_stays(now)
        while self._updates:
            item, at = self._updates.popleft()
            if isinstance(item, PresenceSignal):
                self._ingest_presence(item)
            else:
                self._ingest(item, at)
        self.occ = energy.evaluate(self.occ, now, self._occ_policy)
        if self.occ.occupied != was_occupied:
            self._occupancy_changed(now)
        stay = self.active_stay(now)
        prefs = self.store.preferences(stay.member_id) if stay else None
        self._refresh_values(prefs, now)
        self.choice = select_scene(self._situation(now, stay))
        self.energy_target = self._energy(now, stay)
        plan = resolve(
            EngineInput(
                scene=self.scenes.effective(self.choice.name, self.choice.overlays),
                devices=self._caps,
                values=self.values,
                energy=self.energy_target,
                manual=self.manual,
                interlock=self._interlock(now),
            )
        )
        scene_changed = self.scene_run is None or self.scene_run.scene != self.choice.name
        self.plan = plan
        self._dispatch(plan, new_scene=scene_changed)
        self._update_alerts(now, stay)
        self._publish_status(now)
        self.last_step_monotonic = time.monotonic()
        self.steps += 1

    # --- stays -----------------------------------------------------------------------------

    def active_stay(self, now: datetime) -> StayAssignment | None:
        checked_in = [s for s in self._stays if s.status == "checked_in"]
        return max(checked_in, key=lambda s: s.arrival) if checked_in else None

    def _next_arrival(self, now: datetime) -> StayAssignment | None:
        booked = [
            s
            for s in self._stays
            if s.status == "booked" and s.departure > now and s.arrival >= now - timedelta(hours=6)
        ]
        return min(booked, key=lambda s: s.arrival) if booked else None

    def _check_stays(self, now: datetime) -> None:
        stay = self.active_stay(now)
        stay_id = stay.stay_id if stay else None
        if stay_id == self._active_stay_id:
            return
        previous = self._active_stay_id
        self._active_stay_id = stay_id
        state: dict[str, Any] = {"active_stay": stay_id}
        events = []
        if previous is not None:
            # The stay ended (checked out, or central no longer lists it for this room).
            self.departed_at = now
            self.dnd = self.mur = False
            self.manual.clear()
            # `entry` stays: a guest still inside after check-out is the departing guest.
            state.update(departed_at=now.isoformat(), dnd=False, mur=False, manual={})
            events.append(
                NewEvent(
                    EventKind.HOUSEKEEPING,
                    {"checkout": True, "dnd": False, "mur": False, "via": "stay"},
                    stay_id=previous,
                )
            )
        if stay is not None:
            self.checked_in_at = now
            state["checked_in_at"] = now.isoformat()
            events.append(
                NewEvent(
                    EventKind.HOUSEKEEPING,
                    {"checked_in": True},
                    stay_id=stay.stay_id,
                    member_id=stay.member_id,
                    sync=False,
                )
            )
        self.store.commit(state=state, events=events)
        self._values_key = None

    # --- ingest ----------------------------------------------------------------------------

    def _roles(self, name: str) -> set[str]:
        roles = {
            r
            for r in ("door", "window", "motion", "outdoor")
            if name in getattr(self.config.roles, r)
        }
        return roles or {"auto"}

    def _ingest(self, update: DeviceUpdate, now: datetime) -> None:
        name = update.device
        capability = self._caps.get(name)
        if capability is None:
            return
        self._availability(name, update.availability, now)
        if update.event is not None:
            self._event(update, now)
        if update.state is None:
            return
        previous = self.states.get(name)
        self.states[name] = update.state
        state = update.state
        if isinstance(state, SensorState):
            self._sensor(name, state, previous, now)
        elif isinstance(state, ClimateState):
            # The thermostat's "contact reception" key: the guest asks the front desk to call.
            reception = update.extra.get("contact_reception")
            if reception is True and self.reception_since is None:
                self.reception_since = now
            elif reception is False:
                self.reception_since = None
            # A window contact wired to the thermostat counts like a window sensor.
            wired = update.extra.get("window_open")
            if isinstance(wired, bool):
                key = f"{name}.window"
                if wired:
                    self.window_open_since.setdefault(key, now)
                else:
                    self.window_open_since.pop(key, None)
            if state.current_c is not None:
                self.indoor_c = state.current_c
                self.metrics.temperature.set(state.current_c)
            self._observe_recovery(state, now)
            if state.humidity_pct is not None:
                self.humidity_pct = state.humidity_pct
            self.metrics.setpoint.labels(device=name).set(state.setpoint_c)
            old = previous if isinstance(previous, ClimateState) else None
            station = state.door_station
            changed = station is not None and (old is None or old.door_station != station)
            if changed and (old is not None or station is not DoorStation.NORMAL):
                assert station is not None
                self._door_station(station)
            if (
                update.manual
                and old is not None
                and (
                    (old.mode, old.setpoint_c, old.fan) != (state.mode, state.setpoint_c, state.fan)
                )
            ):
                self._record_manual(name, capability, state, via="device")
        elif update.manual and state != previous:
            self._record_manual(name, capability, state, via="device")

    def _observe_recovery(self, state: ClimateState, now: datetime) -> None:
        """Learn how fast this room's HVAC recovers (°C/h at full capacity) from what the
        thermostat reports; persisted only when an estimate changes."""
        heating = {ClimateAction.HEATING: True, ClimateAction.COOLING: False}.get(state.action)
        before = self.recovery
        self.recovery = energy.observe_recovery(
            before,
            at=now,
            current_c=state.current_c,
            setpoint_c=state.setpoint_c,
            heating=heating,
        )
        if (self.recovery.heating_c_per_hour, self.recovery.cooling_c_per_hour) != (
            before.heating_c_per_hour,
            before.cooling_c_per_hour,
        ):
            self.store.commit(
                state={
                    "recovery_rates": {
                        "heating": self.recovery.heating_c_per_hour,
                        "cooling": self.recovery.cooling_c_per_hour,
                    }
                }
            )

    def _availability(self, name: str, avail: AvailabilityState, now: datetime) -> None:
        old = self.avail.get(name)
        if old is not None and old.status == avail.status:
            if old.reason != avail.reason:
                self.avail[name] = dataclasses.replace(old, reason=avail.reason)
            return
        self.avail[name] = dataclasses.replace(avail, since=avail.since or now)
        if not avail.available and self._motion_now.pop(name, None) is not None:
            # A sensor that stopped answering no longer says anyone is in.
            self.occ = energy.with_motion_state(self.occ, active=any(self._motion_now.values()))
        self.metrics.device_available.labels(device=name).set(1 if avail.available else 0)
        if avail.available:
            # Back: send it what it should be doing (it may have rebooted to defaults).
            self.sent.pop(name, None)
            self._retry.pop(name, None)

    def _event(self, update: DeviceUpdate, now: datetime) -> None:
        event = update.event
        assert event is not None
        if event.kind is SensorEventKind.DOOR_UNLOCKED:
            self.last_unlock = (event.actor, now)
        # Buttons request a state (DND, MUR, clear), they do not toggle: the thermostat's
        # door station reports the same press as both a state change and an event.
        elif event.kind is SensorEventKind.BUTTON_DND:
            self._housekeeping(dnd=True, via="button")
        elif event.kind is SensorEventKind.BUTTON_MUR:
            self._housekeeping(mur=True, via="button")
        elif event.kind is SensorEventKind.BUTTON_CLEAR:
            self._housekeeping(dnd=False, mur=False, via="button")

    def _sensor(self, name: str, state: SensorState, previous: State | None, now: datetime) -> None:
        roles = self._roles(name)
        contact = state.door_open if state.door_open is not None else state.window_open
        door: bool | None = None
        window: bool | None = None
        if "door" in roles:
            door = contact
        if "window" in roles:
            window = (state.window_open or False) or (state.door_open or False)
            if state.window_open is None and state.door_open is None:
                window = None
        if "auto" in roles:
            door, window = state.door_open, state.window_open
        if door is not None:
            if door and self.door_open_since is None:
                self.door_open_since = now
            elif not door:
                self.door_open_since = None
            self.occ = energy.on_door(self.occ, open_=door, at=now)
        if window is not None:
            if window:
                self.window_open_since.setdefault(name, now)
            else:
                self.window_open_since.pop(name, None)
        if state.occupancy is not None and ("motion" in roles or "auto" in roles):
            self._motion_now[name] = state.occupancy
            self.occ = energy.with_motion_state(self.occ, active=any(self._motion_now.values()))
        if state.occupancy and ("motion" in roles or "auto" in roles):
            self.occ = energy.on_motion(self.occ, now, self._occ_policy)
            self.last_motion_at = now
        if "outdoor" in roles:
            if state.temperature_c is not None:
                self._outdoor(state.temperature_c, now)
            return
        if state.temperature_c is not None and self.indoor_c is None:
            self.indoor_c = state.temperature_c
        if state.humidity_pct is not None and self.humidity_pct is None:
            self.humidity_pct = state.humidity_pct

    def _outdoor(self, outdoor_c: float, now: datetime) -> None:
        """An outdoor reading: today's value for the comfort model, and the running mean,
        stored with each reading (a few hundred small writes a day) so a restart loses none."""
        self.outdoor_c = outdoor_c
        before = self.outdoor_mean
        self.outdoor_mean = before.observe(now.astimezone(self.config.room.tz).date(), outdoor_c)
        if self.outdoor_mean is before:
            return
        self.store.commit(state={"outdoor_running_mean": self.outdoor_mean.to_json()})
        if self.outdoor_mean.mean_c != before.mean_c:
            self._values_key = None  # a new day: the comfort model's input changed

    def _comfort_inputs(self, now: datetime) -> ComfortInputs:
        return ComfortInputs(
            now,
            self.indoor_c,
            self.humidity_pct,
            outdoor_c=self.outdoor_c,
            outdoor_running_mean_c=self.outdoor_mean.mean_c,
        )

    def _ingest_presence(self, signal: PresenceSignal) -> None:
        if signal.who == "staff":
            if signal.present:  # a staff badge at the door: the next entry is staff's
                self.last_unlock = ("staff", signal.at)
            return
        stay = self.active_stay(signal.at)
        if stay is None or stay.stay_id != signal.stay_id:
            log.warning("presence_for_other_stay", via=signal.via)  # never log the id itself
            return
        was = self.occ.occupied
        self.occ = energy.on_presence(
            self.occ, present=signal.present, at=signal.at, sticky=signal.via == "ble"
        )
        if signal.present:
            self.last_unlock = ("app", signal.at)
            if was and self.entry == "staff" and self._stranger_entry:
                # The unrecognised person inside turns out to be the member: welcome them.
                self._occupancy_changed(signal.at)

    def _door_station(self, station: DoorStation) -> None:
        if station is DoorStation.DND:
            self._housekeeping(dnd=True, via="door_station")
        elif station is DoorStation.MUR:
            self._housekeeping(mur=True, via="door_station")
        else:
            self._housekeeping(dnd=False, mur=False, via="door_station")

    # --- housekeeping ------------------------------------------------------------------------

    def _housekeeping(self, *, dnd: bool | None = None, mur: bool | None = None, via: str) -> None:
        new_dnd = self.dnd if dnd is None else dnd
        new_mur = self.mur if mur is None else mur
        if dnd:  # the two exclude each other: the last request wins
            new_mur = False
        if mur:
            new_dnd = False
        if (new_dnd, new_mur) == (self.dnd, self.mur):
            return
        self.dnd, self.mur = new_dnd, new_mur
        stay = self.active_stay(self.clock.now())
        self.store.commit(
            state={"dnd": new_dnd, "mur": new_mur},
            events=[
                NewEvent(
                    EventKind.HOUSEKEEPING,
                    {"dnd": new_dnd, "mur": new_mur, "via": via},
                    stay_id=stay.stay_id if stay else None,
                )
            ],
        )
        log.info("housekeeping", dnd=new_dnd, mur=new_mur, via=via)
        self.wake.set()

    # --- manual changes = feedback -----------------------------------------------------------

    def _manual_json(self) -> dict[str, Any]:
        return {name: command_dict(cmd) for name, cmd in self.manual.items()}

    def _record_manual(self, name: str, capability: str, state: State, *, via: str) -> None:
        command = command_from_state(capability, state)  # type: ignore[arg-type]
        if command is None:
            return
        now = self.clock.now()
        self.manual[name] = command
        self.sent[name] = command  # the device is already there: nothing to send back
        self.metrics.manual_changes.labels(device=name).inc()
        desired = self.plan.get(name)
        suggested = desired.command if desired else None
        stay = self.active_stay(now)
        payload: dict[str, Any] = {
            "device": name,
            "capability": capability,
            "via": via,
            "scene": self.choice.name if self.choice else None,
            "suggested": command_dict(suggested),
            "chosen": state_dict(state),
        }
        events = [
            NewEvent(
                EventKind.MANUAL_CHANGE,
                payload,
                stay_id=stay.stay_id if stay else None,
                member_id=stay.member_id if stay else None,
            )
        ]
        prefs: MemberPreferences | None = None
        if (
            stay is not None
            and isinstance(state, ClimateState)
            and state.mode is not ClimateMode.OFF
        ):
            prefs = self.store.preferences(stay.member_id) or MemberPreferences(
                member_id=stay.member_id
            )
            suggested_c = self.values.setpoint_c
            if abs(state.setpoint_c - suggested_c) >= 0.25:
                prefs = self.resolver.learn(
                    prefs,
                    self._comfort_inputs(now),
                    suggested_c=suggested_c,
                    chosen_c=state.setpoint_c,
                )
                events.append(
                    NewEvent(
                        EventKind.PREFERENCE_LEARNED,
                        {
                            "comfort_offset": prefs.comfort_offset.model_dump(mode="json"),
                            "suggested_c": suggested_c,
                            "chosen_c": state.setpoint_c,
                        },
                        stay_id=stay.stay_id,
                        member_id=stay.member_id,
                    )
                )
            else:
                prefs = None
        self.store.commit(state={"manual": self._manual_json()}, events=events)
        if prefs is not None:
            self.store.put_preferences(prefs, dirty=True)
        log.info("manual_change", device=name, via=via)

    # --- occupancy ---------------------------------------------------------------------------

    def _occupancy_changed(self, now: datetime) -> None:
        stay = self.active_stay(now)
        at = self.occ.changed_at or now
        if self.occ.occupied:
            window = timedelta(seconds=self.config.occupancy.entry_window_s)
            staff = (
                self.last_unlock is not None
                and self.last_unlock[0] == "staff"
                and now - self.last_unlock[1] <= window
            )
            # In a rented room, an entry with no credential at the door (no unlock, no
            # recognised phone or room key) is not the member's: no personal welcome.
            self._stranger_entry = (
                stay is not None
                and not staff
                and not self.occ.member_present
                and (self.last_unlock is None or now - self.last_unlock[1] > window)
            )
            if self._stranger_entry:
                log.warning("entry_unrecognised", hint="no unlock or recognised member")
            entry: Entry
            state: dict[str, Any] = {
                "occupied": True,
                "vacant_since": None,
                "last_motion_at": self.last_motion_at.isoformat() if self.last_motion_at else None,
            }
            events: list[NewEvent] = []
            if staff or stay is None or self._stranger_entry:
                entry = "staff"
            else:
                key = f"first_entry:{stay.stay_id}"
                entry = "re" if self.store.get_state(key) else "first"
                state[key] = now.isoformat()
                if entry == "re" and self.guest_left_at is not None:
                    # One more outing for this guest's pattern (kept small: the last 20).
                    outings = f"outings:{stay.stay_id}"
                    history = list(self.store.get_state(outings, []) or [])[-19:]
                    state[outings] = [*history, [self.guest_left_at.isoformat(), at.isoformat()]]
                self.guest_left_at = None
                state["guest_left_at"] = None
                events.append(
                    NewEvent(
                        EventKind.ARRIVAL,
                        {"entry": entry, "member_present": self.occ.member_present},
                        stay_id=stay.stay_id,
                        member_id=stay.member_id,
                    )
                )
            self.entry = entry
            self.vacant_since = None
            state["entry"] = entry
            self.store.commit(state=state, events=events)
            log.info("occupied", entry=entry)
        else:
            events = []
            left: dict[str, Any] = {}
            if self.entry in ("first", "re") and stay is not None:
                events.append(
                    NewEvent(
                        EventKind.DEPARTURE, {}, stay_id=stay.stay_id, member_id=stay.member_id
                    )
                )
                self.guest_left_at = at
                left["guest_left_at"] = at.isoformat()
            if self.entry == "staff" and self.mur:
                # Housekeeping has been in: the make-up request is served.
                self.mur = False
                events.append(
                    NewEvent(
                        EventKind.HOUSEKEEPING,
                        {"dnd": self.dnd, "mur": False, "via": "staff_visit"},
                        stay_id=stay.stay_id if stay else None,
                    )
                )
            self.entry = None
            self.vacant_since = at
            self.manual.clear()  # the guest left: automation may act again
            self.store.commit(
                state={
                    "occupied": False,
                    "entry": None,
                    "vacant_since": at.isoformat(),
                    "manual": {},
                    "mur": self.mur,
                    **left,
                },
                events=events,
            )
            log.info("vacant")
        self.metrics.occupied.set(1 if self.occ.occupied else 0)

    # --- decisions -----------------------------------------------------------------------------

    def _refresh_values(self, prefs: MemberPreferences | None, now: datetime) -> None:
        key = (prefs.model_dump_json() if prefs else None,)
        fresh = self._values_at is not None and now - self._values_at < PREFS_REFRESH
        if key == self._values_key and fresh:
            return
        self.values = self.resolver.values(prefs, self._comfort_inputs(now))
        self._values_key, self._values_at = key, now

    def _situation(self, now: datetime, stay: StayAssignment | None) -> Situation:
        local = now.astimezone(self.config.room.tz)
        prefs = self.store.preferences(stay.member_id) if stay else None
        wake = self.config.wake_time()
        sleep = self.config.sleep_time()
        if prefs is not None:
            if prefs.routine.wake_time is not None:
                wake = _hhmm(prefs.routine.wake_time.value)
            if prefs.routine.sleep_time is not None:
                sleep = _hhmm(prefs.routine.sleep_time.value)
        upcoming = self._next_arrival(now)
        lead = self._energy_policy.precondition_max
        first_done = stay is None or bool(self.store.get_state(f"first_entry:{stay.stay_id}"))
        return Situation(
            now_local=local,
            rented=stay is not None,
            occupied=self.occ.occupied,
            entry=self.entry,
            first_entry_done=first_done,
            dnd=self.dnd,
            mur=self.mur,
            arrival_soon=upcoming is not None and upcoming.arrival - now <= lead,
            departed_at=self.departed_at.astimezone(self.config.room.tz)
            if self.departed_at
            else None,
            wake_time=wake,
            sleep_time=sleep,
        )

    def _energy(self, now: datetime, stay: StayAssignment | None) -> energy.ClimateTarget | None:
        configured = self.config.energy.season
        if configured == "auto":
            self.season = energy.season_for(
                self.indoor_c, self.values.setpoint_c, previous=self.season
            )
        else:
            self.season = energy.Season(configured)
        # A guest who has not shown up is waited for at their temperature for a bounded
        # time (after the expected arrival, or after check-in while they come up), then the
        # room falls back to the unrented limits or the away setback until they do.
        hold = timedelta(minutes=self.config.energy.arrival_hold_min)
        next_arrival: datetime | None = None
        if stay is not None and not self.store.get_state(f"first_entry:{stay.stay_id}"):
            since = max(stay.arrival, self.checked_in_at or stay.arrival)
            if now <= since + hold:
                next_arrival = max(now, stay.arrival)
        elif stay is None:
            upcoming = self._next_arrival(now)
            if upcoming is not None and now <= upcoming.arrival + hold:
                next_arrival = max(now, upcoming.arrival)
        self.expected_return = self._expected_return(now, stay)
        return energy.climate_target(
            energy.RoomEnergyState(
                now=now,
                rented=stay is not None,
                occupied=self.occ.occupied,
                vacant_since=self.vacant_since,
                preferred_c=self.values.setpoint_c,
                season=self.season,
                indoor_c=self.indoor_c,
                next_arrival=next_arrival,
                expected_return=self.expected_return,
                recovery_c_per_hour=self.recovery.rate(self.season),
                recovering_for=energy.recovering_for(self.energy_target),
                departure=stay.departure if stay is not None else None,
            ),
            self._energy_policy,
        )

    def _expected_return(self, now: datetime, stay: StayAssignment | None) -> datetime | None:
        """When the checked-in guest who went out is expected back (None: nobody to expect)."""
        left = self.guest_left_at
        if (
            not self._energy_policy.predict_returns
            or stay is None
            or self.occ.occupied
            or left is None
            or left < max(stay.arrival, self.checked_in_at or stay.arrival)
        ):
            return None
        raw = self.store.get_state(f"outings:{stay.stay_id}", []) or []
        history = [(datetime.fromisoformat(a), datetime.fromisoformat(b)) for a, b in raw]
        return energy.expected_return(
            left, history, tz=self.config.room.tz, policy=self._energy_policy
        )

    def _interlock(self, now: datetime) -> str | None:
        grace = timedelta(seconds=self.config.safety.window_grace_s)
        for name, since in sorted(self.window_open_since.items()):
            if now - since >= grace:
                return f"{name} open for {int((now - since).total_seconds())} s: HVAC off"
        return None

    # --- dispatch --------------------------------------------------------------------------------

    def _dispatch(self, plan: Plan, *, new_scene: bool) -> None:
        mono = self.clock.monotonic()
        run = self.scene_run
        if new_scene:
            assert self.choice is not None
            run = self.scene_run = SceneRun(
                self.choice.name, self.choice.why, time.perf_counter(), set()
            )
            log.info("scene", scene=self.choice.name, why=self.choice.why)
        for name, desired in plan.items():
            if desired.command is None:
                if new_scene and run is not None:
                    run.results[name] = {"layer": desired.layer.value, "did": "unchanged"}
                continue
            if name in self.inflight:
                if new_scene and run is not None:
                    run.pending.add(name)
                continue
            if self.sent.get(name) == desired.command:
                if new_scene and run is not None:
                    run.results[name] = {"layer": desired.layer.value, "did": "already so"}
                continue
            if not self._ready_for_commands(name, mono):
                # Starting up: it gets its command the moment it reports available.
                if new_scene and run is not None:
                    run.results[name] = {
                        "layer": desired.layer.value,
                        "did": "waiting for the device",
                    }
                continue
            retry = self._retry.get(name)
            if retry is not None and retry[0] > mono:
                if new_scene and run is not None:
                    run.results[name] = {
                        "layer": desired.layer.value,
                        "did": "failing, retry later",
                    }
                continue
            if run is not None:
                run.pending.add(name)
            self.inflight[name] = asyncio.get_running_loop().create_task(
                self._send(desired), name=f"apply-{name}"
            )
        if run is not None and new_scene:
            self._maybe_finish(run)

    def _ready_for_commands(self, name: str, mono: float) -> bool:
        """A device that has not yet reported itself available is not sent commands during
        the start grace (no failures and retries while the MQTT session comes up); after
        it, every device is tried, and failures back off as usual."""
        avail = self.avail.get(name)
        if avail is not None and avail.available:
            return True
        return mono - self._started_mono >= self.config.runtime.start_grace_s

    async def _send(self, desired: DesiredState) -> None:
        name = desired.device
        device: Any = self.devices.get(name)
        try:
            outcome = await apply_one(desired, device, self.config.runtime.apply_timeout_s)
        finally:
            self.inflight.pop(name, None)
        self.outcomes[name] = outcome
        if outcome.ok:
            self.sent[name] = desired.command  # type: ignore[assignment]
            self._retry.pop(name, None)
            if outcome.state is not None:
                self.states[name] = outcome.state
        else:
            delay = min(RETRY_MAX_S, (self._retry.get(name, (0.0, RETRY_INITIAL_S / 2))[1]) * 2)
            self._retry[name] = (self.clock.monotonic() + delay, delay)
            self.metrics.command_failures.labels(device=name).inc()
            log.warning("command_failed", device=name, error=outcome.error, retry_s=delay)
        run = self.scene_run
        if run is not None and name in run.pending:
            run.pending.discard(name)
            run.results[name] = {
                "layer": desired.layer.value,
                "did": "ok" if outcome.ok else "failed",
                "command": command_dict(desired.command),
                "error": outcome.error,
                "ms": round(outcome.elapsed_ms, 1),
            }
            self._maybe_finish(run)
        self.wake.set()

    def _maybe_finish(self, run: SceneRun) -> None:
        if run.pending or run.done_at is not None:
            return
        run.done_at = time.perf_counter()
        self.last_scene_run = run
        stay = self.active_stay(self.clock.now())
        failed = sorted(n for n, r in run.results.items() if r["did"] == "failed")
        self.store.commit(
            events=[
                NewEvent(
                    EventKind.SCENE_APPLIED,
                    {"scene": run.scene, "why": run.why, "devices": run.results},
                    stay_id=stay.stay_id if stay else None,
                    member_id=stay.member_id if stay else None,
                )
            ]
        )
        self.metrics.scene_applied.labels(scene=run.scene).inc()
        self.metrics.scene_seconds.observe(run.seconds or 0.0)
        log.info("scene_applied", scene=run.scene, failed=failed, seconds=run.seconds)
        for listener in list(self._scene_listeners):
            listener(run)

    # --- alerts ------------------------------------------------------------------------------

    def _update_alerts(self, now: datetime, stay: StayAssignment | None) -> None:
        for name, state in self.states.items():
            if isinstance(state, ClimateState):
                held = self._setpoint_since.get(name)
                if held is None or held[0] != state.setpoint_c or state.mode is ClimateMode.OFF:
                    self._setpoint_since[name] = (state.setpoint_c, now)
        want = room_alerts(
            RoomFacts(
                now=now,
                door_open_since=self.door_open_since,
                window_open_since=self.window_open_since,
                availability=self.avail,
                states=self.states,
                setpoint_since=self._setpoint_since,
                reception_since=self.reception_since,
                checked_in_since=stay.arrival if stay else None,
                last_motion_at=self.last_motion_at,
            ),
            self.config.alerts,
            window_grace=timedelta(seconds=self.config.safety.window_grace_s),
        )
        raised = want.keys() - self.alerts.keys()
        cleared = self.alerts.keys() - want.keys()
        # Sources joined or left an alert that stays raised (a second lamp went down).
        changed = {
            k for k in want.keys() & self.alerts.keys() if want[k].detail != self.alerts[k].detail
        }
        if raised or cleared or changed:
            events = (
                [
                    NewEvent(
                        EventKind.ALERT,
                        {"alert": want[k].model_dump(mode="json"), "raised": True},
                        stay_id=stay.stay_id if stay else None,
                    )
                    for k in sorted(raised)
                ]
                + [
                    NewEvent(
                        EventKind.ALERT,
                        {"alert": self.alerts[k].model_dump(mode="json"), "raised": False},
                        stay_id=stay.stay_id if stay else None,
                    )
                    for k in sorted(cleared)
                ]
                + [
                    NewEvent(
                        EventKind.ALERT,
                        {"alert": want[k].model_dump(mode="json"), "raised": True, "changed": True},
                        stay_id=stay.stay_id if stay else None,
                    )
                    for k in sorted(changed)
                ]
            )
            self.store.commit(
                state={"last_motion_at": self.last_motion_at.isoformat()}
                if self.last_motion_at
                else None,
                events=events,
            )
            for key in sorted(raised):
                log.warning("alert", kind=want[key].kind, detail=want[key].detail)
        self.alerts = want
        self.metrics.alerts.set(len(want))

    # --- status ------------------------------------------------------------------------------

    def status(self, *, online: bool = True) -> RoomStatus:
        now = self.clock.now()
        stay = self.active_stay(now)
        devices = []
        for name in sorted(self.devices):
            avail = self.avail.get(name) or AvailabilityState()
            devices.append(
                DeviceStatus(
                    device=name,
                    capability=self._caps[name],
                    availability=avail.status,
                    reason=avail.reason[:256] if avail.reason else None,
                    state=state_dict(self.states.get(name)),
                )
            )
        return RoomStatus(
            property_id=self.config.room.property_id,
            room_id=self.config.room.room_id,
            at=now,
            rented=stay is not None,
            occupied=self.occ.occupied,
            member_present=self.occ.member_present,
            scene=self.choice.name if self.choice else "starting",
            dnd=self.dnd,
            mur=self.mur,
            devices=devices[:64],
            alerts=sorted(self.alerts.values(), key=lambda a: (a.kind, a.detail))[:32],
            online=online,
        )

    def _publish_status(self, now: datetime) -> None:
        self.metrics.rented.set(1 if self._active_stay_id else 0)
        self.metrics.dnd.set(1 if self.dnd else 0)
        self.metrics.mur.set(1 if self.mur else 0)
        self.metrics.occupied.set(1 if self.occ.occupied else 0)
        if not self._status_listeners:
            return
        status = self.status()
        key = status.model_dump_json(exclude={"at"})
        if key == self._last_status_key:
            return
        self._last_status_key = key
        for listener in list(self._status_listeners):
            listener(status)

    def describe(self) -> dict[str, Any]:
        """More than RoomStatus, for people: the plan, why, and the last scene's result."""
        run = self.last_scene_run
        return {
            "scene": self.choice.name if self.choice else None,
            "why": self.choice.why if self.choice else None,
            "overlays": list(self.choice.overlays) if self.choice else [],
            "plan": {
                name: {
                    "layer": d.layer.value,
                    "command": command_dict(d.command),
                    "reason": d.reason,
                    "origins": d.origins,
                }
                for name, d in self.plan.items()
            },
            "energy": None
            if self.energy_target is None
            else {
                "mode": self.energy_target.mode.value,
                "setpoint_c": self.energy_target.setpoint_c,
                "reason": self.energy_target.reason,
            },
            "season": self.season.value if self.season else None,
            "expected_return": self.expected_return.isoformat() if self.expected_return else None,
            "recovery_c_per_hour": {
                "heating": self.recovery.heating_c_per_hour,
                "cooling": self.recovery.cooling_c_per_hour,
            },
            "manual": self._manual_json(),
            "last_scene": None
            if run is None
            else {"scene": run.scene, "seconds": run.seconds, "devices": run.results},
            "outbox_pending": self.store.outbox_depth(),
        }


def _hhmm(value: str) -> Any:
    from datetime import time as _time

    hours, minutes = value.split(":")
    return _time(int(hours), int(minutes))
