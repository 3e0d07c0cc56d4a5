"""The room controller's behaviour under a FakeClock, with in-process devices (the real
drivers and simulators are exercised by test_agent_rig.py)."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from agent_fakes import FakeDevice, climate, cover, light, media, sensor
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.config import RoomConfig, parse_room_config
from agent.preferences import PreferenceResolver
from agent.presence import PresenceSignal
from agent.room import RoomController
from agent.store import AgentStore
from drivers.base import (
    ClimateCommand,
    ClimateMode,
    ClimateState,
    DoorStation,
    LightState,
    MediaState,
    SensorEvent,
    SensorEventKind,
    SensorState,
)
from scenes.loader import load_scenes
from smartroom.clock import FakeClock
from sync.wire import (
    ClimatePrefs,
    EventKind,
    LightingPrefs,
    MemberPreferences,
    RoutinePrefs,
    Stamped,
    StayAssignment,
)

T0 = datetime.fromisoformat("2026-01-15T12:00:00+00:00")  # 20:00 in Shanghai


def room_config(tmp_path: Path, **sections: Any) -> RoomConfig:
    data: dict[str, Any] = {
        "room": {"property_id": "SHA-01", "room_id": "1201", "timezone": "Asia/Shanghai"},
        "devices": {
            "hvac": {"driver": "modbus_hvac", "port": "/dev/null"},
            "ceiling": {"driver": "coap_light"},
            "speaker": {"driver": "mqtt_audio", "speaker_id": "s1201"},
            "curtains": {"driver": "z2m", "capability": "cover", "friendly_name": "c"},
            "door": {"driver": "z2m", "capability": "sensor", "friendly_name": "d"},
            "balcony": {"driver": "z2m", "capability": "sensor", "friendly_name": "b"},
            "motion": {"driver": "z2m", "capability": "sensor", "friendly_name": "m"},
        },
        "roles": {"door": ["door"], "window": ["balcony"], "motion": ["motion"]},
        "store": {"path": str(tmp_path / "agent.db")},
        "api": {"port": 0},
        "runtime": {"tick_s": 0.05},
    }
    for key, value in sections.items():
        data[key] = {**data.get(key, {}), **value}
    return parse_room_config(data, source="test")


class Room:
    """A controller with fake devices and helpers that play the guest."""

    def __init__(self, tmp_path: Path, clock: FakeClock, **sections: Any) -> None:
        self.clock = clock
        self.config = room_config(tmp_path, **sections)
        self.store = AgentStore(
            self.config.store.path, clock=clock, property_id="SHA-01", room_id="1201"
        )
        self.devs: dict[str, FakeDevice] = {
            "hvac": climate(),
            "ceiling": light(),
            "speaker": media(),
            "curtains": cover(),
            "door": sensor("door"),
            "balcony": sensor("balcony"),
            "motion": sensor("motion"),
        }
        self.room = RoomController(
            self.config,
            store=self.store,
            devices=self.devs,
            scenes=load_scenes(),
            resolver=PreferenceResolver(self.config),
            clock=clock,
        )
        for dev in self.devs.values():
            dev.subscribe(self.room.on_device_update)
        self.room.prime()

    async def settle(self) -> None:
        for _ in range(10):
            self.room.step()
            if not self.room.inflight:
                return
            await asyncio.gather(*list(self.room.inflight.values()))
        raise AssertionError("commands never settled")

    async def advance(self, seconds: float) -> None:
        self.clock.advance(seconds)
        await self.settle()

    def check_in(self, *, member: str = "mem_aaaaaaaaaaaa", prefs: bool = True) -> None:
        stay = StayAssignment(
            stay_id="stay_aaaaaaaaaaaa",
            member_id=member,
            property_id="SHA-01",
            room_id="1201",
            tier="gold",
            arrival=self.clock.now() - timedelta(hours=1),
            departure=self.clock.now() + timedelta(days=2),
            status="checked_in",
        )
        self.store.replace_stays([stay])
        if prefs:
            at = self.clock.now()
            self.store.put_preferences(
                MemberPreferences(
                    member_id=member,
                    climate=ClimatePrefs(setpoint_c=Stamped[float](value=23.5, updated_at=at)),
                    lighting=LightingPrefs(level_pct=Stamped[int](value=40, updated_at=at)),
                )
            )
        self.room.stays_changed()

    def door(self, open_: bool) -> None:
        self.devs["door"].push(state=SensorState(door_open=open_))

    def motion(self) -> None:
        self.devs["motion"].push(state=SensorState(occupancy=True))

    def unlock(self, actor: str = "keycard") -> None:
        self.devs["door"].push(
            event=SensorEvent(SensorEventKind.DOOR_UNLOCKED, self.clock.now(), actor)
        )

    async def enter(self, actor: str = "keycard") -> None:
        self.unlock(actor)
        self.door(True)
        self.motion()
        await self.settle()
        self.door(False)
        await self.advance(5)
        self.motion()
        await self.settle()

    def still(self) -> None:
        """The PIR's hold time has passed with nobody moving: it reports `occupancy: false`."""
        self.devs["motion"].push(state=SensorState(occupancy=False))

    async def leave(self) -> None:
        self.door(True)
        await self.advance(3)
        self.door(False)
        await self.advance(60)
        self.still()
        await self.advance(self.config.occupancy.confirm_after_close_s - 60 + 1)

    def outbox_kinds(self) -> list[str]:
        return [e.kind.value for e in self.store.pending()]


