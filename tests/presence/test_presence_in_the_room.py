"""Recognition feeding the room (controller + presence, in process, FakeClock): the member's
phone gives the member's welcome and holds the room; departure takes the BLE timeout plus
door and motion; a stranger in a rented room is not greeted as the member; a staff badge is
a staff entry; a mobile-key unlock is arrival evidence."""

from __future__ import annotations

import asyncio
import base64
import random
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from agent_fakes import FakeDevice, climate, light, sensor

from agent.config import parse_room_config
from agent.preferences import PreferenceResolver
from agent.presence import PresenceHub
from agent.presence.sealing import Sealer
from agent.presence.service import RoomPresence
from agent.room import RoomController
from agent.store import AgentStore
from drivers.base import SensorEvent, SensorEventKind, SensorState
from firmware_mocks.phone import ANDROID_BACKGROUND, Leg, Phone, walk_in
from scenes.loader import load_scenes
from smartroom.clock import FakeClock
from smartroom.credentials import stay_secret
from sync.wire import RoomCredentials, StayAssignment

ROOM_SECRET = bytes(range(32))
STAY = "stay_aaaaaaaaaaaa"
BADGE = bytes(range(100, 132))


class Room:
    def __init__(self, tmp_path: Path, clock: FakeClock) -> None:
        self.clock = clock
        badges = tmp_path / "badges.toml"
        badges.write_text(f'[badges]\nanna = "{base64.b64encode(BADGE).decode()}"\n')
        badges.chmod(0o600)
        self.config = parse_room_config(
            {
                "room": {"property_id": "SHA-01", "room_id": "1201", "timezone": "Asia/Shanghai"},
                "devices": {
                    "hvac": {"driver": "modbus_hvac", "port": "/dev/null"},
                    "ceiling": {"driver": "coap_light"},
                    "door": {"driver": "z2m", "capability": "sensor", "friendly_name": "d"},
                    "motion": {"driver": "z2m", "capability": "sensor", "friendly_name": "m"},
                },
                "roles": {"door": ["door"], "motion": ["motion"]},
                "store": {"path": str(tmp_path / "agent.db")},
                "occupancy": {"confirm_after_close_s": 300},
                "presence": {"staff_badges_file": str(badges), "timeout_s": 120},
            },
            source="test",
        )
        self.store = AgentStore(
            self.config.store.path,
            clock=clock,
            property_id="SHA-01",
            room_id="1201",
            sealer=Sealer.from_file(tmp_path / "device.key"),
        )
        self.devs: dict[str, FakeDevice] = {
            "hvac": climate(),
            "ceiling": light(),
            "door": sensor("door"),
            "motion": sensor("motion"),
        }
        self.room = RoomController(
            self.config,
            store=self.store,
            devices=self.devs,
            scenes=load_scenes(),
            resolver=PreferenceResolver(self.config),
            clock=clock,
        )
        self.hub = PresenceHub()
        self.hub.subscribe(self.room.on_presence)
        self.presence = RoomPresence(
            self.config.presence,
            self.store,
            self.hub,
            clock,
            on_stays_changed=self.room.stays_changed,
        )
        for dev in self.devs.values():
            dev.subscribe(self.room.on_device_update)
            dev.subscribe(self.presence.on_device_update)
        self.room.prime()

    def check_in(self) -> None:
        now = self.clock.now()
        self.store.replace_stays(
            [
                StayAssignment(
                    stay_id=STAY,
                    member_id="mem_aaaaaaaaaaaa",
                    property_id="SHA-01",
                    room_id="1201",
                    tier="gold",
                    arrival=now - timedelta(hours=1),
                    departure=now + timedelta(days=2),
                    status="checked_in",
                )
            ]
        )
        self.presence.wallet.vault.put_room_credentials(
            RoomCredentials(
                signing_key_id="rk_0123456789",
                signing_public_key_b64=base64.b64encode(bytes(32)).decode(),
                room_secret_b64=base64.b64encode(ROOM_SECRET).decode(),
            )
        )
        self.presence.refresh()
        self.room.stays_changed()

    async def settle(self) -> None:
        for _ in range(10):
            self.room.step()
            if not self.room.inflight:
                return
            await asyncio.gather(*list(self.room.inflight.values()))
        raise AssertionError("commands never settled")

    async def advance(self, seconds: float) -> None:
        self.clock.advance(seconds)
        self.presence.ble.tick()
        await self.settle()

    async def phone_walks_in(self, secret: bytes, seconds: float = 4.0) -> None:
        phone = Phone(secret, profile=ANDROID_BACKGROUND, rng=random.Random(4))
        start = self.clock.now()
        elapsed = 0.0
        for t, packet in phone.adverts(walk_in(2.0, 1.0, 60.0), start=start, seconds=seconds):
            self.clock.advance(t - elapsed)
            elapsed = t
            self.presence.ble.on_hci(packet)
        await self.settle()

    def door(self, open_: bool) -> None:
        self.devs["door"].push(state=SensorState(door_open=open_))

    def motion(self, moving: bool = True) -> None:
        self.devs["motion"].push(state=SensorState(occupancy=moving))

    def unlock(self, actor: str) -> None:
        self.devs["door"].push(
            event=SensorEvent(SensorEventKind.DOOR_UNLOCKED, self.clock.now(), actor)
        )

    def status(self) -> dict[str, Any]:
        return self.room.status().model_dump()


