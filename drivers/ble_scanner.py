"""The BLE radio: `bleak`'s scanner, isolated like every other driver.

It hands each advertisement's service data and RSSI to a callback (the agent passes
`BleRecogniser.on_service_data`, the same code the phone simulator feeds) and keeps nothing:
the device address bleak reports is dropped here, never stored or logged. On Linux bleak
talks to BlueZ over D-Bus (docs/presence.md has the Pi setup). A missing or failing adapter
is reported once, then retried with backoff; the room keeps working on its other evidence.
`BleProxy` takes the same adverts from a radio elsewhere, as HCI reports over UDP.

    scanner = BleScanner(recogniser.on_service_data, config.presence)
    supervisor.add("ble-scanner", scanner.run)
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import Any, Protocol

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

    async def run(self) -> None:
        # Imported here: bleak (and its D-Bus stack) loads only in agents that scan.
        from bleak import BleakScanner
        from bleak.exc import BleakError

        extra: dict[str, Any] = {"adapter": self._adapter} if self._adapter else {}
        while True:
            try:
                async with BleakScanner(self._detected, **extra):
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


class _Datagrams(asyncio.DatagramProtocol):
    def __init__(self, on_packet: Callable[[bytes], object]) -> None:
        self._on_packet = on_packet

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        self._on_packet(data)  # the sender's address is not kept either


class BleProxy:
    """A BLE radio elsewhere (an ESPHome-style Bluetooth proxy on the ceiling, the phone
    simulator in tests and `smartroom phone`) forwarding each received advert as an HCI LE
    Advertising Report event in one UDP datagram. Loopback by default: a proxy on the LAN
    is no more trusted than a radio in range (only resolved identifiers count)."""

    MAX_DATAGRAM = 512

    def __init__(self, on_hci: Callable[[bytes], object], host: str, port: int) -> None:
        self._on_hci = on_hci
        self.host, self.port = host, port
        self.datagrams = 0
        self.oversized = 0

    def _packet(self, data: bytes) -> None:
        if len(data) > self.MAX_DATAGRAM:
            self.oversized += 1
            return
        self.datagrams += 1
        self._on_hci(data)

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(
            lambda: _Datagrams(self._packet), local_addr=(self.host, self.port)
        )
        log.info("ble_proxy_listening", host=self.host, port=self.port)
        try:
            await asyncio.Event().wait()
        finally:
            transport.close()
