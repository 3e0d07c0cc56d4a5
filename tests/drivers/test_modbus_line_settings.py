"""Line settings: parity and stop bits from the map and the room file, and one idea of what a
character costs shared by the driver's silence and the simulator's line timing."""

from __future__ import annotations

import pytest
from polling import eventually

from drivers.base import ClimateCommand, ClimateMode
from drivers.config import ModbusHvacConfig
from drivers.modbus_bus import BusPool
from drivers.modbus_hvac import ModbusHvac
from drivers.modbus_map import load_map
from drivers.modbus_serial import Framing
from firmware_mocks.ptypair import PtyPair
from firmware_mocks.thermostat import ModbusLine, ThermostatSimulator


def test_spec_defaults_and_bits_per_character() -> None:
    assert Framing(9600).describe() == "9600 8E1"
    assert Framing(9600, "N").describe() == "9600 8N2"  # no parity: two stop bits
    assert Framing(9600).bits_per_char == Framing(9600, "N").bits_per_char == 11
    assert Framing(9600, "N", 1).bits_per_char == 10
    assert Framing(9600).gap_s == pytest.approx(3.5 * 11 / 9600)
    assert Framing(9600, "N", 1).gap_s == pytest.approx(3.5 * 10 / 9600)
    assert Framing(115200).gap_s == 0.00175
    with pytest.raises(ValueError, match="parity"):
        Framing(9600, "X")  # type: ignore[arg-type]


def test_map_then_room_file_decide_the_line() -> None:
    smt, fcu = load_map("smt131"), load_map("fcu100")
    assert smt.framing(9600).describe() == "9600 8E1"  # no [serial]: the spec's default
    assert fcu.framing(19200).describe() == "19200 8N1"  # its map says 8N1
    assert smt.framing(9600, "N").describe() == "9600 8N2"  # the room file's parity
    assert smt.framing(9600, "N", 1).describe() == "9600 8N1"
    assert fcu.framing(9600, "E").describe() == "9600 8E1"  # parity given: stops follow it


def test_driver_and_simulator_agree_on_character_time() -> None:
    cfg = ModbusHvacConfig(driver="modbus_hvac", port="/dev/null", parity="N", stopbits=1)
    hvac = ModbusHvac("hvac", cfg, pool=BusPool())
    line = ModbusLine("/dev/null", parity="N", stopbits=1)
    assert hvac.framing == line.framing
    bus = BusPool().acquire("/dev/null", hvac.framing)
    assert bus.gap_s == line.framing.gap_s == pytest.approx(3.5 * 10 / 9600)
    # what --emulate-baud waits for an FC03 of 14 registers: 8 + 33 octets of 10 bits
    assert line.wire_time_s(8, 33) == pytest.approx(41 * 10 / 9600)


async def test_mismatched_stop_bits_never_talk(pty_pair: PtyPair) -> None:
    line = ModbusLine(pty_pair.a, speed=0)  # 8E1
    sim = ThermostatSimulator("hvac", line)
    await sim.start()
    pool = BusPool()
    wrong = ModbusHvac(
        "hvac",
        ModbusHvacConfig(driver="modbus_hvac", port=pty_pair.b, parity="N", timeout_s=0.4),
        pool=pool,
    )
    try:
        await wrong.start()
        await eventually(lambda: wrong.availability.reason is not None, timeout=5)
        assert not wrong.availability.available
        assert "no reply" in (wrong.availability.reason or "")
        assert pty_pair.mismatched_bytes > 0  # the cable dropped them, as a UART would
        await wrong.stop()
        right = ModbusHvac(
            "hvac", ModbusHvacConfig(driver="modbus_hvac", port=pty_pair.b), pool=pool
        )
        await right.start()
        state = await right.apply(ClimateCommand(mode=ClimateMode.COOL))
        assert state.mode == ClimateMode.COOL
        await right.stop()
    finally:
        await sim.stop()


async def test_a_bus_keeps_one_set_of_line_settings() -> None:
    pool = BusPool()
    pool.acquire("/dev/ttyX", Framing(9600))
    with pytest.raises(ValueError, match=r"9600 8E1.*9600 8N1"):
        pool.acquire("/dev/ttyX", Framing(9600, "N", 1))
