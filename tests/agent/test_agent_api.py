"""The local HTTP API over a real socket (the agent's own h11 server), and the CLI."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from agent_fakes import FakeDevice, climate, light, sensor
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polling import eventually

from agent.app import Agent
from agent.config import parse_room_config
from agent.sdnotify import Notifier
from smartroom.services import MosquittoBroker

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent / "smartroom-agent"
KEY = "local-api-key-for-tests"


@pytest.fixture
async def served(tmp_path: Path, mqtt_broker: MosquittoBroker) -> AsyncIterator[Agent]:
    token = tmp_path / "api.key"
    token.write_text(KEY)
    config = parse_room_config(
        {
            "room": {"property_id": "SHA-01", "room_id": "1201"},
            "mqtt": {"host": mqtt_broker.host, "port": mqtt_broker.port},
            "devices": {
                "hvac": {"driver": "modbus_hvac", "port": "/dev/null"},
                "lamp": {"driver": "coap_light"},
                "door": {"driver": "z2m", "capability": "sensor", "friendly_name": "d"},
            },
            "store": {"path": str(tmp_path / "agent.db")},
            "api": {"port": 0, "token_file": str(token)},
            "runtime": {"tick_s": 0.05},
        },
        source="test",
    )
    devices: dict[str, FakeDevice] = {
        "hvac": climate(),
        "lamp": light("lamp"),
        "door": sensor("door"),
    }
    async with Agent(config, devices=devices) as agent:
        yield agent


AUTH = {"Authorization": f"Bearer {KEY}"}


async def test_reads_are_open_changes_need_the_key(served: Agent) -> None:
    async with httpx.AsyncClient(base_url=served.api_url) as http:
        assert (await http.get("/status")).status_code == 200
        assert (await http.get("/health")).json()["ok"]
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": KEY}):
            response = await http.put("/housekeeping", json={"dnd": True}, headers=headers)
            assert response.status_code == 401
        assert not served.room.status().dnd  # type: ignore[union-attr]
        ok = await http.put("/housekeeping", json={"dnd": True}, headers=AUTH)
        assert ok.status_code == 200 and ok.json()["dnd"]


async def test_override_validates_then_applies_and_holds(served: Agent) -> None:
    room = served.room
    assert room is not None
    async with httpx.AsyncClient(base_url=served.api_url, headers=AUTH) as http:
        cases = [
            ("/devices/nope/override", {"on": True}, 404, "no device"),
            ("/devices/door/override", {"on": True}, 422, "sensor"),
            ("/devices/hvac/override", {"on": True}, 422, "climate device takes"),
            ("/devices/hvac/override", {}, 422, "at least one"),
            ("/devices/hvac/override", {"setpoint_c": 31}, 422, "guest limits"),
            ("/devices/hvac/override", {"setpoint_c": "hot"}, 422, "setpoint_c"),
            ("/devices/hvac/override", {"setpoint_c": 20, "extra": 1}, 422, "extra"),
        ]
        for path, body, code, text in cases:
            response = await http.post(path, json=body)
            assert response.status_code == code and text in response.text, (path, response.text)
        assert "hvac" not in room.manual  # nothing happened
        big = await http.post("/devices/hvac/override", content=b"{" + b" " * 5000 + b"}")
        assert big.status_code == 413
        response = await http.post("/devices/hvac/override", json={"setpoint_c": 20.5})
        assert response.status_code == 200 and response.json()["state"]["setpoint_c"] == 20.5
        assert "hvac" in room.manual
        detail = (await http.get("/status/detail")).json()
        assert detail["plan"]["hvac"]["layer"] == "manual"
        released = await http.delete("/devices/hvac/override")
        assert released.json() == {"device": "hvac", "released": True}
        lamp_dead = room.devices["lamp"]
        assert isinstance(lamp_dead, FakeDevice)
        lamp_dead.dead = True
        failed = await http.post("/devices/lamp/override", json={"on": True})
        assert failed.status_code == 502 and "lamp" in failed.text
        assert "lamp" not in room.manual


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SMARTROOM_AGENT_")}
    return subprocess.run(
        [str(BIN), *args], capture_output=True, text=True, timeout=60, env=env, check=False
    )


def test_cli_check_config(tmp_path: Path) -> None:
    ok = run_cli("check-config", str(ROOT / "examples" / "agent" / "room-1201.toml"))
    assert ok.returncode == 0 and "OK" in ok.stdout and "8 devices" in ok.stdout
    assert "credential_file" in ok.stdout  # warns that the key file is not there yet
    bad = tmp_path / "bad.toml"
    bad.write_text(
        '[room]\nproperty_id = "SHA-01"\nroom_id = "1201"\n[energy]\naway_after_min = 45\n'
    )
    result = run_cli("check-config", str(bad))
    assert result.returncode == 2
    assert "energy.away_after_min = 45" in result.stderr and "30 min" in result.stderr


async def test_cli_status_reads_a_running_agent(served: Agent) -> None:
    import asyncio

    result = await asyncio.to_thread(run_cli, "status", "--url", served.api_url)
    assert result.returncode == 0, result.stderr
    assert "room SHA-01/1201" in result.stdout and "hvac" in result.stdout
    raw = await asyncio.to_thread(run_cli, "status", "--url", served.api_url, "--json")
    assert '"room_id": "1201"' in raw.stdout
    down = await asyncio.to_thread(run_cli, "status", "--url", "http://127.0.0.1:9")
    assert down.returncode == 3


async def test_api_port_taken_is_a_clear_error(tmp_path: Path) -> None:
    import socket

    from smartroom.settings import ConfigError

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = parse_room_config(
            {
                "room": {"property_id": "P", "room_id": "1"},
                "store": {"path": str(tmp_path / "a.db")},
                "api": {"port": port},
            },
            source="t",
        )
        agent = Agent(config, devices={})
        with pytest.raises(ConfigError, match=f"cannot listen on 127.0.0.1:{port}"):
            async with agent:
                pass
        assert agent.stopped.is_set()  # everything started so far was stopped again


def test_the_run_process_keeps_optional_heavy_modules_out() -> None:
    # What `smartroom-agent run` imports (resident memory on a Pi, docs/agent.md).
    code = (
        "import sys\n"
        "from agent.cli import _skip_optional; _skip_optional()\n"
        "import agent.app, drivers.registry, agent.comfort\n"
        "loaded = [m for m in ('rich', 'pygments', 'pandas', 'fastapi', 'starlette', 'uvicorn',"
        " 'typer', 'pydantic_settings', 'greenlet') if sys.modules.get(m) is not None]\n"
        "print(','.join(loaded))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert out.stdout.strip() == ""


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    junk=st.binary(max_size=600)
    | st.builds(
        lambda m, p, b: (
            f"{m} {p} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(b)}\r\n\r\n".encode() + b
        ),
        st.sampled_from(["GET", "PUT", "POST", "DELETE", "PATCH", "G\x00T"]),
        st.sampled_from(["/status", "/devices/hvac/override", "/devices//override", "/%ff", "*"]),
        st.binary(max_size=200),
    )
)
async def test_any_bytes_get_an_answer_or_a_close_and_the_server_lives_on(
    served: Agent, junk: bytes
) -> None:
    import asyncio

    host, port = served.config.api.host, served.api_port
    assert port is not None
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(junk)
    writer.write_eof()
    answer = await asyncio.wait_for(reader.read(), 5)
    writer.close()
    if answer:
        assert answer.startswith(b"HTTP/1.1 ")
        assert int(answer[9:12]) in (200, 400, 401, 404, 405, 413, 422, 431, 501, 502)
    async with httpx.AsyncClient(base_url=served.api_url) as http:
        assert (await http.get("/health")).status_code == 200


async def test_the_watchdog_is_fed_by_the_control_loop_not_by_api_traffic(
    tmp_path: Path, mqtt_broker: MosquittoBroker
) -> None:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(tmp_path / "notify"))
    sock.setblocking(False)

    def pings() -> int:
        count = 0
        while True:
            try:
                count += sock.recv(4096).decode().count("WATCHDOG=1")
            except BlockingIOError:
                return count

    config = parse_room_config(
        {
            "room": {"property_id": "SHA-01", "room_id": "1201"},
            "mqtt": {"host": mqtt_broker.host, "port": mqtt_broker.port},
            "devices": {"lamp": {"driver": "coap_light"}},
            "store": {"path": str(tmp_path / "agent.db")},
            "api": {"port": 0},
            "runtime": {"tick_s": 0.05},
        },
        source="test",
    )
    notifier = Notifier(str(tmp_path / "notify"), watchdog_usec=400_000)  # ping every 0.1 s
    try:
        async with Agent(config, devices={"lamp": light("lamp")}, notifier=notifier) as agent:
            seen = [0]

            def counted() -> int:
                seen[0] += pings()
                return seen[0]

            await eventually(lambda: counted() >= 3, what="pings from the running loop")
            # The control loop dies (its task is gone for good); the API still answers and
            # still makes the room step, but nothing may feed the watchdog any more.
            task = agent.supervisor._tasks["controller"].task
            assert task is not None
            task.cancel()
            await asyncio.sleep(0.3)
            pings()
            async with httpx.AsyncClient(base_url=agent.api_url) as http:
                for _ in range(10):
                    assert (await http.put("/housekeeping", json={"dnd": True})).status_code == 200
                    await asyncio.sleep(0.1)
            assert pings() == 0
    finally:
        sock.close()
