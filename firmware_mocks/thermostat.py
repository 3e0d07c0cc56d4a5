"""A hotel fan-coil thermostat that speaks Modbus RTU, sitting in a simulated room.

A `ModbusLine` (`firmware_mocks.modbus_line`) is one serial line (one end of a `PtyPair`,
or any port pyserial can open) and the RTU slave on it, answering as the Modbus specs say
(`firmware_mocks.modbus_slave`); it hosts one or more `ThermostatSimulator` units, like
several thermostats daisy-chained on one RS-485 bus. Each unit serves the registers of its
map file (`drivers/maps/<name>.toml`, the same file the driver reads) from a live state:
the room's temperature comes from `firmware_mocks.thermal` on an accelerated clock.

    line = ModbusLine(pair.a, baudrate=9600, speed=60)        # 1 real s = 1 simulated min
    hvac = ThermostatSimulator("hvac", line, unit=1)          # SMT-131-like map
    await hvac.start()
    hvac.turn_knob(24.5)                                      # a guest at the thermostat
    hvac.inject(Fault.SLOW, delay_s=0.3)                      # faults per unit
    await hvac.restart()                                      # power-cycle this unit
    await hvac.power_off(); await hvac.power_on()             # the same in two halves
    await hvac.stop()

Faults: SILENT (the unit answers nothing), SLOW (answers after `delay_s`), CORRUPT (answers
with a broken CRC), `set_busy(True)` (answers exception 06 SLAVE DEVICE BUSY), `device_id`
(a wrong sentinel, as a foreign device at that address would show).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from drivers.base import ClimateMode, DoorStation, FanMode
from drivers.modbus_map import (
    RegisterMap,
    RegisterSpec,
    RegisterValueError,
    Table,
    Value,
    load_map,
)
from firmware_mocks.base import Fault
from firmware_mocks.modbus_line import ModbusLine
from firmware_mocks.modbus_slave import ILLEGAL_VALUE, answer
from firmware_mocks.thermal import (
    Conditions,
    Controls,
    DailySine,
    OutdoorProfile,
    RoomParams,
    RoomState,
    step,
)
from smartroom.log import get_logger

log = get_logger("firmware_mocks.thermostat")


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
        self.power_on_controls = power_on or Controls(ClimateMode.HEAT, 22.0, FanMode.AUTO)
        self.controls = self.power_on_controls
        self.meter_zero_kwh = 0.0  # the room's energy when the meter last started from 0
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
        self.started = False  # on the line (start() .. stop()), powered or not
        self.writes: list[tuple[str, Value]] = []  # what the master wrote, for tests
        self.requests = 0  # request PDUs this unit has processed (broadcasts included)
        line.attach(self)

    # --- Simulator protocol -------------------------------------------------------------

    async def start(self) -> None:
        if self.started:
            return
        self.started = self.powered = True
        await self.line.acquire()

    async def stop(self) -> None:
        """Take the unit off the line (powered or not: a power-cut unit can be stopped)."""
        if not self.started:
            return
        self.started = self.powered = False
        await self.line.release()

    async def restart(self, down_s: float = 0.5) -> None:
        """Power-cycle: silent for `down_s`, then back in its power-on state."""
        await self.power_off()
        await asyncio.sleep(down_s)
        await self.power_on()

    async def power_off(self) -> None:
        """The supply is cut: the unit stops answering. A unit alone on its line also
        closes its serial port (its UART is unpowered)."""
        if not self.powered:
            return
        self.powered = False
        if len(self.line.units) == 1 and self.line.running:
            await self.line.close_port()
        log.info("thermostat_powered_off", device=self.name, unit=self.unit)

    async def power_on(self) -> None:
        """Back with what the unit boots with: the power-on controls, door station normal,
        no alert, no fault, and its energy meter at zero (the SMT-131-like unit keeps it in
        RAM; the room's physics carry on regardless)."""
        if self.powered:
            return
        self.controls = self.power_on_controls
        self.door_station = DoorStation.NORMAL
        self.contact_reception = False
        self.fault = Fault.NONE
        self.busy = False
        self.meter_zero_kwh = self.room.energy_kwh
        if self.line.running or self.line.wanted:
            await self.line.open_port()
        self.powered = True
        log.info("thermostat_powered_on", device=self.name, unit=self.unit)

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
            "energy": round((self.room.energy_kwh - self.meter_zero_kwh) * 1000),
            "window_contact": self.conditions.window_open,
            "door_contact": self.conditions.door_open,
        }

    def register_words(self, table: Table = "holding") -> dict[int, int]:
        """Every served word of `table` (bits as 0/1) from the live state."""
        words: dict[int, int] = {}
        values = self.values()
        for role, spec in self.regmap.registers.items():
            if spec.table != table:
                continue
            raw = _raw_for(spec, values.get(role))
            for i, word in enumerate(spec.words_from_raw(raw)):
                words[spec.wire_address + i] = word
        return words

    # --- the Modbus slave (firmware_mocks.modbus_slave.Unit) ------------------------------

    @property
    def tables(self) -> frozenset[Table]:
        return self.regmap.tables

    def addresses(self, table: Table) -> frozenset[int]:
        return frozenset(self.regmap.in_table(table))

    def writable(self, table: Table) -> frozenset[int]:
        return frozenset(
            address
            for address, (spec, _) in self.regmap.in_table(table).items()
            if spec.writable and spec.width == 1
        )

    def read(self, table: Table, address: int, count: int) -> list[int]:
        words = self.register_words(table)
        return [words[a] for a in range(address, address + count)]

    def write(self, table: Table, address: int, values: Sequence[int]) -> int | None:
        served = self.regmap.in_table(table)
        decoded: list[tuple[RegisterSpec, Value]] = []
        for offset, word in enumerate(values):
            spec, _ = served[address + offset]
            try:
                value = spec.decode([word])
                spec.encode(value)  # limits (min/max) apply to writes
            except RegisterValueError:
                return ILLEGAL_VALUE
            if value is None:
                return ILLEGAL_VALUE
            decoded.append((spec, value))
        for spec, value in decoded:  # all or nothing
            self._apply(spec.name, value)
        return None

    def serve(self, pdu: bytes) -> bytes:
        self.requests += 1
        return answer(pdu, self)

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
    if value is None:
        return spec.invalid[0] if spec.invalid else 0
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


__all__ = ["ModbusLine", "ThermostatSimulator"]
