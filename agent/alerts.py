"""Housekeeping and engineering alerts, as a pure function of what the room knows.

    want = room_alerts(RoomFacts(now=..., door_open_since=..., ...), config.alerts,
                       window_grace=timedelta(seconds=20))
    want["door_left_open"].detail          # "entrance door open 7 min"

One alert per kind: when several sources say the same thing (the balcony contact and the
thermostat's own window input both report the window open; two lamps are unreachable),
they are merged into one alert whose detail names every source and whose `since` is the
earliest. Keys are the kinds, so the controller tells raised from cleared between steps.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from agent.config import AlertsSection, RoomConfig
from agent.facts import DeviceView
from agent.room_memory import Memory
from agent.store import NewEvent
from drivers.base import AvailabilityState, ClimateMode, ClimateState, State
from sync.wire import Alert, Availability, EventKind, StayAssignment


@dataclass(frozen=True, slots=True)
class RoomFacts:
    now: datetime
    door_open_since: datetime | None = None
    window_open_since: Mapping[str, datetime] = field(default_factory=dict)
    availability: Mapping[str, AvailabilityState] = field(default_factory=dict)
    states: Mapping[str, State] = field(default_factory=dict)
    # device -> (setpoint, since when the HVAC has been asked to hold it)
    setpoint_since: Mapping[str, tuple[float, datetime]] = field(default_factory=dict)
    reception_since: datetime | None = None
    checked_in_since: datetime | None = None  # None: no stay checked in
    last_motion_at: datetime | None = None


def should_reach(state: ClimateState) -> bool:
    """Is the HVAC supposed to be closing this gap? (HEAT cannot cool a warm room.)"""
    assert state.current_c is not None
    if state.mode is ClimateMode.HEAT:
        return state.current_c < state.setpoint_c
    if state.mode is ClimateMode.COOL:
        return state.current_c > state.setpoint_c
    return state.mode is ClimateMode.AUTO


def room_alerts(
    facts: RoomFacts, cfg: AlertsSection, *, window_grace: timedelta
) -> dict[str, Alert]:
    now = facts.now
    want: dict[str, Alert] = {}
    door = facts.door_open_since
    if door is not None and now - door >= timedelta(minutes=cfg.door_left_open_min):
        minutes = int((now - door).total_seconds() // 60)
        want["door_left_open"] = Alert(
            kind="door_left_open", since=door, detail=f"entrance door open {minutes} min"
        )
    windows = sorted(
        (since, name)
        for name, since in facts.window_open_since.items()
        if now - since >= window_grace
    )
    if windows:
        names = ", ".join(sorted(name for _since, name in windows))
        want["window_open"] = Alert(
            kind="window_open", since=windows[0][0], detail=f"{names} open: HVAC off"[:256]
        )
    down = sorted(
        (avail.since, name, avail.reason)
        for name, avail in facts.availability.items()
        if avail.status is Availability.UNAVAILABLE
        and avail.since is not None
        and now - avail.since >= timedelta(seconds=cfg.device_unavailable_s)
    )
    if down:
        want["device_unavailable"] = Alert(
            kind="device_unavailable",
            since=down[0][0],
            detail="; ".join(
                f"{name}: {reason or 'not answering'}"
                for _s, name, reason in sorted(down, key=lambda d: d[1])
            )[:256],
        )
    missing: list[tuple[datetime, str]] = []
    for name, state in facts.states.items():
        held = facts.setpoint_since.get(name)
        if not isinstance(state, ClimateState) or held is None:
            continue
        if (
            state.current_c is not None
            and state.mode is not ClimateMode.OFF
            and held[0] == state.setpoint_c
            and not facts.window_open_since
            and abs(state.current_c - state.setpoint_c) > cfg.hvac_tolerance_c
            and now - held[1] >= timedelta(minutes=cfg.hvac_reach_min)
            and should_reach(state)
        ):
            missing.append(
                (held[1], f"{name}: {state.current_c:.1f} °C, setpoint {state.setpoint_c:.1f} °C")
            )
    if missing:
        want["hvac_not_reaching_setpoint"] = Alert(
            kind="hvac_not_reaching_setpoint",
            since=min(since for since, _d in missing),
            detail="; ".join(sorted(d for _s, d in missing))[:256],
        )
    if facts.reception_since is not None:
        want["contact_reception"] = Alert(
            kind="contact_reception",
            since=facts.reception_since,
            detail="the guest asked reception to get in touch (thermostat key)",
        )
    if facts.checked_in_since is not None:
        last = max(t for t in (facts.last_motion_at, facts.checked_in_since) if t is not None)
        if now - last >= timedelta(hours=cfg.no_motion_h):
            hours = int((now - last).total_seconds() // 3600)
            want["no_motion_24h"] = Alert(
                kind="no_motion_24h", since=last, detail=f"no motion for {hours} h while checked in"
            )
    return want


def step_alerts(
    memory: Memory,
    devices: DeviceView,
    stay: StayAssignment | None,
    now: datetime,
    config: RoomConfig,
    events: list[NewEvent],
    notes: list[tuple[str, dict[str, Any]]],
) -> Memory:
    """The alerts the room's new memory calls for, and one event per alert raised, cleared
    or changed since the previous memory (kept in it, so a restart re-raises nothing)."""
    held = dict(memory.setpoint_since)
    for name, state in devices.states.items():
        if isinstance(state, ClimateState):
            was = held.get(name)
            if was is None or was[0] != state.setpoint_c or state.mode is ClimateMode.OFF:
                held[name] = (state.setpoint_c, now)
    want = room_alerts(
        RoomFacts(
            now=now,
            door_open_since=memory.door_open_since,
            window_open_since=memory.window_open_since,
            availability=devices.availability,
            states=devices.states,
            setpoint_since=held,
            reception_since=memory.reception_since,
            checked_in_since=stay.arrival if stay else None,
            last_motion_at=memory.last_motion_at,
        ),
        config.alerts,
        window_grace=timedelta(seconds=config.safety.window_grace_s),
    )
    events.extend(alert_events(memory.alerts, want, stay))
    for key in sorted(want.keys() - memory.alerts.keys()):
        notes.append(("alert", {"kind": want[key].kind, "detail": want[key].detail}))
    return replace(memory, alerts=want, setpoint_since=held)


def alert_events(
    before: Mapping[str, Alert], after: Mapping[str, Alert], stay: StayAssignment | None
) -> list[NewEvent]:
    """Raised, cleared, and changed (sources joined or left an alert that stays raised)."""
    stay_id = stay.stay_id if stay else None
    raised = sorted(after.keys() - before.keys())
    cleared = sorted(before.keys() - after.keys())
    changed = sorted(k for k in after.keys() & before.keys() if after[k].detail != before[k].detail)
    return (
        [
            NewEvent(
                EventKind.ALERT,
                {"alert": after[k].model_dump(mode="json"), "raised": True},
                stay_id=stay_id,
            )
            for k in raised
        ]
        + [
            NewEvent(
                EventKind.ALERT,
                {"alert": before[k].model_dump(mode="json"), "raised": False},
                stay_id=stay_id,
            )
            for k in cleared
        ]
        + [
            NewEvent(
                EventKind.ALERT,
                {"alert": after[k].model_dump(mode="json"), "raised": True, "changed": True},
                stay_id=stay_id,
            )
            for k in changed
        ]
    )
