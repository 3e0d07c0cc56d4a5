"""The Modbus HVAC driver against the thermostat simulator over a real pseudo-terminal."""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import structlog.testing
from polling import eventually

from drivers.base import (
    ClimateCommand,
    ClimateMode,
    ClimateState,
    CommandNotConfirmed,
    DeviceUnavailable,
    DeviceUpdate,
    DoorStation,
    FanMode,
    InvalidCommand,
    ProtocolError,
    SensorEventKind,
)
from drivers.config import ModbusHvacConfig
from drivers.modbus_bus import POLL, BusPool, DeviceBusy, PriorityLock, inter_frame_gap_s
from drivers.modbus_hvac import ModbusHvac, create
from drivers.modbus_map import Table
from firmware_mocks.base import Fault
from firmware_mocks.ptypair import PtyPair
from firmware_mocks.thermostat import ModbusLine, ThermostatSimulator
from smartroom.clock import FakeClock
from sync.wire import Availability


def config(port: str, **overrides: object) -> ModbusHvacConfig:
    values: dict[str, object] = {
        "driver": "modbus_hvac",
        "port": port,
        "timeout_s": 0.5,
        "poll_interval_s": 0.1,
    }
    values.update(overrides)
    return ModbusHvacConfig.model_validate(values)


@dataclass
class Room:
    line: ModbusLine
    sim: ThermostatSimulator
    hvac: ModbusHvac
    updates: list[DeviceUpdate]
    pool: BusPool


@pytest.fixture
async def room(pty_pair: PtyPair, clock: FakeClock) -> AsyncIterator[Room]:
    line = ModbusLine(pty_pair.a, speed=0, clock=clock)
    sim = ThermostatSimulator("hvac", line, unit=1)
    await sim.start()
    pool = BusPool()
    hvac = ModbusHvac("hvac", config(pty_pair.b), clock, pool=pool)
    updates: list[DeviceUpdate] = []
    hvac.subscribe(updates.append)
    await hvac.start()
    await eventually(lambda: hvac.availability.available)
    try:
        yield Room(line, sim, hvac, updates, pool)
    finally:
        await hvac.stop()
        await sim.stop()
    assert len(pool) == 0  # the port was closed with the last driver


async def test_reads_the_thermostat(room: Room) -> None:
    room.sim.open_window(True)
    room.sim.set_occupancy(True)
    state = await room.hvac.refresh()
    assert state.mode is ClimateMode.HEAT
    assert state.setpoint_c == 22.0
    assert state.fan is FanMode.AUTO
    assert state.current_c == pytest.approx(20.0)
    assert state.humidity_pct == 45.0
    assert state.occupancy is True
    assert state.door_station is DoorStation.NORMAL
    assert room.hvac.panel.window_open is True
    assert room.hvac.availability.status is Availability.AVAILABLE
    room.line.advance(3600)  # an hour of heating shows on the meter and the thermometer
    state = await room.hvac.refresh()
    assert state.energy_kwh is not None and state.energy_kwh == 0.0  # window open: no heating
    room.sim.open_window(False)
    room.line.advance(3600)
    state = await room.hvac.refresh()
    assert state.energy_kwh is not None and state.energy_kwh > 0.3
    assert state.current_c is not None and state.current_c > 20.5


async def test_command_is_confirmed_by_read_back(room: Room) -> None:
    state = await room.hvac.apply(
        ClimateCommand(mode=ClimateMode.COOL, fan=FanMode.HIGH, setpoint_c=23.46)
    )
    assert (state.mode, state.fan, state.setpoint_c) == (ClimateMode.COOL, FanMode.HIGH, 23.5)
    assert room.sim.controls.setpoint_c == 23.5  # quantised to the register's 0.1 °C
    assert [role for role, _ in room.sim.writes] == ["mode", "fan", "setpoint"]
    assert room.updates[-1].manual is False
    assert room.updates[-1].state == state


@pytest.mark.parametrize(
    ("command", "message"),
    [
        (ClimateCommand(setpoint_c=35.0), r"setpoint \(40009\): 35.0 is above the maximum 30.0"),
        (ClimateCommand(setpoint_c=float("nan")), "is not a number"),
        (ClimateCommand(), "empty command"),
    ],
)
async def test_invalid_command_sends_nothing(
    room: Room, command: ClimateCommand, message: str
) -> None:
    requests = room.line.requests_seen
    with pytest.raises(InvalidCommand, match=message):
        await room.hvac.apply(command)
    assert room.sim.writes == []
    assert room.line.requests_seen - requests <= 2  # only polls went by, no write


