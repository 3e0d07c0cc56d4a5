"""Arbitration (interlock > manual > scene > default), scene selection, the scene book."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.base import (
    CapabilityName,
    ClimateCommand,
    ClimateMode,
    CoverCommand,
    LightCommand,
    MediaCommand,
)
from scenes.energy import ClimateTarget
from scenes.engine import EngineInput, PreferenceValues, resolve
from scenes.loader import REQUIRED, load_scenes
from scenes.model import Command, Layer, Scene
from scenes.select import Entry, Situation, in_window, select_scene
from smartroom.settings import ConfigError

BOOK = load_scenes()
DEVICES: dict[str, CapabilityName] = {
    "hvac": "climate",
    "ceiling": "light",
    "bedside": "light",
    "speaker": "media",
    "curtains": "cover",
    "door": "sensor",
}
VALUES = PreferenceValues(
    setpoint_c=23.5,
    level_pct=40,
    colour_temp_k=2700,
    volume_pct=15,
    source="jazz",
    origins={"setpoint_c": "preference", "level_pct": "preference"},
)


def test_welcome_sets_every_device_from_preferences() -> None:
    plan = resolve(EngineInput(BOOK["welcome"], DEVICES, VALUES))
    assert "door" not in plan  # sensors take no state
    assert plan["hvac"].command == ClimateCommand(mode=ClimateMode.AUTO, setpoint_c=23.5)
    assert plan["hvac"].origins == {"mode": "scene", "setpoint_c": "preference"}
    assert plan["ceiling"].command == LightCommand(
        on=True, level_pct=40, colour_temp_k=2700, transition_s=2.0
    )
    assert plan["speaker"].command == MediaCommand(
        power=True, volume_pct=15, source="jazz", playing=True
    )
    assert plan["curtains"].command == CoverCommand(position_pct=100)
    assert all(d.layer is Layer.SCENE for d in plan.values())
    assert "ceiling" in plan["ceiling"].describe()


def test_defaults_fill_in_when_the_member_has_no_preference() -> None:
    plan = resolve(EngineInput(BOOK["welcome"], DEVICES, PreferenceValues()))
    assert plan["hvac"].command == ClimateCommand(mode=ClimateMode.AUTO, setpoint_c=22.0)
    assert plan["hvac"].origins["setpoint_c"] == "default"
    # Nothing of theirs to play: the speaker is switched on but not told to play.
    assert plan["speaker"].command == MediaCommand(power=True, volume_pct=20)


def test_energy_tokens_take_the_energy_target_or_leave_the_device() -> None:
    away = BOOK["away"]
    none = resolve(EngineInput(away, DEVICES, VALUES))
    assert none["hvac"].command is None  # too early for a setback: leave it
    target = ClimateTarget(ClimateMode.HEAT, 21.0, "away setback")
    plan = resolve(EngineInput(away, DEVICES, VALUES, energy=target))
    assert plan["hvac"].command == ClimateCommand(mode=ClimateMode.HEAT, setpoint_c=21.0)
    assert "away setback" in plan["hvac"].reason
    assert plan["ceiling"].command == LightCommand(on=False)


commands = st.one_of(
    st.builds(ClimateCommand, setpoint_c=st.floats(18, 27)),
    st.builds(LightCommand, on=st.booleans()),
)


@settings(max_examples=150)
@given(
    scene=st.sampled_from(sorted(REQUIRED)),
    manual=st.sets(st.sampled_from(["hvac", "ceiling", "bedside", "speaker", "curtains"])),
    interlock=st.booleans(),
    energy=st.none()
    | st.builds(ClimateTarget, st.sampled_from(list(ClimateMode)), st.floats(15, 27), st.just("e")),
)
def test_arbitration_order_holds_for_every_scene(
    scene: str, manual: set[str], interlock: bool, energy: ClimateTarget | None
) -> None:
    held: dict[str, Command] = {name: LightCommand(on=True) for name in manual}
    plan = resolve(
        EngineInput(
            BOOK.effective(scene, ("dnd",)),
            DEVICES,
            VALUES,
            energy=energy,
            manual=held,
            interlock="balcony open 20 s" if interlock else None,
        )
    )
    for name, desired in plan.items():
        if interlock and DEVICES[name] == "climate":
            # Safety beats everything, the guest's own change included.
            assert desired.layer is Layer.INTERLOCK
            assert desired.command == ClimateCommand(mode=ClimateMode.OFF)
        elif name in manual:
            assert desired.layer is Layer.MANUAL and desired.command == held[name]
        else:
            assert desired.layer in (Layer.SCENE, Layer.DEFAULT)
        if isinstance(desired.command, LightCommand) and desired.command.on is False:
            assert desired.command.level_pct is None  # a level would switch the lamp back on


def test_per_device_tables_and_overrides() -> None:
    book = load_scenes(
        overrides={
            "sleep": {"devices": {"bedside": {"on": True, "level_pct": 5}}},
            "welcome": {"light": {"level_pct": 80}},
        }
    )
    plan = resolve(EngineInput(book["sleep"], DEVICES, VALUES))
    assert plan["bedside"].command == LightCommand(on=True, level_pct=5)
    assert plan["ceiling"].command == LightCommand(on=False, transition_s=30.0)
    assert book["welcome"].light is not None and book["welcome"].light.level_pct == 80
    assert book.check_devices(DEVICES) == []
    bad = load_scenes(overrides={"sleep": {"devices": {"lamp": {"on": True}, "hvac": {"on": 1}}}})
    problems = bad.check_devices(DEVICES)
    assert any("devices.lamp names no device" in p for p in problems)
    assert any("devices.hvac.on" in p for p in problems)


def test_scene_files_errors_name_the_file_and_field(tmp_path: Path) -> None:
    (tmp_path / "welcome.toml").write_text('name = "welcome"\n[light]\nlevel_pct = 140\n')
    with pytest.raises(ConfigError) as info:
        load_scenes(tmp_path)
    assert "welcome.toml" in str(info.value) and "light.level_pct = 140" in str(info.value)
    (tmp_path / "welcome.toml").write_text('name = "other"\n')
    with pytest.raises(ConfigError, match="differs from the file name"):
        load_scenes(tmp_path)
    with pytest.raises(ConfigError, match="no such scene"):
        load_scenes(overrides={"party": {}})
    with pytest.raises(ConfigError, match=r"scenes.overrides.away.climate.setpoint_c"):
        load_scenes(overrides={"away": {"climate": {"setpoint_c": "warm"}}})


def test_a_property_scene_file_replaces_a_builtin(tmp_path: Path) -> None:
    (tmp_path / "welcome.toml").write_text('name = "welcome"\n[light]\non = true\nlevel_pct = 55\n')
    book = load_scenes(tmp_path)
    assert book["welcome"].climate is None
    assert (
        book["welcome"].light
        == Scene.model_validate({"name": "welcome", "light": {"on": True, "level_pct": 55}}).light
    )


# --- selection --------------------------------------------------------------------------------

LOCAL = datetime(2026, 1, 15, 20, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("situation", "scene"),
    [
        (Situation(LOCAL, rented=True, occupied=True, entry="first"), "welcome"),
        (Situation(LOCAL, rented=True, occupied=True, entry="re"), "welcome_back"),
        (Situation(LOCAL, rented=True, occupied=True, entry="staff"), "welcome_staff"),
        (Situation(LOCAL, rented=True, occupied=True, entry="staff", mur=True), "make_up_room"),
        (Situation(LOCAL, rented=False, occupied=True), "welcome_staff"),
        (Situation(LOCAL, rented=False, occupied=True, entry="staff"), "welcome_staff"),
        # Checked out while still packing: the guest's room stays as it is until they leave.
        (Situation(LOCAL, rented=False, occupied=True, entry="re"), "departing"),
        (Situation(LOCAL, rented=False, occupied=True, entry="first", mur=True), "departing"),
        (Situation(LOCAL, rented=True, occupied=False), "away"),
        (Situation(LOCAL, rented=True, occupied=False, first_entry_done=False), "pre_arrival"),
        (Situation(LOCAL, rented=False, occupied=False), "vacant"),
        (Situation(LOCAL, rented=False, occupied=False, arrival_soon=True), "pre_arrival"),
        (
            Situation(LOCAL, False, False, departed_at=LOCAL - timedelta(minutes=10)),
            "checkout",
        ),
        (
            Situation(LOCAL, True, True, entry="re", sleep_time=time(19, 30), wake_time=time(7)),
            "sleep",
        ),
        (Situation(LOCAL, True, True, entry="re", wake_time=time(19, 45)), "wake"),
    ],
)
def test_select_scene(situation: Situation, scene: str) -> None:
    assert select_scene(situation).name == scene


def test_dnd_is_an_overlay_and_every_choice_is_in_the_book() -> None:
    choice = select_scene(Situation(LOCAL, True, True, entry="re", dnd=True))
    assert choice.overlays == ("dnd",)
    assert BOOK.effective(choice.name, choice.overlays).name == "welcome_back"


@given(
    hour=st.integers(0, 23),
    minute=st.integers(0, 59),
    rented=st.booleans(),
    occupied=st.booleans(),
    entry=st.sampled_from([None, "first", "re", "staff"]),
    dnd=st.booleans(),
    mur=st.booleans(),
    soon=st.booleans(),
    wake=st.none() | st.times(),
    sleep=st.none() | st.times(),
)
def test_selection_always_names_a_known_scene(
    hour: int,
    minute: int,
    rented: bool,
    occupied: bool,
    entry: Entry | None,
    dnd: bool,
    mur: bool,
    soon: bool,
    wake: time | None,
    sleep: time | None,
) -> None:
    now = LOCAL.replace(hour=hour, minute=minute)
    choice = select_scene(
        Situation(now, rented, occupied, entry, True, dnd, mur, soon, None, wake, sleep)
    )
    assert choice.name in REQUIRED and set(choice.overlays) <= REQUIRED
    if occupied and entry in ("first", "re"):
        # A guest's own occupancy is never mistaken for staff, checked in or not.
        assert choice.name not in ("welcome_staff", "make_up_room")


@given(now=st.times(), start=st.times(), end=st.times())
def test_windows_across_midnight(now: time, start: time, end: time) -> None:
    inside = in_window(now, start, end)
    if start <= end:
        assert inside == (start <= now < end)
    else:
        assert inside == (not (end <= now < start))