def mode_of(device: FakeDevice) -> ClimateMode:
    state: ClimateState = device.state
    return state.mode


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


@pytest.fixture
def room(tmp_path: Path, clock: FakeClock) -> Room:
    return Room(tmp_path, clock)


async def test_first_entry_applies_welcome_with_member_preferences(room: Room) -> None:
    room.check_in()
    await room.settle()
    assert room.room.choice is not None and room.room.choice.name == "pre_arrival"
    await room.enter()
    assert room.room.choice.name == "welcome"
    hvac: ClimateState = room.devs["hvac"].state
    assert (hvac.mode, hvac.setpoint_c) == (ClimateMode.AUTO, 23.5)
    ceiling: LightState = room.devs["ceiling"].state
    assert ceiling.on and ceiling.level_pct == 40
    assert room.devs["curtains"].state.position_pct == 100
    assert room.devs["speaker"].state.power is True
    run = room.room.last_scene_run
    assert run is not None and run.scene == "welcome" and not run.pending
    assert {n for n, r in run.results.items() if r["did"] == "ok"} >= {"ceiling", "speaker"}
    assert run.results["hvac"]["did"] == "already so"  # pre-conditioning got there first
    plan = room.room.plan
    assert plan["hvac"].origins["setpoint_c"] == "preference"
    kinds = room.outbox_kinds()
    assert "arrival" in kinds and "scene_applied" in kinds
    arrival = next(e for e in room.store.pending() if e.kind is EventKind.ARRIVAL)
    assert arrival.payload["entry"] == "first" and arrival.member_id == "mem_aaaaaaaaaaaa"


async def test_re_entry_is_welcome_back_without_fanfare(room: Room) -> None:
    room.check_in()
    await room.enter()
    await room.leave()
    assert room.room.choice is not None and room.room.choice.name == "away"
    speaker_commands = len(room.devs["speaker"].commands)
    await room.enter()
    assert room.room.choice.name == "welcome_back"
    assert len(room.devs["speaker"].commands) == speaker_commands  # no music again


