"""BLE advertisement frames: the Eddystone-EID layout the member's phone (and a staff badge)
broadcasts, parsed from raw advertising data (the simulator, a raw HCI capture) or from the
service-data map `bleak` hands its detection callback. Both paths end in `read_eid`.

    raw = build_advertising_data(eid, tx_power=-59)          # what the phone puts on air
    frame = read_eid(parse_advertising_data(raw))            # the simulator's path
    frame = read_eid(advertisement_data.service_data)        # the bleak callback's path

Layout (Bluetooth Core Supplement part A; Eddystone spec): AD structures of
[length][type][data]; type 0x16 is 16-bit-UUID service data; Eddystone's UUID is 0xFEAA and
its EID frame is 0x30, a signed TX power at 0 m, then the 8-byte ephemeral identifier.
Anything that is not an Eddystone-EID frame is somebody else's device: `read_eid` returns
None. A frame that claims to be EID but is malformed raises `AdvertError`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from smartroom.credentials import EID_BYTES

EDDYSTONE_UUID16 = 0xFEAA
EDDYSTONE_UUID = "0000feaa-0000-1000-8000-00805f9b34fb"
EID_FRAME = 0x30
AD_FLAGS, AD_UUID16_COMPLETE, AD_SERVICE_DATA16 = 0x01, 0x03, 0x16
MAX_ADVERTISING_DATA = 254  # extended advertising; legacy PDUs carry at most 31


class AdvertError(ValueError):
    """A malformed advertisement (said without quoting its bytes: they may be an identifier)."""


@dataclass(frozen=True, slots=True)
class EidFrame:
    eid: bytes
    tx_power: int  # dBm at 0 m, as the sender claims


def build_advertising_data(eid: bytes, *, tx_power: int = -59) -> bytes:
    if len(eid) != EID_BYTES or not -128 <= tx_power <= 127:
        raise ValueError(f"an EID is {EID_BYTES} bytes and TX power -128..127 dBm")
    uuid = EDDYSTONE_UUID16.to_bytes(2, "little")
    service = uuid + bytes([EID_FRAME, tx_power & 0xFF]) + eid
    return (
        bytes([2, AD_FLAGS, 0x06])  # LE general discoverable, BR/EDR not supported
        + bytes([3, AD_UUID16_COMPLETE])
        + uuid
        + bytes([len(service) + 1, AD_SERVICE_DATA16])
        + service
    )


def parse_advertising_data(raw: bytes) -> dict[str, bytes]:
    """Service data by 128-bit UUID string, as bleak reports it."""
    if len(raw) > MAX_ADVERTISING_DATA:
        raise AdvertError(f"advertising data of {len(raw)} bytes (at most 254)")
    found: dict[str, bytes] = {}
    i = 0
    while i < len(raw):
        length = raw[i]
        if length == 0:  # the spec's early terminator: the rest is padding
            break
        if i + 1 + length > len(raw):
            raise AdvertError(f"AD structure at byte {i} runs past the end")
        ad_type, data = raw[i + 1], raw[i + 2 : i + 1 + length]
        if ad_type == AD_SERVICE_DATA16:
            if len(data) < 2:
                raise AdvertError(f"service data at byte {i} has no UUID")
            uuid16 = int.from_bytes(data[:2], "little")
            found[f"0000{uuid16:04x}-0000-1000-8000-00805f9b34fb"] = bytes(data[2:])
        i += 1 + length
    return found


def read_eid(service_data: Mapping[str, bytes]) -> EidFrame | None:
    data = service_data.get(EDDYSTONE_UUID)
    if data is None or len(data) == 0 or data[0] != EID_FRAME:
        return None  # another beacon or another Eddystone frame type: not ours
    if len(data) != 2 + EID_BYTES:
        raise AdvertError(f"Eddystone-EID frame of {len(data)} bytes (expected {2 + EID_BYTES})")
    return EidFrame(eid=bytes(data[2:]), tx_power=int.from_bytes(data[1:2], "big", signed=True))
