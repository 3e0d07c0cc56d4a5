"""A platinum member's late check-out, end to end with real processes: central (uvicorn on
SQLite) promises it, sync carries it to a real `smartroom-agent run` process, the link to
central is cut, the booked departure passes and the room keeps the guest's room and records
the delivery in its outbox; when the link returns central records the fulfilment once, with
its cost, and a `kill -9` of the agent and a restart do not record it twice."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from polling import eventually_value
from presence_stack import PROPERTY, ROOM, Central

from agent.config import parse_room_config
from firmware_mocks.rig import Rig
from firmware_mocks.standard_room import standard_devices
from smartroom.services import MosquittoBroker, free_port

pytestmark = [pytest.mark.mqtt, pytest.mark.timeout(180)]
BIN = Path(sys.executable).parent / "smartroom-agent"
DEPARTURE_MARGIN_S = 15  # from booking the stay to its departure: the room learns of it first


def zone_where_it_is_early_afternoon(now: datetime) -> str:
    """An IANA zone in which `now` is between 14:00 and 15:00 local, so that a departure
    a minute from now falls before the 16:00 late check-out whatever the machine's hour."""
    offset = (14 - now.astimezone(UTC).hour) % 24
    if offset > 14:
        offset -= 24
    return "Etc/GMT" if offset == 0 else f"Etc/GMT{-offset:+d}"  # Etc/GMT signs are inverted


@pytest.fixture
def central(tmp_path: Path) -> Iterator[Central]:
    service = Central(tmp_path)
    service.start()
    try:
        yield service
    finally:
        service.close()


def platinum_stay(central: Central, departs: datetime) -> tuple[str, str]:
    member = str(central.call("POST", "/v1/members", json={"name": "Li Wei"})["id"])
    now = central.clock.now()
    earlier = central.call(
        "POST",
        "/v1/stays",
        json={
            "member_id": member,
            "property_id": PROPERTY,
            "arrival": (now - timedelta(days=3)).isoformat(),
            "departure": (now - timedelta(days=2)).isoformat(),
            "nightly_rate": "800.00",
        },
    )["id"]
    central.call("POST", f"/v1/stays/{earlier}/check-in", json={"room_id": "0101"})
    folio = {"folio": [{"category": "room", "amount": "100000.00"}]}
    central.call("POST", f"/v1/stays/{earlier}/check-out", json=folio)
    stay = central.call(
        "POST",
        "/v1/stays",
        json={
            "member_id": member,
            "property_id": PROPERTY,
            "arrival": (now - timedelta(hours=20)).isoformat(),
            "departure": departs.isoformat(),
            "nightly_rate": "800.00",
        },
    )["id"]
    central.call("POST", f"/v1/stays/{stay}/check-in", json={"room_id": ROOM})
    return member, str(stay)


def late_checkouts(central: Central, member: str) -> list[dict[str, Any]]:
    record = central.call("GET", f"/v1/members/{member}/benefits")
    return [f for f in record["fulfilments"] if f["code"] == "late_checkout"]


def benefit_events(api: str) -> list[dict[str, Any]]:
    events = httpx.get(f"{api}/events?since=0&limit=500", timeout=5).json()["events"]
    return [e for e in events if e["kind"] == "benefit"]


async def test_late_checkout_honoured_offline_and_recorded_once(
    tmp_path: Path, central: Central, mqtt_broker_fresh: MosquittoBroker
) -> None:
    zone = zone_where_it_is_early_afternoon(central.clock.now())
    api_port = free_port()
    data: dict[str, Any] = {
        "room": {"property_id": PROPERTY, "room_id": ROOM, "timezone": zone},
        "mqtt": {"host": mqtt_broker_fresh.host, "port": mqtt_broker_fresh.port},
        "devices": standard_devices(only=("bedside", "motion", "entrance", "lock")),
        "store": {"path": str(tmp_path / "agent.db")},
        "api": {"port": api_port},
        "runtime": {"tick_s": 0.1, "status_heartbeat_s": 5, "start_grace_s": 1},
    }
    async with Rig(data, free_ports=True) as rig:
        credential = tmp_path / "agent.key"
        credential.write_text(central.keys["agent"])
        os.chmod(credential, 0o600)
        room_file = tmp_path / "room.toml"
        room_file.write_text(
            rig.room_toml()
            + f'\n[central]\nurl = "{central.url}"\ncredential_file = "{credential}"\n'
            "pull_interval_s = 0.5\npush_interval_s = 0.5\ntimeout_s = 10\n",
            encoding="utf-8",
        )
        parsed = tomllib.loads(room_file.read_text())
        parsed["api"] = {"port": api_port}
        parse_room_config(parsed, source="room")
        log = (tmp_path / "agent.log").open("a")

        def start() -> subprocess.Popen[bytes]:
            return subprocess.Popen(
                [str(BIN), "run", "--config", str(room_file)], stdout=log, stderr=log
            )

        api = f"http://127.0.0.1:{api_port}"
        proc = start()
        try:
            # The stay is booked once the room is up, so its departure only needs the margin
            # for the room to learn of it (pull every 0.5 s), not for a process start too.
            await eventually_value(
                lambda: httpx.get(f"{api}/health", timeout=2).json().get("central", {}),
                "the agent up",
                timeout=90,
            )
            departs = central.clock.now() + timedelta(seconds=DEPARTURE_MARGIN_S)
            member, stay = platinum_stay(central, departs)
            entitlements = central.call("GET", f"/v1/stays/{stay}/entitlements")
            promised = {e["code"]: e for e in entitlements}
            assert promised["late_checkout"]["status"] == "promised"
            await eventually_value(
                lambda: httpx.get(f"{api}/status", timeout=2).json().get("rented"),
                "the room knows the stay",
                timeout=90,
            )
            central.stop()  # the room's link to head office is cut
            assert central.clock.now() < departs, (
                f"the room took over {DEPARTURE_MARGIN_S} s to learn of the stay: the"
                " late check-out could be due while central was still reachable"
            )
            await eventually_value(
                lambda: benefit_events(api), "the late check-out delivered", timeout=90
            )
            (delivered,) = benefit_events(api)
            assert delivered["payload"]["entitlement_id"] == promised["late_checkout"]["id"]
            assert delivered["sync"] == "pending"
            status = httpx.get(f"{api}/status", timeout=2).json()
            assert status["rented"] and status["scene"] not in ("checkout", "vacant")
            assert late_checkouts(central, member) == []

            central.start()  # the link is back: the outbox drains
            found = await eventually_value(lambda: late_checkouts(central, member), "recorded")
            assert len(found) == 1 and found[0]["by_role"] == "agent"
            assert found[0]["cost"] in ("60", "60.00")

            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=10)
            proc = start()
            await eventually_value(
                lambda: httpx.get(f"{api}/health", timeout=2).json().get("central", {}),
                "the agent back",
            )
            await asyncio.sleep(3)
            assert len(late_checkouts(central, member)) == 1
            assert len(benefit_events(api)) == 1
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
            log.close()
