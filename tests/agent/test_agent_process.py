"""The agent as systemd runs it: a real `smartroom-agent run` process with NOTIFY_SOCKET and
WATCHDOG_USEC, its devices simulated by the rig, its status watched on MQTT. A broker outage
crashes the status task, which is restarted with backoff while the agent stays up; SIGTERM
shuts it down in order."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import stat
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import httpx
import pytest
from agent_rig import Rig, StatusWatcher, arrive, eventually, room_data, seed_stay

from agent.config import parse_room_config
from agent.status_mqtt import availability_topic, status_topic
from firmware_mocks.standard_room import standard_devices
from smartroom.clock import SystemClock
from smartroom.services import MosquittoBroker, free_port

pytestmark = [pytest.mark.mqtt, pytest.mark.timeout(90)]
BIN = Path(sys.executable).parent / "smartroom-agent"

DEVICES = standard_devices(only=("bedside", "motion"))


class NotifySocket:
    """What systemd listens on: a unix datagram socket collecting sd_notify messages."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.setblocking(False)
        self.messages: list[str] = []

    def drain(self) -> list[str]:
        while True:
            try:
                self.messages.append(self.sock.recv(4096).decode())
            except BlockingIOError:
                return self.messages

    def seen(self, prefix: str) -> bool:
        return any(line.startswith(prefix) for m in self.drain() for line in m.splitlines())

    def close(self) -> None:
        self.sock.close()


def metric(text: str, name: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name):
            total += float(line.rsplit(" ", 1)[1])
    return total


async def test_notify_watchdog_crash_restart_and_sigterm(
    tmp_path: Path, mqtt_broker_fresh: MosquittoBroker
) -> None:
    broker = mqtt_broker_fresh
    data = room_data(
        tmp_path,
        broker,
        DEVICES,
        api={"port": free_port()},
        runtime={"tick_s": 0.1, "status_heartbeat_s": 1},
    )
    notify = NotifySocket(tmp_path / "notify.sock")
    async with Rig(data, free_ports=True) as rig:
        room_file = tmp_path / "room.toml"
        room_file.write_text(rig.room_toml(), encoding="utf-8")
        config = parse_room_config(tomllib.loads(room_file.read_text()), source="room")
        api = f"http://127.0.0.1:{config.api.port}"
        env = {
            **os.environ,
            "NOTIFY_SOCKET": str(notify.path),
            "WATCHDOG_USEC": "1000000",
        }
        log = (tmp_path / "agent.log").open("w")
        proc = subprocess.Popen(
            [str(BIN), "run", "--config", str(room_file)], env=env, stdout=log, stderr=log
        )
        watcher = StatusWatcher(broker, status_topic(config))
        availability = StatusWatcher(broker, availability_topic(config))

        async def drain() -> None:  # as systemd does: read every notification at once
            while True:
                notify.drain()
                await asyncio.sleep(0.05)

        drainer = asyncio.create_task(drain())
        try:
            async with watcher.running(), availability.running():
                await eventually(lambda: notify.seen("READY=1"), timeout=20, what="READY=1")
                await eventually(lambda: notify.seen("WATCHDOG=1"), what="watchdog pings")
                await watcher.wait_for(lambda s: s["online"], "online status on MQTT")
                async with httpx.AsyncClient(base_url=api) as http:
                    assert (await http.get("/health")).json()["ok"]

                    # The broker goes away: the room's one session (drivers' and status')
                    # reconnects with backoff; the agent stays up and keeps answering.
                    first = watcher.latest
                    assert first is not None
                    broker.stop()
                    await asyncio.sleep(1.0)
                    health = (await http.get("/health")).json()
                    assert health["ok"] and health["tasks"]["status"]["running"]
                    assert proc.poll() is None

                    broker.start()
                    await asyncio.sleep(0.2)
                    watcher.latest = None
                    # A fresh status on reconnect, stamped with its own time.
                    await eventually(
                        lambda: (
                            watcher.latest is not None
                            and watcher.latest["online"]
                            and watcher.latest["at"] > first["at"]
                        ),
                        timeout=40,
                        what="fresh status on MQTT after the broker returns",
                    )
                    await availability.wait_for(
                        lambda s: s.get("raw") == "online", "availability online again"
                    )

                proc.send_signal(signal.SIGTERM)
                code = await asyncio.to_thread(proc.wait, 20)
                assert code == 0
                await watcher.wait_for(lambda s: not s["online"], "offline status on SIGTERM")
                await availability.wait_for(
                    lambda s: s.get("raw") == "offline", "availability offline on SIGTERM"
                )
            assert notify.seen("STOPPING=1")
        finally:
            drainer.cancel()
            if proc.poll() is None:
                proc.send_signal(signal.SIGUSR1)  # stacks into the log, for the failure report
                await asyncio.sleep(0.5)
                proc.kill()
                proc.wait()
            log.close()
            notify.close()
    text = (tmp_path / "agent.log").read_text()
    steps = [
        step
        for step in ("step=api", "step=tasks", "step=commands", "step=devices", "step=store")
        if step in text or step.replace("step=", '"step": "') + '"' in text
    ]
    order = [text.find(f'"step": "{s.split("=")[1]}"') for s in steps]
    assert len(steps) == 5 and order == sorted(order), text[-3000:]