async def test_guest_at_the_thermostat_is_a_manual_change(room: Room) -> None:
    await room.hvac.apply(ClimateCommand(setpoint_c=21.0))
    room.updates.clear()
    room.sim.turn_knob(24.5)
    await eventually(lambda: any(u.manual for u in room.updates))
    manual = next(u for u in room.updates if u.manual)
    assert isinstance(manual.state, ClimateState)
    assert manual.state.setpoint_c == 24.5
    room.updates.clear()
    await room.hvac.apply(ClimateCommand(setpoint_c=22.0))  # ours again: not manual
    await asyncio.sleep(0.3)
    assert room.updates and not any(u.manual for u in room.updates)


async def test_door_station_and_reception_alert_are_surfaced(room: Room) -> None:
    room.sim.press(DoorStation.DND)
    room.sim.call_reception()
    await eventually(lambda: any(u.event is not None for u in room.updates))
    event = next(u.event for u in room.updates if u.event is not None)
    assert event.kind is SensorEventKind.BUTTON_DND
    assert room.hvac.panel.door_station is DoorStation.DND
    assert room.hvac.panel.contact_reception is True
    assert room.updates[-1].extra["contact_reception"] is True


async def test_silent_unit_goes_unavailable_then_recovers_logging_once(room: Room) -> None:
    with structlog.testing.capture_logs() as logs:
        room.sim.inject(Fault.SILENT)
        took = await eventually(lambda: not room.hvac.availability.available, timeout=10)
        assert took < 2.0  # the contract is 10 s; 2 × 0.25 s response timeout here
        assert "no reply from unit 1" in (room.hvac.availability.reason or "")
        opens = room.hvac._bus.stats.opens if room.hvac._bus else 0
        await eventually(lambda: room.hvac._bus is not None and room.hvac._bus.stats.opens > opens)
        room.sim.inject(Fault.NONE)
        await eventually(lambda: room.hvac.availability.available, timeout=5)
    events = [e["event"] for e in logs if e["event"].startswith("device_")]
    assert events.count("device_unavailable") == 1
    assert events.count("device_recovered") == 1
    statuses = [u.availability.status for u in room.updates]
    assert Availability.UNAVAILABLE in statuses


async def test_slow_unit_answers_within_the_budget(room: Room) -> None:
    room.sim.inject(Fault.SLOW, delay_s=0.1)
    start = time.perf_counter()
    state = await room.hvac.apply(ClimateCommand(setpoint_c=21.5))
    assert state.setpoint_c == 21.5
    assert time.perf_counter() - start >= 0.2  # a write and a read, each 0.1 s late


async def test_too_slow_unit_fails_within_the_command_timeout(room: Room) -> None:
    room.sim.inject(Fault.SLOW, delay_s=2.0)
    start = time.perf_counter()
    with pytest.raises(DeviceUnavailable):
        await room.hvac.apply(ClimateCommand(setpoint_c=21.5))
    assert time.perf_counter() - start < room.hvac.config.timeout_s + 0.3
    room.sim.inject(Fault.NONE)
    await eventually(lambda: room.hvac.availability.available, timeout=8)
    state = await room.hvac.apply(ClimateCommand(setpoint_c=22.5))
    assert state.setpoint_c == 22.5


async def test_corrupt_frames_are_refused_not_decoded(room: Room) -> None:
    before = room.hvac.state
    room.sim.inject(Fault.CORRUPT)
    with pytest.raises(ProtocolError, match="CRC mismatch"):
        await room.hvac.refresh()
    start = time.perf_counter()
    with pytest.raises(ProtocolError, match="CRC mismatch"):
        await room.hvac.apply(ClimateCommand(setpoint_c=25.0))
    assert time.perf_counter() - start < room.hvac.config.timeout_s + 0.2
    assert room.hvac.state == before  # nothing from a bad frame became state
    await eventually(lambda: not room.hvac.availability.available)
    assert "CRC mismatch" in (room.hvac.availability.reason or "")
    room.sim.inject(Fault.NONE)
    await eventually(lambda: room.hvac.availability.available, timeout=5)


async def test_restart_is_seen_as_an_outage_not_a_guest(room: Room) -> None:
    await room.hvac.apply(ClimateCommand(setpoint_c=25.0))
    room.updates.clear()
    await room.sim.restart(down_s=0.8)  # back with its power-on setpoint, 22 °C
    await eventually(
        lambda: room.hvac.state is not None and room.hvac.state.setpoint_c == 22.0, timeout=5
    )
    changed = [
        u for u in room.updates if isinstance(u.state, ClimateState) and u.state.setpoint_c == 22.0
    ]
    assert changed[0].manual is False
    assert changed[0].extra.get("after_outage") is True
    state = await room.hvac.apply(ClimateCommand(setpoint_c=25.0))  # the agent re-applies
    assert state.setpoint_c == 25.0