async def test_manual_change_is_held_and_recorded_as_feedback(room: Room) -> None:
    room.check_in()
    await room.enter()
    hvac = room.devs["hvac"]
    before = len(hvac.commands)
    knob = ClimateState(ClimateMode.AUTO, 20.0, hvac.state.fan, 22.0, hvac.state.action)
    hvac.push(state=knob, manual=True)
    await room.settle()
    assert "hvac" in room.room.manual
    # Automation keeps its hands off for as long as the guest is in, whatever happens.
    for _ in range(5):
        await room.advance(600)
        room.motion()
    assert len(hvac.commands) == before
    assert hvac.state.setpoint_c == 20.0
    kinds = room.outbox_kinds()
    assert "manual_change" in kinds and "preference_learned" in kinds
    prefs = room.store.preferences("mem_aaaaaaaaaaaa")
    assert prefs is not None and prefs.comfort_offset.observations == 1
    assert prefs.comfort_offset.offset_c < 0  # chose cooler than suggested
    assert room.store.dirty_preferences()  # to be pushed to central
    # Once the guest has left, the room is automation's again: the setback applies.
    await room.leave()
    assert "hvac" not in room.room.manual
    await room.advance(6 * 60)
    # 22 °C inside, member prefers 23.5 (explicit preference wins over learning): heat,
    # set back at least the away setback, deeper for the expected absence (2 h: what the
    # default 4 °C/h recovers in half of it).
    assert (hvac.state.mode, hvac.state.setpoint_c) == (ClimateMode.HEAT, 19.5)
    assert room.room.energy_target is not None
    assert room.room.energy_target.reason.startswith("return setback")


async def test_window_open_turns_hvac_off_after_grace_even_over_manual(room: Room) -> None:
    room.check_in()
    await room.enter()
    hvac = room.devs["hvac"]
    hvac.push(
        state=ClimateState(ClimateMode.AUTO, 24.0, hvac.state.fan, 22.0, hvac.state.action),
        manual=True,
    )
    await room.settle()
    room.devs["balcony"].push(state=SensorState(door_open=True))
    await room.advance(19)
    assert mode_of(hvac) is ClimateMode.AUTO
    await room.advance(2)
    assert mode_of(hvac) is ClimateMode.OFF
    assert room.room.plan["hvac"].layer.value == "interlock"
    assert any(a.kind == "window_open" for a in room.room.status().alerts)
    room.devs["balcony"].push(state=SensorState(door_open=False))
    await room.settle()
    assert room.room.plan["hvac"].layer.value == "manual"
    assert (mode_of(hvac), hvac.state.setpoint_c) == (ClimateMode.AUTO, 24.0)  # theirs again


async def test_rented_empty_room_sets_back_within_30_minutes(room: Room) -> None:
    room.check_in()
    await room.enter()
    await room.leave()  # 5 min confirmation
    hvac = room.devs["hvac"]
    assert hvac.state.setpoint_c == 23.5
    await room.advance(6 * 60)  # 11 min since the door closed
    setpoint = hvac.state.setpoint_c
    assert abs(setpoint - 23.5) >= 2.2
    assert hvac.state.mode in (ClimateMode.HEAT, ClimateMode.COOL)
    events = [e for e in room.store.pending() if e.kind is EventKind.DEPARTURE]
    assert len(events) == 1


async def test_unrented_room_held_at_code_limits(room: Room) -> None:
    await room.settle()
    hvac = room.devs["hvac"]
    assert room.room.choice is not None and room.room.choice.name == "vacant"
    # 21 °C indoor < 22 default: heating season -> no heating above 15.6 °C; the thermostat
    # stops at 16 °C, so heating is off until the room drifts below 15.6 °C.
    assert mode_of(hvac) is ClimateMode.OFF
    fan, action = hvac.state.fan, hvac.state.action
    hvac.push(state=ClimateState(ClimateMode.OFF, 16.0, fan, 15.0, action))
    await room.settle()
    assert (mode_of(hvac), hvac.state.setpoint_c) == (ClimateMode.HEAT, 16.0)
    hvac.push(state=ClimateState(ClimateMode.HEAT, 16.0, fan, 29.0, action))
    await room.settle()
    assert (mode_of(hvac), hvac.state.setpoint_c) == (ClimateMode.COOL, 26.7)


