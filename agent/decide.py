"""Deciding: one pure function from what happened to what the room should do.

    decision = decide(facts, memory, preferences, now, rules=rules)
    decision.memory        # the room's new memory (write it with decision.events)
    decision.plan          # device -> DesiredState (scenes.engine.resolve)
    decision.events        # outbox/event-log entries this step produced
    decision.feedback      # the guest's changes, for the learners (agent.feedback)

No I/O, no asyncio, no clock reads: the same inputs give the same decision, so it is
tested as a table of cases (tests/agent/test_decide.py). Arbitration (interlock > manual >
scene > default), scene choice, energy setback and pre-conditioning happen here, through
`scenes/`. The facts are folded into the memory by `agent.decide_room`, the stay's
transitions (entered, left, checked in or out, housekeeping) by `agent.decide_stay`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, time, timedelta
from typing import Any

from agent.alerts import step_alerts
from agent.benefits import deliver_room_benefits, effective_departure, signature_scene
from agent.config import RoomConfig
from agent.decide_room import fold
from agent.decide_stay import Notes, stay_changes
from agent.facts import DeviceView, Fact
from agent.room_memory import Memory
from agent.store import NewEvent
from drivers.base import CapabilityName, State
from scenes import energy
from scenes.energy_comfort import feedback_quantile
from scenes.engine import EngineInput, Plan, PreferenceValues, resolve
from scenes.loader import SceneBook
from scenes.model import Command
from scenes.select import SceneChoice, Situation, select_scene
from sync.wire import MemberPreferences, StayAssignment


@dataclass(frozen=True, slots=True)
class RoomRules:
    """What does not change while the agent runs: the room file and the scene book."""

    config: RoomConfig
    scenes: SceneBook
    capabilities: Mapping[str, CapabilityName]
    occupancy: energy.OccupancyPolicy
    energy: energy.EnergyPolicy

    @classmethod
    def build(
        cls, config: RoomConfig, scenes: SceneBook, capabilities: Mapping[str, CapabilityName]
    ) -> RoomRules:
        return cls(
            config,
            scenes,
            dict(capabilities),
            config.occupancy.policy(),
            config.energy.policy(config.limits),
        )


@dataclass(frozen=True, slots=True)
class Preferences:
    """The stays central lists for this room, and the checked-in member's preferences with
    their resolved values (explicit > learned > model > room default)."""

    stays: tuple[StayAssignment, ...] = ()
    member: MemberPreferences | None = None
    values: PreferenceValues = field(default_factory=PreferenceValues)


@dataclass(frozen=True, slots=True)
class ManualChange:
    """A change no command of ours explains: the guest's choice, held and learnt from."""

    device: str
    capability: str
    state: State
    command: Command
    via: str
    at: datetime
    suggested: Command | None
    scene: str | None


@dataclass(frozen=True, slots=True)
class Decision:
    memory: Memory
    plan: Plan
    choice: SceneChoice
    energy_target: energy.ClimateTarget | None
    expected_return: datetime | None
    events: list[NewEvent]
    feedback: list[ManualChange]
    already_there: dict[str, Command]  # the device is in this state: nothing to send
    resend: frozenset[str]  # send these their command again (back from a restart, released)
    notes: Notes  # what to log, as (event, fields)


def active_stay(stays: Sequence[StayAssignment]) -> StayAssignment | None:
    checked_in = [s for s in stays if s.status == "checked_in"]
    return max(checked_in, key=lambda s: s.arrival) if checked_in else None


def next_arrival(stays: Sequence[StayAssignment], now: datetime) -> StayAssignment | None:
    booked = [
        s
        for s in stays
        if s.status == "booked" and s.departure > now and s.arrival >= now - timedelta(hours=6)
    ]
    return min(booked, key=lambda s: s.arrival) if booked else None