async def test_kill_9_mid_stay_keeps_every_timer_and_the_welcome_plays_once(
    tmp_path: Path, mqtt_broker_fresh: MosquittoBroker
) -> None:
    broker = mqtt_broker_fresh
    data = room_data(
        tmp_path,
        broker,
        standard_devices(only=("bedside", "motion", "entrance", "lock")),
        api={"port": free_port()},
        occupancy={"confirm_after_close_s": 5},
    )
    seed_stay(tmp_path / "agent.db", SystemClock())
    async with Rig(data, free_ports=True) as rig:
        sims: Any = rig.simulators
        room_file = tmp_path / "room.toml"
        room_file.write_text(rig.room_toml(), encoding="utf-8")
        api = f"http://127.0.0.1:{data['api']['port']}"

        def start() -> subprocess.Popen[bytes]:
            # umask 0: the store must still be private (it holds per-stay secrets).
            return subprocess.Popen(
                [str(BIN), "run", "--config", str(room_file)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                preexec_fn=lambda: os.umask(0),
            )

        async def status(http: httpx.AsyncClient) -> dict[str, Any]:
            try:
                reply = await http.get("/status")
            except httpx.TransportError:
                return {}
            return dict(reply.json()) if reply.status_code == 200 else {}

        proc = start()
        try:
            async with httpx.AsyncClient(base_url=api, timeout=5) as http:
                latest: dict[str, Any] = {}

                async def poll(check: Any, what: str) -> None:
                    for _ in range(400):
                        latest.update(await status(http))
                        if latest and check(latest):
                            return
                        await asyncio.sleep(0.1)
                    raise AssertionError(f"never saw {what}: {latest}")

                await poll(lambda s: s["scene"] == "pre_arrival", "pre-arrival")
                await arrive(rig)
                await sims["motion"].leave()
                await sims["motion"].walk_in()
                await poll(lambda s: s["occupied"] and s["scene"] == "welcome", "the welcome")
                # The guest leaves; the agent dies before the vacancy is confirmed.
                await sims["motion"].leave()
                await sims["entrance"].open()
                await sims["entrance"].close()
                await asyncio.sleep(0.5)
                proc.kill()
                proc.wait()
                proc = start()
                latest.clear()
                await poll(lambda s: not s["occupied"], "the room empty after the restart")
                events = (await http.get("/events", params={"since": 0, "limit": 500})).json()
                page = (await http.get("/events", params={"since": 0, "limit": 1})).json()
                bad = await http.get("/events", params={"since": "-1"})
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                await asyncio.to_thread(proc.wait, 20)
    kinds = [e["kind"] for e in events["events"]]
    arrivals = [e["payload"]["entry"] for e in events["events"] if e["kind"] == "arrival"]
    welcomes = [
        e
        for e in events["events"]
        if e["kind"] == "scene_applied" and e["payload"]["scene"] == "welcome"
    ]
    assert arrivals == ["first"] and len(welcomes) == 1, [
        (e["kind"], e["payload"]) for e in events["events"]
    ]
    assert "departure" in kinds
    assert {e["sync"] for e in events["events"]} <= {"local", "pending", "sent"}
    assert len(page["events"]) == 1 and page["next"] == page["events"][0]["id"]
    assert bad.status_code == 422 and "since" in bad.json()["detail"]
    for name in ("agent.db", "agent.db-wal"):
        path = tmp_path / name
        if path.exists():
            assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0, name
