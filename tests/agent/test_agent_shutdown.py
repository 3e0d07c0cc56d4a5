"""Bounded shutdown with wedged devices, as systemd stops the agent. SIGTERM must end a real
agent process within the unit's TimeoutStopSec with room to spare, cleanly (exit 0, the
store closed), not by systemd's SIGKILL:

- `smartroom-agent run` whose thermostat (Modbus RTU on a pty) and ceiling lamp (CoAP) stop
  answering mid-command, and whose MQTT broker wedges after accepting the session (never
  answers again, ignores the disconnect, never closes the connection);
- the same agent (`Agent.run()`, tests/agent/wedged_agent.py) with a thermostat wedged at
  its driver: a command never answered and a close that waits forever for a goodbye. The
  rig's real drivers bound their own exchanges, so only this one shows an unbounded stop
  step (the pre-pipeline agent waited on it until systemd's SIGKILL)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from agent_rig import Rig, room_data, seed_stay

from firmware_mocks.base import Fault
from firmware_mocks.standard_room import standard_devices
from smartroom.clock import SystemClock
from smartroom.services import MosquittoBroker, free_port

pytestmark = [pytest.mark.mqtt, pytest.mark.timeout(120)]
BIN = Path(sys.executable).parent / "smartroom-agent"
WEDGED = Path(__file__).resolve().parent / "wedged_agent.py"
UNIT = Path(__file__).resolve().parents[2] / "systemd" / "smartroom-agent.service"
SPARE_S = 5.0  # the stop must leave systemd at least this much of TimeoutStopSec


def timeout_stop_s() -> float:
    match = re.search(r"^TimeoutStopSec=(\d+)\s*$", UNIT.read_text(), re.MULTILINE)
    assert match, f"no TimeoutStopSec in {UNIT}"
    return float(match.group(1))


async def _read_packet(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    first = (await reader.readexactly(1))[0]
    length, shift = 0, 0
    while True:
        byte = (await reader.readexactly(1))[0]
        length |= (byte & 0x7F) << shift
        if not byte & 0x80:
            break
        shift += 7
    return first, await reader.readexactly(length)


@contextlib.asynccontextmanager
async def wedged_broker() -> AsyncIterator[int]:
    """An MQTT broker that accepts the session (CONNACK) and then wedges: it reads and
    ignores every packet (no SUBACK, PUBACK or PINGRESP, a DISCONNECT changes nothing) and
    never closes the connection."""
    held: list[asyncio.StreamWriter] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            kind, body = await _read_packet(reader)
            if kind >> 4 != 1:  # not CONNECT
                return
            level = body[6]  # after the protocol name "MQTT"
            writer.write(b"\x20\x03\x00\x00\x00" if level == 5 else b"\x20\x02\x00\x00")
            await writer.drain()
            while True:
                await _read_packet(reader)

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        for writer in held:
            writer.transport.abort()


async def stop_wedged(
    argv: list[str],
    port: int,
    log_path: Path,
    wedge: Callable[[], None],
    overrides: list[tuple[str, dict[str, Any]]],
) -> tuple[int | None, float, str]:
    """Start the agent process, wedge its devices (`wedge`), leave the guest's `overrides`
    in flight to them, then SIGTERM it: (exit code or None if still running at the limit,
    seconds the stop took, the process's log)."""
    limit_s = timeout_stop_s() - SPARE_S
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            argv,
            stdout=log,
            stderr=log,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            cwd=Path(__file__).resolve().parents[2],
        )
    code: int | None = None
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=60) as http:
            for _ in range(300):
                with contextlib.suppress(httpx.TransportError):
                    if (await http.get("/health")).status_code == 200:
                        break
                await asyncio.sleep(0.1)
            else:
                raise AssertionError(f"never answered /health:\n{log_path.read_text()[-3000:]}")
            wedge()
            # The guest's overrides wait on devices that will never answer (apply timeout 30 s).
            tasks = [
                asyncio.create_task(http.post(f"/devices/{name}/override", json=body))
                for name, body in overrides
            ]
            await asyncio.sleep(1.0)
            assert proc.poll() is None
            assert not any(t.done() for t in tasks), "a wedged device answered"
            started = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                code = await asyncio.to_thread(proc.wait, limit_s)
            took = time.monotonic() - started
            for task in tasks:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, httpx.HTTPError):
                    await task
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGUSR1)  # its stacks into the log, for the report
            await asyncio.sleep(0.5)
            proc.kill()
            proc.wait()
    text = log_path.read_text()
    assert code is not None, f"still running {limit_s:g} s after SIGTERM:\n{text[-3000:]}"
    assert code == 0 and took < limit_s, text[-3000:]
    assert "agent_stopped" in text, text[-3000:]
    print(f"stopped in {took:.2f} s (limit {limit_s:g} s)")
    return code, took, text


def wedged_room(tmp_path: Path, broker: MosquittoBroker, *names: str) -> dict[str, Any]:
    seed_stay(tmp_path / "agent.db", SystemClock())
    return room_data(
        tmp_path,
        broker,
        standard_devices(only=names, hvac_poll_s=0.5),
        api={"port": free_port()},
        runtime={"tick_s": 0.1, "apply_timeout_s": 30},
    )


async def test_sigterm_with_wedged_devices_and_broker_exits_within_the_units_stop_timeout(
    tmp_path: Path, mqtt_broker: MosquittoBroker
) -> None:
    data = wedged_room(tmp_path, mqtt_broker, "hvac", "ceiling")
    async with Rig(data, free_ports=True) as rig, wedged_broker() as hole:
        sims: Any = rig.simulators
        room_file = tmp_path / "room.toml"
        # The agent's MQTT session goes to the wedged broker (the rig's devices here need none).
        text = re.sub(rf"(?m)^port = {mqtt_broker.port}$", f"port = {hole}", rig.room_toml())
        assert f"port = {hole}" in text
        room_file.write_text(text, encoding="utf-8")

        def wedge() -> None:
            sims["hvac"].inject(Fault.SILENT)
            sims["ceiling"].inject(Fault.SILENT)

        await stop_wedged(
            [str(BIN), "run", "--config", str(room_file)],
            data["api"]["port"],
            tmp_path / "agent.log",
            wedge,
            [("hvac", {"setpoint_c": 21.5}), ("ceiling", {"on": True})],
        )


async def test_sigterm_with_a_thermostat_whose_close_never_returns_exits_in_time(
    tmp_path: Path, mqtt_broker: MosquittoBroker
) -> None:
    data = wedged_room(tmp_path, mqtt_broker, "hvac")
    room_file = tmp_path / "room.toml"
    async with Rig(data, free_ports=True) as rig:  # only for the room file's addresses
        room_file.write_text(rig.room_toml(), encoding="utf-8")
    _, _, text = await stop_wedged(
        [sys.executable, str(WEDGED), str(room_file)],
        data["api"]["port"],
        tmp_path / "agent.log",
        lambda: None,  # wedged from the start
        [("hvac", {"setpoint_c": 21.5})],
    )
    assert "wedged_stop_waiting" in text, text[-3000:]  # the close really was stuck
