"""One Modbus RTU serial line shared by every thermostat on it.

RS-485 is half duplex with one master: exactly one request may be in flight on a line, and
a frame only ends after 3.5 character times of silence. A `ModbusBus` owns the line's
pymodbus client (the port is opened by name, exclusively, so there can only be one per
port), serialises requests behind a priority lock (commands go before polls), keeps the
inter-frame gap, reopens the port after it goes quiet or vanishes, and translates every
failure once into the `drivers.base` errors with a reason a person can act on.

    pool = BusPool()
    bus = pool.acquire("/dev/ttyUSB0", Framing(9600))       # 8E1; shared by units on that port
    words = await bus.read("hvac", unit=1, address=0, count=14, timeout=1.0)
    await bus.write("hvac", unit=1, address=8, value=235, timeout=1.0, priority=COMMAND)
    await bus.broadcast("hvac", address=6, value=0)           # unit 0: every unit, no reply
    await pool.release(bus)

Drivers get their bus from a `BusPool`. The module keeps one default pool because a serial
port is a process-wide resource: two pools would open the same port twice and steal each
other's bytes (pyserial's exclusive lock turns that into an error instead).
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

from pymodbus.client import AsyncModbusSerialClient
from pymodbus.exceptions import ConnectionException, ModbusException
from pymodbus.pdu import ExceptionResponse, ModbusPDU
from pymodbus.pdu.bit_message import ReadCoilsResponse, ReadDiscreteInputsResponse
from pymodbus.pdu.register_message import (
    ReadHoldingRegistersResponse,
    ReadInputRegistersResponse,
    WriteSingleRegisterResponse,
)

from drivers.base import CommandNotConfirmed, DeviceUnavailable, ProtocolError
from drivers.modbus_frames import (
    BUSY_CODES,
    WRITE_SINGLE,
    FrameError,
    exception_name,
    parse_reply,
)
from drivers.modbus_map import READ_FUNCTION, Table
from drivers.modbus_serial import Framing, inter_frame_gap_s, os_parity
from smartroom.log import get_logger

log = get_logger("drivers.modbus_bus")

COMMAND = 0  # priorities: lower goes first
POLL = 1
REOPEN_AFTER_SILENT = 3  # consecutive unanswered requests before the port is reopened
# After a broadcast the slaves need time to execute it before the next request (serial line
# spec 2.4.1 "turnaround delay", typically 100-200 ms); they never reply to say they are done.
BROADCAST_TURNAROUND_S = 0.1
_READ_REPLIES: dict[Table, type[ModbusPDU]] = {
    "holding": ReadHoldingRegistersResponse,
    "input": ReadInputRegistersResponse,
    "coil": ReadCoilsResponse,
    "discrete": ReadDiscreteInputsResponse,
}


class PortUnavailable(DeviceUnavailable):
    """The serial port itself is missing or cannot be opened (nothing was sent)."""


class DeviceBusy(DeviceUnavailable):
    """The device answered 'busy' (exception 05/06): alive, but no value now."""


class ExceptionReply(ProtocolError):
    """The device answered with a Modbus exception other than busy."""

    def __init__(self, device: str, unit: int, code: int, what: str) -> None:
        self.code = code
        super().__init__(device, f"unit {unit} refused {what}: exception {exception_name(code)}")


class _QuietPymodbus(logging.Filter):
    """pymodbus logs every unanswered request at ERROR. The driver reports those once per
    drop/recovery through AvailabilityTracker, so the per-request lines are demoted here."""

    PREFIXES = (
        "No response received",
        "ERROR: No response received",
        "ERROR: request ask for id",
        "ERROR: received pdu without a corresponding request",
        "Failed to connect",
        "Not connected, trying to connect",
    )

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith(self.PREFIXES)


def _quiet_pymodbus() -> None:
    logger = logging.getLogger("pymodbus.logging")
    if not any(isinstance(f, _QuietPymodbus) for f in logger.filters):
        logger.addFilter(_QuietPymodbus())


class PriorityLock:
    """A mutex whose waiters are served lowest priority number first, FIFO within one."""

    def __init__(self) -> None:
        self._locked = False
        self._waiters: list[tuple[int, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()

    @property
    def locked(self) -> bool:
        return self._locked

    @contextlib.asynccontextmanager
    async def hold(self, priority: int = POLL) -> AsyncIterator[None]:
        if self._locked or self._waiters:
            fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            heapq.heappush(self._waiters, (priority, next(self._seq), fut))
            try:
                await fut
            except asyncio.CancelledError:
                if fut.done() and not fut.cancelled():
                    self._release()  # we were handed the lock as we were cancelled
                raise
        else:
            self._locked = True
        try:
            yield
        finally:
            self._release()

    def _release(self) -> None:
        while self._waiters:
            _, _, fut = heapq.heappop(self._waiters)
            if not fut.done():
                fut.set_result(None)  # ownership passes straight to the waiter
                return
        self._locked = False


@dataclass
class BusStats:
    requests: int = 0
    timeouts: int = 0
    corrupt: int = 0
    busy: int = 0
    exceptions: int = 0
    opens: int = 0


class ModbusBus:
    def __init__(self, port: str, framing: Framing | int = 9600) -> None:
        self.port = port
        self.framing = framing if isinstance(framing, Framing) else Framing(framing)
        self.baudrate = self.framing.baudrate
        self.gap_s = self.framing.gap_s
        self.stats = BusStats()
        self._lock = PriorityLock()
        self._client: AsyncModbusSerialClient | None = None
        self._rx = b""
        self._quiet_until = 0.0
        self._silent_streak = 0
        self.loop = _running_loop()
        _quiet_pymodbus()

    # --- port --------------------------------------------------------------------------

    def _trace(self, sending: bool, data: bytes) -> bytes:
        if sending:
            self._rx = b""
        elif data.startswith(self._rx):  # pymodbus hands over its growing buffer each time
            self._rx = data
        else:
            self._rx += data
        return data

    async def _ensure_open(self, device: str) -> AsyncModbusSerialClient:
        if self._client is not None and self._client.connected:
            return self._client
        self._close_client()
        if not os.path.exists(self.port):  # noqa: ASYNC240 - one stat() of a device node
            raise PortUnavailable(device, f"serial port {self.port} does not exist")
        client = AsyncModbusSerialClient(
            self.port,
            baudrate=self.baudrate,
            bytesize=8,
            parity=os_parity(self.port, self.framing.parity),
            stopbits=self.framing.stops,
            timeout=1.0,
            retries=0,  # we retry ourselves, knowing why the first attempt failed
            reconnect_delay=0,  # and reconnect ourselves, with the driver's backoff
            name=f"modbus {self.port}",
            trace_packet=self._trace,
        )
        try:
            opened = await client.connect()
        except (OSError, ModbusException) as exc:
            opened = False
            reason = str(exc)
        else:
            reason = "open failed (busy or no permission?)"
        if not opened:
            client.close()
            raise PortUnavailable(device, f"cannot open serial port {self.port}: {reason}")
        self._client = client
        self.stats.opens += 1
        if self.stats.opens > 1:
            log.info("modbus_port_reopened", port=self.port)
        return client

    def _close_client(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    async def close(self) -> None:
        async with self._lock.hold(COMMAND):
            self._close_client()

    # --- requests --------------------------------------------------------------------------

    async def read(
        self,
        device: str,
        *,
        unit: int,
        address: int,
        count: int,
        timeout_s: float,
        priority: int = POLL,
        deadline: float | None = None,
        table: Table = "holding",
    ) -> list[int]:
        """Read `count` words (FC03 holding, FC04 input) or bits as 0/1 (FC01 coils, FC02
        discrete inputs) from `address`."""

        def call(client: AsyncModbusSerialClient) -> Awaitable[ModbusPDU]:
            read = {
                "holding": client.read_holding_registers,
                "input": client.read_input_registers,
                "coil": client.read_coils,
                "discrete": client.read_discrete_inputs,
            }[table]
            return read(address, count=count, device_id=unit)

        function = READ_FUNCTION[table]
        reply = await self._transact(
            device, unit, function, count, call, timeout_s, priority, deadline
        )
        if not isinstance(reply, _READ_REPLIES[table]):
            raise ProtocolError(device, f"unit {unit}: expected a {table} reply, got {reply}")
        values = (
            [int(bit) for bit in reply.bits[:count]]
            if table in ("coil", "discrete")
            else list(reply.registers)
        )
        if len(values) != count:
            raise ProtocolError(
                device, f"unit {unit}: asked for {count} {table} values, reply has {len(values)}"
            )
        return values

    @contextlib.asynccontextmanager
    async def _line(self, device: str, priority: int) -> AsyncIterator[AsyncModbusSerialClient]:
        """The line to ourselves, open, after the silence the last frame needs."""
        async with self._lock.hold(priority):
            client = await self._ensure_open(device)
            wait = max(self._quiet_until - asyncio.get_running_loop().time(), 0.0)
            if wait:
                await asyncio.sleep(wait)
            yield client

    async def broadcast(
        self, device: str, *, address: int, value: int, priority: int = COMMAND
    ) -> None:
        """FC06 to unit 0: every unit on the line executes it and none replies, so there is
        no confirmation; the line is then left quiet for the slaves' turnaround delay."""
        loop = asyncio.get_running_loop()
        async with self._line(device, priority) as client:
            self.stats.requests += 1
            try:
                await client.write_register(address, value, device_id=0, no_response_expected=True)
            except ConnectionException as exc:
                self._close_client()
                raise DeviceUnavailable(device, f"serial port {self.port} closed: {exc}") from None
            finally:
                self._quiet_until = loop.time() + max(self.gap_s, BROADCAST_TURNAROUND_S)

    async def write(
        self,
        device: str,
        *,
        unit: int,
        address: int,
        value: int,
        timeout_s: float,
        priority: int = COMMAND,
        deadline: float | None = None,
    ) -> None:
        """FC06 write of one register; the device's echo must match what was sent."""

        def call(client: AsyncModbusSerialClient) -> Awaitable[ModbusPDU]:
            return client.write_register(address, value, device_id=unit)

        reply = await self._transact(
            device, unit, WRITE_SINGLE, 1, call, timeout_s, priority, deadline
        )
        if not isinstance(reply, WriteSingleRegisterResponse):
            raise ProtocolError(device, f"unit {unit}: expected a write echo, got {reply}")
        echoed = reply.registers[0] if reply.registers else None
        if reply.address != address or echoed != value:
            # The unit answered, and holds something else: a refusal, not line noise.
            raise CommandNotConfirmed(
                device,
                f"unit {unit}: write echo is address {reply.address} value {echoed}, "
                f"sent address {address} value {value}",
            )

    async def _transact(
        self,
        device: str,
        unit: int,
        function: int,
        count: int,
        call: Callable[[AsyncModbusSerialClient], Awaitable[ModbusPDU]],
        timeout_s: float,
        priority: int,
        deadline: float | None,
    ) -> ModbusPDU:
        loop = asyncio.get_running_loop()
        async with self._line(device, priority) as client:
            if deadline is not None:
                # Time spent queueing for the line comes out of the caller's budget; end a
                # little before it so the caller sees this request's error, not a bare timeout.
                timeout_s = max(0.01, min(timeout_s, deadline - loop.time() - 0.02))
            self._rx = b""
            # pymodbus keeps one response timeout per client; ours is per device and request.
            client.ctx.comm_params.timeout_connect = timeout_s
            self.stats.requests += 1
            try:
                reply = await call(client)
            except ConnectionException as exc:
                self._close_client()
                raise DeviceUnavailable(device, f"serial port {self.port} closed: {exc}") from None
            except ModbusException:
                raise self._unanswered(device, unit, function, count, timeout_s) from None
            except asyncio.CancelledError:
                # Cancelled mid-request: a late reply may still arrive; let it pass before
                # the next request so it cannot be taken for that request's answer.
                self._quiet_until = loop.time() + timeout_s
                raise
            finally:
                self._quiet_until = max(self._quiet_until, loop.time() + self.gap_s)
            self._silent_streak = 0
        if isinstance(reply, ExceptionResponse):
            code = int(reply.exception_code)
            if code in BUSY_CODES:
                self.stats.busy += 1
                raise DeviceBusy(device, f"unit {unit} is busy (exception {exception_name(code)})")
            self.stats.exceptions += 1
            what = "a write" if function == WRITE_SINGLE else "a read"
            raise ExceptionReply(device, unit, code, what)
        return reply

    def _unanswered(
        self, device: str, unit: int, function: int, count: int, timeout_s: float
    ) -> DeviceUnavailable | ProtocolError:
        raw = self._rx
        if raw:
            try:
                parse_reply(raw, unit=unit, function=function, count=count)
            except FrameError as exc:
                self.stats.corrupt += 1
                self._silent_streak = 0
                return ProtocolError(device, f"unit {unit}: bad reply on {self.port}: {exc}")
        self.stats.timeouts += 1
        self._silent_streak += 1
        if self._silent_streak >= REOPEN_AFTER_SILENT:
            # Adapters and devices that go quiet for hours often need the port reopened,
            # not a replug: do it ourselves on the next request.
            self._silent_streak = 0
            self._close_client()
        return DeviceUnavailable(
            device, f"no reply from unit {unit} on {self.port} within {timeout_s:.2f} s"
        )


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


