"""Central's room config laid over the room file (`agent.central_config.overlay`): what
it changes, what it refuses and why, and that it beats the file and the environment for
the keys it sets while leaving every other key alone."""

from __future__ import annotations

import pytest

from agent.central_config import ConfigRefused, overlay
from agent.config import parse_room_config
from sync.room_settings import SettingsError, parse_settings
from sync.wire import RoomConfigDoc

FILE = {
    "room": {"property_id": "SHA-01", "room_id": "1201", "timezone": "Asia/Shanghai"},
    "limits": {"setpoint_max_c": 26, "default_setpoint_c": 22},
    "energy": {"away_setback_c": 2.5},
    "runtime": {"tick_s": 0.5, "status_heartbeat_s": 30},
}


def _doc(settings: dict[str, object], version: int = 1) -> RoomConfigDoc:
    return RoomConfigDoc(version=version, settings=settings)


def test_central_beats_the_file_and_the_environment_for_its_keys_only() -> None:
    base = parse_room_config(
        FILE, source="room", environ={"SMARTROOM_AGENT_ENERGY__AWAY_SETBACK_C": "3.5"}
    )
    assert base.energy.away_setback_c == 3.5  # the environment beat the file
    settings = {
        "limits": {"setpoint_max_c": 24},
        "energy": {"away_setback_c": 4, "away_after_min": 5},
        "scenes": {"default_sleep_time": "22:30", "default_wake_time": "07:00"},
        "room": {"climate": "Cfa", "air_conditioned": True},
        "runtime": {"status_heartbeat_s": 10},
    }
    config = overlay(base, _doc(settings))
    assert config.limits.setpoint_max_c == 24 and config.limits.default_setpoint_c == 22
    assert config.energy.away_setback_c == 4.0 and config.energy.away_after_min == 5.0
    assert config.sleep_time() is not None and config.sleep_time().hour == 22  # type: ignore[union-attr]
    assert config.room.climate == "Cfa" and config.room.air_conditioned is True
    assert config.runtime.status_heartbeat_s == 10.0 and config.runtime.tick_s == 0.5
    assert config.room.room_id == "1201" and config.store == base.store  # never central's
    assert overlay(base, _doc({})) == base


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"limits": {"setpoint_max_c": 20}}, "default_setpoint_c"),  # fine alone, not here
        ({"limits": {"setpoint_max_c": "24"}}, "limits.setpoint_max_c"),
        ({"room": {"air_conditioned": 1}}, "room.air_conditioned"),
        ({"devices": {}}, "devices"),  # central never sets devices
        ({"store": {"path": "/tmp/x.db"}}, "store"),
        ({"energy": {"away_setback_c": 1.0}}, "energy.away_setback_c"),  # IECC minimum
        ({"runtime": {"tick_s": 0.1}}, "runtime.tick_s"),
        ({"scenes": {"default_sleep_time": "25:00"}}, "scenes.default_sleep_time"),
    ],
)
def test_a_bad_config_is_refused_naming_the_setting(
    settings: dict[str, object], message: str
) -> None:
    base = parse_room_config(FILE, source="room", environ={})
    with pytest.raises(ConfigRefused, match=message):
        overlay(base, _doc(settings))


def test_central_refuses_what_is_invalid_alone_and_accepts_clashes_it_cannot_see() -> None:
    with pytest.raises(SettingsError, match=r"limits\.setpoint_max_c"):
        parse_settings({"limits": {"setpoint_max_c": 40}})
    with pytest.raises(SettingsError, match="settings: must be an object"):
        parse_settings(["limits"])
    assert parse_settings(
        {"limits": {"setpoint_max_c": 20, "setpoint_min_c": None}}
    ).sections() == {"limits": {"setpoint_max_c": 20.0}}
