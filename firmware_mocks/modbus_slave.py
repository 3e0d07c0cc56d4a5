"""What a Modbus slave answers to one request PDU: pure logic, no I/O.

The order of checks is the one the Modbus application protocol (V1.1b3, section 6 state
diagrams) prescribes, which is also what independent masters such as mbpoll expect:

1. a function code the device does not implement (or a table its map does not declare)
   -> exception 01 ILLEGAL FUNCTION;
2. a quantity out of range (read 1..125 registers / 1..2000 bits, write 1..123 registers)
   or a byte count that does not match -> exception 03 ILLEGAL DATA VALUE;
3. an address range the map does not cover (or a read-only register written)
   -> exception 02 ILLEGAL DATA ADDRESS;
4. the device refuses the value -> whatever `write` returns (03 for out of limits).

The reply to an exception is the function code with bit 0x80 set plus the exception code.

    reply = answer(bytes.fromhex("03 0000 000e"), unit)   # 03 1c 0083 00d7 ...
    answer(bytes.fromhex("03 0000 0000"), unit)           # 83 03: quantity 0
    answer(bytes.fromhex("41"), unit)                     # c1 01: unknown function
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from typing import Protocol

from drivers.modbus_map import Table

ILLEGAL_FUNCTION = 0x01
ILLEGAL_ADDRESS = 0x02
ILLEGAL_VALUE = 0x03
DEVICE_FAILURE = 0x04
DEVICE_BUSY = 0x06

READS: dict[int, Table] = {0x01: "coil", 0x02: "discrete", 0x03: "holding", 0x04: "input"}
WRITE_COIL, WRITE_REGISTER, WRITE_COILS, WRITE_REGISTERS = 0x05, 0x06, 0x0F, 0x10
WRITES = frozenset({WRITE_COIL, WRITE_REGISTER, WRITE_COILS, WRITE_REGISTERS})
MAX_REGISTERS_READ, MAX_BITS_READ, MAX_REGISTERS_WRITE, MAX_BITS_WRITE = 125, 2000, 123, 1968


class Unit(Protocol):
    """One slave's tables as the PDU logic sees them."""

    @property
    def tables(self) -> frozenset[Table]: ...

    def addresses(self, table: Table) -> frozenset[int]:
        """Wire addresses the unit serves in `table`."""
        ...

    def read(self, table: Table, address: int, count: int) -> list[int]:
        """Current words (or bits as 0/1) of `count` served addresses from `address`."""
        ...

    def writable(self, table: Table) -> frozenset[int]: ...

    def write(self, table: Table, address: int, values: Sequence[int]) -> int | None:
        """Apply a write all-or-nothing; an exception code to refuse it."""
        ...


def exception(function: int, code: int) -> bytes:
    return bytes([(function | 0x80) & 0xFF, code])


def is_write(pdu: bytes) -> bool:
    return bool(pdu) and pdu[0] in WRITES


def answer(pdu: bytes, unit: Unit) -> bytes:
    """The reply PDU (function + data) for a request PDU (function + data)."""
    if not pdu:
        return exception(0, ILLEGAL_FUNCTION)
    function, data = pdu[0], pdu[1:]
    if function in READS:
        return _read(function, READS[function], data, unit)
    if function in WRITES:
        table: Table = "coil" if function in (WRITE_COIL, WRITE_COILS) else "holding"
        if table not in unit.tables:
            return exception(function, ILLEGAL_FUNCTION)
        if function in (WRITE_COIL, WRITE_REGISTER):
            return _write_single(function, table, data, unit)
        return _write_multiple(function, table, data, unit)
    return exception(function, ILLEGAL_FUNCTION)


def _covered(unit: Unit, table: Table, address: int, count: int, *, writing: bool) -> bool:
    served = unit.writable(table) if writing else unit.addresses(table)
    return all(a in served for a in range(address, address + count))


def _read(function: int, table: Table, data: bytes, unit: Unit) -> bytes:
    if table not in unit.tables:
        return exception(function, ILLEGAL_FUNCTION)
    if len(data) != 4:
        return exception(function, ILLEGAL_VALUE)
    address, count = struct.unpack(">HH", data)
    bits = table in ("coil", "discrete")
    if not 1 <= count <= (MAX_BITS_READ if bits else MAX_REGISTERS_READ):
        return exception(function, ILLEGAL_VALUE)
    if address + count > 0x10000 or not _covered(unit, table, address, count, writing=False):
        return exception(function, ILLEGAL_ADDRESS)
    values = unit.read(table, address, count)
    if bits:
        packed = _pack_bits(values)
        return bytes([function, len(packed)]) + packed
    return bytes([function, 2 * count]) + struct.pack(f">{count}H", *values)


def _write_single(function: int, table: Table, data: bytes, unit: Unit) -> bytes:
    if len(data) != 4:
        return exception(function, ILLEGAL_VALUE)
    address, raw = struct.unpack(">HH", data)
    if function == WRITE_COIL:
        if raw not in (0x0000, 0xFF00):
            return exception(function, ILLEGAL_VALUE)
        raw = 1 if raw else 0
    if not _covered(unit, table, address, 1, writing=True):
        return exception(function, ILLEGAL_ADDRESS)
    refused = unit.write(table, address, [raw])
    if refused is not None:
        return exception(function, refused)
    return bytes([function]) + data  # the echo


def _write_multiple(function: int, table: Table, data: bytes, unit: Unit) -> bytes:
    if len(data) < 5:
        return exception(function, ILLEGAL_VALUE)
    address, count, byte_count = struct.unpack(">HHB", data[:5])
    payload = data[5:]
    if function == WRITE_REGISTERS:
        ok = 1 <= count <= MAX_REGISTERS_WRITE and byte_count == 2 * count
    else:
        ok = 1 <= count <= MAX_BITS_WRITE and byte_count == (count + 7) // 8
    if not ok or len(payload) != byte_count:
        return exception(function, ILLEGAL_VALUE)
    if address + count > 0x10000 or not _covered(unit, table, address, count, writing=True):
        return exception(function, ILLEGAL_ADDRESS)
    if function == WRITE_REGISTERS:
        values = list(struct.unpack(f">{count}H", payload))
    else:
        values = [(payload[i // 8] >> (i % 8)) & 1 for i in range(count)]
    refused = unit.write(table, address, values)
    if refused is not None:
        return exception(function, refused)
    return bytes([function]) + struct.pack(">HH", address, count)


def _pack_bits(values: Sequence[int]) -> bytes:
    out = bytearray((len(values) + 7) // 8)
    for i, value in enumerate(values):
        if value:
            out[i // 8] |= 1 << (i % 8)
    return bytes(out)


def request_complete(buffer: bytes) -> int | None:
    """Length of the request at the start of `buffer` if its function code fixes it and all
    of it has arrived; None when only the line's silence (t3.5) can end it (an unknown
    function, or a frame still arriving)."""
    if len(buffer) < 2:
        return None
    function = buffer[1]
    if function in READS or function in (WRITE_COIL, WRITE_REGISTER):
        need = 8
    elif function in (WRITE_COILS, WRITE_REGISTERS):
        if len(buffer) < 7:
            return None
        need = 9 + buffer[6]
    else:
        return None
    return need if len(buffer) >= need else None