async def test_booked_arrival_preconditions_within_the_hour(room: Room) -> None:
    stay = StayAssignment(
        stay_id="stay_bbbbbbbbbbbb",
        member_id="mem_bbbbbbbbbbbb",
        property_id="SHA-01",
        room_id="1201",
        tier="gold",
        arrival=room.clock.now() + timedelta(hours=3),
        departure=room.clock.now() + timedelta(days=1),
        status="booked",
    )
    room.store.replace_stays([stay])
    room.room.stays_changed()
    await room.settle()
    assert mode_of(room.devs["hvac"]) is ClimateMode.OFF
    await room.advance(2 * 3600 + 30 * 60)  # 30 min before arrival
    assert room.room.choice is not None and room.room.choice.name == "pre_arrival"
    # 1 °C to make up at 6 °C/h + 10 min margin: recovery starts 20 min before, not yet.
    assert mode_of(room.devs["hvac"]) is ClimateMode.OFF
    await room.advance(11 * 60)
    assert room.devs["hvac"].state.setpoint_c == 22.0
    assert room.room.plan["hvac"].origins["setpoint_c"] == "energy"


async def test_dnd_from_button_and_door_station(room: Room) -> None:
    room.check_in()
    await room.enter()
    room.devs["door"].push(event=SensorEvent(SensorEventKind.BUTTON_DND, room.clock.now()))
    await room.settle()
    status = room.room.status()
    assert status.dnd and not status.mur
    assert room.room.choice is not None and "dnd" in room.room.choice.overlays
    hvac = room.devs["hvac"]
    pressed = ClimateState(
        hvac.state.mode,
        hvac.state.setpoint_c,
        hvac.state.fan,
        22.0,
        hvac.state.action,
        door_station=DoorStation.MUR,
    )
    hvac.push(state=pressed, manual=True)
    await room.settle()
    status = room.room.status()
    assert status.mur and not status.dnd
    assert "hvac" not in room.room.manual  # a door-station press is not a comfort change
    hk = [e.payload for e in room.store.pending() if e.kind is EventKind.HOUSEKEEPING]
    assert {"dnd": True, "mur": False, "via": "button"} in hk
    assert {"dnd": False, "mur": True, "via": "door_station"} in hk


async def test_staff_entry_serves_make_up_room(room: Room) -> None:
    room.check_in()
    await room.enter()
    await room.leave()
    await room.room.set_housekeeping(mur=True, via="app")
    await room.enter(actor="staff")
    assert room.room.choice is not None and room.room.choice.name == "make_up_room"
    assert room.devs["ceiling"].state.level_pct == 100
    await room.leave()
    assert not room.room.status().mur
    assert not [e for e in room.store.pending() if e.kind is EventKind.ARRIVAL][1:]


async def test_at_start_commands_wait_for_the_device_not_fail(room: Room) -> None:
    # The MQTT session is still connecting: the lamp has not reported itself available.
    room.devs["ceiling"].dead = True
    room.devs["ceiling"].set_available(False)
    room.check_in()
    await room.enter()
    # The welcome waits for the lamp (within the start grace) rather than end saying
    # "waiting" while its command goes out later: a result says what each device confirmed.
    run = room.room.dispatcher.scene_run
    assert run is not None and run.scene == "welcome" and run.done_at is None
    assert run.pending == {"ceiling"} and run.results["hvac"]["did"] == "ok"
    assert room.room.metrics.command_failures.labels(device="ceiling")._value.get() == 0
    assert "ceiling" not in room.room.dispatcher._retry  # no failure, no backoff
    # Connected: it gets the welcome at once, and the run ends with what it confirmed.
    room.devs["ceiling"].dead = False
    room.devs["ceiling"].set_available(True)
    await room.settle()
    assert room.devs["ceiling"].state.on is True and len(room.devs["ceiling"].commands) == 1
    done = room.room.last_scene_run
    assert done is run and done.results["ceiling"]["did"] == "ok"
    assert done.results["ceiling"]["confirmed"]["on"] is True
    applied = [e for e in room.store.pending() if e.kind is EventKind.SCENE_APPLIED]
    assert [e.payload["scene"] for e in applied] == ["welcome"]


