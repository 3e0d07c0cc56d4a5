"""Modbus register maps as data, and the pure codec between register words and values.

A thermostat model is a TOML file in `drivers/maps/` (see `smt131.toml` and
docs/devices/modbus.md); adding a model is adding a file, not code:

    regmap = load_map("smt131")
    regmap.registers["setpoint"].encode(23.5)        # -> [235]
    regmap.decode_block(0, words)                    # -> {"setpoint": 23.5, "mode": "heat", ...}
    regmap.read_plan()                               # -> [ReadSpan("holding", 0, 14)]
    regmap.framing(9600)                             # -> Framing(9600, "E", 1) from [serial]

Register names are roles the driver understands (`setpoint`, `mode`, `fan`, ...); a map may
leave optional ones out. Every decode/encode problem raises `RegisterValueError` naming the
register, its reference number and the offending value: nothing is silently read as 0.
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Mapping, Sequence
from functools import cached_property
from pathlib import Path
from typing import Annotated, Literal, NamedTuple

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from drivers.base import ClimateAction, ClimateMode, DoorStation, FanMode
from drivers.modbus_serial import Framing, Parity

MAPS_DIR = Path(__file__).resolve().parent / "maps"
HOLDING_BASE = 40001  # manual reference number of wire address 0
MAX_READ = 125  # registers per FC03 request (Modbus application protocol, 6.3)

# The four Modbus tables, by the first digit of a manual's reference number (0xxxx coils,
# 1xxxx discrete inputs, 3xxxx input registers, 4xxxx holding registers) and the function
# code that reads each.
Table = Literal["coil", "discrete", "input", "holding"]
TABLE_BASE: dict[Table, int] = {"coil": 1, "discrete": 10001, "input": 30001, "holding": 40001}
READ_FUNCTION: dict[Table, int] = {"coil": 0x01, "discrete": 0x02, "input": 0x04, "holding": 0x03}


def table_of_reference(ref: int) -> Table:
    for table, base in TABLE_BASE.items():
        if base <= ref <= base + 9998:
            return table
    raise ValueError(f"reference {ref} is in no Modbus table (0xxxx, 1xxxx, 3xxxx or 4xxxx)")


class ReadSpan(NamedTuple):
    table: Table
    start: int
    quantity: int


Value = float | int | bool | str | None

# Roles the driver knows, and the vocabulary their enum values must come from.
ROLE_VOCABULARY: dict[str, frozenset[str]] = {
    "mode": frozenset(m.value for m in ClimateMode),
    "fan": frozenset(f.value for f in FanMode),
    "action": frozenset(a.value for a in ClimateAction),
    "door_station": frozenset(d.value for d in DoorStation),
}
ROLES = frozenset(
    {
        "device_id",
        "room_temperature",
        "humidity",
        "occupancy",
        "action",
        "door_station",
        "mode",
        "fan",
        "setpoint",
        "contact_reception",
        "energy",
        "window_contact",
        "door_contact",
    }
)
REQUIRED_ROLES = frozenset({"mode", "setpoint"})

_RANGES = {
    "uint16": (0, 0xFFFF),
    "int16": (-0x8000, 0x7FFF),
    "uint32": (0, 0xFFFF_FFFF),
    "int32": (-0x8000_0000, 0x7FFF_FFFF),
    "bool": (0, 1),
}


class MapError(ValueError):
    """A register map file is invalid; the message names the file and the problem."""


class RegisterValueError(ValueError):
    """A value cannot be encoded into, or decoded from, a register."""


class RegisterSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    name: str = ""
    # The manual's reference number (`register = 40009` in the file): its first digit names
    # the table (4xxxx holding, 3xxxx input registers, 1xxxx discrete inputs, 0xxxx coils).
    manual_ref: Annotated[int | None, Field(ge=1, le=49999, alias="register")] = None
    address: Annotated[int, Field(ge=0, le=0xFFFF)] | None = None  # 0-based wire address
    table_name: Table | None = Field(default=None, alias="table")  # with `address`
    type: Literal["uint16", "int16", "uint32", "int32", "bool"] = "uint16"
    access: Literal["r", "rw"] = "r"
    scale: Annotated[int, Field(ge=1, le=10_000)] = 1
    min: float | None = None
    max: float | None = None
    values: dict[str, Annotated[int, Field(ge=-0x8000_0000, le=0xFFFF_FFFF)]] | None = None
    decode_also: dict[str, str] | None = None
    invalid: list[int] = Field(default_factory=list)
    unit: str | None = None
    description: str = ""

    @model_validator(mode="after")
    def _check(self) -> RegisterSpec:
        if (self.manual_ref is None) == (self.address is None):
            raise ValueError("give exactly one of `register` (4xxxx) or `address` (0-based)")
        if self.manual_ref is not None:
            ref_table = table_of_reference(self.manual_ref)
            if self.table_name is not None and self.table_name != ref_table:
                raise ValueError(
                    f"register {self.manual_ref} is a {ref_table} reference, not {self.table_name}"
                )
        if self.table in ("coil", "discrete") and self.type != "bool":
            raise ValueError(f"a {self.table} holds one bit: type must be bool")
        if self.writable and self.table != "holding":
            raise ValueError(
                f"only holding registers are written by the driver; a {self.table} is read-only"
            )
        low, high = _RANGES[self.type]
        for label, raw in (self.values or {}).items():
            if not low <= raw <= high:
                raise ValueError(f"value {label} = {raw} does not fit a {self.type}")
        if self.decode_also and not self.values:
            raise ValueError("decode_also needs a `values` table")
        for raw_text, label in (self.decode_also or {}).items():
            if not raw_text.lstrip("-").isdigit():
                raise ValueError(f"decode_also key {raw_text!r} is not an integer")
            if label not in (self.values or {}):
                raise ValueError(f"decode_also maps to {label!r}, which is not in `values`")
        if self.values and (self.scale != 1 or self.type == "bool"):
            raise ValueError("an enumerated register cannot also have a scale or be a bool")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min {self.min} is above max {self.max}")
        return self

    @property
    def table(self) -> Table:
        if self.manual_ref is not None:
            return table_of_reference(self.manual_ref)
        return self.table_name or "holding"

    @property
    def wire_address(self) -> int:
        if self.address is not None:
            return self.address
        return (self.manual_ref or 0) - TABLE_BASE[self.table]

    @property
    def reference(self) -> str:
        """How people name this register: 'setpoint (40009)'."""
        return f"{self.name} ({TABLE_BASE[self.table] + self.wire_address})"

    @property
    def width(self) -> int:
        return 2 if self.type in ("uint32", "int32") else 1

    @property
    def writable(self) -> bool:
        return self.access == "rw"

    @property
    def resolution(self) -> float:
        return 1 / self.scale

    @cached_property
    def _decode_table(self) -> dict[int, str]:
        table = {raw: label for label, raw in (self.values or {}).items()}
        for raw_text, label in (self.decode_also or {}).items():
            table.setdefault(int(raw_text), label)
        return table

    # --- codec ---------------------------------------------------------------------------

    def raw_from_words(self, words: Sequence[int]) -> int:
        if len(words) != self.width:
            raise RegisterValueError(
                f"{self.reference}: needs {self.width} register(s), got {len(words)}"
            )
        for word in words:
            if not 0 <= word <= 0xFFFF:
                raise RegisterValueError(f"{self.reference}: {word} is not a 16-bit word")
        unsigned = words[0] if self.width == 1 else (words[0] << 16) | words[1]
        bits = 16 * self.width
        if self.type in ("int16", "int32") and unsigned >= 1 << (bits - 1):
            return unsigned - (1 << bits)
        return unsigned

    def words_from_raw(self, raw: int) -> list[int]:
        low, high = _RANGES[self.type]
        if not low <= raw <= high:
            raise RegisterValueError(f"{self.reference}: raw {raw} does not fit a {self.type}")
        unsigned = raw & ((1 << (16 * self.width)) - 1)
        if self.width == 1:
            return [unsigned]
        return [unsigned >> 16, unsigned & 0xFFFF]

    def decode(self, words: Sequence[int]) -> Value:
        """Register words -> value (enum label, bool, number, or None for 'no reading')."""
        raw = self.raw_from_words(words)
        if raw in self.invalid:
            return None
        if self.values is not None:
            try:
                return self._decode_table[raw]
            except KeyError:
                known = ", ".join(f"{v}={k}" for v, k in sorted(self._decode_table.items()))
                raise RegisterValueError(
                    f"{self.reference} holds {raw}, which is not one of {known}"
                ) from None
        if self.type == "bool":
            if raw not in (0, 1):
                raise RegisterValueError(f"{self.reference} holds {raw}, expected 0 or 1")
            return raw == 1
        return raw if self.scale == 1 else raw / self.scale

    def encode(self, value: Value) -> list[int]:
        """Value -> register words; refuses (never clamps) anything the register cannot hold."""
        if value is None:
            raise RegisterValueError(f"{self.reference}: cannot write 'no value'")
        if self.values is not None:
            if not isinstance(value, str) or value not in self.values:
                known = ", ".join(self.values)
                raise RegisterValueError(
                    f"{self.reference}: {value!r} is not one of {known} on this model"
                )
            return self.words_from_raw(self.values[value])
        if self.type == "bool":
            if not isinstance(value, bool):
                raise RegisterValueError(f"{self.reference}: expected true/false, got {value!r}")
            return [int(value)]
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise RegisterValueError(f"{self.reference}: expected a number, got {value!r}")
        if not math.isfinite(value):
            raise RegisterValueError(f"{self.reference}: {value} is not a finite number")
        if self.min is not None and value < self.min:
            raise RegisterValueError(f"{self.reference}: {value} is below the minimum {self.min}")
        if self.max is not None and value > self.max:
            raise RegisterValueError(f"{self.reference}: {value} is above the maximum {self.max}")
        # A value finer than the register's resolution goes to the nearest step (22.46 -> 225):
        # callers that must know compare with `quantise()` before sending.
        return self.words_from_raw(round(value * self.scale))

    def quantise(self, value: float) -> float:
        """The value the register will actually hold for `value` (its resolution)."""
        return round(value * self.scale) / self.scale


class ModelInfo(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    id: Annotated[str, Field(pattern=r"^[a-z0-9_-]{1,40}$")]
    name: str
    sentinel: Annotated[int, Field(ge=0, le=0xFFFF)] | None = None


class SerialDefaults(BaseModel):
    """The model's factory line settings (`[serial]` in a map); the room file may override
    them per device. Absent: the Modbus serial line spec's default, 8E1."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    parity: Parity = "E"
    stopbits: Literal[1, 2] | None = None  # None: 1 with parity, 2 without (the spec)


