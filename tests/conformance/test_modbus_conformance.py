"""The thermostat on its serial line, as `mbpoll` (and hand-built spec frames) see it."""

from __future__ import annotations

from conformance_peers import Bench, ModbusTarget, exchange, frame, mbpoll, mbpoll_values

from drivers.modbus_map import load_map
from drivers.modbus_serial import Framing


def _ref(target: ModbusTarget, role: str) -> str:
    """mbpoll's 1-based reference of a holding register."""
    return str(load_map(target.register_map).registers[role].wire_address + 1)


def test_map_values_and_scaling(bench: Bench) -> None:
    m = bench.modbus
    regmap = load_map(m.register_map)
    spans = [s for s in regmap.read_plan() if s.table == "holding"]
    for span in spans:
        result = mbpoll(m, "-r", str(span.start + 1), "-c", str(span.quantity), m.port)
        assert result.code == 0, result.text
        values = mbpoll_values(result)
        words = [values[span.start + 1 + i] for i in range(span.quantity)]
        decoded = regmap.decode_block(span.start, words)  # every word decodes through the map
        if "device_id" in decoded and regmap.model.sentinel is not None:
            assert decoded["device_id"] == regmap.model.sentinel
        setpoint = decoded.get("setpoint")
        if isinstance(setpoint, float):
            spec = regmap.registers["setpoint"]
            assert spec.min is not None and spec.max is not None
            assert spec.min <= setpoint <= spec.max  # scaled (x10 on an SMT-131)


def test_fc06_and_fc16_writes_read_back(bench: Bench) -> None:
    m = bench.modbus
    regmap = load_map(m.register_map)
    sp, mode, fan = (regmap.registers[r] for r in ("setpoint", "mode", "fan"))
    refs = [spec.wire_address + 1 for spec in (sp, mode, fan)]
    before = {ref: mbpoll_values(mbpoll(m, "-r", str(ref), m.port))[ref] for ref in refs}
    try:
        wrote = mbpoll(m, "-r", _ref(m, "setpoint"), m.port, str(sp.encode(23.5)[0]))  # FC06
        assert wrote.code == 0 and "Written 1 references" in wrote.out, wrote.text
        got = mbpoll_values(mbpoll(m, "-r", _ref(m, "setpoint"), m.port))
        assert got[sp.wire_address + 1] == sp.encode(23.5)[0]
        if (mode.wire_address, fan.wire_address) == (sp.wire_address - 2, sp.wire_address - 1):
            words = [mode.encode("cool")[0], fan.encode("high")[0], sp.encode(21.0)[0]]
            wrote = mbpoll(m, "-r", _ref(m, "mode"), m.port, *map(str, words))  # FC16
            assert wrote.code == 0 and "Written 3 references" in wrote.out, wrote.text
            got = mbpoll_values(mbpoll(m, "-r", _ref(m, "mode"), "-c", "3", m.port))
            assert [got[mode.wire_address + 1 + i] for i in range(3)] == words
    finally:
        for ref, value in before.items():
            mbpoll(m, "-r", str(ref), m.port, str(value))


def test_exception_2_for_an_address_the_map_does_not_declare(bench: Bench) -> None:
    m = bench.modbus
    regmap = load_map(m.register_map)
    gap = max(s.wire_address + s.width for s in regmap.registers.values())  # past the last
    result = mbpoll(m, "-r", str(gap + 1), m.port)
    assert "Illegal data address" in result.text, result.text
    raw = exchange(m, frame(m.unit, bytes([0x03]) + gap.to_bytes(2, "big") + b"\x00\x01"))
    assert raw == frame(m.unit, b"\x83\x02")


def test_exception_3_for_a_bad_quantity_or_value(bench: Bench) -> None:
    m = bench.modbus
    for quantity in (0, 126):  # mbpoll refuses to send these: the frame is built here
        raw = exchange(m, frame(m.unit, b"\x03\x00\x00" + quantity.to_bytes(2, "big")))
        assert raw == frame(m.unit, b"\x83\x03"), (quantity, raw.hex())
    sp = load_map(m.register_map).registers["setpoint"]
    assert sp.max is not None
    too_hot = str(round((sp.max + 10) * sp.scale))
    result = mbpoll(m, "-r", _ref(m, "setpoint"), m.port, too_hot)
    assert "Illegal data value" in result.text, result.text


def test_unknown_function_is_exception_1_and_the_line_stays_in_sync(bench: Bench) -> None:
    m = bench.modbus
    assert exchange(m, frame(m.unit, b"\x41\x00\x00\x00\x01")) == frame(m.unit, b"\xc1\x01")
    assert exchange(m, frame(m.unit, b"\x41")) == frame(m.unit, b"\xc1\x01")
    result = mbpoll(m, "-r", "1", m.port)  # the next request is answered
    assert result.code == 0 and mbpoll_values(result), result.text


def test_tables_the_map_does_not_declare_are_illegal_function(bench: Bench) -> None:
    m = bench.modbus
    tables = load_map(m.register_map).tables
    for flag, table in (("0", "coil"), ("1", "discrete"), ("3", "input")):
        result = mbpoll(m, "-t", flag, "-r", "1", m.port)
        if table not in tables:
            assert "Illegal function" in result.text, (table, result.text)


def test_broadcast_is_executed_by_every_unit_without_a_reply(bench: Bench) -> None:
    m = bench.modbus
    mode = load_map(m.register_map).registers["mode"]
    ref = _ref(m, "mode")
    before = {u: mbpoll_values(mbpoll(m, "-r", ref, m.port, unit=u)) for u in (m.unit, m.unit2)}
    try:
        off = mode.encode("off")[0]
        request = b"\x06" + mode.wire_address.to_bytes(2, "big") + off.to_bytes(2, "big")
        assert exchange(m, frame(0, request), wait_s=0.5) == b""  # unit 0: nobody replies
        for unit in (m.unit, m.unit2):
            got = mbpoll_values(mbpoll(m, "-r", ref, m.port, unit=unit))
            assert got[mode.wire_address + 1] == off, unit
    finally:
        for unit, values in before.items():
            mbpoll(m, "-r", ref, m.port, str(values[mode.wire_address + 1]), unit=unit)


def test_silence_for_another_unit_and_for_a_bad_crc(bench: Bench) -> None:
    m = bench.modbus
    absent = next(u for u in range(247, 1, -1) if u not in (m.unit, m.unit2))
    assert "timed out" in mbpoll(m, "-r", "1", m.port, unit=absent, timeout_s=0.3).text
    good = frame(m.unit, b"\x03\x00\x00\x00\x01")
    assert exchange(m, good[:-1] + bytes([good[-1] ^ 0xFF])) == b""
    assert exchange(m, good)[:3] == bytes([m.unit, 0x03, 0x02])  # and it answers again


def test_line_settings_must_match(bench: Bench) -> None:
    """8E1 and 8N2 are both 11-bit characters, but a device set to one drops what the other
    sends (on the rig's pty: the stop bits differ; parity itself cannot cross a pty)."""
    m = bench.modbus
    f = m.framing
    wrong = Framing(f.baudrate, "N", 2) if f.parity != "N" else Framing(f.baudrate, "E", 1)
    result = mbpoll(m, "-r", "1", m.port, framing=wrong, timeout_s=0.3)
    assert "timed out" in result.text, result.text
    assert mbpoll(m, "-r", "1", m.port).code == 0  # and with the device's own settings, fine
