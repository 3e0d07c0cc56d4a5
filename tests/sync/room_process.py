"""A real `smartroom-agent run` process for the outage tests, and the link between it and
central that a test cuts and heals.

    link = Link(central_port)                 # the room reaches central through this port
    async with link.up(): ...                 # link healed for the block (a TCP relay)
    room = RoomProcess(tmp, broker, link.url, key, room_id, store=path, clock_args=[...])
    await room.start(); await room.api("POST", "/spend", json={...}); room.kill9()

The room has one simulated device (the HVAC on Modbus over a pty, through the rig), so a
guest's setpoint change is a real preference change; its status and alerts are real.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import tomllib
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
from sync_harness import PROPERTY, Central

from firmware_mocks.rig import Rig
from firmware_mocks.standard_room import standard_devices
from smartroom.clock import Clock
from smartroom.services import AppServer, MosquittoBroker, free_port

BIN = Path(sys.executable).parent / "smartroom-agent"


class ModelFault:
    """What the link does to a model download (a response of application/octet-stream):
    `cut` the connection halfway through the body, `stall` it there (until the link is cut),
    or `flip` one byte in the middle; None passes it. Other responses pass untouched."""

    def __init__(self) -> None:
        self.mode: str | None = None
        self.hits = 0
        self._head = b""
        self._body_left = 0
        self._model = False
        self._half = self._off = 0

    def feed(self, chunk: bytes) -> tuple[bytes, str | None]:
        """The bytes to forward, and "cut"/"stall" when the connection must stop after."""
        out = b""
        while chunk:
            if self._body_left == 0:  # in the headers of the next response
                self._head += chunk
                end = self._head.find(b"\r\n\r\n")
                if end < 0:
                    return out, None
                head, chunk = self._head[: end + 4], self._head[end + 4 :]
                self._head = b""
                out += head
                lower = head.lower()
                self._model = b"application/octet-stream" in lower and self.mode is not None
                for line in lower.split(b"\r\n"):
                    if line.startswith(b"content-length:"):
                        self._body_left = int(line.split(b":")[1])
                self._half = self._body_left // 2
                self._off = 0
                continue
            take, chunk = chunk[: self._body_left], chunk[self._body_left :]
            if self._model:
                for i in range(len(take)):
                    if self._off + i == self._half:
                        self.hits += 1
                        if self.mode in ("cut", "stall"):
                            self._body_left = 0
                            return out + take[:i], self.mode
                        take = take[:i] + bytes([take[i] ^ 0xFF]) + take[i + 1 :]
            self._off += len(take)
            self._body_left -= len(take)
            out += take
        return out, None


class Link:
    """The hotel's WAN link as a TCP relay to central: down (nothing listens, connections
    are refused, open ones are cut) or up; `model_fault` tampers with model downloads."""

    def __init__(self, target_port: int) -> None:
        self.target = target_port
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._server: asyncio.Server | None = None
        self._conns: set[asyncio.StreamWriter] = set()
        self.model_fault: str | None = None
        self.faults = 0

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        server = self._server
        self._conns.add(writer)  # from the accept on, `cut` ends it
        try:
            up_r, up_w = await asyncio.open_connection("127.0.0.1", self.target)
        except OSError:
            self._conns.discard(writer)
            writer.close()
            return
        if self._server is not server or writer.transport.is_closing():
            # The link was cut while this connection reached central (a loaded machine
            # widens that moment): it dies with the link, it does not carry a request
            # through an outage (the room would see central answer mid-outage).
            up_w.transport.abort()
            writer.transport.abort()
            self._conns.discard(writer)
            return
        self._conns.add(up_w)
        fault = ModelFault()

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter, down: bool) -> None:
            with contextlib.suppress(OSError, asyncio.CancelledError):
                while chunk := await src.read(65536):
                    stop = None
                    if down:
                        fault.mode = self.model_fault
                        before = fault.hits
                        chunk, stop = fault.feed(chunk)
                        self.faults += fault.hits - before
                    dst.write(chunk)
                    await dst.drain()
                    if stop == "cut":
                        writer.transport.abort()
                        up_w.transport.abort()
                    elif stop == "stall":
                        await asyncio.Event().wait()  # until the link is cut
            dst.close()

        await asyncio.gather(pipe(reader, up_w, False), pipe(up_r, writer, True))
        self._conns.difference_update((writer, up_w))

    async def heal(self) -> None:
        if self._server is None:
            self._server = await asyncio.start_server(self._relay, "127.0.0.1", self.port)

    async def cut(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        for conn in list(self._conns):  # a long poll in flight dies with the link
            conn.transport.abort()
        self._conns.clear()


@contextlib.asynccontextmanager
async def central_behind_link(tmp: Path, clock: Clock) -> AsyncIterator[tuple[Central, Link]]:
    """Central (SQLite, served on a free port) and a healed link to it; stopped after."""
    central = Central(f"sqlite:///{tmp / 'central.db'}", clock)
    try:
        with AppServer(central.app) as server:
            central.base_url = server.url
            link = Link(server.port)
            await link.heal()
            try:
                yield central, link
            finally:
                await link.cut()
    finally:
        central.engine.dispose()


class RoomProcess:
    def __init__(
        self,
        tmp: Path,
        broker: MosquittoBroker,
        central_url: str,
        agent_key: str,
        room_id: str,
        *,
        store: Path | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        self.tmp = tmp
        key_file = tmp / "agent.key"
        key_file.write_text(agent_key)
        os.chmod(key_file, 0o600)
        self.data: dict[str, Any] = {
            "room": {"property_id": PROPERTY, "room_id": room_id, "timezone": "Asia/Shanghai"},
            "mqtt": {"host": broker.host, "port": broker.port},
            "devices": standard_devices(room_id, only=("hvac",), hvac_poll_s=0.5),
            "store": {"path": str(store or tmp / "agent.db")},
            "api": {"port": free_port()},
            "runtime": {"tick_s": 0.1, "status_heartbeat_s": 5},
            "central": {
                "url": central_url,
                "credential_file": str(key_file),
                "pull_interval_s": 2.0,
                "timeout_s": 2.0,
            },
        }
        for section, values in (extra or {}).items():
            self.data[section] = {**self.data.get(section, {}), **values}
        self.api_url = f"http://127.0.0.1:{self.data['api']['port']}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = tmp / "agent.log"
        self._rig: Rig | None = None

    async def __aenter__(self) -> RoomProcess:
        self._rig = Rig(self.data, free_ports=True)
        await self._rig.__aenter__()
        self.room_file = self.tmp / "room.toml"
        self.room_file.write_text(self._rig.room_toml(), encoding="utf-8")
        tomllib.loads(self.room_file.read_text())  # the rig wrote a valid file
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.stop()
        assert self._rig is not None
        await self._rig.__aexit__(None, None, None)

    async def start(self, *clock_args: str, timeout: float = 30.0) -> None:
        log = self.log_path.open("a")
        self.proc = subprocess.Popen(
            [str(BIN), "run", "--config", str(self.room_file), *clock_args],
            stdout=log,
            stderr=log,
        )
        log.close()
        await self.until(self._healthy, timeout, "the agent's /health ok")

    async def _healthy(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(f"agent exited {self.proc.returncode}: {self.log()[-3000:]}")
        try:
            return bool((await self.get("/health")).get("ok"))
        except httpx.HTTPError:
            return False

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    async def api(self, method: str, path: str, **kw: Any) -> httpx.Response:
        async with httpx.AsyncClient(base_url=self.api_url, timeout=10) as http:
            return await http.request(method, path, **kw)

    async def get(self, path: str) -> Any:
        return (await self.api("GET", path)).json()

    async def until(
        self, check: Callable[[], Any], timeout: float, what: str, every: float = 0.1
    ) -> Any:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            result = check()
            if asyncio.iscoroutine(result):
                result = await result
            if result:
                return result
            if loop.time() > deadline:
                raise AssertionError(f"timed out waiting for {what}; log: {self.log()[-2000:]}")
            await asyncio.sleep(every)

    async def spend(self, amount: str = "36.00") -> bool:
        """A minibar purchase through the room's API; whether it was taken (409: no stay)."""
        body = {"category": "minibar", "item": "cola", "amount": amount}
        reply = await self.api("POST", "/spend", json=body)
        assert reply.status_code in (200, 409), reply.text
        return reply.status_code == 200

    async def pending(self) -> int:
        return int((await self.get("/health"))["central"]["outbox_pending"])

    async def drained(self) -> bool:
        return await self.pending() == 0

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@contextlib.asynccontextmanager
async def healed(link: Link) -> AsyncIterator[Link]:
    await link.heal()
    try:
        yield link
    finally:
        await link.cut()
