"""The BLE radio: `bleak`'s scanner, isolated like every other driver.

It hands each advertisement's service data and RSSI to a callback (the agent passes
`BleRecogniser.on_service_data`, the same code the phone simulator feeds) and keeps nothing:
the device address bleak reports is dropped here, never stored or logged. On Linux bleak
talks to BlueZ over D-Bus (docs/presence.md has the Pi setup). A missing or failing adapter
is reported once, then retried with backoff; the room keeps working on its other evidence.

    scanner = BleScanner(recogniser.on_service_data, config.presence)
    supervisor.add("ble-scanner", scanner.run)
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from bleak import BleakScanner
from bleak.exc import BleakError

from drivers.availability import Backoff
from smartroom.log import get_logger

log = get_logger("drivers.ble_scanner")

EDDYSTONE_UUID = "0000feaa-0000-1000-8000-00805f9b34fb"


class ScannerSettings(Protocol):
    @property
    def ble_adapter(self) -> str | None: ...


OnAdvert = Callable[[Mapping[str, bytes], int], object]


class BleScanner:
    def __init__(self, on_advert: OnAdvert, settings: ScannerSettings) -> None:
        self._on_advert = on_advert
        self._adapter = settings.ble_adapter
        self.backoff = Backoff(initial=2.0, maximum=120.0)
        self.available: bool | None = None
        self.adverts = 0

    def _detected(self, _device: Any, advertisement: Any) -> None:
        # `_device` carries the (rotating) address: deliberately unused.
        service_data = advertisement.service_data
        if EDDYSTONE_UUID not in service_data:
            return
        self.adverts += 1
        self._on_advert(service_data, int(advertisement.rssi))

    def _scanner(self) -> BleakScanner:
        bluez: dict[str, Any] = {}
        if self._adapter is not None:
            return BleakScanner(self._detected, adapter=self._adapter, bluez=bluez)  # type: ignore[arg-type]
        return BleakScanner(self._detected, bluez=bluez)  # type: ignore[arg-type]

    async def run(self) -> None:
        while True:
            try:
                async with self._scanner():
                    if self.available is not True:
                        log.info("ble_scanner_started", adapter=self._adapter or "default")
                    self.available = True
                    self.backoff.reset()
                    await asyncio.Event().wait()  # scan until cancelled
            except (TimeoutError, BleakError, OSError) as exc:
                if self.available is not False:
                    log.warning(
                        "ble_scanner_unavailable",
                        error=f"{type(exc).__name__}: {exc}",
                        fix="check the adapter (hciconfig / bluetoothctl show) and that "
                        "bluetoothd runs; see docs/presence.md",
                    )
                self.available = False
                await asyncio.sleep(self.backoff.next())