async def test_start_grace_is_bounded(room: Room) -> None:
    # A device that never reports is tried once the grace is over (and backs off).
    room.devs["ceiling"].dead = True
    room.devs["ceiling"].set_available(False)
    room.check_in()
    await room.enter()
    await room.advance(room.config.runtime.start_grace_s)
    assert room.room.dispatcher.outcomes["ceiling"].ok is False
    assert "ceiling" in room.room.dispatcher._retry
    run = room.room.last_scene_run  # the welcome ended, saying the lamp failed
    assert run is not None and run.scene == "welcome"
    assert run.results["ceiling"]["did"] == "failed"


async def test_dead_device_does_not_stop_the_scene(room: Room) -> None:
    room.check_in()
    await room.advance(room.config.runtime.start_grace_s)  # running for a while
    room.devs["ceiling"].dead = True
    room.devs["ceiling"].set_available(False)
    await room.enter()
    run = room.room.last_scene_run
    assert run is not None and run.scene == "welcome"
    assert run.results["ceiling"]["did"] == "failed"
    assert run.results["hvac"]["did"] in ("ok", "already so")
    assert room.devs["hvac"].state.setpoint_c == 23.5
    # It comes back: the controller sends it what it should be doing.
    room.devs["ceiling"].dead = False
    room.devs["ceiling"].set_available(True)
    await room.settle()
    assert room.devs["ceiling"].state.on is True


async def test_alerts_door_left_open_device_down_and_no_motion(room: Room) -> None:
    room.check_in()
    await room.enter()
    room.door(True)
    room.devs["speaker"].set_available(False)
    await room.advance(61)
    kinds = {a.kind for a in room.room.status().alerts}
    assert "device_unavailable" in kinds and "door_left_open" not in kinds
    await room.advance(5 * 60)
    assert "door_left_open" in {a.kind for a in room.room.status().alerts}
    room.door(False)
    await room.settle()
    assert "door_left_open" not in {a.kind for a in room.room.status().alerts}
    await room.advance(24 * 3600)
    assert "no_motion_24h" in {a.kind for a in room.room.status().alerts}
    raised = [e for e in room.store.pending() if e.kind is EventKind.ALERT]
    assert any(e.payload["raised"] is False for e in raised)  # cleared alerts are reported


async def test_checkout_clears_housekeeping_and_plays_checkout(room: Room) -> None:
    room.check_in()
    await room.enter()
    await room.leave()
    await room.room.set_housekeeping(dnd=True, via="app")
    room.store.replace_stays([])
    room.room.stays_changed()
    await room.settle()
    assert room.room.choice is not None and room.room.choice.name == "checkout"
    assert not room.room.status().dnd
    await room.advance(31 * 60)
    assert room.room.choice.name == "vacant"


async def test_checkout_while_the_guest_is_still_in_is_not_a_staff_entry(room: Room) -> None:
    room.check_in()
    await room.enter()
    lights_before = room.devs["ceiling"].state
    room.store.replace_stays([])  # express check-out from the app, still packing
    room.room.stays_changed()
    await room.settle()
    assert room.room.choice is not None and room.room.choice.name == "departing"
    assert room.devs["ceiling"].state == lights_before  # no working light, nothing changes
    await room.leave()
    assert room.room.choice.name == "checkout"
    assert room.devs["ceiling"].state.on is False


async def test_state_survives_a_restart(room: Room, tmp_path: Path, clock: FakeClock) -> None:
    room.check_in()
    await room.enter()
    await room.room.set_housekeeping(dnd=True, via="app")
    room.store.close()
    again = Room(tmp_path, clock)
    await again.settle()
    assert again.room.status().dnd and again.room.occ.occupied
    # The same stay entering again is a re-entry, not a first welcome.
    await again.leave()
    await again.enter()
    assert again.room.choice is not None and again.room.choice.name == "welcome_back"


