"""The hardware-in-the-loop rig: room files, scenarios, the Python API and the CLI."""

from __future__ import annotations

import asyncio
import logging
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from drivers.base import ClimateCommand, ClimateState, DeviceUpdate
from drivers.config import ModbusHvacConfig
from drivers.modbus_bus import BusPool
from drivers.modbus_hvac import create
from firmware_mocks.rig import Rig, dump_toml, parse_room
from firmware_mocks.scenario import parse_at, parse_scenario
from firmware_mocks.thermostat import ThermostatSimulator
from smartroom.clock import FakeClock
from smartroom.settings import ConfigError

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "rooms"

HVAC_ROOM: dict[str, Any] = {
    "room": {"property_id": "SHA-01", "room_id": "0101", "timezone": "Asia/Shanghai"},
    "scenes": {"directory": "scenes/library"},  # the agent's tables pass through untouched
    "devices": {
        "hvac": {
            "driver": "modbus_hvac",
            "port": "/dev/ttyUSB0",
            "unit": 1,
            "timeout_s": 0.5,
            "poll_interval_s": 0.1,
        },
        "hvac2": {"driver": "modbus_hvac", "port": "/dev/ttyUSB0", "unit": 2},
    },
}


async def test_rig_simulates_thermostats_and_plays_a_scenario(clock: FakeClock) -> None:
    scenario = parse_scenario(
        {
            "scenario": {"name": "knob and faults", "speed": 300},
            "events": [
                {"at": 10, "device": "hvac", "action": "guest_setpoint", "value": 25.5},
                {"at": 60, "action": "window", "value": "open"},
                {"at": 120, "device": "hvac", "action": "fault", "value": "silent"},
                {"at": 300, "device": "hvac", "action": "fault", "value": "none"},
                {"at": 360, "action": "note", "value": "done"},
            ],
        }
    )
    async with Rig(HVAC_ROOM, clock=clock, speed=600) as rig:
        cfg = rig.device_configs["hvac"]
        assert isinstance(cfg, ModbusHvacConfig)
        assert cfg.port.startswith("/dev/pts/")  # rewritten to the simulator's far end
        other = rig.device_configs["hvac2"]
        assert isinstance(other, ModbusHvacConfig) and other.port == cfg.port  # one bus
        assert len(rig.lines) == 1
        assert any("unit(s) 1, 2" in line for line in rig.describe())
        hvac = create("hvac", cfg, clock, pool=BusPool())
        updates: list[DeviceUpdate] = []
        hvac.subscribe(updates.append)
        await hvac.start()
        try:
            while not hvac.availability.available:
                await asyncio.sleep(0.01)
            lines: list[str] = []
            report = await rig.play(scenario, echo=lines.append)
            assert [d.handled_by for d in report.deliveries] == [
                ["hvac"],
                ["hvac", "hvac2"],
                ["hvac"],
                ["hvac"],
                [],
            ]
            assert lines[0] == "[00:00:10.0] hvac.guest_setpoint = 25.5 -> hvac"
            manual = [u for u in updates if u.manual]
            assert isinstance(manual[0].state, ClimateState)
            assert manual[0].state.setpoint_c == 25.5
            assert any(not u.availability.available for u in updates)  # the silent spell
            await asyncio.sleep(0.5)
            assert hvac.availability.available
            state = await hvac.apply(ClimateCommand(setpoint_c=21.0))
            assert state.setpoint_c == 21.0
            assert report.thermostats["hvac"]["setpoint_c"] == 25.5
            sim = rig.simulators["hvac"]
            assert isinstance(sim, ThermostatSimulator)
            assert sim.conditions.window_open
        finally:
            await hvac.stop()
        written = tomllib.loads(rig.room_toml())
        assert written["devices"]["hvac"]["port"] == cfg.port
        assert written["scenes"] == {"directory": "scenes/library"}
        assert written["room"]["timezone"] == "Asia/Shanghai"
    assert rig.simulators["hvac"].describe()  # still describable after stop


@pytest.mark.mqtt
async def test_full_room_starts_a_broker_and_fans_room_events_out(clock: FakeClock) -> None:
    scenario = parse_scenario(
        {
            "scenario": {"speed": 1000},
            "events": [
                {"at": 0, "action": "motion", "value": True},
                {"at": 1, "action": "door", "value": "open"},
                {"at": 2, "action": "button", "value": "dnd"},
                {"at": 3, "device": "ceiling", "action": "light", "value": 40},
                {"at": 4, "device": "speaker", "action": "volume", "value": 30},
                {"at": 5, "device": "lock", "action": "lock", "value": "unlocked"},
            ],
        }
    )
    async with Rig(EXAMPLES / "room-1201.toml", clock=clock, free_ports=True) as rig:
        assert rig.mqtt is not None and rig.mqtt.host == "127.0.0.1" and rig.mqtt.port != 1883
        assert set(rig.simulators) == set(rig.room.devices)
        assert rig.describe()[-1].endswith("(started by the rig)")
        report = await rig.play(scenario)
        handled = {d.action: d.handled_by for d in report.deliveries}
        assert handled == {
            "motion": ["hvac", "motion"],
            "door": ["hvac", "entrance"],
            "button": ["hvac", "button"],
            "light": ["ceiling"],
            "volume": ["speaker"],
            "lock": ["lock"],
        }
        assert tomllib.loads(rig.room_toml())["mqtt"]["port"] == rig.mqtt.port


