"""The bleak driver: what its callback keeps (service data and RSSI, never the address), and
that a box without a working radio (CI has none) reports it and keeps retrying instead of
taking the agent down."""

from __future__ import annotations

import asyncio

from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData
from structlog.testing import capture_logs

from agent.presence.advert import EDDYSTONE_UUID
from agent.presence.config import PresenceSection
from drivers.ble_scanner import BleScanner


def test_callback_passes_service_data_and_rssi_never_the_address() -> None:
    got: list[tuple[object, ...]] = []
    scanner = BleScanner(lambda data, rssi: got.append((dict(data), rssi)), PresenceSection())
    device = BLEDevice("C0:FF:EE:12:34:56", None, None)
    frame = bytes([0x30, 0xC5]) + bytes(8)
    adv = AdvertisementData(None, {}, {EDDYSTONE_UUID: frame}, [EDDYSTONE_UUID], -59, -61, ())
    other = AdvertisementData("tv", {0x4C: b"x"}, {}, [], None, -40, ())
    scanner._detected(device, adv)
    scanner._detected(device, other)  # not an Eddystone frame: not even passed on
    assert got == [({EDDYSTONE_UUID: frame}, -61)]
    assert "C0:FF:EE" not in repr(got)


async def test_no_radio_is_reported_and_retried_not_fatal() -> None:
    scanner = BleScanner(lambda data, rssi: None, PresenceSection())
    with capture_logs() as logs:
        task = asyncio.create_task(scanner.run())
        for _ in range(100):
            if scanner.available is not None:
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.2)
        assert not task.done()  # still running: scanning, or waiting to retry
        task.cancel()
    assert scanner.available is not None
    if scanner.available is False:
        [line] = [e for e in logs if e["event"] == "ble_scanner_unavailable"]
        assert "docs/presence.md" in line["fix"]