async def test_override_via_app_is_held(room: Room) -> None:
    room.check_in()
    await room.enter()
    state = await room.room.override("hvac", ClimateCommand(setpoint_c=20.5), via="app")
    assert isinstance(state, ClimateState) and state.setpoint_c == 20.5
    await room.advance(60)
    assert room.devs["hvac"].state.setpoint_c == 20.5
    assert room.room.release("hvac")
    await room.settle()
    assert room.devs["hvac"].state.setpoint_c == 23.5


async def test_hvac_not_reaching_setpoint_and_contact_reception(room: Room) -> None:
    room.check_in()
    await room.enter()
    hvac = room.devs["hvac"]
    fan, action = hvac.state.fan, hvac.state.action
    # Heating to 23.5 °C but the room stays at 20 °C: a fan coil or valve problem.
    hvac.push(state=ClimateState(ClimateMode.AUTO, 23.5, fan, 20.0, action))
    await room.advance(59 * 60)
    room.motion()
    assert "hvac_not_reaching_setpoint" not in {a.kind for a in room.room.status().alerts}
    await room.advance(2 * 60)
    alerts = {a.kind: a for a in room.room.status().alerts}
    assert "20.0 °C, setpoint 23.5 °C" in alerts["hvac_not_reaching_setpoint"].detail
    hvac.push(state=ClimateState(ClimateMode.AUTO, 23.5, fan, 23.0, action))
    await room.settle()
    assert "hvac_not_reaching_setpoint" not in {a.kind for a in room.room.status().alerts}
    hvac.push(state=hvac.state, extra={"contact_reception": True})
    await room.settle()
    assert "contact_reception" in {a.kind for a in room.room.status().alerts}


async def test_wake_and_sleep_follow_the_members_routine(tmp_path: Path, clock: FakeClock) -> None:
    room = Room(tmp_path, clock)
    room.check_in()
    at = clock.now()
    prefs = room.store.preferences("mem_aaaaaaaaaaaa")
    assert prefs is not None
    room.store.put_preferences(
        prefs.model_copy(
            update={
                "routine": RoutinePrefs(
                    sleep_time=Stamped[str](value="22:30", updated_at=at),
                    wake_time=Stamped[str](value="07:00", updated_at=at),
                    curtains_open_on_wake=Stamped[bool](value=True, updated_at=at),
                )
            }
        )
    )
    room.room.preferences_changed()
    await room.enter()  # 20:00 in Shanghai
    assert room.room.choice is not None and room.room.choice.name == "welcome"
    await room.advance(2.5 * 3600 + 60)  # 22:31
    assert room.room.choice.name == "sleep"
    assert room.devs["ceiling"].state.on is False and room.devs["curtains"].state.position_pct == 0
    await room.advance(8.5 * 3600)  # 07:01, asleep all night: still occupied, door shut
    assert room.room.choice.name == "wake"
    assert room.devs["curtains"].state.position_pct == 100
    assert room.devs["ceiling"].state.level_pct == 60


actions = st.lists(
    st.sampled_from(["tick", "motion", "knob", "window", "close_window", "app", "scene_time"]),
    min_size=1,
    max_size=25,
)


