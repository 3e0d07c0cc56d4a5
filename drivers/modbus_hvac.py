"""Hotel fan-coil thermostats over Modbus RTU: the `Climate` capability.

    hvac = create("hvac", ModbusHvacConfig(driver="modbus_hvac", port="/dev/ttyUSB0"), clock)
    hvac.subscribe(print)               # DeviceUpdate: state changes, manual changes, DND/MUR
    await hvac.start()                  # never raises because the device is absent
    state = await hvac.apply(ClimateCommand(setpoint_c=22.5, mode=ClimateMode.HEAT))
    hvac.panel.contact_reception        # the thermostat's extra registers
    await hvac.stop()

What it does on the wire (all through `drivers.modbus_bus`, one request at a time per line):
- polls every `poll_interval_s` with one FC03 read per contiguous block of the map, checks
  the model's sentinel (device id 131 on an SMT-131), and decodes through the map file;
- applies a command as FC06 writes (mode, fan, setpoint ×scale) then a read-back; returns
  only a state whose read-back matches, else raises `CommandNotConfirmed`;
- a busy reply or an exception is never turned into a value: the last good state stays;
- a change nobody here commanded (a guest at the thermostat) is pushed as
  `DeviceUpdate(manual=True)`; a change seen right after an outage is not (a power-cycled
  unit forgets its setpoint: `extra["after_outage"]` tells the agent to re-apply);
- a unit that stops answering is UNAVAILABLE after one poll and its retry (≤ 2 × the
  response timeout, so within 10 s with the defaults), is logged once, retried with
  backoff, and never holds the line longer than its own response timeout per request.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import math
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from drivers.availability import AvailabilityTracker, Backoff
from drivers.base import (
    AvailabilityState,
    CapabilityName,
    ClimateAction,
    ClimateCommand,
    ClimateMode,
    ClimateState,
    CommandNotConfirmed,
    DeviceUnavailable,
    DeviceUpdate,
    DoorStation,
    DriverError,
    FanMode,
    InvalidCommand,
    Listener,
    ProtocolError,
    SensorEvent,
    SensorEventKind,
)
from drivers.config import ModbusHvacConfig
from drivers.modbus_bus import (
    COMMAND,
    DEFAULT_POOL,
    POLL,
    BusPool,
    DeviceBusy,
    ExceptionReply,
    ModbusBus,
    PortUnavailable,
)
from drivers.modbus_map import RegisterMap, RegisterValueError, Value, load_map
from smartroom.clock import Clock, SystemClock
from smartroom.listeners import Listeners
from smartroom.log import get_logger

log = get_logger("drivers.modbus_hvac")

T = TypeVar("T")
UNAVAILABLE_WITHIN_S = 10.0  # the contract; also how long "busy" may last before it counts
_STATION_EVENT = {
    DoorStation.DND: SensorEventKind.BUTTON_DND,
    DoorStation.MUR: SensorEventKind.BUTTON_MUR,
    DoorStation.NORMAL: SensorEventKind.BUTTON_CLEAR,
}


@dataclass(frozen=True, slots=True)
class ThermostatPanel:
    """The registers beyond climate: what the in-room unit knows about the room."""

    occupancy: bool | None = None
    door_station: DoorStation | None = None
    contact_reception: bool | None = None
    window_open: bool | None = None
    door_open: bool | None = None


class ModbusHvac:
    capability: CapabilityName = "climate"

    def __init__(
        self,
        name: str,
        config: ModbusHvacConfig,
        clock: Clock | None = None,
        *,
        pool: BusPool | None = None,
        register_map: RegisterMap | None = None,
    ) -> None:
        self.name = name
        self.config = config
        self.regmap = register_map or load_map(config.register_map)
        self._clock = clock or SystemClock()
        self._pool = pool if pool is not None else DEFAULT_POOL
        self._bus: ModbusBus | None = None
        # One request's wait for its reply; a poll tries twice, so a silent unit is
        # detected within 2 × this (≤ 2 s) and a command fits in `timeout_s`.
        self.response_timeout_s = min(1.0, config.timeout_s / 2)
        self._plan = self.regmap.read_plan()
        cfg = config
        self.framing = self.regmap.framing(cfg.baudrate, cfg.parity, cfg.stopbits)
        self._listeners: Listeners[DeviceUpdate] = Listeners("listener_failed", device=name)
        retry_cap = min(30.0, max(1.0, config.poll_interval_s * 5))
        self._tracker = AvailabilityTracker(
            name,
            clock=self._clock,
            on_change=self._availability_changed,
            backoff=Backoff(initial=min(config.poll_interval_s, retry_cap), maximum=retry_cap),
        )
        self._state: ClimateState | None = None
        self._panel = ThermostatPanel()
        self._pending: dict[str, object] = {}  # written, not yet confirmed by a read-back
        # Commands to one unit run one at a time. A poll never waits for a command (nor a
        # command for a poll: it goes first on the bus); a poll that overlapped a command is
        # dropped instead, so our own write can never look like a guest's change.
        self._command_lock = asyncio.Lock()
        self._commands_started = 0
        self._commands_done = 0
        self._task: asyncio.Task[None] | None = None
        self._busy_since: float | None = None
        self._was_down = False
        self._last_error: DriverError | None = None  # of the command in progress

    # --- Device protocol ------------------------------------------------------------------

    @property
    def availability(self) -> AvailabilityState:
        return self._tracker.state

    @property
    def state(self) -> ClimateState | None:
        return self._state

    @property
    def panel(self) -> ThermostatPanel:
        return self._panel

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        return self._listeners.add(listener)

    async def start(self) -> None:
        if self._task is not None:
            return
        self._bus = self._pool.acquire(self.config.port, self.framing)
        self._task = asyncio.create_task(self._run(), name=f"modbus_hvac {self.name}")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        bus, self._bus = self._bus, None
        if bus is not None:
            await self._pool.release(bus)

    # --- polling --------------------------------------------------------------------------

    async def _run(self) -> None:
        while True:
            try:
                await self.refresh()
            except DeviceBusy as exc:
                delay = self.config.poll_interval_s
                if self._busy_for() >= UNAVAILABLE_WITHIN_S:
                    self._tracker.failed(f"{exc} for {UNAVAILABLE_WITHIN_S:.0f} s")
            except DriverError as exc:
                self._busy_since = None
                self._tracker.failed(str(exc).removeprefix(f"{self.name}: "))
                self._was_down = True
                delay = self._tracker.backoff.next()
            except Exception:  # a bug here must not end polling for good
                log.exception("poll_failed", device=self.name)
                delay = self._tracker.backoff.next()
            else:
                delay = self.config.poll_interval_s
            await asyncio.sleep(delay)

    def _busy_for(self) -> float:
        now = asyncio.get_running_loop().time()  # a wire-level duration, like the timeouts
        if self._busy_since is None:
            self._busy_since = now
        return now - self._busy_since

    async def refresh(self) -> ClimateState:
        """Poll the unit now; returns the new state or raises a DriverError."""
        started = self._commands_started
        values = await self._read_all(POLL, self.response_timeout_s)
        if started != self._commands_started or self._commands_done != started:
            return await self._after_command()  # overlapped a command: not trustworthy
        return self._ingest(values, commanded=set())

    async def _after_command(self) -> ClimateState:
        async with self._command_lock:  # the command's own read-back is the fresh state
            if self._state is None:
                raise DeviceUnavailable(self.name, "no state read yet")
            return self._state

    async def _read_all(
        self, priority: int, timeout_s: float, deadline: float | None = None
    ) -> dict[str, Value]:
        values: dict[str, Value] = {}
        for table, start, count in self._plan:
            read = functools.partial(
                self._bus_or_fail().read,
                self.name,
                unit=self.config.unit,
                address=start,
                count=count,
                timeout_s=timeout_s,
                priority=priority,
                deadline=deadline,
                table=table,
            )
            words = await self._retry(read)
            try:
                values.update(self.regmap.decode_block(start, words, table))
            except RegisterValueError as exc:
                raise ProtocolError(self.name, str(exc)) from None
        sentinel = self.regmap.model.sentinel
        if sentinel is not None and values.get("device_id") != sentinel:
            raise ProtocolError(
                self.name,
                f"unit {self.config.unit} on {self.config.port} reports device id "
                f"{values.get('device_id')}, expected {sentinel} for {self.regmap.model.id} "
                "(wrong unit address or register map?)",
            )
        return values

    async def _retry(self, attempt: Callable[[], Awaitable[T]]) -> T:
        """One retry for a lost or corrupt frame; a busy unit is not hammered."""
        try:
            return await attempt()
        except (DeviceUnavailable, ProtocolError) as exc:
            if not _retryable(exc):
                raise
            return await attempt()

    def _bus_or_fail(self) -> ModbusBus:
        if self._bus is None:
            raise DeviceUnavailable(self.name, "driver is not started")
        return self._bus

    # --- state ----------------------------------------------------------------------------

    def _to_state(self, values: dict[str, Value]) -> ClimateState:
        mode = ClimateMode(str(values["mode"]))
        raw_action = values.get("action")
        if raw_action is not None:
            action = ClimateAction(str(raw_action))
        else:
            action = ClimateAction.OFF if mode is ClimateMode.OFF else ClimateAction.IDLE
        energy = values.get("energy")
        energy_spec = self.regmap.registers.get("energy")
        energy_kwh = None
        if isinstance(energy, int | float) and energy_spec is not None:
            energy_kwh = energy / 1000 if (energy_spec.unit or "Wh") == "Wh" else float(energy)
        current = values.get("room_temperature")
        humidity = values.get("humidity")
        occupancy = values.get("occupancy")
        station = values.get("door_station")
        setpoint = values["setpoint"]
        if not isinstance(setpoint, int | float) or isinstance(setpoint, bool):
            raise ProtocolError(self.name, f"setpoint decoded as {setpoint!r}")
        return ClimateState(
            mode=mode,
            setpoint_c=float(setpoint),
            fan=FanMode(str(values["fan"])) if values.get("fan") is not None else FanMode.AUTO,
            current_c=float(current) if isinstance(current, int | float) else None,
            action=action,
            humidity_pct=float(humidity) if isinstance(humidity, int | float) else None,
            occupancy=occupancy if isinstance(occupancy, bool) else None,
            door_station=DoorStation(str(station)) if station is not None else None,
            energy_kwh=energy_kwh,
        )

    def _ingest(self, values: dict[str, Value], *, commanded: set[str]) -> ClimateState:
        state = self._to_state(values)
        panel = ThermostatPanel(
            occupancy=state.occupancy,
            door_station=state.door_station,
            contact_reception=_opt_bool(values.get("contact_reception")),
            window_open=_opt_bool(values.get("window_contact")),
            door_open=_opt_bool(values.get("door_contact")),
        )
        previous, previous_panel = self._state, self._panel
        after_outage = self._was_down
        self._was_down = False
        self._busy_since = None
        self._tracker.ok()  # its availability update carries the previous state
        self._state, self._panel = state, panel

        observed = {"setpoint_c": state.setpoint_c, "mode": state.mode, "fan": state.fan}
        manual = False
        if previous is not None and not after_outage:
            before = {"setpoint_c": previous.setpoint_c, "mode": previous.mode, "fan": previous.fan}
            for key, value in observed.items():
                if value == before[key] or key in commanded:
                    continue
                if key in self._pending and self._pending[key] == value:
                    continue  # our own write, confirmed late
                manual = True
        for key in list(self._pending):
            if key in commanded or observed.get(key) == self._pending[key]:
                del self._pending[key]

        extra: dict[str, object] = {
            "contact_reception": panel.contact_reception,
            "window_open": panel.window_open,
            "door_open": panel.door_open,
        }
        if state != previous or panel != previous_panel:
            if after_outage and previous is not None:
                extra["after_outage"] = True
            self._emit(
                DeviceUpdate(
                    self.name, self._tracker.state, state=state, manual=manual, extra=extra
                )
            )
            if manual:
                log.info(
                    "thermostat_manual_change",
                    device=self.name,
                    setpoint_c=state.setpoint_c,
                    mode=state.mode.value,
                    fan=state.fan.value,
                )
        if (
            previous_panel.door_station is not None
            and panel.door_station is not None
            and panel.door_station != previous_panel.door_station
        ):
            event = SensorEvent(_STATION_EVENT[panel.door_station], self._clock.now(), "guest")
            self._emit(
                DeviceUpdate(self.name, self._tracker.state, state=state, event=event, extra=extra)
            )
        return state

    def _availability_changed(self, availability: AvailabilityState) -> None:
        self._emit(DeviceUpdate(self.name, availability, state=self._state))

    def _emit(self, update: DeviceUpdate) -> None:
        self._listeners.emit(update)

    # --- commands -------------------------------------------------------------------------

    def _plan_writes(self, command: ClimateCommand) -> list[tuple[str, int, int, Value]]:
        """(field, address, word, value) for each commanded field; raises InvalidCommand
        before anything is sent."""
        writes: list[tuple[str, int, int, Value]] = []
        wanted: list[tuple[str, str, Value]] = []
        if command.mode is not None:
            wanted.append(("mode", "mode", ClimateMode(command.mode).value))
        if command.fan is not None:
            wanted.append(("fan", "fan", FanMode(command.fan).value))
        if command.setpoint_c is not None:
            if isinstance(command.setpoint_c, bool) or not math.isfinite(command.setpoint_c):
                raise InvalidCommand(self.name, f"setpoint {command.setpoint_c!r} is not a number")
            setpoint = self.regmap.registers["setpoint"]
            wanted.append(("setpoint_c", "setpoint", setpoint.quantise(command.setpoint_c)))
        if not wanted:
            raise InvalidCommand(self.name, "empty command: give a mode, a fan or a setpoint")
        for field, role, value in wanted:
            spec = self.regmap.registers.get(role)
            if spec is None:
                raise InvalidCommand(
                    self.name, f"{self.regmap.model.id} has no {role} register to set"
                )
            try:
                words = spec.encode(value)
            except RegisterValueError as exc:
                raise InvalidCommand(self.name, str(exc)) from None
            writes.append((field, spec.wire_address, words[0], value))
        return writes

    async def apply(self, command: ClimateCommand) -> ClimateState:
        """Write the command, read it back, return the confirmed state.

        Raises InvalidCommand (nothing sent), DeviceUnavailable (no answer within
        `timeout_s`, or busy), CommandNotConfirmed (the read-back differs)."""
        writes = self._plan_writes(command)
        commanded = {field for field, *_ in writes}
        expected = {field: value for field, _, _, value in writes}
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.config.timeout_s
        self._last_error = None
        try:
            async with asyncio.timeout_at(deadline), self._command_lock, self._counting():
                for field, address, word, value in writes:
                    self._pending[field] = _as_state_value(field, value)
                    write = functools.partial(self._write, address, word, deadline)
                    await self._command_retry(deadline, write)
                read_back = functools.partial(self._read_back, deadline)
                values = await self._command_retry(deadline, read_back)
                state = self._to_state(values)
                for field, value in expected.items():
                    got = getattr(state, field)
                    if got != _as_state_value(field, value):
                        self._ingest(values, commanded=set())
                        raise CommandNotConfirmed(
                            self.name, f"{field} reads back {got}, commanded {value}"
                        )
                return self._ingest(values, commanded=commanded)
        except TimeoutError:
            # Say why if we know: "CRC mismatch" helps more than "timed out".
            cause = self._last_error
            reason = f"command not confirmed within {self.config.timeout_s} s" + (
                f" (last error: {str(cause).removeprefix(f'{self.name}: ')})" if cause else ""
            )
            if isinstance(cause, DeviceBusy):
                # It answered "busy" until the time ran out (mid-request or between tries):
                # alive, as when the retry loop gives up itself; not an outage.
                raise DeviceBusy(self.name, reason) from None
            self._tracker.failed(reason)
            self._was_down = True
            if isinstance(cause, ProtocolError):
                raise ProtocolError(self.name, reason) from None
            raise DeviceUnavailable(self.name, reason) from None
        except (DeviceBusy, ExceptionReply, CommandNotConfirmed):
            raise  # the unit answered: it is there, it just did not do it
        except (DeviceUnavailable, ProtocolError) as exc:
            self._tracker.failed(str(exc).removeprefix(f"{self.name}: "))
            self._was_down = True
            raise

    async def broadcast(self, command: ClimateCommand) -> None:
        """Send `command` to every unit on this thermostat's line at once (unit 0, e.g.
        "every room on this bus to off"). Units execute a broadcast without replying, so
        nothing is confirmed here: each unit's next poll shows what it did (and a unit
        whose map differs from this one's must not share the bus for broadcasts).
        Raises InvalidCommand before anything is sent, DeviceUnavailable if the port is."""
        writes = self._plan_writes(command)
        bus = self._bus_or_fail()
        for _field, address, word, _value in writes:
            await bus.broadcast(self.name, address=address, value=word)
        log.info(
            "modbus_broadcast_sent",
            device=self.name,
            port=self.config.port,
            fields=[field for field, *_ in writes],
        )

    @contextlib.asynccontextmanager
    async def _counting(self) -> AsyncIterator[None]:
        self._commands_started += 1
        try:
            yield
        finally:
            self._commands_done += 1

    async def _write(self, address: int, word: int, deadline: float) -> None:
        await self._bus_or_fail().write(
            self.name,
            unit=self.config.unit,
            address=address,
            value=word,
            timeout_s=self.response_timeout_s,
            priority=COMMAND,
            deadline=deadline,
        )

    async def _read_back(self, deadline: float) -> dict[str, Value]:
        return await self._read_all(COMMAND, self.response_timeout_s, deadline)

    async def _command_retry(self, deadline: float, attempt: Callable[[], Awaitable[T]]) -> T:
        """Retry a lost frame or a busy unit while the command's time budget lasts."""
        loop = asyncio.get_running_loop()
        while True:
            try:
                return await attempt()
            except (DeviceUnavailable, ProtocolError) as exc:
                busy = isinstance(exc, DeviceBusy)
                # A try cut short by the end of the budget after "busy" says nothing new:
                # the unit is still reported busy (alive), not silent.
                cut_short = type(exc) is DeviceUnavailable and isinstance(
                    self._last_error, DeviceBusy
                )
                if not cut_short:
                    self._last_error = exc
                if not (busy or _retryable(exc)) or loop.time() + 0.05 >= deadline:
                    if cut_short and self._last_error is not None:
                        raise self._last_error from None
                    raise
                if busy:
                    await asyncio.sleep(0.05)


def _retryable(exc: DriverError) -> bool:
    """A lost or garbled frame is worth one more try; a missing port, a busy unit or a
    definite refusal is not."""
    return not isinstance(exc, PortUnavailable | DeviceBusy | ExceptionReply | CommandNotConfirmed)


def _opt_bool(value: Value) -> bool | None:
    return value if isinstance(value, bool) else None


def _as_state_value(field: str, value: Value) -> object:
    if field == "mode":
        return ClimateMode(str(value))
    if field == "fan":
        return FanMode(str(value))
    return float(value) if isinstance(value, int | float) else value


def create(
    name: str, config: ModbusHvacConfig, clock: Clock | None = None, *, pool: BusPool | None = None
) -> ModbusHvac:
    """The registry's factory: a `Climate` for one `[devices.<name>]` table."""
    return ModbusHvac(name, config, clock, pool=pool)
