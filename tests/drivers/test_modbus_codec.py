"""Register values and RTU frames: round trips, and malformed input refused precisely."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pymodbus.framer.rtu import FramerRTU

from drivers.modbus_frames import (
    READ_HOLDING,
    WRITE_SINGLE,
    FrameError,
    corrupt,
    crc16,
    parse_reply,
    read_request,
    reply_length,
    with_crc,
    write_single_request,
)
from drivers.modbus_map import (
    MapError,
    RegisterSpec,
    RegisterValueError,
    load_map,
    parse_map,
)

SMT = load_map("smt131")


# --- CRC and request frames ----------------------------------------------------------------


def test_crc16_modbus_check_value() -> None:
    assert crc16(b"123456789") == 0x4B37  # the catalogue check value of CRC-16/MODBUS


def test_read_request_matches_a_known_frame() -> None:
    assert read_request(1, 0, 14).hex() == "01030000000ec40e"


@given(st.binary(max_size=300))
def test_crc_agrees_with_pymodbus(data: bytes) -> None:
    framed = with_crc(data)
    assert FramerRTU.check_CRC(data, struct.unpack(">H", framed[-2:])[0])


@given(st.integers(1, 247), st.integers(0, 0xFFFF), st.integers(0, 0xFFFF))
def test_write_echo_round_trip(unit: int, address: int, value: int) -> None:
    # An FC06 reply echoes the request byte for byte.
    reply = parse_reply(
        write_single_request(unit, address, value), unit=unit, function=WRITE_SINGLE
    )
    assert (reply.unit, reply.address, reply.value, reply.exception) == (unit, address, value, None)


@pytest.mark.parametrize("unit", [0, 248, -1])
def test_request_refuses_bad_unit(unit: int) -> None:
    with pytest.raises(FrameError, match=r"unit address must be 1\.\.247"):
        read_request(unit, 0, 1)


# --- reply frames --------------------------------------------------------------------------


def _read_reply(unit: int, registers: list[int]) -> bytes:
    body = struct.pack(f">BBB{len(registers)}H", unit, READ_HOLDING, 2 * len(registers), *registers)
    return with_crc(body)


@given(st.integers(1, 247), st.lists(st.integers(0, 0xFFFF), min_size=1, max_size=125))
def test_read_reply_round_trip(unit: int, registers: list[int]) -> None:
    frame = _read_reply(unit, registers)
    assert len(frame) == reply_length(READ_HOLDING, len(registers))
    reply = parse_reply(frame, unit=unit, function=READ_HOLDING, count=len(registers))
    assert reply.registers == registers


@given(
    st.lists(st.integers(0, 0xFFFF), min_size=1, max_size=20),
    st.integers(0, 200),
    st.integers(1, 255),
)
def test_any_corrupted_byte_is_refused(registers: list[int], position: int, flip: int) -> None:
    frame = bytearray(_read_reply(1, registers))
    frame[position % len(frame)] ^= flip
    with pytest.raises(FrameError):
        parse_reply(bytes(frame), unit=1, function=READ_HOLDING, count=len(registers))


def test_corrupt_crc_is_named() -> None:
    with pytest.raises(FrameError, match="CRC mismatch"):
        parse_reply(corrupt(_read_reply(1, [235])), unit=1, function=READ_HOLDING)


@given(st.lists(st.integers(0, 0xFFFF), min_size=1, max_size=20), st.data())
def test_truncated_reply_is_refused(registers: list[int], data: st.DataObject) -> None:
    frame = _read_reply(1, registers)
    cut = data.draw(st.integers(0, len(frame) - 1))
    with pytest.raises(FrameError):
        parse_reply(frame[:cut], unit=1, function=READ_HOLDING, count=len(registers))


def test_truncated_reply_message() -> None:
    with pytest.raises(FrameError, match="truncated reply: 3 bytes"):
        parse_reply(b"\x01\x03\x02", unit=1, function=READ_HOLDING)
    with pytest.raises(FrameError, match=r"no reply \(0 bytes\)"):
        parse_reply(b"", unit=1, function=READ_HOLDING)


def test_reply_from_another_unit_is_refused() -> None:
    with pytest.raises(FrameError, match="reply from unit 7, expected unit 1"):
        parse_reply(_read_reply(7, [1, 2]), unit=1, function=READ_HOLDING, count=2)


def test_reply_to_another_function_is_refused() -> None:
    frame = write_single_request(1, 8, 235)
    with pytest.raises(FrameError, match="reply to function 0x06, expected 0x03"):
        parse_reply(frame, unit=1, function=READ_HOLDING)


def test_wrong_register_count_is_refused() -> None:
    with pytest.raises(FrameError, match="asked for 14 registers, reply has 2"):
        parse_reply(_read_reply(1, [1, 2]), unit=1, function=READ_HOLDING, count=14)


def test_byte_count_lies_are_refused() -> None:
    body = bytes([1, READ_HOLDING, 4, 0, 1])  # says 4 data bytes, carries 2
    with pytest.raises(FrameError, match="byte count says 4 data bytes, frame has 2"):
        parse_reply(with_crc(body), unit=1, function=READ_HOLDING)
    odd = bytes([1, READ_HOLDING, 3, 0, 1, 2])
    with pytest.raises(FrameError, match="byte count 3 is odd"):
        parse_reply(with_crc(odd), unit=1, function=READ_HOLDING)


@given(st.integers(1, 255))
def test_exception_reply_is_a_frame_not_a_value(code: int) -> None:
    frame = with_crc(bytes([1, READ_HOLDING | 0x80, code]))
    reply = parse_reply(frame, unit=1, function=READ_HOLDING)
    assert reply.exception == code
    assert reply.registers == []  # nothing that could be mistaken for a reading
    assert reply.busy is (code in (5, 6))


@settings(max_examples=300)
@given(st.binary(max_size=300), st.sampled_from([READ_HOLDING, WRITE_SINGLE]))
def test_arbitrary_bytes_never_crash_the_parser(data: bytes, function: int) -> None:
    try:
        reply = parse_reply(data, unit=1, function=function)
    except FrameError as exc:
        message = str(exc)
        assert message
    else:  # only a frame with a valid CRC, our unit and our function gets through
        assert crc16(data[:-2]) == struct.unpack("<H", data[-2:])[0]
        assert data[0] == 1 and data[1] in (function, function | 0x80)
        assert reply.unit == 1


def test_oversized_reply_is_refused() -> None:
    with pytest.raises(FrameError, match="exceeds the 256-byte RTU limit"):
        parse_reply(bytes(300), unit=1, function=READ_HOLDING)


# --- register values -----------------------------------------------------------------------


@given(st.integers(160, 300))
def test_setpoint_round_trip(tenths: int) -> None:
    spec = SMT.registers["setpoint"]
    value = tenths / 10
    words = spec.encode(value)
    assert words == [tenths]
    assert spec.decode(words) == pytest.approx(value)


@given(st.floats(allow_nan=True, allow_infinity=True))
def test_setpoint_encode_never_writes_out_of_range(value: float) -> None:
    spec = SMT.registers["setpoint"]
    try:
        words = spec.encode(value)
    except RegisterValueError as exc:
        message = str(exc)
        assert "setpoint (40009)" in message
    else:
        assert 160 <= words[0] <= 300
        assert abs(words[0] / 10 - value) <= 0.05 + 1e-9


def test_setpoint_limits_are_named() -> None:
    spec = SMT.registers["setpoint"]
    with pytest.raises(RegisterValueError, match=r"setpoint \(40009\): 35.0 is above the maximum"):
        spec.encode(35.0)
    with pytest.raises(RegisterValueError, match="not a finite number"):
        spec.encode(float("nan"))
    with pytest.raises(RegisterValueError, match="expected a number"):
        spec.encode("22")


@given(st.integers(-0x8000, 0x7FFF))
def test_int16_two_complement(raw: int) -> None:
    spec = RegisterSpec(name="t", address=0, type="int16")
    words = spec.words_from_raw(raw)
    assert 0 <= words[0] <= 0xFFFF
    assert spec.raw_from_words(words) == raw


@given(st.integers(0, 0xFFFF_FFFF))
def test_uint32_high_word_first(raw: int) -> None:
    spec = SMT.registers["energy"]
    words = spec.words_from_raw(raw)
    assert words == [raw >> 16, raw & 0xFFFF]
    assert spec.decode(words) == raw


@given(st.integers(0, 0xFFFF))
def test_enum_decode_is_a_label_or_a_named_error(raw: int) -> None:
    spec = SMT.registers["fan"]
    try:
        label = spec.decode([raw])
    except RegisterValueError as exc:
        message = str(exc)
        assert "fan (40008) holds" in message
        assert raw > 7
    else:
        assert label in ("auto", "low", "medium", "high")
        assert raw <= 7


def test_enum_encode_refuses_unknown_labels() -> None:
    with pytest.raises(RegisterValueError, match="'turbo' is not one of auto, low, medium, high"):
        SMT.registers["fan"].encode("turbo")


def test_sensor_fault_value_is_no_reading_not_a_temperature() -> None:
    assert SMT.registers["room_temperature"].decode([0x7FFF]) is None
    assert SMT.registers["room_temperature"].decode([0xFFFF]) == pytest.approx(-0.1)


def test_bool_register_refuses_other_values() -> None:
    with pytest.raises(RegisterValueError, match=r"occupancy \(40004\) holds 2, expected 0 or 1"):
        SMT.registers["occupancy"].decode([2])


def test_words_must_be_16_bit() -> None:
    with pytest.raises(RegisterValueError, match="is not a 16-bit word"):
        SMT.registers["mode"].decode([70000])
    with pytest.raises(RegisterValueError, match="needs 2 register"):
        SMT.registers["energy"].decode([1])


# --- map files -------------------------------------------------------------------------------


def test_smt131_reads_in_one_request() -> None:
    assert SMT.read_plan() == [("holding", 0, 14)]
    assert SMT.registers["setpoint"].reference == "setpoint (40009)"


def test_gapped_map_is_read_in_contiguous_blocks() -> None:
    # measurements are input registers (FC04), settings holding registers (FC03)
    assert load_map("fcu100").read_plan() == [("holding", 200, 3), ("input", 100, 2)]


def _minimal(**registers: object) -> dict[str, object]:
    base: dict[str, object] = {
        "mode": {"address": 0, "access": "rw", "values": {"off": 0, "heat": 1}},
        "setpoint": {"address": 1, "access": "rw", "type": "int16", "scale": 10},
    }
    base.update(registers)
    return {"model": {"id": "x", "name": "x"}, "registers": base}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"turbo": {"address": 5}}, "unknown register role"),
        ({"fan": {"address": 1}}, "register fan needs a `values` table"),
        ({"fan": {"address": 2, "values": {"warp": 1}}}, "'warp'"),
        ({"humidity": {"address": 1}}, "overlaps"),
        ({"humidity": {"address": 3, "register": 40004}}, "exactly one of"),
        ({"mode": {"address": 0, "values": {"off": 0}}}, "must be access = 'rw'"),
    ],
)
def test_bad_maps_are_refused_with_the_reason(change: dict[str, object], message: str) -> None:
    with pytest.raises(MapError, match=message):
        parse_map(_minimal(**change))


def test_missing_map_names_the_available_ones(tmp_path: Path) -> None:
    with pytest.raises(MapError, match="have: fcu100, smt131"):
        load_map("nosuch")
    with pytest.raises(MapError, match="must be letters"):
        load_map("../etc/passwd")
    bad = tmp_path / "bad.toml"
    bad.write_text("[model\n")
    with pytest.raises(MapError, match="not valid TOML"):
        load_map(bad)