@settings(max_examples=40, deadline=None)
@given(script=actions)
async def test_a_guests_change_is_never_overwritten_while_they_are_in(
    tmp_path_factory: pytest.TempPathFactory, script: list[str]
) -> None:
    clock = FakeClock(T0)
    room = Room(tmp_path_factory.mktemp("hold"), clock)
    room.check_in()
    await room.enter()
    hvac = room.devs["hvac"]
    fan, action = hvac.state.fan, hvac.state.action
    hvac.push(state=ClimateState(ClimateMode.AUTO, 19.5, fan, 21.0, action), manual=True)
    await room.settle()
    held = len(hvac.commands)
    window_open = False
    for step_ in script:
        if step_ == "tick":
            await room.advance(30)
        elif step_ == "motion":
            room.motion()
        elif step_ == "knob":
            hvac.push(state=ClimateState(ClimateMode.AUTO, 20.0, fan, 21.0, action), manual=True)
        elif step_ == "window":
            room.devs["balcony"].push(state=SensorState(door_open=True))
            window_open = True
        elif step_ == "close_window":
            room.devs["balcony"].push(state=SensorState(door_open=False))
            window_open = False
        elif step_ == "app":
            await room.room.set_housekeeping(dnd=True, via="app")
        else:
            await room.advance(3 * 3600)  # into the sleep/wake windows and beyond
        await room.settle()
        assert room.room.occ.occupied  # door never opened: the guest is in throughout
        guest = room.room.manual["hvac"]
        assert isinstance(guest, ClimateCommand)
        for command in hvac.commands[held:]:
            # Only the safety interlock may touch it, only to switch it off, and afterwards
            # the guest's own setting is put back.
            assert command in (ClimateCommand(mode=ClimateMode.OFF), guest), command
        held = len(hvac.commands)
        if not window_open:
            assert room.room.plan["hvac"].layer.value == "manual"
            assert (mode_of(hvac), hvac.state.setpoint_c) == (guest.mode, guest.setpoint_c)
    room.store.close()


async def test_member_presence_seam(room: Room) -> None:
    room.check_in()
    await room.settle()
    now = room.clock.now()
    room.room.on_presence(PresenceSignal("stay_zzzzzzzzzzzz", True, "ble", now))  # not ours
    await room.settle()
    assert not room.room.occ.occupied
    room.room.on_presence(PresenceSignal("stay_aaaaaaaaaaaa", True, "ble", now))
    await room.settle()
    status = room.room.status()
    assert status.occupied and status.member_present
    assert room.room.choice is not None and room.room.choice.name == "welcome"
    # Present members hold occupancy through door cycles without motion.
    room.door(True)
    room.door(False)
    await room.advance(3600)
    assert room.room.occ.occupied
    room.room.on_presence(PresenceSignal("stay_aaaaaaaaaaaa", False, "ble", room.clock.now()))
    await room.advance(1)
    assert not room.room.occ.occupied  # door closed long ago, no motion since


async def test_the_guests_lighting_and_audio_become_the_members_starting_point(
    room: Room,
) -> None:
    room.check_in(prefs=False)
    await room.enter()
    room.devs["ceiling"].push(state=LightState(True, 25), manual=True)
    room.devs["speaker"].push(state=MediaState(True, 35), manual=True)
    await room.settle()
    # Held for the rest of the stay ...
    assert set(room.room.manual) >= {"ceiling", "speaker"}
    await room.advance(3600)
    assert room.devs["ceiling"].state.level_pct == 25
    # ... and learnt: the member's stored values, marked for upload to central.
    prefs = room.store.preferences("mem_aaaaaaaaaaaa")
    assert prefs is not None and prefs.lighting.level_pct is not None
    assert (prefs.lighting.level_pct.value, prefs.lighting.level_pct.source) == (25, "learned")
    assert prefs.audio.volume_pct is not None and prefs.audio.volume_pct.value == 35
    assert [p.member_id for p in room.store.dirty_preferences()] == ["mem_aaaaaaaaaaaa"]
    learned = [e for e in room.store.pending() if e.kind is EventKind.PREFERENCE_LEARNED]
    assert {next(iter(k for k in e.payload if k in ("lighting", "audio"))) for e in learned} == {
        "lighting",
        "audio",
    }


async def test_a_temperature_reading_is_telemetry_not_a_status_change(room: Room) -> None:
    published: list[Any] = []
    room.room.on_status(published.append)
    room.check_in()
    await room.enter()
    await room.settle()
    hvac = room.devs["hvac"]
    seen = len(published)
    for reading in (21.0, 21.4, 21.9):
        state = hvac.state
        hvac.push(
            state=ClimateState(state.mode, state.setpoint_c, state.fan, reading, state.action)
        )
        await room.settle()
    assert len(published) == seen  # readings change no retained status
    await room.room.set_housekeeping(dnd=True, via="app")
    await room.settle()
    assert len(published) == seen + 1 and published[-1].dnd
