"""A hotel fan-coil thermostat that speaks Modbus RTU, sitting in a simulated room.

A `ModbusLine` is one serial line (one end of a `PtyPair`, or any port pyserial can open)
served by one pymodbus RTU server; it hosts one or more `ThermostatSimulator` units, like
several thermostats daisy-chained on one RS-485 bus. Each unit serves the registers of its
map file (`drivers/maps/<name>.toml`, the same file the driver reads) from a live state:
the room's temperature comes from `firmware_mocks.thermal` on an accelerated clock.

    line = ModbusLine(pair.a, baudrate=9600, speed=60)        # 1 real s = 1 simulated min
    hvac = ThermostatSimulator("hvac", line, unit=1)          # SMT-131-like map
    await hvac.start()
    hvac.turn_knob(24.5)                                      # a guest at the thermostat
    hvac.inject(Fault.SLOW, delay_s=0.3)                      # faults per unit
    await hvac.restart()                                      # power-cycle this unit
    await hvac.stop()

Faults: SILENT (the unit answers nothing), SLOW (answers after `delay_s`), CORRUPT (answers
with a broken CRC), `set_busy(True)` (answers exception 06 SLAVE DEVICE BUSY), `device_id`
(a wrong sentinel, as a foreign device at that address would show).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from pymodbus.constants import ExcCodes
from pymodbus.server import ModbusSerialServer
from pymodbus.simulator import DataType, SimData, SimDevice

from drivers.base import ClimateMode, DoorStation, FanMode
from drivers.modbus_frames import corrupt, reply_length, request_length
from drivers.modbus_map import RegisterMap, RegisterSpec, RegisterValueError, Value, load_map
from firmware_mocks.base import Fault
from firmware_mocks.thermal import (
    Conditions,
    Controls,
    DailySine,
    OutdoorProfile,
    RoomParams,
    RoomState,
    step,
)
from smartroom.clock import Clock, SystemClock
from smartroom.log import get_logger

log = get_logger("firmware_mocks.thermostat")

BITS_PER_CHAR = 10  # 8N1 on the wire


class ModbusLine:
    """One serial line and its RTU server; thermostats attach to it by unit address."""

    def __init__(
        self,
        port: str,
        *,
        baudrate: int = 9600,
        speed: float = 60.0,
        tick_s: float = 0.1,
        emulate_line_timing: bool = False,
        clock: Clock | None = None,
    ) -> None:
        if speed < 0:
            raise ValueError(f"speed must be >= 0 (0 = only advance() moves time), not {speed}")
        self.port = port
        self.baudrate = baudrate
        self.speed = speed
        self.tick_s = tick_s
        # A pty delivers bytes instantly; with this on, each reply waits for the time the
        # request and reply would take on a real line at `baudrate`.
        self.emulate_line_timing = emulate_line_timing
        self.sim_time: datetime = (clock or SystemClock()).now()
        self.units: dict[int, ThermostatSimulator] = {}
        self._server: ModbusSerialServer | None = None
        self._ticker: asyncio.Task[None] | None = None
        self._users = 0
        self.requests_seen = 0

    # --- lifecycle --------------------------------------------------------------------

    def attach(self, sim: ThermostatSimulator) -> None:
        if sim.unit in self.units:
            raise ValueError(f"unit {sim.unit} is already on {self.port}")
        if self._server is not None:
            raise RuntimeError("attach every unit before the line starts")
        self.units[sim.unit] = sim

    @property
    def running(self) -> bool:
        return self._server is not None

    async def acquire(self) -> None:
        self._users += 1
        if self._server is None:
            await self._start_server()
        if self._ticker is None:
            self._ticker = asyncio.create_task(self._tick(), name=f"thermal {self.port}")

    async def release(self) -> None:
        self._users = max(0, self._users - 1)
        if self._users == 0:
            await self._stop_server()
            if self._ticker is not None:
                self._ticker.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._ticker
                self._ticker = None

    async def _start_server(self) -> None:
        devices = [unit.sim_device() for unit in self.units.values()]
        # Unit 0 catches requests for addresses nobody here has; its replies are dropped
        # in _on_packet, so a foreign address is silence, as on a real bus.
        devices.append(
            SimDevice(
                0,
                simdata=[SimData(0, values=0, datatype=DataType.REGISTERS)],
                action=self._refuse,
            )
        )
        self._server = ModbusSerialServer(
            devices,
            port=self.port,
            baudrate=self.baudrate,
            trace_packet=self._on_packet,
        )
        await self._server.serve_forever(background=True)

    async def _stop_server(self) -> None:
        if self._server is not None:
            await self._server.shutdown()  # type: ignore[no-untyped-call]
            self._server = None

    async def reopen(self) -> None:
        """Close and reopen the port, as a device's serial interface does on power-up."""
        await self._stop_server()
        await self._start_server()

    # --- time ----------------------------------------------------------------------------

    def advance(self, seconds: float) -> None:
        """Move simulated time forwards for every unit (deterministic; for tests)."""
        for unit in self.units.values():
            unit.simulate(self.sim_time, seconds)
        self.sim_time += timedelta(seconds=seconds)

    async def _tick(self) -> None:
        loop = asyncio.get_running_loop()
        last = loop.time()
        while True:
            await asyncio.sleep(self.tick_s)
            now = loop.time()
            if self.speed > 0:
                self.advance((now - last) * self.speed)
            last = now

    # --- wire ----------------------------------------------------------------------------

    def _on_packet(self, sending: bool, data: bytes) -> bytes:
        if not sending:
            return data
        sim = self.units.get(data[0]) if data else None
        if sim is None or not sim.answering:
            return b""  # silence: a powered-off, silent or absent unit
        if sim.fault is Fault.CORRUPT:
            return corrupt(data)
        return data

    async def _refuse(self, *_args: Any) -> ExcCodes | None:
        return ExcCodes.GATEWAY_NO_RESPONSE

    def wire_time_s(self, function: int, count: int) -> float:
        octets = request_length(function, count) + reply_length(function, count)
        return octets * BITS_PER_CHAR / self.baudrate

    def describe(self) -> str:
        units = ", ".join(str(u) for u in sorted(self.units))
        return f"modbus rtu on {self.port} at {self.baudrate} baud, unit(s) {units}"