def decide(
    facts: Sequence[Fact],
    memory: Memory,
    preferences: Preferences,
    now: datetime,
    *,
    rules: RoomRules,
    devices: DeviceView,
    previous_plan: Plan | None = None,
    previous_scene: str | None = None,
) -> Decision:
    notes: Notes = []
    events: list[NewEvent] = []
    stay = active_stay(preferences.stays)
    # A stay that began or ended first: facts after it belong to the new stay.
    memory = stay_changes(memory, stay, now, events, notes)
    folded = fold(
        facts,
        memory,
        stay,
        now,
        rules=rules,
        values=preferences.values,
        previous_plan=previous_plan or {},
        previous_scene=previous_scene,
        events=events,
        notes=notes,
    )
    memory = folded.memory
    memory = deliver_room_benefits(memory, stay, now, rules.config.room.tz, events, notes)
    situation = _situation(memory, preferences, stay, now, rules)
    choice = select_scene(situation)
    target, expected_return, memory = _energy(memory, preferences, stay, now, rules)
    interlock = _interlock(memory, now, rules)
    plan = resolve(
        EngineInput(
            scene=rules.scenes.effective(choice.name, choice.overlays),
            devices=rules.capabilities,
            values=preferences.values,
            energy=target,
            manual=memory.manual,
            interlock=interlock,
        )
    )
    memory = replace(memory, scene=choice.name)
    memory = step_alerts(memory, devices, stay, now, rules.config, events, notes)
    return Decision(
        memory=memory,
        plan=plan,
        choice=choice,
        energy_target=target,
        expected_return=expected_return,
        events=events,
        feedback=folded.feedback,
        already_there=folded.already_there,
        resend=frozenset(folded.resend),
        notes=notes,
    )


def _situation(
    memory: Memory,
    preferences: Preferences,
    stay: StayAssignment | None,
    now: datetime,
    rules: RoomRules,
) -> Situation:
    config = rules.config
    tz = config.room.tz
    wake, sleep = config.wake_time(), config.sleep_time()
    prefs = preferences.member
    if prefs is not None:
        if prefs.routine.wake_time is not None:
            wake = _hhmm(prefs.routine.wake_time.value)
        if prefs.routine.sleep_time is not None:
            sleep = _hhmm(prefs.routine.sleep_time.value)
    upcoming = next_arrival(preferences.stays, now)
    first_done = stay is None or (
        memory.stay is not None and memory.stay.first_entry_at is not None
    )
    return Situation(
        now_local=now.astimezone(tz),
        rented=stay is not None,
        occupied=memory.occ.occupied,
        entry=memory.entry,
        first_entry_done=first_done,
        dnd=memory.dnd,
        mur=memory.mur,
        service=memory.service,
        arrival_soon=upcoming is not None
        and upcoming.arrival - now <= rules.energy.precondition_max,
        departed_at=memory.departed_at.astimezone(tz) if memory.departed_at else None,
        wake_time=wake,
        sleep_time=sleep,
        # The member-exclusive scene is theirs alone: not for a stranger or staff inside.
        signature=_signature(stay, memory, rules),
    )


def _signature(stay: StayAssignment | None, memory: Memory, rules: RoomRules) -> str | None:
    """The member-exclusive scene is theirs alone (not for a stranger or staff inside), and
    only one this room's scene book has."""
    if stay is None or memory.stranger_entry:
        return None
    name = signature_scene(stay)
    return name if name is not None and name in rules.scenes else None


