"""Our drivers against servers nobody here wrote: pymodbus' own RTU server and libcoap's
`coap-server-notls`, so the drivers are not only ever checked against our simulators."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Iterator

import pytest
from conformance_peers import coap
from polling import eventually
from pymodbus.server import ModbusSerialServer
from pymodbus.simulator import DataType, SimData, SimDevice

from drivers.base import ClimateCommand, ClimateMode, DeviceUpdate, LightCommand
from drivers.coap_light import CoapLight
from drivers.config import CoapLightConfig, ModbusHvacConfig
from drivers.modbus_bus import BusPool
from drivers.modbus_hvac import ModbusHvac
from drivers.modbus_map import Value, load_map
from firmware_mocks.coap_light import free_udp_port
from firmware_mocks.ptypair import PtyPair

READING: dict[str, Value] = {
    "device_id": 131,
    "room_temperature": 21.5,
    "humidity": 40,
    "occupancy": True,
    "action": "heating",
    "door_station": "normal",
    "mode": "heat",
    "fan": "auto",
    "setpoint": 22.0,
    "contact_reception": False,
    "energy": 1234,
    "window_contact": False,
    "door_contact": False,
}


def smt131_words() -> list[int]:
    regmap = load_map("smt131")
    words: dict[int, int] = {}
    for role, spec in regmap.registers.items():
        for i, word in enumerate(spec.encode(READING[role])):
            words[spec.wire_address + i] = word
    return [words[a] for a in range(max(words) + 1)]


async def test_modbus_driver_against_pymodbus_server(pty_pair: PtyPair) -> None:
    devices = [
        SimDevice(u, simdata=[SimData(0, values=smt131_words(), datatype=DataType.REGISTERS)])
        for u in (1, 2)
    ]
    # pymodbus' RTU server, at the map's 8E1 (the pty carries the stop bits, not parity)
    server = ModbusSerialServer(
        devices, port=pty_pair.a, baudrate=9600, parity="N", stopbits=1, broadcast_enable=True
    )
    await server.serve_forever(background=True)
    pool = BusPool()
    hvacs = [
        ModbusHvac(
            f"hvac{u}",
            ModbusHvacConfig(driver="modbus_hvac", port=pty_pair.b, unit=u, timeout_s=2),
            pool=pool,
        )
        for u in (1, 2)
    ]
    try:
        for hvac in hvacs:
            await hvac.start()
        state = await hvacs[0].refresh()
        assert (state.setpoint_c, state.mode, state.current_c) == (22.0, ClimateMode.HEAT, 21.5)
        state = await hvacs[0].apply(ClimateCommand(setpoint_c=23.5, mode=ClimateMode.COOL))
        assert (state.setpoint_c, state.mode) == (23.5, ClimateMode.COOL)
        await hvacs[0].broadcast(ClimateCommand(mode=ClimateMode.OFF))  # both units, no reply
        for hvac in hvacs:
            assert (await hvac.refresh()).mode == ClimateMode.OFF
        assert (await hvacs[1].refresh()).setpoint_c == 22.0  # unit 2 only got the broadcast
    finally:
        for hvac in hvacs:
            await hvac.stop()
        await server.shutdown()  # type: ignore[no-untyped-call]


@pytest.fixture
def libcoap_server() -> Iterator[int]:
    port = free_udp_port()
    proc = subprocess.Popen(
        ["coap-server-notls", "-A", "127.0.0.1", "-p", str(port), "-d", "4"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=5)


async def test_coap_driver_against_libcoap_server(libcoap_server: int) -> None:
    uri = f"coap://127.0.0.1:{libcoap_server}/3311/0"
    # libcoap's server creates a resource from a PUT (-d) and serves, observes and
    # replaces it verbatim: a lamp with no opinions of its own.
    for _ in range(50):
        created = await asyncio.to_thread(
            coap, "-m", "put", "-t", "50", "-e", '{"5850":false,"5851":50}', uri
        )
        if created.code == 0 and not created.err:
            break
        await asyncio.sleep(0.1)
    config = CoapLightConfig(driver="coap_light", port=libcoap_server, timeout_s=2)
    lamp = CoapLight("lamp", config)
    updates: list[DeviceUpdate] = []
    lamp.subscribe(updates.append)
    await lamp.start()
    try:
        await eventually(lambda: lamp.state is not None, timeout=5, what="first state")
        assert lamp.state is not None and (lamp.state.on, lamp.state.level_pct) == (False, 50)
        state = await lamp.apply(LightCommand(on=True, level_pct=40))
        assert (state.on, state.level_pct) == (True, 40)
        # someone else changes it: the driver hears it through Observe, as a manual change
        await asyncio.to_thread(coap, "-m", "put", "-t", "50", "-e", '{"5850":true,"5851":75}', uri)
        await eventually(
            lambda: any(u.manual and getattr(u.state, "level_pct", None) == 75 for u in updates),
            timeout=6,
            what="observe notification",
        )
    finally:
        await lamp.stop()