async def test_busy_unit_is_never_read_as_zero(room: Room) -> None:
    before = room.hvac.state
    room.sim.set_busy(True)
    with pytest.raises(DeviceBusy, match="busy"):
        await room.hvac.refresh()
    with pytest.raises(DeviceBusy):
        await room.hvac.apply(ClimateCommand(setpoint_c=23.0))
    await asyncio.sleep(0.3)  # polls keep meeting 'busy'
    assert room.hvac.state == before
    assert room.hvac.availability.available  # busy is alive, for up to 10 s
    room.sim.set_busy(False)
    # Once busy clears a command is confirmed again. On a loaded machine the replies to the
    # requests cut off above may still be in flight, so allow a few attempts.
    give_up = time.monotonic() + 5
    while True:
        try:
            state = await room.hvac.apply(ClimateCommand(setpoint_c=23.0))
            break
        except DeviceUnavailable:
            if time.monotonic() > give_up:
                raise
    assert state.setpoint_c == 23.0


async def test_wrong_device_id_is_refused(room: Room) -> None:
    room.sim.device_id = 77
    with pytest.raises(ProtocolError, match="reports device id 77, expected 131"):
        await room.hvac.refresh()
    await eventually(lambda: not room.hvac.availability.available)


async def test_device_refusing_a_value_is_not_confirmed(room: Room) -> None:
    # Our map allows 30 °C; pretend this unit's own limit is lower: it answers ILLEGAL VALUE.
    spec = room.sim.regmap.registers["setpoint"]
    room.sim.regmap = room.sim.regmap.model_copy(
        update={
            "registers": {
                **room.sim.regmap.registers,
                "setpoint": spec.model_copy(update={"max": 26.0}),
            }
        }
    )
    with pytest.raises(ProtocolError, match="ILLEGAL DATA VALUE"):
        await room.hvac.apply(ClimateCommand(setpoint_c=28.0))
    assert room.hvac.availability.available
    assert room.sim.controls.setpoint_c == 22.0


async def test_read_back_mismatch_is_not_confirmed(room: Room) -> None:
    # The unit takes the write, then a guest turns the knob before our read-back arrives.
    original = room.sim.read
    reads_after_write = 0

    def knob_before_read_back(table: Table, address: int, count: int) -> list[int]:
        nonlocal reads_after_write
        if room.sim.writes:
            reads_after_write += 1
            if reads_after_write == 1:  # our read-back
                room.sim.turn_knob(19.0)
        return original(table, address, count)

    room.sim.read = knob_before_read_back  # type: ignore[method-assign]
    with pytest.raises(CommandNotConfirmed, match=r"setpoint_c reads back 19\.0, commanded 24\.0"):
        await room.hvac.apply(ClimateCommand(setpoint_c=24.0))
    assert room.hvac.availability.available  # it answered: a refusal is not an outage


async def test_write_echo_mismatch_is_not_confirmed(room: Room) -> None:
    # Some units echo what they stored rather than the request: here, a clamped 19.0.
    original = room.sim.serve

    def serve_then_clamp(pdu: bytes) -> bytes:
        reply = original(pdu)
        if pdu[0] == 0x06:
            room.sim.turn_knob(19.0)
            return reply[:3] + bytes([0, 190])
        return reply

    room.sim.serve = serve_then_clamp  # type: ignore[method-assign]
    with pytest.raises(CommandNotConfirmed, match="write echo is address 8 value 190"):
        await room.hvac.apply(ClimateCommand(setpoint_c=24.0))


async def test_two_units_share_one_bus_and_a_silent_one_blocks_nobody(
    pty_pair: PtyPair, clock: FakeClock
) -> None:
    line = ModbusLine(pty_pair.a, speed=0, clock=clock)
    sims = [ThermostatSimulator(f"hvac{u}", line, unit=u) for u in (1, 2)]
    for sim in sims:
        await sim.start()
    pool = BusPool()
    drivers = [create(f"hvac{u}", config(pty_pair.b, unit=u), clock, pool=pool) for u in (1, 2)]
    try:
        for driver in drivers:
            await driver.start()
        await eventually(lambda: all(d.availability.available for d in drivers))
        assert len(pool) == 1  # one client, one open port, for both units
        sims[1].inject(Fault.SILENT)
        await eventually(lambda: not drivers[1].availability.available)
        took = []
        for i in range(10):
            start = time.perf_counter()
            state = await drivers[0].apply(ClimateCommand(setpoint_c=20.0 + i / 10))
            took.append(time.perf_counter() - start)
            assert state.setpoint_c == pytest.approx(20.0 + i / 10)
        # A command waits at most for the one request in flight (≤ 0.25 s response timeout),
        # and usually for nothing: the silent unit is only retried, with backoff.
        assert max(took) < drivers[0].config.timeout_s
        assert statistics.median(took) < 0.1
        assert drivers[0].availability.available
        assert sims[1].controls.setpoint_c == 22.0  # unit 2 was never written
        sims[1].inject(Fault.NONE)
        await eventually(lambda: drivers[1].availability.available, timeout=5)
    finally:
        for driver in drivers:
            await driver.stop()
        for sim in sims:
            await sim.stop()


