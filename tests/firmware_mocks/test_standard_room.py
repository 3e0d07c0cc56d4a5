"""The standard room the demo, the agent tests and the benchmarks share."""

from __future__ import annotations

import pytest

from firmware_mocks.rig import parse_room
from firmware_mocks.standard_room import standard_devices


def test_ten_devices_tagged_for_the_room_and_valid_for_the_rig() -> None:
    devices = standard_devices("1202", hvac_poll_s=0.5)
    assert list(devices) == [
        "hvac",
        "ceiling",
        "bedside",
        "curtain",
        "motion",
        "entrance",
        "window",
        "lock",
        "button",
        "speaker",
    ]
    assert devices["entrance"]["friendly_name"] == "r1202_door"
    assert devices["speaker"]["speaker_id"] == "r1202"
    assert devices["hvac"]["poll_interval_s"] == 0.5
    parse_room({"room": {"property_id": "SHA-01", "room_id": "1202"}, "devices": devices})


def test_subset_keeps_the_file_order_and_each_call_is_a_fresh_copy() -> None:
    devices = standard_devices(only=("lock", "hvac"))
    assert list(devices) == ["hvac", "lock"]
    assert "poll_interval_s" not in devices["hvac"]
    devices["lock"]["friendly_name"] = "changed"
    assert standard_devices()["lock"]["friendly_name"] == "r1201_lock"


def test_a_device_not_in_the_room_is_refused() -> None:
    with pytest.raises(ValueError, match="door"):
        standard_devices(only=("door",))
