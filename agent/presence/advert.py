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


# --- HCI LE Advertising Report (Bluetooth Core Vol 4 Part E 7.7.65.2) ------------------------
# What a controller hands the host for every advert received: the form a BLE proxy (an
# ESPHome-style radio elsewhere in the room) forwards, and what btmon/hcidump capture.
HCI_EVENT, LE_META, LE_ADVERTISING_REPORT = 0x04, 0x3E, 0x02
ADV_NONCONN_IND = 0x03


def build_hci_report(
    ad: bytes, *, rssi: int, address: bytes, event_type: int = ADV_NONCONN_IND
) -> bytes:
    if len(address) != 6 or len(ad) > 31 or not -127 <= rssi <= 20:
        raise ValueError("address is 6 bytes, legacy advertising data <= 31, RSSI -127..20")
    params = (
        bytes([LE_ADVERTISING_REPORT, 1, event_type, 0x01])  # 1 report; random address
        + address
        + bytes([len(ad)])
        + ad
        + (rssi & 0xFF).to_bytes(1, "big")
    )
    return bytes([HCI_EVENT, LE_META, len(params)]) + params


def parse_hci_reports(packet: bytes) -> list[tuple[bytes, int]]:
    """(advertising data, RSSI) of each report in the event; the addresses are dropped."""
    if len(packet) < 5 or packet[0] != HCI_EVENT or packet[1] != LE_META:
        raise AdvertError("not an HCI LE Meta event")
    if packet[2] != len(packet) - 3:
        raise AdvertError(f"HCI parameter length {packet[2]} but {len(packet) - 3} bytes follow")
    if packet[3] != LE_ADVERTISING_REPORT:
        raise AdvertError(f"LE subevent 0x{packet[3]:02x} is not an advertising report")
    count, i, out = packet[4], 5, []
    if not 1 <= count <= 25:
        raise AdvertError(f"{count} reports in one event (1..25)")
    for _ in range(count):
        if i + 9 > len(packet):
            raise AdvertError("advertising report cut short")
        length = packet[i + 8]
        end = i + 9 + length
        if length > 31 or end + 1 > len(packet):
            raise AdvertError("advertising report data runs past the event")
        rssi = int.from_bytes(packet[end : end + 1], "big", signed=True)
        out.append((bytes(packet[i + 9 : end]), rssi))
        i = end + 1
    if i != len(packet):
        raise AdvertError("bytes left over after the reports")
    return out
