"""One RS-485 line: a serial port, the Modbus RTU slave side of it, and the units on it.

It reads the port itself (pyserial for the line settings, the event loop for the bytes) and
frames requests the way a slave's UART does: a request whose function code fixes its
length is handled as soon as it is complete; anything else (an unknown function code, a
frame that does not check out) ends at the line's silence, t3.5, so one bad frame never
swallows the next. What each unit answers comes from `firmware_mocks.modbus_slave`.

    line = ModbusLine(pair.a, baudrate=9600)               # 8E1 by default (the spec's)
    ThermostatSimulator("hvac", line, unit=1)              # units attach before start
    await line.acquire(); ...; await line.release()        # (the units do this)

On the wire, as a slave must: a request with a bad CRC, for another unit, or for a unit
that is powered off or silent gets no reply; unit 0 is broadcast, so every unit executes
its writes and none replies; a busy unit answers exception 06.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from datetime import datetime, timedelta
from typing import Literal, Protocol

import serial

from drivers.modbus_frames import corrupt, crc16, with_crc
from drivers.modbus_serial import Framing, Parity, os_parity
from firmware_mocks.base import Fault
from firmware_mocks.modbus_slave import DEVICE_BUSY, exception, is_write, request_complete
from smartroom.clock import Clock, SystemClock
from smartroom.log import get_logger

log = get_logger("firmware_mocks.modbus_line")

# A pty hands bytes over in bursts and the scheduler adds jitter on a loaded machine, so a
# frame that only silence can end waits at least this long (a real line's t3.5 is 4 ms).
MIN_SILENCE_S = 0.01


class LineUnit(Protocol):
    unit: int
    fault: Fault
    busy: bool
    delay_s: float

    @property
    def answering(self) -> bool: ...

    def simulate(self, start: datetime, seconds: float) -> None: ...

    def serve(self, pdu: bytes) -> bytes:
        """The reply PDU to a request PDU (executes writes)."""
        ...


class ModbusLine:
    """One serial line and its RTU slave; units attach to it by address."""

    def __init__(
        self,
        port: str,
        *,
        baudrate: int = 9600,
        parity: Parity = "E",
        stopbits: Literal[1, 2] | None = None,
        speed: float = 60.0,
        tick_s: float = 0.1,
        emulate_line_timing: bool = False,
        clock: Clock | None = None,
    ) -> None:
        if speed < 0:
            raise ValueError(f"speed must be >= 0 (0 = only advance() moves time), not {speed}")
        self.port = port
        self.framing = Framing(baudrate, parity, stopbits)
        self.speed = speed
        self.tick_s = tick_s
        # A pty delivers bytes instantly; with this on, each reply waits for the time the
        # request and reply would take on a real line with these settings.
        self.emulate_line_timing = emulate_line_timing
        self.sim_time: datetime = (clock or SystemClock()).now()
        self.units: dict[int, LineUnit] = {}
        self.wanted = False  # the line should be open (some unit is started)
        self._serial: serial.Serial | None = None
        self._buffer = b""
        self._silence: asyncio.TimerHandle | None = None
        self._frames: asyncio.Queue[bytes] = asyncio.Queue()
        self._worker: asyncio.Task[None] | None = None
        self._ticker: asyncio.Task[None] | None = None
        self._users = 0
        self.requests_seen = 0  # good frames addressed to a unit here (or broadcast)
        self.frames_dropped = 0  # bad CRC, too short: what a slave discards
        self.broadcasts = 0

    @property
    def baudrate(self) -> int:
        return self.framing.baudrate

    # --- lifecycle --------------------------------------------------------------------

    def attach(self, sim: LineUnit) -> None:
        if sim.unit in self.units:
            raise ValueError(f"unit {sim.unit} is already on {self.port}")
        self.units[sim.unit] = sim

    @property
    def running(self) -> bool:
        return self._serial is not None

    async def acquire(self) -> None:
        self._users += 1
        self.wanted = True
        if self._serial is None:
            await self.open_port()
        if self._ticker is None:
            self._ticker = asyncio.create_task(self._tick(), name=f"thermal {self.port}")

    async def release(self) -> None:
        self._users = max(0, self._users - 1)
        if self._users == 0:
            self.wanted = False
            await self.close_port()
            if self._ticker is not None:
                self._ticker.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._ticker
                self._ticker = None

    async def open_port(self) -> None:
        if self._serial is not None:
            return
        f = self.framing
        self._serial = serial.Serial(
            self.port,
            baudrate=f.baudrate,
            bytesize=serial.EIGHTBITS,
            parity={"E": serial.PARITY_EVEN, "O": serial.PARITY_ODD, "N": serial.PARITY_NONE}[
                os_parity(self.port, f.parity)
            ],
            stopbits=serial.STOPBITS_TWO if f.stops == 2 else serial.STOPBITS_ONE,
            timeout=0,
        )
        self._buffer = b""
        loop = asyncio.get_running_loop()
        loop.add_reader(self._serial.fileno(), self._readable)
        self._worker = asyncio.create_task(self._serve(), name=f"modbus slave {self.port}")

    async def close_port(self) -> None:
        port, self._serial = self._serial, None
        if port is None:
            return
        asyncio.get_running_loop().remove_reader(port.fileno())
        if self._silence is not None:
            self._silence.cancel()
            self._silence = None
        worker, self._worker = self._worker, None
        if worker is not None:
            worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await worker
        self._frames = asyncio.Queue()
        port.close()

    async def reopen(self) -> None:
        """Close and reopen the port, as a device's serial interface does on power-up."""
        await self.close_port()
        await self.open_port()

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

    # --- framing -------------------------------------------------------------------------

    def _readable(self) -> None:
        port = self._serial
        if port is None:
            return
        try:
            data = os.read(port.fileno(), 512)
        except OSError:
            return
        self._buffer += data
        if self._silence is not None:
            self._silence.cancel()
            self._silence = None
        while (need := request_complete(self._buffer)) is not None and _crc_ok(self._buffer[:need]):
            frame, self._buffer = self._buffer[:need], self._buffer[need:]
            self._frames.put_nowait(frame)
        if not self._buffer:
            return
        loop = asyncio.get_running_loop()
        self._silence = loop.call_later(max(self.framing.gap_s, MIN_SILENCE_S), self._frame_ends)

    def _frame_ends(self) -> None:
        self._silence = None
        frame, self._buffer = self._buffer, b""
        if frame:
            self._frames.put_nowait(frame)

    async def _serve(self) -> None:
        while True:
            frame = await self._frames.get()
            try:
                await self._handle(frame)
            except Exception:  # a simulator bug must not end the line
                log.exception("modbus_line_request_failed", port=self.port, frame=frame.hex())

    async def _handle(self, frame: bytes) -> None:
        if len(frame) < 4 or not _crc_ok(frame):
            self.frames_dropped += 1  # a slave discards it and stays silent
            return
        address, pdu = frame[0], frame[1:-2]
        if address == 0:
            self.requests_seen += 1
            self.broadcasts += 1
            if is_write(pdu):
                for sim in self.units.values():
                    if sim.answering:
                        sim.serve(pdu)  # executed, never answered
            return
        target = self.units.get(address)
        if target is None:
            return  # another unit's request: not ours to answer
        sim = target
        self.requests_seen += 1
        if not sim.answering:
            return
        if sim.fault is Fault.SLOW:
            await asyncio.sleep(sim.delay_s)
        reply_pdu = exception(pdu[0], DEVICE_BUSY) if sim.busy else sim.serve(pdu)
        reply = with_crc(bytes([address]) + reply_pdu)
        if self.emulate_line_timing:
            await asyncio.sleep(self.framing.wire_s(len(frame) + len(reply)))
        if sim.fault is Fault.CORRUPT:
            reply = corrupt(reply)
        if not sim.answering or self._serial is None:
            return  # powered off while it was thinking
        self._serial.write(reply)

    def wire_time_s(self, request_octets: int, reply_octets: int) -> float:
        return self.framing.wire_s(request_octets + reply_octets)

    def describe(self) -> str:
        units = ", ".join(str(u) for u in sorted(self.units))
        return f"modbus rtu on {self.port} at {self.framing.describe()}, unit(s) {units}"


def _crc_ok(frame: bytes) -> bool:
    return len(frame) >= 4 and crc16(frame[:-2]) == int.from_bytes(frame[-2:], "little")
