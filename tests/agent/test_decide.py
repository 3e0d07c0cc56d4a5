"""decide() as a table of cases: pure (no I/O, no asyncio, no clock), no services."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_room_controller import room_config

from agent.decide import Decision, Preferences, RoomRules, decide
from agent.facts import (
    AvailabilityChanged,
    ClimateReported,
    CommandSettled,
    DeviceChanged,
    DeviceView,
    DoorChanged,
    DoorUnlocked,
    Fact,
    GuestOverride,
    MotionChanged,
    StaysChanged,
    WindowChanged,
)
from agent.room_memory import EnergyMeter, Memory, StayMemory
from drivers.base import (
    AvailabilityState,
    ClimateAction,
    ClimateCommand,
    ClimateMode,
    ClimateState,
    FanMode,
    LightCommand,
    LightState,
)
from scenes.engine import PreferenceValues
from scenes.loader import load_scenes
from sync.wire import Availability, EventKind, StayAssignment

T0 = datetime.fromisoformat("2026-01-15T12:00:00+00:00")  # 20:00 in Shanghai
CAPS: dict[str, Any] = {
    "hvac": "climate",
    "ceiling": "light",
    "speaker": "media",
    "curtains": "cover",
    "door": "sensor",
    "balcony": "sensor",
    "motion": "sensor",
}
STAY = StayAssignment(
    stay_id="stay_aaaaaaaaaaaa",
    member_id="mem_aaaaaaaaaaaa",
    property_id="SHA-01",
    room_id="1201",
    tier="gold",
    arrival=T0 - timedelta(hours=1),
    departure=T0 + timedelta(days=2),
    status="checked_in",
)
UP = AvailabilityState(Availability.AVAILABLE, None, T0)
DOWN = AvailabilityState(Availability.UNAVAILABLE, "gone", T0)


@pytest.fixture(scope="module")
def rules(tmp_path_factory: pytest.TempPathFactory) -> RoomRules:
    config = room_config(tmp_path_factory.mktemp("decide"))
    return RoomRules.build(config, load_scenes(), CAPS)


def run(
    rules: RoomRules,
    facts: list[Fact],
    memory: Memory,
    *,
    at: datetime = T0,
    stays: tuple[StayAssignment, ...] = (STAY,),
) -> Decision:
    return decide(
        facts,
        memory,
        Preferences(stays, None, PreferenceValues(setpoint_c=23.5, level_pct=40)),
        at,
        rules=rules,
        devices=DeviceView(availability=dict.fromkeys(CAPS, UP)),
    )


# The guest unlocks with a keycard, opens and closes the door, and moves inside (5 s).
KEYCARD_ENTRY: list[Fact] = [
    DoorUnlocked("keycard", T0),
    DoorChanged(True, T0),
    DoorChanged(False, T0 + timedelta(seconds=2)),
    MotionChanged("motion", True, T0 + timedelta(seconds=5)),
]


def in_room() -> Memory:
    """A checked-in guest inside, after the welcome."""
    return Memory(
        occ=replace(Memory().occ, occupied=True, changed_at=T0, motion_since_close=True),
        entry="first",
        stay=StayMemory(STAY.stay_id, STAY.member_id, checked_in_at=T0, first_entry_at=T0),
    )


LAMP_40 = LightCommand(on=True, level_pct=40)
LIT_40 = LightState(on=True, level_pct=40)
LIT_100 = LightState(on=True, level_pct=100)


@pytest.mark.parametrize(
    ("case", "facts", "manual"),
    [
        (
            "the guest turned the lamp up",
            [DeviceChanged("ceiling", LIT_100, LIT_40, True, T0)],
            True,
        ),
        (
            "our command timed out, then the lamp carried it out",
            [
                CommandSettled("ceiling", LAMP_40, False, None, T0),
                DeviceChanged("ceiling", LIT_40, LIT_100, True, T0 + timedelta(seconds=3)),
            ],
            False,
        ),
        (
            "the lamp restarted at its power-on 100 %",
            [
                AvailabilityChanged("ceiling", UP, T0, returned=True),
                DeviceChanged("ceiling", LIT_100, LIT_40, True, T0 + timedelta(seconds=2)),
            ],
            False,
        ),
        (
            "a change long after the restart is the guest's again",
            [
                AvailabilityChanged("ceiling", UP, T0 - timedelta(minutes=5), returned=True),
                DeviceChanged("ceiling", LIT_100, LIT_40, True, T0),
            ],
            True,
        ),
        (
            "our own confirmed change (the driver says not manual)",
            [DeviceChanged("ceiling", LIT_100, LIT_40, False, T0)],
            False,
        ),
    ],
)
def test_only_a_change_no_command_of_ours_explains_is_the_guests(
    rules: RoomRules, case: str, facts: list[Fact], manual: bool
) -> None:
    decision = run(rules, facts, in_room())
    assert ("ceiling" in decision.memory.manual) is manual, case
    kinds = [e.kind for e in decision.events]
    assert (EventKind.MANUAL_CHANGE in kinds) is manual, case
    if not manual and any(isinstance(f, AvailabilityChanged) for f in facts):
        assert "ceiling" in decision.resend  # the room's state goes back to the lamp


@pytest.mark.parametrize(
    ("case", "facts", "layer"),
    [
        ("scene by default", [], "scene"),
        (
            "the guest's knob beats the scene",
            [
                GuestOverride(
                    "hvac",
                    ClimateCommand(ClimateMode.AUTO, 20.0, FanMode.AUTO),
                    ClimateState(ClimateMode.AUTO, 20.0, FanMode.AUTO, 22.0, ClimateAction.IDLE),
                    "app",
                    T0,
                )
            ],
            "manual",
        ),
        (
            "the window interlock beats the guest",
            [
                GuestOverride(
                    "hvac",
                    ClimateCommand(ClimateMode.AUTO, 20.0, FanMode.AUTO),
                    ClimateState(ClimateMode.AUTO, 20.0, FanMode.AUTO, 22.0, ClimateAction.IDLE),
                    "app",
                    T0,
                ),
                WindowChanged("balcony", True, T0 - timedelta(minutes=5)),
            ],
            "interlock",
        ),
    ],
)
def test_arbitration_interlock_over_manual_over_scene(
    rules: RoomRules, case: str, facts: list[Fact], layer: str
) -> None:
    assert run(rules, facts, in_room()).plan["hvac"].layer.value == layer, case


def test_a_guest_who_left_before_a_restart_is_still_detected_gone(rules: RoomRules) -> None:
    # The door closed behind them, no motion since; then the agent died and came back
    # with the memory it had written: the vacancy confirmation runs on.
    memory = run(
        rules,
        [
            MotionChanged("motion", False, T0),
            DoorChanged(True, T0 + timedelta(seconds=1)),
            DoorChanged(False, T0 + timedelta(seconds=3)),
        ],
        in_room(),
        at=T0 + timedelta(seconds=3),
    ).memory
    restored = Memory.from_json(json.loads(json.dumps(memory.to_json())), CAPS)
    assert restored.occ == memory.occ and restored.occ.occupied
    later = T0 + timedelta(seconds=rules.config.occupancy.confirm_after_close_s + 10)
    after = run(rules, [], restored, at=later)
    assert not after.memory.occ.occupied
    assert [e.kind for e in after.events if e.kind is EventKind.DEPARTURE]
    assert after.memory.stay is not None and after.memory.stay.guest_left_at is not None


def test_the_welcome_does_not_play_twice_after_a_restart(rules: RoomRules) -> None:
    empty = replace(in_room(), occ=Memory().occ, entry=None)
    restored = Memory.from_json(json.loads(json.dumps(empty.to_json())), CAPS)
    back = run(
        rules,
        KEYCARD_ENTRY,
        restored,
        at=T0 + timedelta(seconds=5),
    )
    assert back.memory.entry == "re" and back.choice.name != "welcome"


def test_stay_state_is_dropped_when_the_stay_ends(rules: RoomRules) -> None:
    memory = replace(
        in_room(),
        manual={"ceiling": LAMP_40},
        stay=replace(
            in_room().stay,  # type: ignore[type-var]
            outings=((T0 - timedelta(hours=3), T0 - timedelta(hours=2)),),
        ),
    )
    out = run(rules, [StaysChanged((), T0)], memory, stays=())
    assert out.memory.stay is None and out.memory.manual == {}
    assert "stay" not in json.dumps(out.memory.to_json()).replace('"stay": null', "")


@settings(max_examples=200, deadline=None)
@given(readings=st.lists(st.floats(0, 70_000, allow_nan=False), min_size=1, max_size=40))
def test_energy_total_never_goes_down_whatever_the_counter_does(readings: list[float]) -> None:
    meter = EnergyMeter()
    totals = []
    for value in readings:
        meter = meter.read("hvac", value)
        # A restart between any two readings: the pair (total, counter) is what was written.
        meter = EnergyMeter(meter.total_kwh, dict(meter.counters))
        totals.append(meter.total_kwh)
    assert totals == sorted(totals)


def test_a_counter_reset_adds_what_it_counted_since() -> None:
    meter = EnergyMeter().read("hvac", 10.0).read("hvac", 12.0).read("hvac", 0.5)
    assert meter.read("hvac", 1.0).total_kwh == pytest.approx(3.0)


def test_the_thermostats_counter_feeds_the_rooms_total(rules: RoomRules) -> None:
    def report(kwh: float) -> ClimateReported:
        state = ClimateState(
            ClimateMode.AUTO, 23.5, FanMode.AUTO, 22.0, ClimateAction.IDLE, energy_kwh=kwh
        )
        return ClimateReported("hvac", state, T0)

    memory = in_room()
    for kwh in (5.0, 7.5, 0.0, 0.25):  # the thermostat power-cycled to a meter at zero
        memory = run(rules, [report(kwh)], memory).memory
    assert memory.energy.total_kwh == pytest.approx(2.75)


def test_decide_does_not_touch_its_inputs(rules: RoomRules, tmp_path: Path) -> None:
    memory = in_room()
    before = json.dumps(memory.to_json(), sort_keys=True)
    facts: list[Fact] = [DeviceChanged("ceiling", LIT_100, LIT_40, True, T0)]
    first, second = run(rules, facts, memory), run(rules, facts, memory)
    assert json.dumps(memory.to_json(), sort_keys=True) == before
    assert first.memory == second.memory and first.plan == second.plan
    assert first.events == second.events


def test_a_device_going_down_is_an_alert_once(rules: RoomRules) -> None:
    view = DeviceView(availability={**dict.fromkeys(CAPS, UP), "ceiling": DOWN})
    later = T0 + timedelta(seconds=rules.config.alerts.device_unavailable_s + 1)
    prefs = Preferences((STAY,), None, PreferenceValues())
    first = decide([], in_room(), prefs, later, rules=rules, devices=view)
    again = decide([], first.memory, prefs, later, rules=rules, devices=view)
    assert [e.payload["raised"] for e in first.events if e.kind is EventKind.ALERT] == [True]
    assert not [e for e in again.events if e.kind is EventKind.ALERT]


@pytest.mark.parametrize(
    ("case", "status", "now", "recovering"),
    [
        ("an hour before the booked arrival", "booked", T0 - timedelta(minutes=30), True),
        ("the booked arrival, not checked in", "booked", T0, True),
        ("past the booked arrival, not checked in", "booked", T0 + timedelta(minutes=20), False),
        ("checked in hours late, not yet up", "checked_in", T0 + timedelta(hours=3), True),
    ],
)
def test_a_booked_guest_is_not_waited_for_past_the_booked_arrival_until_they_check_in(
    rules: RoomRules, case: str, status: str, now: datetime, recovering: bool
) -> None:
    """The booked arrival is the hotel's check-in time, the earliest the guest comes: the
    room is ready for it, then waits at the unrented limits for the check-in (the desk or
    the app), which starts the recovery and holds it while the guest comes up."""
    stay = STAY.model_copy(update={"arrival": T0, "status": status})
    memory = Memory(indoor_c=17.0)
    if status == "checked_in":
        memory = replace(memory, stay=StayMemory(stay.stay_id, stay.member_id, checked_in_at=now))
    target = run(rules, [], memory, at=now, stays=(stay,)).energy_target
    assert target is not None, case
    assert target.reason.startswith("pre-conditioning") is recovering, (case, target)
    if not recovering:
        assert target.reason.startswith("unrented"), (case, target)
