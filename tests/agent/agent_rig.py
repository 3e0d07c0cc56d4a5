"""Helpers for driving a whole agent against the rig's simulators (real Modbus RTU on a pty,
real CoAP, real Zigbee2MQTT/speaker over Mosquitto), observed through its public surfaces."""

from __future__ import annotations

import asyncio
import contextlib
import json
import tomllib
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiomqtt
from polling import eventually

from agent.app import Agent
from agent.config import RoomConfig, parse_room_config
from agent.status_mqtt import status_topic
from agent.store import AgentStore
from firmware_mocks.rig import Rig
from firmware_mocks.standard_room import standard_devices
from smartroom.clock import JumpClock
from smartroom.services import MosquittoBroker
from sync.wire import ClimatePrefs, LightingPrefs, MemberPreferences, Stamped, StayAssignment


def room_data(
    tmp_path: Path,
    broker: MosquittoBroker,
    devices: dict[str, dict[str, Any]] | None = None,
    **sections: Any,
) -> dict[str, Any]:
    data: dict[str, Any] = {
        "room": {"property_id": "SHA-01", "room_id": "1201", "timezone": "Asia/Shanghai"},
        "mqtt": {"host": broker.host, "port": broker.port},
        "devices": devices if devices is not None else standard_devices(hvac_poll_s=0.5),
        "store": {"path": str(tmp_path / "agent.db")},
        "api": {"port": 0},
        "runtime": {"tick_s": 0.05, "status_heartbeat_s": 5},
        "occupancy": {"confirm_after_close_s": 30},
    }
    for key, value in sections.items():
        data[key] = {**data.get(key, {}), **value}
    return data


def agent_config(rig: Rig) -> RoomConfig:
    return parse_room_config(tomllib.loads(rig.room_toml()), source="rig room")


class StatusWatcher:
    """Subscribes to the room's retained status topic like the housekeeping board does."""

    def __init__(self, broker: MosquittoBroker, topic: str) -> None:
        self.broker, self.topic = broker, topic
        self.latest: dict[str, Any] | None = None
        self.count = 0
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        while True:
            try:
                async with aiomqtt.Client(self.broker.host, self.broker.port) as client:
                    await client.subscribe(self.topic, qos=1)
                    async for message in client.messages:
                        assert isinstance(message.payload, bytes)
                        try:
                            self.latest = json.loads(message.payload)
                        except ValueError:  # a plain marker (the availability topic)
                            self.latest = {"raw": message.payload.decode()}
                        self.count += 1
            except aiomqtt.MqttError:
                await asyncio.sleep(0.2)

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[StatusWatcher]:
        self._task = asyncio.create_task(self._run())
        try:
            yield self
        finally:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def wait_for(self, check: Callable[[dict[str, Any]], bool], what: str) -> dict[str, Any]:
        await eventually(lambda: self.latest is not None and check(self.latest), what=what)
        assert self.latest is not None
        return self.latest


async def arrive(rig: Rig, *, by: str = "rfid") -> None:
    """A guest (or staff) unlocks, walks in, and closes the door behind them."""
    sims: Any = rig.simulators
    await sims["lock"].unlock(by)
    await sims["entrance"].open()
    await sims["motion"].walk_in()
    await sims["entrance"].close()


__all__ = ["Agent", "JumpClock", "Rig", "StatusWatcher", "arrive", "eventually"]


MEMBER, STAY = "mem_rigrigrigrig", "stay_rigrigrigrig"


def seed_stay(path: Path, clock: JumpClock) -> None:
    """What the sync worker would have cached from central: a checked-in stay + prefs."""
    store = AgentStore(path, clock=clock, property_id="SHA-01", room_id="1201")
    now = clock.now()
    store.replace_stays(
        [
            StayAssignment(
                stay_id=STAY,
                member_id=MEMBER,
                property_id="SHA-01",
                room_id="1201",
                tier="platinum",
                arrival=now - timedelta(minutes=30),
                departure=now + timedelta(days=2),
                status="checked_in",
            )
        ]
    )
    store.put_preferences(
        MemberPreferences(
            member_id=MEMBER,
            climate=ClimatePrefs(setpoint_c=Stamped[float](value=23.5, updated_at=now)),
            lighting=LightingPrefs(level_pct=Stamped[int](value=40, updated_at=now)),
        )
    )
    store.close()


class Env:
    def __init__(self, rig: Rig, agent: Agent, clock: JumpClock, watcher: StatusWatcher) -> None:
        self.rig, self.agent, self.clock, self.watcher = rig, agent, clock, watcher
        self.sims: Any = rig.simulators

    @property
    def room(self) -> Any:
        return self.agent.room

    def scene(self) -> str | None:
        choice = self.room.choice
        return None if choice is None else str(choice.name)

    def kinds(self) -> list[str]:
        return [e.kind.value for e in self.agent.store.pending()]  # type: ignore[union-attr]

    async def guest_in(self, by: str = "rfid") -> None:
        await arrive(self.rig, by=by)
        await eventually(
            lambda: self.room.occ.door_closed_at is not None and not self.room.occ.door_open,
            what="door closed behind the guest",
        )
        self.clock.jump(3)
        await self.move()  # moving about inside, door shut
        await eventually(lambda: self.room.occ.motion_since_close, what="motion inside")

    async def move(self) -> None:
        """A fresh motion report (a real sensor re-triggers after its hold time)."""
        await self.sims["motion"].leave()
        await self.sims["motion"].walk_in()

    async def guest_out(self) -> None:
        await self.sims["motion"].leave()
        await self.sims["entrance"].open()
        await self.sims["entrance"].close()
        await eventually(lambda: not self.room.occ.door_open, what="door closed seen")
        self.clock.jump(31)
        await eventually(lambda: not self.room.occ.occupied, what="room empty")


async def rig_env(
    tmp_path: Path,
    mqtt_broker: MosquittoBroker,
    devices: dict[str, dict[str, Any]] | None = None,
    **sections: Any,
) -> AsyncIterator[Env]:
    """A checked-in member's room on the rig, its agent on a JumpClock, pre-arrival
    (`devices` and `sections` as for `room_data`)."""
    clock = JumpClock()
    # The room's rules read the time of day (expected returns, wake and sleep windows): every
    # run starts at 10:00 in the room's zone, so no test depends on when it runs.
    local = clock.now().astimezone(ZoneInfo("Asia/Shanghai"))
    start = local.replace(hour=10, minute=0, second=0, microsecond=0)
    clock.jump(((start - local) % timedelta(days=1)).total_seconds())
    seed_stay(tmp_path / "agent.db", clock)
    data = room_data(tmp_path, mqtt_broker, devices, **sections)
    async with Rig(data, free_ports=True, speed=60) as rig:
        config = agent_config(rig)
        watcher = StatusWatcher(mqtt_broker, status_topic(config))
        async with watcher.running(), Agent(config, clock=clock) as agent:
            env = Env(rig, agent, clock, watcher)
            await eventually(lambda: env.scene() == "pre_arrival", what="pre-arrival scene")
            yield env