async def test_port_that_appears_later_is_opened_by_name(
    pty_pair: PtyPair, clock: FakeClock, tmp_path: Path
) -> None:
    link = tmp_path / "ttyHVAC"
    line = ModbusLine(pty_pair.a, speed=0, clock=clock)
    sim = ThermostatSimulator("hvac", line)
    await sim.start()
    hvac = create("hvac", config(str(link)), clock, pool=BusPool())
    try:
        await hvac.start()  # never raises for an absent device
        await eventually(lambda: hvac.availability.status is Availability.UNAVAILABLE)
        assert f"serial port {link} does not exist" in (hvac.availability.reason or "")
        with pytest.raises(DeviceUnavailable, match="does not exist"):
            await hvac.apply(ClimateCommand(setpoint_c=22.0))
        link.symlink_to(pty_pair.b)  # the USB adapter is plugged in
        await eventually(lambda: hvac.availability.available, timeout=5)
        assert (await hvac.apply(ClimateCommand(setpoint_c=23.0))).setpoint_c == 23.0
    finally:
        await hvac.stop()
        await sim.stop()


async def test_another_model_is_another_map_file(pty_pair: PtyPair, clock: FakeClock) -> None:
    line = ModbusLine(pty_pair.a, parity="N", stopbits=1, speed=0, clock=clock)  # its 8N1
    sim = ThermostatSimulator("fcu", line, unit=9, register_map="fcu100")
    await sim.start()
    hvac = create("fcu", config(pty_pair.b, unit=9, register_map="fcu100"), clock, pool=BusPool())
    try:
        await hvac.start()
        state = await hvac.apply(ClimateCommand(setpoint_c=21.25, mode=ClimateMode.AUTO))
        assert (state.setpoint_c, state.mode) == (21.25, ClimateMode.AUTO)
        assert state.door_station is None  # this model has no door station
        with pytest.raises(InvalidCommand, match="'fan_only' is not one of off, auto, heat, cool"):
            await hvac.apply(ClimateCommand(mode=ClimateMode.FAN_ONLY))
    finally:
        await hvac.stop()
        await sim.stop()


async def test_units_on_one_port_must_agree_on_the_baudrate() -> None:
    pool = BusPool()
    pool.acquire("/dev/ttyX", 9600)
    with pytest.raises(ValueError, match="already open at 9600 8E1"):
        pool.acquire("/dev/ttyX", 19200)


def test_inter_frame_gap() -> None:
    assert inter_frame_gap_s(9600) == pytest.approx(0.00401, abs=1e-5)  # 3.5 × 11 bits
    assert inter_frame_gap_s(115200) == 0.00175


async def test_commands_go_before_polls_on_a_busy_line() -> None:
    lock = PriorityLock()
    order: list[str] = []

    async def take(name: str, priority: int) -> None:
        async with lock.hold(priority):
            order.append(name)
            await asyncio.sleep(0.01)

    async with lock.hold(POLL):
        tasks = [
            asyncio.create_task(take("poll-a", POLL)),
            asyncio.create_task(take("poll-b", POLL)),
            asyncio.create_task(take("command", 0)),
        ]
        await asyncio.sleep(0.01)
    await asyncio.gather(*tasks)
    assert order == ["command", "poll-a", "poll-b"]
    assert not lock.locked


async def test_cancelled_waiter_does_not_wedge_the_lock() -> None:
    lock = PriorityLock()
    async with lock.hold():
        waiter = asyncio.create_task(_hold_briefly(lock))
        await asyncio.sleep(0.01)
        waiter.cancel()
        await asyncio.sleep(0)
    async with asyncio.timeout(1):
        async with lock.hold():
            pass


async def _hold_briefly(lock: PriorityLock) -> None:
    async with lock.hold():
        await asyncio.sleep(0.01)


def test_pool_replaces_a_bus_left_behind_by_an_ended_loop() -> None:
    pool = BusPool()

    async def acquire() -> object:
        return pool.acquire("/dev/ttyX", 9600)

    first = asyncio.run(acquire())  # never released, and its loop is gone
    second = asyncio.run(acquire())
    assert second is not first
    assert len(pool) == 1