def _energy(
    memory: Memory,
    preferences: Preferences,
    stay: StayAssignment | None,
    now: datetime,
    rules: RoomRules,
) -> tuple[energy.ClimateTarget | None, datetime | None, Memory]:
    config = rules.config
    values = preferences.values
    configured = config.energy.season
    if configured == "auto":
        season = energy.season_for(memory.indoor_c, values.setpoint_c, previous=memory.season)
    else:
        season = energy.Season(configured)
    # A booked stay is pre-conditioned for its booked arrival (the hotel's check-in time: the
    # earliest the guest comes), not waited for past it: most guests come later, and their
    # check-in at the desk or in the app is the signal they are here (an hour-long hold at
    # their temperature for a guest still on the road cost ~2.5 points of the oracle's
    # saving on the typical week, docs/benchmarks.md). A checked-in guest who has not come
    # up is waited for at their temperature for `arrival_hold_min`, then the room falls back
    # to the unrented limits or the away setback until they do.
    hold = timedelta(minutes=config.energy.arrival_hold_min)
    # What the room measures of its guest's comfort (the state since the last step) moves
    # the quantile its learnt arrivals and returns are taken at.
    in_band = memory.indoor_c is not None and (
        abs(memory.indoor_c - values.setpoint_c) <= rules.energy.comfort_band_c
    )
    ledger = memory.comfort.observe(
        now, occupied=stay is not None and memory.occ.occupied, in_band=in_band
    )
    memory = replace(memory, comfort=ledger)
    arrival: datetime | None = None
    entered = memory.stay is not None and memory.stay.first_entry_at is not None
    if stay is not None and not entered:
        checked_in = memory.stay.checked_in_at if memory.stay else stay.arrival
        since = max(stay.arrival, checked_in)
        if now <= since + hold:
            arrival = max(now, stay.arrival)
    elif stay is None:
        upcoming = next_arrival(preferences.stays, now)
        if upcoming is not None and memory.history.knows_arrivals:
            # A room that has seen its guests come: expected when they usually do, not
            # waited for past the last delay it has seen (the desk check-in says then).
            arrival = memory.history.arrival_after(
                upcoming.arrival, now, quantile=_quantile(memory, now, rules), hold=timedelta(0)
            )
        elif upcoming is not None and now <= upcoming.arrival:
            arrival = upcoming.arrival
    expected = _expected_return(memory, stay, rules, now)
    target = energy.climate_target(
        energy.RoomEnergyState(
            now=now,
            rented=stay is not None,
            occupied=memory.occ.occupied,
            vacant_since=memory.vacant_since,
            preferred_c=values.setpoint_c,
            season=season,
            indoor_c=memory.indoor_c,
            next_arrival=arrival,
            expected_return=expected,
            recovery_c_per_hour=memory.recovery.rate(season),
            recovering_for=memory.recovering_for,
            departure=effective_departure(stay, rules.config.room.tz) if stay else None,
        ),
        rules.energy,
    )
    memory = replace(memory, season=season, recovering_for=energy.recovering_for(target))
    return target, expected, memory


def _expected_return(
    memory: Memory, stay: StayAssignment | None, rules: RoomRules, now: datetime
) -> datetime | None:
    """When the checked-in guest who went out is expected back (None: nobody to expect):
    from the room's history of returns when it has one (a quantile of those not yet
    passed), else from this stay's outings and the time of day."""
    kept = memory.stay
    if (
        not rules.energy.predict_returns
        or stay is None
        or kept is None
        or memory.occ.occupied
        or kept.guest_left_at is None
        or kept.guest_left_at < max(stay.arrival, kept.checked_in_at)
    ):
        return None
    learned = memory.history.return_after(
        kept.guest_left_at,
        now,
        tz=rules.config.room.tz,
        quantile=_quantile(memory, now, rules),
        hold=rules.energy.return_hold,
    )
    if learned is not None:
        return max(learned, kept.guest_left_at + timedelta(minutes=30))
    return energy.expected_return(
        kept.guest_left_at,
        list(kept.outings),
        tz=rules.config.room.tz,
        policy=rules.energy,
    )


def _quantile(memory: Memory, now: datetime, rules: RoomRules) -> float:
    return feedback_quantile(memory.comfort, now, rules.energy)


def _interlock(memory: Memory, now: datetime, rules: RoomRules) -> str | None:
    grace = timedelta(seconds=rules.config.safety.window_grace_s)
    for name, since in sorted(memory.window_open_since.items()):
        if now - since >= grace:
            return f"{name} open for {int((now - since).total_seconds())} s: HVAC off"
    return None


def _hhmm(value: str) -> time:
    hours, minutes = value.split(":")
    return time(int(hours), int(minutes))


def describe_plan(plan: Plan) -> dict[str, Any]:
    from agent.device_commands import command_dict

    return {
        name: {
            "layer": d.layer.value,
            "command": command_dict(d.command),
            "reason": d.reason,
            "origins": d.origins,
        }
        for name, d in plan.items()
    }
