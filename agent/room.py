"""The room controller: one step is sensing → decide → dispatch, in that direction only.

    facts (agent.facts)     device updates through agent.sensing, presence signals,
                            central's changes, the app, the dispatcher's reports
      → decide()            pure: new memory, plan, events (agent.decide)
      → learn               the guest's changes move the member's starting point
      → commit              memory + the step's outbox events, ONE transaction
      → dispatch            commands to the drivers (agent.dispatch), never waited on
      → status              RoomStatus to listeners (MQTT, API)

    room = RoomController(config, store=store, devices=devices, scenes=book,
                          resolver=resolver, clock=clock)
    for device in devices.values():
        device.subscribe(room.on_device_update)
    room.feed(PresenceSignal(stay_id, present=True, via="ble", at=now))   # member recognition
    room.stays_changed()            # central wrote new stays to the store
    room.step()                     # or: await room.run() under the supervisor
    room.status()                   # sync.wire.RoomStatus

Time is the injected Clock's, everywhere (wall time for facts and memory, its monotonic
reading for durations); nothing here reads time.monotonic.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from agent import feedback
from agent.config import RoomConfig
from agent.decide import Preferences, RoomRules, active_stay, decide
from agent.device_commands import COMMAND_TYPES, command_dict, state_dict
from agent.dispatch import Dispatcher, SceneRun
from agent.facts import (
    AvailabilityChanged,
    ClimateReported,
    CommandSettled,
    Fact,
    GuestOverride,
    HousekeepingRequest,
    PreferencesChanged,
    PresenceSignal,
    Released,
    StaysChanged,
)
from agent.metrics import AgentMetrics
from agent.preferences import ComfortInputs, PreferenceResolver
from agent.room_memory import Memory
from agent.room_view import RoomReadings, room_detail, room_status, status_key
from agent.room_writer import StepWriter
from agent.sensing import Sensing
from agent.store import AgentStore, NewEvent
from drivers.base import Device, DeviceUpdate, DriverError, State
from scenes import energy
from scenes.engine import Plan, PreferenceValues
from scenes.loader import SceneBook
from scenes.model import Command
from scenes.select import SceneChoice
from smartroom.clock import Clock
from smartroom.log import get_logger
from sync.wire import Alert, EventKind, RoomStatus, StayAssignment

log = get_logger("agent.room")

PREFS_REFRESH = timedelta(minutes=15)

_WARNINGS = frozenset({"alert", "presence_for_other_stay", "entry_unrecognised"})

__all__ = ["RoomController", "SceneRun", "command_dict", "state_dict"]


class RoomController(RoomReadings):
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
        self.resolver = resolver
        self.clock = clock
        self.metrics = metrics or AgentMetrics()
        caps = {name: dev.capability for name, dev in self.devices.items()}
        self.rules = RoomRules.build(config, scenes, caps)
        now = clock.now()
        self.sensing = Sensing(config, caps)
        self.sensing.start(now)
        self._facts: deque[Fact] = deque()
        self.wake = asyncio.Event()
        self.memory = self._load(now)
        self.writer = StepWriter(store, clock, self.memory)
        self.dispatcher = Dispatcher(
            self.devices,
            clock=clock,
            timeout_s=config.runtime.apply_timeout_s,
            start_grace_s=config.runtime.start_grace_s,
            report=self.feed,
            on_scene_done=self._scene_done,
        )
        if self.memory.scene is not None:
            self.dispatcher.resume(self.memory.scene)
        self._stays: tuple[StayAssignment, ...] = tuple(store.stays())
        self._holding: set[str] = set()  # app overrides being applied right now
        self.values = PreferenceValues(setpoint_c=config.limits.default_setpoint_c)
        self._values_key: tuple[Any, ...] | None = None
        self._values_at: datetime | None = None
        self.choice: SceneChoice | None = None
        self.plan: Plan = {}
        self.energy_target: energy.ClimateTarget | None = None
        self.expected_return: datetime | None = None
        self._scene_listeners: list[Callable[[SceneRun], None]] = []
        self._status_listeners: list[Callable[[RoomStatus], None]] = []
        # Alerts about the box rather than the room (clock skew, a refused model update):
        # the room's status carries them to the board with the room's own.
        self.alert_sources: list[Callable[[], list[Alert]]] = [store.clock_alerts]
        self._last_status_key: str | None = None
        self.last_step_monotonic = clock.monotonic()
        self.steps = 0

    def _load(self, now: datetime) -> Memory:
        saved = self.store.load_memory()
        if saved is None:
            return Memory.fresh(now)
        try:
            return Memory.from_json(saved, dict(self.rules.capabilities))
        except (KeyError, TypeError, ValueError) as exc:
            # Never silently: say what was dropped. The room relearns from its devices.
            log.error("memory_unreadable", error=f"{type(exc).__name__}: {exc}")
            return Memory.fresh(now)

    # --- inputs: everything becomes a fact ------------------------------------------------

    def feed(self, fact: Fact) -> None:
        """Queue a fact for the next step and wake the loop (any producer, any task)."""
        self._facts.append(fact)
        self.wake.set()

    def on_device_update(self, update: DeviceUpdate) -> None:
        """Driver listener: sensing turns the update into facts, stamped on arrival."""
        for fact in self.sensing.observe(update, at=self.clock.now()):
            self._facts.append(fact)
        self.wake.set()

    def on_presence(self, signal: PresenceSignal) -> None:
        self.feed(signal)

    def prime(self) -> None:
        """Take every device's current state and availability (at start-up)."""
        for name, device in self.devices.items():
            state = getattr(device, "state", None)
            self.on_device_update(DeviceUpdate(name, device.availability, state))

    @property
    def stays(self) -> tuple[StayAssignment, ...]:
        """The stays the room acts on (as of its last step)."""
        return self._stays

    def stays_changed(self) -> None:
        """Central's stays for this room were written to the store."""
        self.feed(StaysChanged(tuple(self.store.stays()), self.clock.now()))

    def preferences_changed(self, member_id: str = "") -> None:
        self.feed(PreferencesChanged(member_id, self.clock.now()))

    def apply_config(self, config: RoomConfig) -> None:
        """Run on `config` from the next step (central's room config changed limits,
        setbacks, delays or defaults): the rules and the resolved values are rebuilt."""
        self.config = config
        self.rules = RoomRules.build(config, self.rules.scenes, self.rules.capabilities)
        self.resolver.configure(config)
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
        self.feed(HousekeepingRequest(dnd, mur, via, self.clock.now()))
        self.step()

    async def override(self, device: str, command: Command, *, via: str = "app") -> State:
        """A guest's change through the app: applied now, then held like a knob change."""
        target = self.devices.get(device)
        capability = self.rules.capabilities.get(device)
        if target is None or capability in (None, "sensor"):
            raise KeyError(device)
        expected = COMMAND_TYPES[capability or ""]
        if not isinstance(command, expected):
            raise TypeError(f"{device} is a {capability}: it takes {expected.__name__}")
        self._holding.add(device)  # automation keeps off it while we are applying
        try:
            async with asyncio.timeout(self.config.runtime.apply_timeout_s):
                state: State = await target.apply(command)  # type: ignore[attr-defined]
        except (DriverError, TimeoutError):
            raise
        finally:
            self._holding.discard(device)
        self.sensing.confirmed(device, state)
        self.feed(GuestOverride(device, command, state, via, self.clock.now()))
        self.step()
        return state

    def release(self, device: str) -> bool:
        """Hand a device back to automation (the guest's app or staff)."""
        if device not in self.memory.manual:
            return False
        self.feed(Released(device, self.clock.now()))
        return True

    # --- the loop ---------------------------------------------------------------------------

    async def run(self, beat: Callable[[], None] | None = None) -> None:
        """Step on every fact and on a steady tick; `beat` after each step is the proof of
        life the systemd watchdog is fed from (nothing else feeds it)."""
        tick = self.config.runtime.tick_s
        while True:
            try:
                async with asyncio.timeout(tick):
                    await self.wake.wait()
            except TimeoutError:
                pass
            self.wake.clear()
            started = self.clock.monotonic()
            self.metrics.loop_lag.set(max(0.0, started - self.last_step_monotonic - tick))
            self.step()
            if beat is not None:
                beat()

    def step(self) -> None:
        now = self.clock.now()
        facts = list(self._facts)
        self._facts.clear()
        self._count(facts)
        for fact in facts:
            if isinstance(fact, StaysChanged):
                self._stays = fact.stays
                self._values_key = None
            elif isinstance(fact, PreferencesChanged):
                self._values_key = None
            elif isinstance(fact, CommandSettled) and fact.ok and fact.state is not None:
                self.sensing.confirmed(fact.device, fact.state)
        stay = active_stay(self._stays)
        prefs = self.store.preferences(stay.member_id) if stay else None
        self._refresh_values(prefs, now)
        previous = self.memory
        decision = decide(
            facts,
            previous,
            Preferences(self._stays, prefs, self.values),
            now,
            rules=self.rules,
            devices=self.sensing.view(),
            previous_plan=self.plan,
            previous_scene=self.choice.name if self.choice else None,
        )
        learnt, learn_events = feedback.learn(
            decision.feedback,
            prefs,
            stay,
            resolver=self.resolver,
            inputs=self._comfort_inputs(now),
            values=self.values,
            tz=self.config.room.tz,
        )
        self.memory = memory = decision.memory
        self.plan, self.choice = decision.plan, decision.choice
        self.energy_target, self.expected_return = decision.energy_target, decision.expected_return
        for name, command in decision.already_there.items():
            self.dispatcher.already_there(name, command)
        for name in decision.resend:
            self.dispatcher.resend(name)
        plan = {n: d for n, d in decision.plan.items() if n not in self._holding}
        self.dispatcher.dispatch(plan, decision.choice, self.sensing.view())
        self.writer.commit(memory, [*decision.events, *learn_events], learnt)
        if learnt is not None or memory.outdoor_mean.mean_c != previous.outdoor_mean.mean_c:
            self._values_key = None  # the comfort model's inputs changed
        for event, fields in decision.notes:
            if event == "manual_change":
                self.metrics.manual_changes.labels(device=fields["device"]).inc()
            (log.warning if event in _WARNINGS else log.info)(event, **fields)
        self._publish_status()
        self.last_step_monotonic = self.clock.monotonic()
        self.steps += 1

    def _count(self, facts: list[Fact]) -> None:
        for fact in facts:
            if isinstance(fact, AvailabilityChanged):
                up = 1 if fact.availability.available else 0
                self.metrics.device_available.labels(device=fact.device).set(up)
            elif isinstance(fact, CommandSettled) and not fact.ok:
                self.metrics.command_failures.labels(device=fact.device).inc()
            elif isinstance(fact, ClimateReported):
                self.metrics.setpoint.labels(device=fact.device).set(fact.state.setpoint_c)

    def _refresh_values(self, prefs: Any, now: datetime) -> None:
        key = (prefs.model_dump_json() if prefs else None,)
        fresh = self._values_at is not None and now - self._values_at < PREFS_REFRESH
        if key == self._values_key and fresh:
            return
        self.values = self.resolver.values(prefs, self._comfort_inputs(now))
        self._values_key, self._values_at = key, now

    def _comfort_inputs(self, now: datetime) -> ComfortInputs:
        m = self.memory
        return ComfortInputs(
            now,
            m.indoor_c,
            m.humidity_pct,
            outdoor_c=m.outdoor_c,
            outdoor_running_mean_c=m.outdoor_mean.mean_c,
        )

    def _scene_done(self, run: SceneRun) -> None:
        stay = active_stay(self._stays)
        failed = sorted(n for n, r in run.results.items() if r.get("did") == "failed")
        self.writer.hold(
            NewEvent(
                EventKind.SCENE_APPLIED,
                {"scene": run.scene, "why": run.why, "devices": run.results},
                stay_id=stay.stay_id if stay else None,
                member_id=stay.member_id if stay else None,
            )
        )
        self.metrics.scene_applied.labels(scene=run.scene).inc()
        self.metrics.scene_seconds.observe(run.seconds or 0.0)
        log.info("scene_applied", scene=run.scene, failed=failed, seconds=run.seconds)
        for listener in list(self._scene_listeners):
            listener(run)
        self.wake.set()

    # --- what the room shows ------------------------------------------------------------------

    def active_stay(self, now: datetime | None = None) -> StayAssignment | None:
        return active_stay(self._stays)

    def status(self, *, online: bool = True) -> RoomStatus:
        return room_status(self, online=online)

    def _publish_status(self) -> None:
        m = self.memory
        self.metrics.rented.set(1 if m.stay else 0)
        self.metrics.dnd.set(1 if m.dnd else 0)
        self.metrics.mur.set(1 if m.mur else 0)
        self.metrics.occupied.set(1 if m.occ.occupied else 0)
        self.metrics.alerts.set(len(m.alerts))
        if m.indoor_c is not None:
            self.metrics.temperature.set(m.indoor_c)
        if not self._status_listeners:
            return
        status = self.status()
        key = status_key(status)
        if key == self._last_status_key:
            return
        self._last_status_key = key
        for listener in list(self._status_listeners):
            listener(status)

    def describe(self) -> dict[str, Any]:
        """More than RoomStatus, for people: the plan, why, and the last scene's result."""
        return room_detail(self)
