"""Every stay lifecycle event on the download stream, end to end: two real
`smartroom-agent run` processes (rooms 1201 and 1202) against the real central (uvicorn on
SQLite). Booked, checked in (to another room than booked), room changed (the old room drops
the stay, its profile and refuses the member's old room key; the new room takes the stay
with the profile and the new key), late check-out granted (a tier upgrade mid-stay),
checked out, cancelled. Each room only ever holds its own stays."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from polling import eventually_value
from presence_stack import PROPERTY, Central

from smartroom.services import MosquittoBroker, free_port
from smartroom_cli.phone import AppError, MemberApp

pytestmark = [pytest.mark.mqtt, pytest.mark.timeout(240)]
BIN = Path(sys.executable).parent / "smartroom-agent"


class RoomAgent:
    def __init__(self, tmp: Path, central: Central, broker: MosquittoBroker, room: str) -> None:
        tmp.mkdir()
        key = tmp / "agent.key"
        key.write_text(central.key("agent", property_id=PROPERTY, room_id=room))
        os.chmod(key, 0o600)
        self.port = free_port()
        self.api = f"http://127.0.0.1:{self.port}"
        self.file = tmp / "room.toml"
        self.file.write_text(
            f'[room]\nproperty_id = "{PROPERTY}"\nroom_id = "{room}"\n'
            f'[mqtt]\nhost = "{broker.host}"\nport = {broker.port}\n'
            f'[central]\nurl = "{central.url}"\ncredential_file = "{key}"\n'
            "pull_interval_s = 0.5\npush_interval_s = 0.5\n"
            f'[store]\npath = "{tmp / "agent.db"}"\n[api]\nport = {self.port}\n'
            "[runtime]\ntick_s = 0.1\nstart_grace_s = 0\n",
            encoding="utf-8",
        )
        self.log = tmp / "agent.log"
        with self.log.open("a") as out:
            self.proc = subprocess.Popen(
                [str(BIN), "run", "--config", str(self.file)], stdout=out, stderr=out
            )

    def detail(self) -> dict[str, Any]:
        return dict(httpx.get(f"{self.api}/status/detail", timeout=5).json())

    def stays(self) -> dict[str, dict[str, Any]]:
        return {s["stay_id"]: s for s in self.detail()["stays"]}

    def holds(self, stay: str, status: str, member: str | None = None) -> bool:
        found = self.stays().get(stay)
        profiles = self.detail()["profiles"]
        return found is not None and found["status"] == status and member in (None, *profiles)

    def lacks(self, stay: str, member: str | None = None) -> bool:
        return stay not in self.stays() and (
            member is None or member not in self.detail()["profiles"]
        )

    async def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            await asyncio.to_thread(self.proc.wait, 20)


def _refused(app: Any, api: str) -> str:
    try:
        MemberApp.present(app, api)
    except AppError as exc:
        return str(exc)
    return ""


async def test_each_stay_lifecycle_event_reaches_the_right_rooms(
    tmp_path: Path, central: Central, mqtt_broker_fresh: MosquittoBroker
) -> None:
    a = RoomAgent(tmp_path / "1201", central, mqtt_broker_fresh, "1201")
    b = RoomAgent(tmp_path / "1202", central, mqtt_broker_fresh, "1202")
    try:
        for room in (a, b):
            await eventually_value(room.detail, f"{room.api} up", 90)
        member = str(central.call("POST", "/v1/members", json={"name": "Li Wei"})["id"])
        now = central.clock.now()

        def book(room: str, days: int = 2) -> str:
            body = {
                "member_id": member,
                "property_id": PROPERTY,
                "room_id": room,
                "arrival": (now - timedelta(hours=1)).isoformat(),
                "departure": (now + timedelta(days=days)).isoformat(),
                "nightly_rate": "800.00",
            }
            return str(central.call("POST", "/v1/stays", json=body)["id"])

        # booked: the booked room hears of it; the other room never does.
        stay = book("1202")
        await eventually_value(lambda: b.holds(stay, "booked"), "booked in 1202")
        assert a.lacks(stay)

        # checked_in, to 1201 instead: 1202 drops it, 1201 takes it with the profile.
        central.call("POST", f"/v1/stays/{stay}/check-in", json={"room_id": "1201"})
        await eventually_value(lambda: a.holds(stay, "checked_in", member), "checked in at 1201")
        await eventually_value(lambda: b.lacks(stay), "gone from the booked 1202")
        app = MemberApp(central.desk_url, central.key("member", member_id=member), member)
        old = app.credential(stay)
        assert old.room_key.room_id == "1201"
        assert MemberApp.present(old, a.api) == {"accepted": True, "provisional": False}

        # room_changed back to 1202: 1201 drops the stay, the profile and the old key (it
        # would otherwise take the stay in from the key, as it does offline); 1202 takes it.
        moved = central.call("POST", f"/v1/stays/{stay}/room-change", json={"room_id": "1202"})
        assert moved["room_id"] == "1202" and moved["status"] == "checked_in"
        await eventually_value(lambda: b.holds(stay, "checked_in", member), "moved into 1202")
        await eventually_value(lambda: a.lacks(stay, member), "1201 forgot the stay and profile")
        await eventually_value(lambda: "revoked" in _refused(old, a.api), "old key refused at 1201")
        new = app.credential(stay)
        assert new.room_key.room_id == "1202" and new.stay_secret_b64 != old.stay_secret_b64
        assert MemberApp.present(new, b.api) == {"accepted": True, "provisional": False}
        assert "room" in _refused(new, a.api)  # a key for 1202 is not a key for 1201

        # late_checkout: a big stay elsewhere makes the member platinum mid-stay; the
        # room hears the late check-out granted.
        assert "late_checkout" not in b.stays()[stay]["benefits"]
        other = book("0101")
        central.call("POST", f"/v1/stays/{other}/check-in", json={"room_id": "0101"})
        folio = {"folio": [{"category": "room", "amount": "100000.00"}]}
        central.call("POST", f"/v1/stays/{other}/check-out", json=folio)
        await eventually_value(
            lambda: "late_checkout" in b.stays()[stay]["benefits"], "late check-out granted"
        )
        assert a.lacks(stay)

        # checked_out: 1202 drops the stay and the profile.
        folio = {"folio": [{"category": "room", "amount": "1600.00"}]}
        central.call("POST", f"/v1/stays/{stay}/check-out", json=folio)
        await eventually_value(lambda: b.lacks(stay, member), "checked out of 1202")

        # cancelled: a booking for 1201 appears there, then leaves.
        later = book("1201")
        await eventually_value(lambda: a.holds(later, "booked"), "booked in 1201")
        central.call("POST", f"/v1/stays/{later}/cancel")
        await eventually_value(lambda: a.lacks(later), "cancelled from 1201")
        assert b.lacks(later)
    finally:
        await a.stop()
        await b.stop()
