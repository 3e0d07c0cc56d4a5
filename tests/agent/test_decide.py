"""decide() as a table of cases: pure (no I/O, no asyncio, no clock), no services."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

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
from scenes.energy_comfort import ComfortLedger
from scenes.energy_history import RoomHistory
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


SHANGHAI = ZoneInfo("Asia/Shanghai")
# A room in service: its guests came 3 h 00 - 5 h 00 after the booked arrival.
SEEN_ARRIVALS = RoomHistory(arrival_delays_min=(180, 200, 240, 300))


@pytest.mark.parametrize(
    ("case", "history", "after_booked_min", "recovering", "expected_min"),
    [
        ("new room: ready for the booked arrival", RoomHistory(), 0, True, 0),
        ("new room: not waited for past it", RoomHistory(), 20, False, None),
        ("seen guests come late: not heated at 15:00", SEEN_ARRIVALS, 0, False, 200),
        ("an hour before the usual delay", SEEN_ARRIVALS, 150, True, 200),
        ("later than most: the next delay seen", SEEN_ARRIVALS, 250, True, 300),
        ("later than any seen: the check-in will say", SEEN_ARRIVALS, 310, False, None),
    ],
)
def test_a_booked_guest_is_expected_when_this_rooms_guests_usually_come(
    rules: RoomRules,
    case: str,
    history: RoomHistory,
    after_booked_min: int,
    recovering: bool,
    expected_min: int | None,
) -> None:
    """The room's own history of first entries after the booked time (earlier stays, never
    this one's future) moves the pre-conditioning to the quantile of the delays still ahead."""
    stay = STAY.model_copy(update={"arrival": T0, "status": "booked"})
    now = T0 + timedelta(minutes=after_booked_min)
    memory = Memory(indoor_c=17.0, history=history)
    target = run(rules, [], memory, at=now, stays=(stay,)).energy_target
    assert target is not None, case
    assert target.reason.startswith("pre-conditioning") is recovering, (case, target)
    expected = None if expected_min is None else T0 + timedelta(minutes=expected_min)
    if not recovering:
        assert target.reason.startswith("unrented"), (case, target)
    if expected is not None and recovering:
        assert target.recovering_for == expected, case


def local(hhmm: str) -> datetime:
    h, m = hhmm.split(":")
    return datetime(2026, 1, 15, int(h), int(m), tzinfo=SHANGHAI)


def minute_of_day(hhmm: str) -> int:
    h, m = hhmm.split(":")
    return int(h) * 60 + int(m)


RETURNS_SEEN = RoomHistory(
    day_out_returns_min=tuple(minute_of_day(t) for t in ("19:30", "20:00", "21:00", "22:30")),
    outing_minutes=(45, 60, 240),
)


def out_since(left: str, **memory: Any) -> tuple[Memory, StayAssignment]:
    """A guest who arrived yesterday and went out at `left` (local) today: the room's
    memory (21 °C inside, plus `memory`'s fields) and their stay."""
    yesterday = local("00:00") - timedelta(days=1)
    kept = StayMemory(
        STAY.stay_id,
        STAY.member_id,
        checked_in_at=yesterday,
        first_entry_at=yesterday,
        guest_left_at=local(left),
    )
    state = Memory(vacant_since=local(left), indoor_c=21.0, stay=kept, **memory)
    return state, STAY.model_copy(update={"arrival": yesterday})


@pytest.mark.parametrize(
    ("case", "history", "left", "now", "expected"),
    [
        ("new room, day out: 18:00", RoomHistory(), "09:00", "10:00", "18:00"),
        ("returns seen: the quantile of them", RETURNS_SEEN, "09:00", "10:00", "20:00"),
        ("still out past it and the hold: the next", RETURNS_SEEN, "09:00", "20:31", "21:00"),
        ("19:30 passed, within the hold: still counts", RETURNS_SEEN, "09:00", "19:55", "20:00"),
        ("later than any seen: the default (past)", RETURNS_SEEN, "09:00", "23:30", "18:00"),
        ("new room, evening outing: 2 h", RoomHistory(), "19:00", "19:30", "21:00"),
        ("evening outings seen: the quantile", RETURNS_SEEN, "19:00", "19:30", "20:00"),
        ("out longer than most: the next seen", RETURNS_SEEN, "19:00", "20:40", "23:00"),
    ],
)
def test_a_guest_who_went_out_is_expected_back_from_this_rooms_returns(
    rules: RoomRules, case: str, history: RoomHistory, left: str, now: str, expected: str
) -> None:
    memory, stay = out_since(left, history=history)
    decision = run(rules, [], memory, at=local(now), stays=(stay,))
    assert decision.expected_return == local(expected), case