async def test_real_devices_are_left_alone(clock: FakeClock) -> None:
    async with Rig(HVAC_ROOM, clock=clock, real={"hvac2"}) as rig:
        assert "hvac2" not in rig.simulators
        cfg = rig.device_configs["hvac2"]
        assert isinstance(cfg, ModbusHvacConfig) and cfg.port == "/dev/ttyUSB0"
        assert any(
            line.startswith("hvac2: modbus_hvac -> real hardware") for line in rig.describe()
        )
    with pytest.raises(ConfigError, match="unknown device"):
        Rig(HVAC_ROOM, real={"nosuch"})


async def test_scenario_naming_a_missing_device_is_refused_before_playing() -> None:
    scenario = parse_scenario(
        {"events": [{"at": 0, "device": "tv", "action": "light", "value": 1}]}
    )
    async with Rig(HVAC_ROOM) as rig:
        with pytest.raises(ConfigError, match="device 'tv' is not in the room"):
            await rig.play(scenario)


@pytest.mark.parametrize(
    ("event", "message"),
    [
        ({"at": 0, "action": "dance", "value": 1}, "unknown action 'dance'"),
        ({"at": 0, "action": "fault", "value": "melt", "device": "hvac"}, "fault 'melt'"),
        ({"at": 0, "action": "fault", "value": "silent"}, "needs a device name"),
        ({"at": 0, "action": "door"}, "needs a value"),
        ({"at": "1:99", "action": "note", "value": "x"}, "is not HH:MM:SS"),
        ({"at": -5, "action": "note", "value": "x"}, "between 0 and 30 days"),
        ({"at": 0, "action": "note", "value": "x", "colour": "red"}, "colour"),
    ],
)
def test_bad_scenario_events_are_named(event: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_scenario({"events": [event]})


def test_scenario_events_must_be_in_order() -> None:
    with pytest.raises(ConfigError, match="comes before the one above it"):
        parse_scenario(
            {
                "events": [
                    {"at": 10, "action": "note", "value": "b"},
                    {"at": 5, "action": "note", "value": "a"},
                ]
            }
        )


def test_times() -> None:
    assert parse_at("01:02:03") == 3723
    assert parse_at("05:00") == 300
    assert parse_at(90) == 90
    assert parse_at("00:00:01.5") == 1.5


def test_example_files_are_valid() -> None:
    for path in EXAMPLES.glob("*.toml"):
        data = tomllib.loads(path.read_text())
        if "scenario" in data or "events" in data:
            parse_scenario(data, source=str(path))
        else:
            parse_room(data, source=str(path))


def test_bad_room_files_say_what_to_fix(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"devices\.hvac\.modbus_hvac\.port = \(missing\)"):
        parse_room(
            {
                "room": {"property_id": "P", "room_id": "1"},
                "devices": {"hvac": {"driver": "modbus_hvac"}},
            }
        )
    bad = tmp_path / "room.toml"
    bad.write_text("[room\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        Rig(bad)


_scalars = st.one_of(
    st.booleans(),
    st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(st.characters(exclude_categories=["Cs"]), max_size=20),
)
_keys = st.text(st.characters(exclude_categories=["Cs"]), min_size=1, max_size=10)


@settings(max_examples=50)
@given(
    st.dictionaries(
        _keys,
        st.one_of(
            _scalars, st.lists(_scalars, max_size=3), st.dictionaries(_keys, _scalars, max_size=3)
        ),
        max_size=5,
    )
)
def test_toml_writer_round_trips(data: dict[str, Any]) -> None:
    assert tomllib.loads(dump_toml(data)) == data


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """The CLI configures logging for its process (onto CliRunner's stream, closed after):
    put the test session's configuration back."""
    saved_structlog = structlog.get_config()
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    try:
        yield
    finally:
        structlog.configure(**saved_structlog)
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)


@pytest.mark.usefixtures("restore_logging")
def test_cli_starts_the_rig_and_plays(tmp_path: Path) -> None:
    from smartroom_cli.cli import app  # the lead's CLI mounts `rig` from firmware_mocks/cli.py

    room = tmp_path / "room.toml"
    room.write_text(dump_toml(HVAC_ROOM))
    scenario = tmp_path / "play.toml"
    scenario.write_text(
        dump_toml(
            {
                "scenario": {"name": "quick", "speed": 600, "duration": 120},
                "events": [{"at": 30, "device": "hvac", "action": "guest_setpoint", "value": 23}],
            }
        )
    )
    out_room = tmp_path / "rig-room.toml"
    result = CliRunner().invoke(
        app,
        ["rig", "--room", str(room), "--scenario", str(scenario), "--write-room", str(out_room)],
    )
    assert result.exit_code == 0, result.output
    assert "hvac: modbus_hvac simulated, smt131 thermostat, unit 1, modbus rtu on /dev/pts/" in (
        result.output
    )
    assert "[00:00:30.0] hvac.guest_setpoint = 23 -> hvac" in result.output
    assert "setpoint_c=23.0" in result.output
    assert tomllib.loads(out_room.read_text())["devices"]["hvac"]["port"].startswith("/dev/pts/")

    bad = CliRunner().invoke(app, ["rig", "--room", str(tmp_path / "missing.toml")])
    assert bad.exit_code == 2
    assert "cannot read the room file" in bad.output
