"""Modbus RTU frames: build requests, check replies, say precisely what is wrong with one.

pymodbus does the framing on the wire; this module exists because pymodbus treats a corrupt
or foreign reply as silence (it discards it and times out). The driver keeps the raw bytes
it saw and asks `parse_reply` why they were refused, so a CRC error on a noisy bus is told
apart from a device that is not there. The simulator uses it to corrupt frames on purpose.

    frame = read_request(unit=1, address=0, count=14)      # 01 03 00 00 00 0e c4 0e
    reply = parse_reply(raw, unit=1, function=0x03, count=14)
    reply.registers                                         # [131, 215, ...]
    # FrameError("CRC mismatch: frame carries 0x1d0f, computed 0x1d0e") on a bad one

Layout: [unit][function][data...][CRC lo][CRC hi]; CRC-16/MODBUS (poly 0xA001 reflected,
init 0xFFFF), sent low byte first.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from pymodbus.framer.rtu import FramerRTU

READ_COILS = 0x01
READ_DISCRETE = 0x02
READ_HOLDING = 0x03
READ_INPUT = 0x04
WORD_READS = frozenset({READ_HOLDING, READ_INPUT})
BIT_READS = frozenset({READ_COILS, READ_DISCRETE})
WRITE_SINGLE = 0x06
WRITE_MULTIPLE = 0x10
MAX_FRAME = 256  # RTU ADU limit (Modbus over serial line, 2.5.1.1)

EXCEPTION_NAMES = {
    0x01: "ILLEGAL FUNCTION",
    0x02: "ILLEGAL DATA ADDRESS",
    0x03: "ILLEGAL DATA VALUE",
    0x04: "SLAVE DEVICE FAILURE",
    0x05: "ACKNOWLEDGE",
    0x06: "SLAVE DEVICE BUSY",
    0x07: "NEGATIVE ACKNOWLEDGE",
    0x08: "MEMORY PARITY ERROR",
    0x0A: "GATEWAY PATH UNAVAILABLE",
    0x0B: "GATEWAY TARGET DEVICE FAILED TO RESPOND",
}
# Exception codes that mean "alive but cannot answer now": never a value, retry later.
BUSY_CODES = frozenset({0x05, 0x06})


class FrameError(ValueError):
    """A reply frame that must not be used; the message says exactly why."""


def exception_name(code: int) -> str:
    return f"0x{code:02x} {EXCEPTION_NAMES.get(code, 'UNKNOWN EXCEPTION')}"


def crc16(data: bytes) -> int:
    """CRC-16/MODBUS of `data` as an int (0x4b37 for b"123456789")."""
    swapped = FramerRTU.compute_CRC(data)  # pymodbus returns it byte-swapped for the wire
    return ((swapped & 0xFF) << 8) | (swapped >> 8)


def with_crc(body: bytes) -> bytes:
    return body + struct.pack("<H", crc16(body))


def read_request(unit: int, address: int, count: int) -> bytes:
    _check_unit(unit)
    if not 1 <= count <= 125:
        raise FrameError(f"a read asks for 1..125 registers, not {count}")
    return with_crc(struct.pack(">BBHH", unit, READ_HOLDING, address, count))


def write_single_request(unit: int, address: int, value: int) -> bytes:
    _check_unit(unit)
    if not 0 <= value <= 0xFFFF:
        raise FrameError(f"a register holds 0..65535, not {value}")
    return with_crc(struct.pack(">BBHH", unit, WRITE_SINGLE, address, value))


def _check_unit(unit: int) -> None:
    if not 1 <= unit <= 247:
        raise FrameError(f"unit address must be 1..247, not {unit}")


def reply_length(function: int, count: int = 1) -> int:
    """Bytes in a normal reply: FC03/04 = 5 + 2·count, FC01/02 = 5 + ⌈count/8⌉, FC06/16 = 8."""
    if function in WORD_READS:
        return 5 + 2 * count
    if function in BIT_READS:
        return 5 + (count + 7) // 8
    if function in (WRITE_SINGLE, WRITE_MULTIPLE):
        return 8
    raise FrameError(f"function 0x{function:02x} is not one this driver uses")


def request_length(function: int, count: int = 1) -> int:
    if function in WORD_READS or function in BIT_READS or function == WRITE_SINGLE:
        return 8
    if function == WRITE_MULTIPLE:
        return 9 + 2 * count
    raise FrameError(f"function 0x{function:02x} is not one this driver uses")


@dataclass(frozen=True, slots=True)
class Reply:
    unit: int
    function: int
    exception: int | None = None
    registers: list[int] = field(default_factory=list)
    address: int | None = None  # FC06/FC16 echo
    value: int | None = None  # FC06 echo (FC16: quantity)

    @property
    def busy(self) -> bool:
        return self.exception in BUSY_CODES


def parse_reply(frame: bytes, *, unit: int, function: int, count: int | None = None) -> Reply:
    """Check one complete reply frame against the request it answers.

    Returns the decoded reply (an exception reply is a valid frame: `reply.exception`);
    raises FrameError for anything that must not be trusted: short, long, bad CRC, another
    unit, another function, a byte count that does not match."""
    n = len(frame)
    if n == 0:
        raise FrameError("no reply (0 bytes)")
    if n > MAX_FRAME:
        raise FrameError(f"reply of {n} bytes exceeds the 256-byte RTU limit")
    if n < 5:
        raise FrameError(f"truncated reply: {n} bytes, the shortest valid reply is 5")
    body, carried = frame[:-2], struct.unpack("<H", frame[-2:])[0]
    computed = crc16(body)
    if carried != computed:
        raise FrameError(f"CRC mismatch: frame carries 0x{carried:04x}, computed 0x{computed:04x}")
    got_unit, got_function = frame[0], frame[1]
    if got_unit != unit:
        raise FrameError(f"reply from unit {got_unit}, expected unit {unit}")
    if got_function == function | 0x80:
        if n != 5:
            raise FrameError(f"exception reply of {n} bytes, expected 5")
        return Reply(unit, function, exception=frame[2])
    if got_function != function:
        raise FrameError(f"reply to function 0x{got_function:02x}, expected 0x{function:02x}")
    if function in BIT_READS:
        byte_count = frame[2]
        if n != 5 + byte_count:
            raise FrameError(f"byte count says {byte_count} data bytes, frame has {n - 5}")
        if count is not None and byte_count != (count + 7) // 8:
            raise FrameError(f"asked for {count} bits, reply carries {byte_count} bytes")
        bits = [(frame[3 + i // 8] >> (i % 8)) & 1 for i in range(8 * byte_count)]
        return Reply(unit, function, registers=bits[:count] if count is not None else bits)
    if function in WORD_READS:
        byte_count = frame[2]
        if byte_count % 2:
            raise FrameError(f"byte count {byte_count} is odd; registers are 2 bytes")
        if n != 5 + byte_count:
            raise FrameError(f"byte count says {byte_count} data bytes, frame has {n - 5}")
        registers = list(struct.unpack(f">{byte_count // 2}H", frame[3 : 3 + byte_count]))
        if count is not None and len(registers) != count:
            raise FrameError(f"asked for {count} registers, reply has {len(registers)}")
        return Reply(unit, function, registers=registers)
    if function in (WRITE_SINGLE, WRITE_MULTIPLE):
        if n != 8:
            raise FrameError(f"write reply of {n} bytes, expected 8")
        address, value = struct.unpack(">HH", frame[2:6])
        return Reply(unit, function, address=address, value=value)
    raise FrameError(f"function 0x{function:02x} is not one this driver uses")


def corrupt(frame: bytes) -> bytes:
    """The same frame with its CRC broken (what line noise does): for simulators and tests."""
    if len(frame) < 3:
        return frame
    return frame[:-1] + bytes([frame[-1] ^ 0x5A])