class RegisterMap(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    model: ModelInfo
    serial: SerialDefaults = SerialDefaults()
    registers: dict[str, RegisterSpec]

    def framing(
        self, baudrate: int, parity: Parity | None = None, stopbits: Literal[1, 2] | None = None
    ) -> Framing:
        """The line settings for this model at `baudrate`: the room file's parity/stop bits
        where given, else the map's, else the spec's (8E1; 8N2 without parity)."""
        chosen_parity = parity or self.serial.parity
        chosen_stops = stopbits
        if chosen_stops is None and parity is None:
            chosen_stops = self.serial.stopbits
        return Framing(baudrate, chosen_parity, chosen_stops)

    @property
    def tables(self) -> frozenset[Table]:
        """The tables this model has: a request for any other is ILLEGAL FUNCTION."""
        return frozenset(spec.table for spec in self.registers.values())

    @model_validator(mode="before")
    @classmethod
    def _name_registers(cls, data: object) -> object:
        if isinstance(data, Mapping) and isinstance(data.get("registers"), Mapping):
            named = {}
            for key, spec in data["registers"].items():
                named[key] = {**spec, "name": key} if isinstance(spec, Mapping) else spec
            return {**data, "registers": named}
        return data

    @model_validator(mode="after")
    def _check(self) -> RegisterMap:
        unknown = set(self.registers) - ROLES
        if unknown:
            raise ValueError(
                f"unknown register role(s) {sorted(unknown)}; known: {', '.join(sorted(ROLES))}"
            )
        missing = REQUIRED_ROLES - set(self.registers)
        if missing:
            raise ValueError(f"the map must define {sorted(missing)}")
        for role, vocabulary in ROLE_VOCABULARY.items():
            spec = self.registers.get(role)
            if spec is None:
                continue
            if spec.values is None:
                raise ValueError(f"register {role} needs a `values` table")
            foreign = set(spec.values) - vocabulary
            if foreign:
                raise ValueError(
                    f"register {role}: {sorted(foreign)} not in {', '.join(sorted(vocabulary))}"
                )
        taken: dict[tuple[Table, int], str] = {}
        for spec in self.registers.values():
            for offset in range(spec.width):
                key = (spec.table, spec.wire_address + offset)
                if key in taken:
                    raise ValueError(f"{spec.name} overlaps {taken[key]} at address {key[1]}")
                taken[key] = spec.name
        if self.model.sentinel is not None and "device_id" not in self.registers:
            raise ValueError("a sentinel needs a device_id register")
        for role in REQUIRED_ROLES:
            if not self.registers[role].writable:
                raise ValueError(f"register {role} must be access = 'rw'")
        return self

    def read_plan(self) -> list[ReadSpan]:
        """Contiguous spans per table covering every register: one read request each.
        Gaps are never read across (many devices answer ILLEGAL ADDRESS for them)."""
        spans: list[ReadSpan] = []
        ordered = sorted(self.registers.values(), key=lambda s: (s.table, s.wire_address))
        for spec in ordered:
            start, width = spec.wire_address, spec.width
            last = spans[-1] if spans else None
            if (
                last is not None
                and last.table == spec.table
                and last.start + last.quantity == start
                and last.quantity + width <= MAX_READ
            ):
                spans[-1] = last._replace(quantity=last.quantity + width)
            else:
                spans.append(ReadSpan(spec.table, start, width))
        return spans

    def decode_block(
        self, start: int, words: Sequence[int], table: Table = "holding"
    ) -> dict[str, Value]:
        """Decode every register of `table` wholly inside `words` (read from `start`)."""
        out: dict[str, Value] = {}
        for name, spec in self.registers.items():
            if spec.table != table:
                continue
            offset = spec.wire_address - start
            if offset >= 0 and offset + spec.width <= len(words):
                out[name] = spec.decode(words[offset : offset + spec.width])
        return out

    def in_table(self, table: Table) -> dict[int, tuple[RegisterSpec, int]]:
        """Every wire address of `table` this model serves -> (register, word index)."""
        return {
            spec.wire_address + i: (spec, i)
            for spec in self.registers.values()
            if spec.table == table
            for i in range(spec.width)
        }


def parse_map(data: Mapping[str, object], *, source: str = "<map>") -> RegisterMap:
    try:
        return RegisterMap.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(top)'}: {e['msg']}"
            for e in exc.errors(include_url=False)
        )
        raise MapError(f"{source}: {problems}") from None


def load_map(name_or_path: str | Path, *, maps_dir: Path = MAPS_DIR) -> RegisterMap:
    """Load `drivers/maps/<name>.toml`, or a TOML file by path."""
    path = Path(name_or_path)
    if path.suffix != ".toml":
        if not str(name_or_path).replace("_", "").replace("-", "").isalnum():
            raise MapError(f"register map name {name_or_path!r} must be letters, digits, - or _")
        path = maps_dir / f"{name_or_path}.toml"
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        available = ", ".join(sorted(p.stem for p in maps_dir.glob("*.toml")))
        raise MapError(
            f"{path}: cannot read register map ({exc.strerror}); have: {available}"
        ) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise MapError(f"{path}: not valid TOML: {exc}") from None
    return parse_map(data, source=str(path))