@pytest.fixture
def room(tmp_path: Path, clock: FakeClock) -> Room:
    r = Room(tmp_path, clock)
    r.check_in()
    return r


async def test_recognised_phone_gets_the_member_welcome_and_holds_the_room(room: Room) -> None:
    await room.phone_walks_in(stay_secret(ROOM_SECRET, STAY))
    status = room.status()
    assert status["member_present"] and status["occupied"] and status["scene"] == "welcome"
    # Asleep: door closed, no motion for an hour; the phone in range holds the room.
    room.door(True)
    room.door(False)
    room.motion(False)
    phone = Phone(stay_secret(ROOM_SECRET, STAY), profile=ANDROID_BACKGROUND, rng=random.Random(9))
    for _ in range(60):  # one advert a minute gets through (the phone lies still on the desk)
        _, packet = next(phone.adverts([Leg(5.0, 2.0, 2.0)], start=room.clock.now()))
        room.presence.ble.on_hci(packet)
        await room.advance(60)
    assert room.status()["occupied"] and room.status()["member_present"]


async def test_departure_takes_the_ble_timeout_then_door_and_motion(room: Room) -> None:
    await room.phone_walks_in(stay_secret(ROOM_SECRET, STAY))
    room.door(True)  # leaves, phone in pocket: adverts stop reaching the room
    await room.advance(2)
    room.door(False)
    room.motion(False)
    await room.advance(100)
    assert room.status()["member_present"] and room.status()["occupied"]  # within the timeout
    await room.advance(30)
    assert not room.status()["member_present"]  # BLE timed out...
    assert room.status()["occupied"]  # ...but the door/motion window has not run out
    await room.advance(200)
    status = room.status()
    assert not status["occupied"] and not status["member_present"]


async def test_stranger_in_a_rented_room_is_not_greeted_as_the_member(room: Room) -> None:
    room.door(True)  # no unlock, no recognised phone or key: the door was left ajar
    room.motion()
    await room.settle()
    status = room.status()
    assert status["occupied"] and not status["member_present"]
    assert status["scene"] != "welcome" and room.room.memory.entry == "staff"
    arrivals = [e for e in room.store.pending() if e.kind.value == "arrival"]
    assert arrivals == []
    # Someone else's phone (another room's stay) changes nothing.
    await room.phone_walks_in(stay_secret(bytes(range(1, 33)), STAY))
    assert room.status()["scene"] != "welcome"
    # The member's own phone: now it is the member, and the welcome is theirs.
    await room.phone_walks_in(stay_secret(ROOM_SECRET, STAY))
    assert room.status()["member_present"] and room.status()["scene"] == "welcome"


async def test_staff_badge_is_a_staff_entry_not_the_guest_welcome(room: Room) -> None:
    await room.phone_walks_in(BADGE)
    room.door(True)
    room.motion()
    await room.settle()
    status = room.status()
    assert status["occupied"] and not status["member_present"]
    assert status["scene"] == "welcome_staff"


async def test_mobile_key_unlock_is_arrival_evidence(room: Room) -> None:
    room.unlock("app")
    await room.settle()
    assert room.status()["member_present"] and room.status()["scene"] == "welcome"
    # One-off evidence does not hold the room: door and motion decide the departure.
    room.door(True)
    await room.advance(2)
    room.door(False)
    room.motion(False)
    await room.advance(301)
    assert not room.status()["occupied"] and not room.status()["member_present"]
