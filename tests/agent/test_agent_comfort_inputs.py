"""The comfort model's adaptive inputs: the outdoor running mean (EN 16798-1 / ASHRAE 55,
α = 0.8) from the room's outdoor sensor, kept across restarts, and the hemisphere."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from agent_fakes import FakeDevice, climate, sensor
from hypothesis import given
from hypothesis import strategies as st

from agent.config import parse_room_config
from agent.preferences import ComfortInputs, PreferenceResolver, RunningMean
from agent.room import RoomController
from agent.store import AgentStore
from drivers.base import SensorState
from scenes.loader import load_scenes
from smartroom.clock import FakeClock
from smartroom.settings import ConfigError

D0 = date(2026, 1, 12)


def test_running_mean_follows_the_standard_formula() -> None:
    rm = RunningMean()
    for hour_c in (2.0, 4.0, 6.0):  # day 1: mean 4.0
        rm = rm.observe(D0, hour_c)
    assert rm.mean_c is None  # no whole day yet
    rm = rm.observe(D0 + timedelta(days=1), 10.0)
    assert rm.mean_c == 4.0  # the first day seeds it
    rm = rm.observe(D0 + timedelta(days=1), 12.0)  # day 2: mean 11.0
    rm = rm.observe(D0 + timedelta(days=2), 0.0)
    assert rm.mean_c == pytest.approx(0.2 * 11.0 + 0.8 * 4.0)
    # A reading from the past or out of any plausible range changes nothing.
    assert rm.observe(D0, 30.0) is rm
    assert rm.observe(D0 + timedelta(days=2), float("nan")) is rm
    assert rm.observe(D0 + timedelta(days=2), 99.0) is rm
    assert RunningMean.from_json(rm.to_json()) == rm
    assert RunningMean.from_json({"mean_c": "warm", "day": "yesterday"}) == RunningMean()
    assert RunningMean.from_json(None) == RunningMean()


@given(
    days=st.lists(st.lists(st.floats(-40.0, 45.0), min_size=1, max_size=6), min_size=2, max_size=12)
)
def test_running_mean_stays_within_the_daily_means(days: list[list[float]]) -> None:
    rm = RunningMean()
    for i, readings in enumerate(days):
        for value in readings:
            rm = rm.observe(D0 + timedelta(days=i), value)
        assert RunningMean.from_json(rm.to_json()) == rm
    daily = [sum(r) / len(r) for r in days[:-1]]
    assert rm.mean_c is not None
    assert min(daily) - 1e-6 <= rm.mean_c <= max(daily) + 1e-6


def _config(tmp_path: Path, **room: Any) -> Any:
    return parse_room_config(
        {
            "room": {"property_id": "SYD-01", "room_id": "801", "timezone": "UTC", **room},
            "devices": {
                "hvac": {"driver": "modbus_hvac", "port": "/dev/null"},
                "balcony": {"driver": "z2m", "capability": "sensor", "friendly_name": "b"},
            },
            "roles": {"outdoor": ["balcony"]},
            "store": {"path": str(tmp_path / "agent.db")},
        },
        source="test",
    )


def test_hemisphere_is_validated_and_reaches_the_comfort_model(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        _config(tmp_path, hemisphere="down under")
    assert "room.hemisphere" in str(err.value) and "down under" in str(err.value)
    assert _config(tmp_path).room.hemisphere == "north"  # the default
    south = _config(tmp_path, hemisphere="south")
    resolver = PreferenceResolver(south)
    january = datetime(2026, 1, 15, 15, tzinfo=UTC)
    ctx = resolver._context(
        None,
        ComfortInputs(january, 24.0, 50.0, outdoor_c=31.0, outdoor_running_mean_c=27.5),
        24.0,
    )
    assert ctx.hemisphere == "south" and ctx.season == 1.0  # January is summer in Sydney
    assert ctx.outdoor_running_mean_c == 27.5 and ctx.outdoor_c == 31.0


def test_an_outdoor_role_that_names_no_sensor_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"roles\.outdoor names 'hvac'"):
        parse_room_config(
            {
                "room": {"property_id": "SYD-01", "room_id": "801"},
                "devices": {"hvac": {"driver": "modbus_hvac", "port": "/dev/null"}},
                "roles": {"outdoor": ["hvac"]},
                "store": {"path": str(tmp_path / "agent.db")},
            },
            source="test",
        )


def _room(tmp_path: Path, clock: FakeClock) -> tuple[RoomController, AgentStore, FakeDevice]:
    config = _config(tmp_path, hemisphere="south")
    store = AgentStore(config.store.path, clock=clock, property_id="SYD-01", room_id="801")
    devices = {"hvac": climate(current_c=23.0), "balcony": sensor("balcony")}
    room = RoomController(
        config,
        store=store,
        devices=devices,
        scenes=load_scenes(),
        resolver=PreferenceResolver(config),
        clock=clock,
    )
    for dev in devices.values():
        dev.subscribe(room.on_device_update)
    room.prime()
    return room, store, devices["balcony"]


async def test_outdoor_readings_make_a_running_mean_kept_across_restarts(tmp_path: Path) -> None:
    clock = FakeClock(datetime(2026, 1, 12, 0, 30, tzinfo=UTC))
    room, store, balcony = _room(tmp_path, clock)
    for day, temps in enumerate(([20.0, 30.0], [26.0, 28.0])):
        for value in temps:
            clock.set(datetime(2026, 1, 12 + day, 6 + int(value) % 12, tzinfo=UTC))
            balcony.push(state=SensorState(temperature_c=value))
            room.step()
    # Outdoors is never mistaken for the room's temperature.
    assert room.indoor_c == 23.0 and room.outdoor_c == 28.0
    assert room.outdoor_mean.mean_c == 25.0  # day 1 closed; day 2 under way
    assert room._comfort_inputs(clock.now()).outdoor_running_mean_c == 25.0
    store.close()

    clock.set(datetime(2026, 1, 14, 9, tzinfo=UTC))
    again, store, balcony = _room(tmp_path, clock)
    assert again.outdoor_mean.mean_c == 25.0
    balcony.push(state=SensorState(temperature_c=24.0))
    again.step()
    # Day 2 (27.0 on average) was kept in the store and closes now.
    assert again.outdoor_mean.mean_c == pytest.approx(0.2 * 27.0 + 0.8 * 25.0)
    store.close()