class ThermostatSimulator:
    """One thermostat unit on a `ModbusLine`, with the room it controls. Implements
    `firmware_mocks.base.Simulator`."""

    def __init__(
        self,
        name: str,
        line: ModbusLine,
        *,
        unit: int = 1,
        register_map: str | RegisterMap = "smt131",
        room: RoomParams | None = None,
        outdoor: OutdoorProfile | None = None,
        initial_c: float = 20.0,
        power_on: Controls | None = None,
    ) -> None:
        if not 1 <= unit <= 247:
            raise ValueError(f"unit address must be 1..247, not {unit}")
        self.name = name
        self.line = line
        self.unit = unit
        self.regmap = load_map(register_map) if isinstance(register_map, str) else register_map
        self.params = room or RoomParams()
        self.outdoor: OutdoorProfile = outdoor or DailySine()
        self.power_on = power_on or Controls(ClimateMode.HEAT, 22.0, FanMode.AUTO)
        self.controls = self.power_on
        self.room = RoomState(temperature_c=initial_c)
        self.conditions = Conditions(outdoor_c=self.outdoor.at(line.sim_time))
        self.occupancy = False
        self.door_station = DoorStation.NORMAL
        self.contact_reception = False
        self.device_id: int | None = None  # None: the map's sentinel
        self.fault = Fault.NONE
        self.delay_s = 1.0
        self.busy = False
        self.powered = False
        self.writes: list[tuple[str, Value]] = []  # what the master wrote, for tests
        line.attach(self)

    # --- Simulator protocol -------------------------------------------------------------

    async def start(self) -> None:
        if self.powered:
            return
        self.powered = True
        await self.line.acquire()

    async def stop(self) -> None:
        if not self.powered:
            return
        self.powered = False
        await self.line.release()

    async def restart(self, down_s: float = 0.5) -> None:
        """Power-cycle: silent for `down_s`, then back with power-on controls (the room's
        physics and the energy meter carry on). A unit alone on its line also closes and
        reopens the serial port."""
        self.powered = False
        if len(self.line.units) == 1 and self.line.running:
            await self.line._stop_server()
            await asyncio.sleep(down_s)
            await self.line._start_server()
        else:
            await asyncio.sleep(down_s)
        self.controls = self.power_on
        self.door_station = DoorStation.NORMAL
        self.contact_reception = False
        self.fault = Fault.NONE
        self.busy = False
        self.powered = True
        log.info("thermostat_restarted", device=self.name, unit=self.unit)

    def inject(self, fault: Fault, *, delay_s: float = 1.0) -> None:
        self.fault = fault
        self.delay_s = delay_s
        log.info("fault_injected", device=self.name, fault=fault.value, delay_s=delay_s)

    def describe(self) -> str:
        return f"{self.regmap.model.id} thermostat, unit {self.unit}, {self.line.describe()}"

    @property
    def answering(self) -> bool:
        return self.powered and self.fault is not Fault.SILENT

    # --- the guest and the room ----------------------------------------------------------

    def turn_knob(self, setpoint_c: float) -> float:
        """A guest sets the temperature at the thermostat; returns what it shows (clamped
        to the model's limits and quantised to its resolution, as the real unit does)."""
        spec = self.regmap.registers["setpoint"]
        value = min(max(setpoint_c, spec.min or setpoint_c), spec.max or setpoint_c)
        value = spec.quantise(value)
        self.controls = replace(self.controls, setpoint_c=value)
        return value

    def set_mode(self, mode: ClimateMode) -> None:
        self.controls = replace(self.controls, mode=mode)

    def set_fan(self, fan: FanMode) -> None:
        self.controls = replace(self.controls, fan=fan)

    def press(self, station: DoorStation) -> None:
        """The in-room DND/MUR button (or clearing it)."""
        self.door_station = station

    def call_reception(self, on: bool = True) -> None:
        self.contact_reception = on

    def set_occupancy(self, occupied: bool) -> None:
        self.occupancy = occupied

    def set_occupants(self, count: int) -> None:
        if count < 0:
            raise ValueError("occupants cannot be negative")
        self.conditions = replace(self.conditions, occupants=count)
        self.occupancy = count > 0 or self.occupancy

    def open_door(self, is_open: bool = True) -> None:
        self.conditions = replace(self.conditions, door_open=is_open)

    def open_window(self, is_open: bool = True) -> None:
        self.conditions = replace(self.conditions, window_open=is_open)

    def set_busy(self, busy: bool) -> None:
        self.busy = busy

    def simulate(self, start: datetime, seconds: float) -> None:
        self.conditions = replace(self.conditions, outdoor_c=self.outdoor.at(start))
        self.room, _ = step(self.params, self.room, self.controls, self.conditions, seconds)

    async def apply_event(self, action: str, value: object) -> bool:
        """A scenario event addressed to this device (or to the whole room).

        Returns False for an action this simulator does not model (the rig then tries the
        room's other simulators); raises ValueError for a value it cannot take."""
        match action:
            case "guest_setpoint":
                self.turn_knob(_number(action, value))
            case "button":
                self.press(DoorStation(str(value)))
            case "call_reception":
                self.call_reception(bool(value))
            case "occupancy" | "motion":
                self.set_occupancy(bool(value))
            case "occupants":
                self.set_occupants(int(_number(action, value)))
            case "door":
                self.open_door(_is_open(value))
            case "window":
                self.open_window(_is_open(value))
            case "mode":
                self.set_mode(ClimateMode(str(value)))
            case "fan":
                self.set_fan(FanMode(str(value)))
            case "busy":
                self.set_busy(bool(value))
            case _:
                return False
        return True

    # --- registers -----------------------------------------------------------------------

    def values(self) -> dict[str, Value]:
        """Every register's current value, by role."""
        return {
            "device_id": self.device_id
            if self.device_id is not None
            else self.regmap.model.sentinel,
            "room_temperature": round(self.room.temperature_c, 2),
            "humidity": round(self.params.humidity_pct),
            "occupancy": self.occupancy,
            "action": self.room.action.value,
            "door_station": self.door_station.value,
            "mode": self.controls.mode.value,
            "fan": self.controls.fan.value,
            "setpoint": self.controls.setpoint_c,
            "contact_reception": self.contact_reception,
            "energy": round(self.room.energy_kwh * 1000),
            "window_contact": self.conditions.window_open,
            "door_contact": self.conditions.door_open,
        }

    def register_words(self) -> dict[int, int]:
        words: dict[int, int] = {}
        values = self.values()
        for role, spec in self.regmap.registers.items():
            value = values.get(role)
            if value is None:
                continue
            raw = _raw_for(spec, value)
            for i, word in enumerate(spec.words_from_raw(raw)):
                words[spec.wire_address + i] = word
        return words

    def sim_device(self) -> SimDevice:
        simdata: list[SimData] = []
        for spec in self.regmap.registers.values():
            simdata.extend(
                SimData(
                    spec.wire_address + i,
                    values=0,
                    datatype=DataType.REGISTERS,
                    readonly=not spec.writable,
                )
                for i in range(spec.width)
            )
        return SimDevice(self.unit, simdata=simdata, action=self._on_access)

    async def _on_access(
        self,
        function: int,
        start: int,
        address: int,
        count: int,
        registers: list[int],
        set_values: list[int] | list[bool] | None,
    ) -> ExcCodes | None:
        if not self.answering:
            return ExcCodes.DEVICE_FAILURE  # never seen: _on_packet drops the reply
        first_pass = set_values is not None or function == 0x03
        if first_pass:
            self.line.requests_seen += 1
            if self.fault is Fault.SLOW:
                await asyncio.sleep(self.delay_s)
            if self.line.emulate_line_timing:
                await asyncio.sleep(self.line.wire_time_s(function, count))
        if self.busy:
            return ExcCodes.DEVICE_BUSY
        if set_values is not None:
            return self._write(address, [int(v) for v in set_values])
        words = self.register_words()
        for addr in range(address, address + count):
            registers[addr - start] = words.get(addr, 0)
        return None

    def _write(self, address: int, words: Sequence[int]) -> ExcCodes | None:
        by_address = {s.wire_address: s for s in self.regmap.registers.values()}
        decoded: list[tuple[RegisterSpec, Value]] = []
        for offset, word in enumerate(words):
            spec = by_address.get(address + offset)
            if spec is None or spec.width != 1:
                return ExcCodes.ILLEGAL_ADDRESS
            try:
                value = spec.decode([word])
                spec.encode(value)  # limits (min/max) apply to writes
            except RegisterValueError:
                return ExcCodes.ILLEGAL_VALUE
            decoded.append((spec, value))
        for spec, value in decoded:  # all or nothing
            self._apply(spec.name, value)
        return None

    def _apply(self, role: str, value: Value) -> None:
        self.writes.append((role, value))
        if role == "setpoint" and isinstance(value, int | float):
            self.controls = replace(self.controls, setpoint_c=float(value))
        elif role == "mode":
            self.controls = replace(self.controls, mode=ClimateMode(str(value)))
        elif role == "fan":
            self.controls = replace(self.controls, fan=FanMode(str(value)))
        elif role == "door_station":
            self.door_station = DoorStation(str(value))
        elif role == "contact_reception":
            self.contact_reception = bool(value)


def _raw_for(spec: RegisterSpec, value: Value) -> int:
    """The raw integer a register holds for `value` (no write limits: this is a reading)."""
    if spec.values is not None:
        return spec.values.get(str(value), 0)
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int | float):
        low, high = (-0x8000, 0x7FFF) if spec.type == "int16" else (0, 0xFFFF)
        if spec.width == 2:
            low, high = (0, 0xFFFF_FFFF) if spec.type == "uint32" else (-(2**31), 2**31 - 1)
        return min(max(round(value * spec.scale), low), high)
    return 0


def _number(action: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{action} needs a number, not {value!r}")
    return float(value)


def _is_open(value: object) -> bool:
    if isinstance(value, str):
        return value.lower() in ("open", "opened", "true", "on", "1")
    return bool(value)
