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
from sync_harness import PROPERTY

from firmware_mocks.rig import Rig
from firmware_mocks.standard_room import standard_devices
from smartroom.services import MosquittoBroker, free_port

BIN = Path(sys.executable).parent / "smartroom-agent"


class Link:
    """The hotel's WAN link as a TCP relay to central: down (nothing listens, connections
    are refused, open ones are cut) or up."""

    def __init__(self, target_port: int) -> None:
        self.target = target_port
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._server: asyncio.Server | None = None
        self._conns: set[asyncio.StreamWriter] = set()

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_r, up_w = await asyncio.open_connection("127.0.0.1", self.target)
        except OSError:
            writer.close()
            return
        self._conns.update((writer, up_w))

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError, asyncio.CancelledError):
                while chunk := await src.read(65536):
                    dst.write(chunk)
                    await dst.drain()
            dst.close()

        await asyncio.gather(pipe(reader, up_w), pipe(up_r, writer))
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