class BusPool:
    """Hands out one `ModbusBus` per port, shared by every driver on it; closes it when the
    last one is released."""

    def __init__(self) -> None:
        self._buses: dict[str, tuple[ModbusBus, int]] = {}

    def acquire(self, port: str, framing: Framing | int) -> ModbusBus:
        framing = framing if isinstance(framing, Framing) else Framing(framing)
        entry = self._buses.get(port)
        if entry is not None and entry[0].loop is not _running_loop():
            # Left behind by drivers of an event loop that has ended (never stopped):
            # its client cannot be used from this loop.
            del self._buses[port]
        if port in self._buses:
            bus, users = self._buses[port]
            if bus.framing != framing:
                raise ValueError(
                    f"{port} is already open at {bus.framing.describe()}; every device on one "
                    f"bus must use the same line settings (this one asks for "
                    f"{framing.describe()})"
                )
            self._buses[port] = (bus, users + 1)
            return bus
        bus = ModbusBus(port, framing)
        self._buses[port] = (bus, 1)
        return bus

    async def release(self, bus: ModbusBus) -> None:
        entry = self._buses.get(bus.port)
        if entry is None or entry[0] is not bus:
            return
        if entry[1] <= 1:
            del self._buses[bus.port]
            await bus.close()
        else:
            self._buses[bus.port] = (bus, entry[1] - 1)

    def __len__(self) -> int:
        return len(self._buses)


DEFAULT_POOL = BusPool()

__all__ = ["COMMAND", "POLL", "BusPool", "DeviceBusy", "ModbusBus", "inter_frame_gap_s"]
