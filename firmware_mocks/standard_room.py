"""The standard ten-device guest room that the demo, the agent tests and the benchmarks run.

    standard_devices()                                   # room 1201, as the file has it
    standard_devices("1202", hvac_poll_s=0.5)            # Zigbee2MQTT names r1202_...
    standard_devices("101", only=("hvac", "entrance"))   # a subset, in the file's order

The devices are read from `examples/rooms/room-1201.toml`, the room `smartroom rig` is
shown with, so the room people try by hand is the room the code is tested and measured on.
The result is `[devices.<name>]` tables for `Rig(...)`; the ceiling light keeps the file's
fixed CoAP port, so start the rig with `free_ports=True` when more than one room runs.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from smartroom.settings import read_toml

STANDARD_ROOM = Path(__file__).resolve().parent.parent / "examples" / "rooms" / "room-1201.toml"
# The file's Zigbee2MQTT names and speaker id start with this; rooms sharing one broker
# need their own, or one room's simulators would answer for another's.
_FILE_TAG = "r1201"
_TAGGED_KEYS = ("friendly_name", "speaker_id")


def standard_devices(
    room_id: str = "1201",
    *,
    only: Iterable[str] | None = None,
    hvac_poll_s: float | None = None,
) -> dict[str, dict[str, Any]]:
    """A fresh copy of the standard room's device tables for room `room_id`."""
    devices: dict[str, dict[str, Any]] = read_toml(STANDARD_ROOM, what="room file")["devices"]
    if only is not None:
        wanted = set(only)
        unknown = sorted(wanted - set(devices))
        if unknown:
            raise ValueError(f"not in the standard room: {unknown} (have: {sorted(devices)})")
        devices = {name: table for name, table in devices.items() if name in wanted}
    tag = f"r{room_id}"
    for table in devices.values():
        for key in _TAGGED_KEYS:
            if key in table:
                table[key] = tag + str(table[key]).removeprefix(_FILE_TAG)
    if hvac_poll_s is not None and "hvac" in devices:
        devices["hvac"]["poll_interval_s"] = hvac_poll_s
    return devices


__all__ = ["STANDARD_ROOM", "standard_devices"]
