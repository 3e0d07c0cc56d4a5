"""What the simulated thermostat answers, PDU by PDU (pure logic, no line)."""

from __future__ import annotations

import struct

from hypothesis import given, settings
from hypothesis import strategies as st

from firmware_mocks.modbus_line import ModbusLine
from firmware_mocks.modbus_slave import answer, request_complete
from firmware_mocks.thermostat import ThermostatSimulator


def unit(register_map: str = "smt131") -> ThermostatSimulator:
    return ThermostatSimulator("hvac", ModbusLine("/dev/null", speed=0), register_map=register_map)


def read(function: int, address: int, count: int) -> bytes:
    return struct.pack(">BHH", function, address, count)


def test_reads_and_the_exception_codes_in_the_specs_order() -> None:
    u = unit()
    reply = answer(read(0x03, 0, 14), u)
    assert reply[:2] == bytes([0x03, 28]) and struct.unpack(">H", reply[2:4])[0] == 131
    assert answer(read(0x03, 0, 0), u) == b"\x83\x03"  # quantity 0
    assert answer(read(0x03, 0, 126), u) == b"\x83\x03"  # above 125
    assert answer(read(0x03, 200, 0), u) == b"\x83\x03"  # quantity is checked first
    assert answer(read(0x03, 14, 1), u) == b"\x83\x02"  # past the map
    assert answer(read(0x03, 12, 4), u) == b"\x83\x02"  # runs off the end
    assert answer(read(0x04, 0, 1), u) == b"\x84\x01"  # no input registers on an SMT-131
    assert answer(read(0x01, 0, 1), u) == b"\x81\x01"  # nor coils
    assert answer(read(0x02, 0, 1), u) == b"\x82\x01"  # nor discrete inputs
    assert answer(b"\x05\x00\x00\xff\x00", u) == b"\x85\x01"
    assert answer(b"\x41", u) == b"\xc1\x01"  # an unknown function
    assert answer(b"\x03\x00", u) == b"\x83\x03"  # a truncated request


def test_writes_all_or_nothing_read_only_and_limits() -> None:
    u = unit()
    assert answer(b"\x06\x00\x08\x00\xeb", u) == b"\x06\x00\x08\x00\xeb"  # echo, 23.5 °C
    assert u.controls.setpoint_c == 23.5
    assert answer(b"\x06\x00\x08\x01\x90", u) == b"\x86\x03"  # 40.0 °C: above the maximum
    assert answer(b"\x06\x00\x00\x00\x01", u) == b"\x86\x02"  # device id is read-only
    # FC16 mode, fan, setpoint: cool, high, 21.0
    assert answer(b"\x10\x00\x06\x00\x03\x06\x00\x02\x00\x03\x00\xd2", u) == b"\x10\x00\x06\x00\x03"
    assert (u.controls.mode.value, u.controls.fan.value, u.controls.setpoint_c) == (
        "cool",
        "high",
        21.0,
    )
    # one bad value refuses the whole write
    assert answer(b"\x10\x00\x06\x00\x03\x06\x00\x01\x00\x00\x01\x90", u) == b"\x90\x03"
    assert u.controls.mode.value == "cool"
    assert answer(b"\x10\x00\x06\x00\x02\x06\x00\x01\x00\x00\x00\x00", u) == b"\x90\x03"


def test_input_registers_where_the_map_declares_them() -> None:
    u = unit("fcu100")  # room temperature and valve state are input registers here
    reply = answer(read(0x04, 100, 2), u)
    assert reply[:2] == b"\x04\x04"
    assert answer(read(0x03, 100, 1), u) == b"\x83\x02"  # not a holding register
    assert answer(read(0x04, 200, 1), u) == b"\x84\x02"  # the setpoint is not an input
    assert answer(read(0x03, 200, 3), u)[:2] == b"\x03\x06"


def test_request_lengths_known_from_the_function_code() -> None:
    assert request_complete(bytes.fromhex("0103000000")) is None  # still arriving
    assert request_complete(bytes.fromhex("01030000000ec40e")) == 8
    assert request_complete(bytes.fromhex("0110000600030600")) is None
    assert request_complete(bytes.fromhex("01100006000306000200030" + "0d2abcd")) == 15
    assert request_complete(bytes.fromhex("0141")) is None  # only silence ends it


@settings(max_examples=300, deadline=None)
@given(st.binary(min_size=1, max_size=40))
def test_any_pdu_gets_a_well_formed_answer(pdu: bytes) -> None:
    reply = answer(pdu, unit())
    assert reply[0] in (pdu[0], (pdu[0] | 0x80) & 0xFF)
    if reply[0] & 0x80:
        assert len(reply) == 2 and reply[1] in (1, 2, 3)