def test_the_room_learns_arrival_delays_and_returns_and_keeps_them_past_the_stay(
    rules: RoomRules,
) -> None:
    """A first entry records its delay after the booked arrival, a return its outing; the
    history is the room's: it outlives the stay (no guest id in it) and a restart."""
    stay = STAY.model_copy(update={"arrival": T0 - timedelta(hours=3)})
    checked_in = Memory(
        stay=StayMemory(stay.stay_id, stay.member_id, checked_in_at=T0 - timedelta(minutes=10))
    )
    entered = run(rules, KEYCARD_ENTRY, checked_in, at=T0 + timedelta(seconds=5), stays=(stay,))
    assert entered.memory.entry == "first"
    assert entered.memory.history.arrival_delays_min == (180,)
    # Out at 09:00 local the next morning, back at 19:40: one day-out return at 19:40.
    left, back = local("09:00") + timedelta(days=1), local("19:40") + timedelta(days=1)
    out = replace(
        entered.memory,
        occ=Memory().occ,
        entry=None,
        vacant_since=left,
        stay=replace(entered.memory.stay, guest_left_at=left),  # type: ignore[type-var]
    )
    entry = [replace(f, at=f.at + (back - T0)) for f in KEYCARD_ENTRY]  # type: ignore[type-var]
    returned = run(rules, entry, out, at=back + timedelta(seconds=5), stays=(stay,))
    assert returned.memory.entry == "re"
    assert returned.memory.history.day_out_returns_min == (minute_of_day("19:40"),)
    ended = run(rules, [StaysChanged((), back)], returned.memory, at=back, stays=())
    assert ended.memory.stay is None
    assert ended.memory.history == returned.memory.history
    restored = Memory.from_json(json.loads(json.dumps(ended.memory.to_json())), CAPS)
    assert restored.history == returned.memory.history


def comfort_seen(share: float) -> ComfortLedger:
    """A room whose guests were in for a day, `share` of it within 1 °C of their setpoint."""
    day = local("10:00").astimezone(UTC).toordinal()
    return ComfortLedger(days=((day, 86_400, round(share * 86_400)),))


@pytest.mark.parametrize(
    ("case", "comfort", "lowest", "expected"),
    [
        ("nothing measured: the 35 % quantile", ComfortLedger(), 0.3, "20:00"),
        ("on target (96 %): the same", comfort_seen(0.96), 0.3, "20:00"),
        ("comfort to spare: a later return, more saving", comfort_seen(0.99), 0.3, "21:00"),
        ("comfort short: no earlier than the 30 % quantile", comfort_seen(0.93), 0.3, "20:00"),
        ("comfort short, lowest 20 %: an earlier return", comfort_seen(0.93), 0.2, "19:30"),
    ],
)
def test_the_rooms_own_occupied_comfort_moves_the_return_it_prepares_for(
    rules: RoomRules, case: str, comfort: ComfortLedger, lowest: float, expected: str
) -> None:
    rules = replace(rules, energy=replace(rules.energy, learned_quantile_min=lowest))
    memory, stay = out_since("09:00", history=RETURNS_SEEN, comfort=comfort)
    decision = run(rules, [], memory, at=local("10:00"), stays=(stay,))
    assert decision.expected_return == local(expected), case


@pytest.mark.parametrize(
    ("case", "indoor_c", "checked_in", "expected_s"),
    [
        ("guest in, 0.5 °C off: comfortable", 23.0, True, (600, 600)),
        ("guest in, 1.5 °C off: not", 22.0, True, (600, 0)),
        ("no reading: not comfortable", None, True, (600, 0)),
        ("nobody checked in: not counted", 23.0, False, (0, 0)),
    ],
)
def test_each_step_measures_the_occupied_comfort_the_bench_scores(
    rules: RoomRules,
    case: str,
    indoor_c: float | None,
    checked_in: bool,
    expected_s: tuple[int, int],
) -> None:
    """Occupied (the room's own occupancy, a checked-in stay) and within 1 °C of the
    guest's setpoint (23.5 here), credited for the time until the next step."""
    stays = (STAY,) if checked_in else ()
    memory = replace(in_room(), indoor_c=indoor_c)
    first = run(rules, [], memory, at=T0, stays=stays).memory
    second = run(rules, [], first, at=T0 + timedelta(minutes=10), stays=stays).memory
    assert second.comfort.share(T0 + timedelta(minutes=10)) == expected_s, case
    # Telemetry: the ledger moving is not a durable change of the memory.
    assert first.durable_key() == replace(first, comfort=ComfortLedger()).durable_key()
