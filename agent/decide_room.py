"""The bookkeeping half of `decide()`: folding facts into the room's memory (occupancy,
the guest's changes, commands that landed late, telemetry). Pure, like decide itself; the
stay's transitions (entered, left, checked in or out, housekeeping) are `agent.decide_stay`.

    folded = fold(facts, memory, stay, now, rules=..., values=..., previous_plan=...,
                  events=events, notes=notes)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from agent.decide_stay import Notes, housekeeping, occupancy_changed, presence, staff_service
from agent.device_commands import command_dict, command_from_state, explains, state_dict
from agent.facts import (
    AvailabilityChanged,
    ClimateReported,
    CommandSettled,
    DeviceChanged,
    DoorChanged,
    DoorUnlocked,
    Fact,
    GuestOverride,
    HousekeepingRequest,
    IndoorReading,
    MotionChanged,
    OutdoorReading,
    PresenceSignal,
    Released,
    StaffService,
    WindowChanged,
)
from agent.room_memory import UNCONFIRMED_KEPT, Memory
from agent.store import NewEvent
from drivers.base import ClimateAction, State
from scenes import energy
from scenes.engine import Plan, PreferenceValues
from scenes.model import Command
from sync.wire import EventKind, StayAssignment

if TYPE_CHECKING:
    from agent.decide import ManualChange, RoomRules


# What a device reports this soon after coming back is its power-on state (a lamp at
# 100 %, a thermostat at heat/22 °C), not the guest's choice: the room's is re-applied.
POWER_ON_WINDOW = timedelta(seconds=30)


@dataclass(slots=True)
class Folded:
    memory: Memory
    feedback: list[ManualChange] = field(default_factory=list)
    already_there: dict[str, Command] = field(default_factory=dict)
    resend: set[str] = field(default_factory=set)


def fold(
    facts: Sequence[Fact],
    memory: Memory,
    stay: StayAssignment | None,
    now: datetime,
    *,
    rules: RoomRules,
    values: PreferenceValues,
    previous_plan: Plan,
    previous_scene: str | None,
    events: list[NewEvent],
    notes: Notes,
) -> Folded:
    out = Folded(memory)
    was_occupied = memory.occ.occupied
    for fact in facts:
        _one(fact, out, stay, rules, previous_plan, previous_scene, events, notes)
    m = out.memory
    occ = energy.evaluate(m.occ, now, rules.occupancy)
    out.memory = m = replace(m, occ=occ)
    if occ.occupied != was_occupied:
        out.memory = occupancy_changed(m, stay, now, rules, events, notes)
    return out


def _one(
    fact: Fact,
    out: Folded,
    stay: StayAssignment | None,
    rules: RoomRules,
    previous_plan: Plan,
    previous_scene: str | None,
    events: list[NewEvent],
    notes: Notes,
) -> None:
    m = out.memory
    if isinstance(fact, PresenceSignal):
        out.memory = presence(fact, m, stay, rules, events, notes)
    elif isinstance(fact, AvailabilityChanged):
        name, avail = fact.device, fact.availability
        if avail.available:
            # Back: send it what it should be doing (it may have rebooted to defaults).
            out.resend.add(name)
            if fact.returned:
                out.memory = replace(m, returned_at={**m.returned_at, name: fact.at})
        elif name in m.motion_now:
            # A sensor that stopped answering no longer says anyone is in.
            motion = {k: v for k, v in m.motion_now.items() if k != name}
            occ = energy.with_motion_state(m.occ, active=any(motion.values()))
            out.memory = replace(m, motion_now=motion, occ=occ)
    elif isinstance(fact, DoorChanged):
        since = (m.door_open_since or fact.at) if fact.open else None
        occ = energy.on_door(m.occ, open_=fact.open, at=fact.at)
        out.memory = replace(m, door_open_since=since, occ=occ)
    elif isinstance(fact, WindowChanged):
        windows = dict(m.window_open_since)
        if fact.open:
            windows.setdefault(fact.source, fact.at)
        else:
            windows.pop(fact.source, None)
        out.memory = replace(m, window_open_since=windows)
    elif isinstance(fact, MotionChanged):
        motion = {**m.motion_now, fact.sensor: fact.active}
        occ = energy.with_motion_state(m.occ, active=any(motion.values()))
        last = m.last_motion_at
        if fact.active:
            occ = energy.on_motion(occ, fact.at, rules.occupancy)
            last = fact.at
        out.memory = replace(m, motion_now=motion, occ=occ, last_motion_at=last)
    elif isinstance(fact, DoorUnlocked):
        out.memory = replace(m, last_unlock=(fact.actor, fact.at))
    elif isinstance(fact, ClimateReported):
        out.memory = _climate(m, fact)
    elif isinstance(fact, IndoorReading):
        out.memory = replace(
            m,
            indoor_c=m.indoor_c if m.indoor_c is not None else fact.temperature_c,
            humidity_pct=m.humidity_pct if m.humidity_pct is not None else fact.humidity_pct,
        )
    elif isinstance(fact, OutdoorReading):
        day = fact.at.astimezone(rules.config.room.tz).date()
        out.memory = replace(
            m,
            outdoor_c=fact.temperature_c,
            outdoor_mean=m.outdoor_mean.observe(day, fact.temperature_c),
        )
    elif isinstance(fact, CommandSettled):
        if not fact.ok:
            kept = [c for c in m.unconfirmed.get(fact.device, ()) if c != fact.command]
            unconfirmed = {**m.unconfirmed, fact.device: (*kept, fact.command)[-UNCONFIRMED_KEPT:]}
            out.memory = replace(m, unconfirmed=unconfirmed)
    elif isinstance(fact, DeviceChanged):
        _device_changed(fact, out, stay, rules, previous_plan, previous_scene, events, notes)
    elif isinstance(fact, HousekeepingRequest):
        out.memory = housekeeping(m, fact.dnd, fact.mur, fact.via, stay, events, notes)
    elif isinstance(fact, StaffService):
        out.memory = staff_service(m, fact, stay, events, notes)
    elif isinstance(fact, GuestOverride):
        _record_manual(
            out, fact.device, fact.state, fact.command, fact.via, fact.at,
            stay, rules, previous_plan, previous_scene, events, notes,
        )  # fmt: skip
    elif isinstance(fact, Released) and fact.device in m.manual:
        out.memory = replace(m, manual={k: v for k, v in m.manual.items() if k != fact.device})
        out.resend.add(fact.device)
    # StaysChanged / PreferencesChanged: the controller already holds the new lists.


def _climate(m: Memory, fact: ClimateReported) -> Memory:
    state = fact.state
    reception = m.reception_since
    if fact.reception is True and reception is None:
        reception = fact.at
    elif fact.reception is False:
        reception = None
    heating = {ClimateAction.HEATING: True, ClimateAction.COOLING: False}.get(state.action)
    recovery = energy.observe_recovery(
        m.recovery,
        at=fact.at,
        current_c=state.current_c,
        setpoint_c=state.setpoint_c,
        heating=heating,
    )
    meter = m.energy if state.energy_kwh is None else m.energy.read(fact.device, state.energy_kwh)
    return replace(
        m,
        reception_since=reception,
        indoor_c=state.current_c if state.current_c is not None else m.indoor_c,
        humidity_pct=state.humidity_pct if state.humidity_pct is not None else m.humidity_pct,
        recovery=recovery,
        energy=meter,
    )


def _device_changed(
    fact: DeviceChanged,
    out: Folded,
    stay: StayAssignment | None,
    rules: RoomRules,
    previous_plan: Plan,
    previous_scene: str | None,
    events: list[NewEvent],
    notes: Notes,
) -> None:
    if not fact.manual:
        return
    m = out.memory
    name = fact.device
    late = [c for c in m.unconfirmed.get(name, ()) if explains(c, fact.state)]
    if late:
        # One of ours that timed out, carried out now: not the guest's doing.
        rest = tuple(c for c in m.unconfirmed[name] if c not in late)
        out.memory = replace(m, unconfirmed={**m.unconfirmed, name: rest})
        out.already_there[name] = late[-1]
        notes.append(("late_command_landed", {"device": name}))
        return
    back = m.returned_at.get(name)
    if back is not None and fact.at - back <= POWER_ON_WINDOW:
        out.resend.add(name)
        notes.append(("power_on_state", {"device": name}))
        return
    command = command_from_state(rules.capabilities[name], fact.state)
    if command is None:
        return
    _record_manual(
        out, name, fact.state, command, "device", fact.at,
        stay, rules, previous_plan, previous_scene, events, notes,
    )  # fmt: skip


def _record_manual(
    out: Folded,
    name: str,
    state: State,
    command: Command,
    via: str,
    at: datetime,
    stay: StayAssignment | None,
    rules: RoomRules,
    previous_plan: Plan,
    previous_scene: str | None,
    events: list[NewEvent],
    notes: Notes,
) -> None:
    from agent.decide import ManualChange

    m = out.memory
    out.memory = replace(m, manual={**m.manual, name: command})
    out.already_there[name] = command  # the device is already there: nothing to send back
    desired = previous_plan.get(name)
    suggested = desired.command if desired else None
    capability = rules.capabilities[name]
    events.append(
        NewEvent(
            EventKind.MANUAL_CHANGE,
            {
                "device": name,
                "capability": capability,
                "via": via,
                "scene": previous_scene,
                "suggested": command_dict(suggested),
                "chosen": state_dict(state),
            },
            stay_id=stay.stay_id if stay else None,
            member_id=stay.member_id if stay else None,
        )
    )
    out.feedback.append(
        ManualChange(name, capability, state, command, via, at, suggested, previous_scene)
    )
    notes.append(("manual_change", {"device": name, "via": via}))
