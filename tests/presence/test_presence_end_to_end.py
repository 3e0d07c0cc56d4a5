"""Both recognition paths against a real central and a real `smartroom-agent run` process,
its devices simulated by the rig: the member's phone walks in over BLE (adverts through
the agent's BLE proxy port, parsed and resolved inside the agent), the app presents its
signed room key, and a key for a stay the room never heard of works while central is
unreachable, then stops working once the room learns the stay was cancelled."""

from __future__ import annotations

import asyncio
import base64
import os
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import httpx
import pytest
from polling import eventually_value
from presence_stack import Central, get
from typer.testing import CliRunner

from agent.config import parse_room_config
from firmware_mocks.phone import ANDROID_FOREGROUND, IOS_BACKGROUND, passing_by, walk_in
from firmware_mocks.rig import Rig
from firmware_mocks.standard_room import standard_devices
from smartroom.credentials import rotating_id, window_of
from smartroom.services import MosquittoBroker, free_port
from smartroom_cli.cli import app as cli
from smartroom_cli.phone import AppError, MemberApp
from sync.wire import MemberCredential

pytestmark = [pytest.mark.mqtt, pytest.mark.timeout(150)]
BIN = Path(sys.executable).parent / "smartroom-agent"


def room_toml(rig_toml: str, tmp_path: Path, central: Central, ble_port: int, api: int) -> Path:
    credential = tmp_path / "agent.key"
    credential.write_text(central.keys["agent"])
    os.chmod(credential, 0o600)
    extra = f"""
[central]
url = "{central.url}"
credential_file = "{credential}"
pull_interval_s = 0.5
push_interval_s = 0.5
timeout_s = 5

[presence]
ble_proxy_port = {ble_port}
timeout_s = 20
"""
    path = tmp_path / "room.toml"
    path.write_text(rig_toml + extra, encoding="utf-8")
    data = tomllib.loads(path.read_text())
    data["api"] = {"port": api}
    parse_room_config(data, source="room")  # valid before we start a process on it
    return path


def credential_inproc(central: Central, member: str, key: str) -> MemberCredential:
    [found] = central.call("GET", f"/v1/members/{member}/room-keys", key=key)
    return MemberCredential.model_validate(found)


async def test_ble_and_room_key_feed_the_room_and_offline_keys_reconcile(
    tmp_path: Path, central: Central, mqtt_broker_fresh: MosquittoBroker
) -> None:
    broker = mqtt_broker_fresh
    member, stay, member_key = central.checked_in_member_with_key()
    ble_port, api_port = free_port(), free_port()
    data: dict[str, Any] = {
        "room": {"property_id": "SHA-01", "room_id": "1201", "timezone": "Asia/Shanghai"},
        "mqtt": {"host": broker.host, "port": broker.port},
        "devices": standard_devices(only=("bedside", "motion", "entrance", "lock")),
        "store": {"path": str(tmp_path / "agent.db")},
        "api": {"port": api_port},
        "runtime": {"tick_s": 0.1, "status_heartbeat_s": 5, "start_grace_s": 1},
    }
    async with Rig(data, free_ports=True) as rig:
        room_file = room_toml(rig.room_toml(), tmp_path, central, ble_port, api_port)
        log_path = tmp_path / "agent.log"

        def start_agent() -> subprocess.Popen[bytes]:
            with log_path.open("a") as log:
                return subprocess.Popen(
                    [str(BIN), "run", "--config", str(room_file)], stdout=log, stderr=log
                )

        proc = start_agent()
        api = f"http://127.0.0.1:{api_port}"
        try:
            await eventually_value(
                lambda: (_health(api).get("central") or {}).get("pulls", 0) >= 1,
                "first sync",
                timeout=90,  # a process start on a loaded 2-core machine
            )
            app = MemberApp(central.url, member_key, member)
            credential = app.credential()
            assert credential.room_key.stay_id == stay and credential.room_key.room_id == "1201"

            # A neighbour passing the door, and an iPhone in the background: no recognition.
            other = MemberApp.phone(credential, IOS_BACKGROUND, seed=1)
            assert other.advertising_data(central.clock.now()).find(b"\xaa\xfe") == -1
            await app.walk_in(
                credential,
                "127.0.0.1",
                ble_port,
                profile=IOS_BACKGROUND,
                walk=passing_by(2.0),
                seed=2,
            )
            assert get(f"{api}/status")["member_present"] is False

            # BLE path: the phone walks in; the agent resolves it to the stay.
            walk = walk_in(corridor_s=1.0, door_s=0.5, inside_s=2.0)
            await app.walk_in(
                credential, "127.0.0.1", ble_port, profile=ANDROID_FOREGROUND, walk=walk, seed=3
            )
            status = await eventually_value(
                lambda: (s := get(f"{api}/status"))["member_present"] and s, "BLE recognition"
            )
            assert status["occupied"] and status["scene"] == "welcome"

            # App path: challenge + key + proof at the door.
            assert app.present(credential, api) == {"accepted": True, "provisional": False}

            # Central becomes unreachable. Meanwhile a second stay is checked in to this
            # room; the room has never heard of it, but its key carries the assignment.
            central.stop()
            await eventually_value(
                lambda: _health(api)["central"]["online"] is False, "the room noticing"
            )
            member2, stay2, key2 = central.checked_in_member_with_key()
            offline = credential_inproc(central, member2, key2)
            assert MemberApp.present(offline, api) == {"accepted": True, "provisional": True}
            # ...then the stay is cancelled at the front desk while the room is still offline.
            central.call("POST", f"/v1/stays/{stay2}/cancel")
            assert MemberApp.present(offline, api)["accepted"]  # the room cannot know yet

            # Power cut (kill -9) while offline: the stay it took in, the pinned key and the
            # sealed room secret survive; the key still works, now for a stay it knows.
            proc.kill()
            await asyncio.to_thread(proc.wait, 20)
            proc = start_agent()
            await eventually_value(lambda: _health(api).get("ok"), "back after kill -9", timeout=90)
            assert MemberApp.present(offline, api) == {"accepted": True, "provisional": False}

            central.start()
            await eventually_value(lambda: _health(api)["central"]["online"], "sync back")
            await eventually_value(lambda: _refused(offline, api), "the cancelled key refused")
            with pytest.raises(AppError, match="revoked"):
                MemberApp.present(offline, api)

            # The person's way in: `smartroom phone` plays the member's app end to end.
            runner = CliRunner()
            played = await asyncio.to_thread(
                runner.invoke,
                cli,
                [
                    "phone",
                    "--member",
                    member,
                    "--central",
                    central.url,
                    "--room",
                    api,
                    "--ble-proxy",
                    f"127.0.0.1:{ble_port}",
                ],
                env={"SMARTROOM_MEMBER_KEY": member_key},
            )
            assert played.exit_code == 0, played.output
            assert "room key accepted (provisional stay: False)" in played.output
            assert "member_present=True" in played.output

            # Flood: the room keeps answering, the flooder gets 429s.
            async with httpx.AsyncClient(base_url=api, timeout=10) as http:
                codes = await asyncio.gather(*(http.post("/presence/challenge") for _ in range(60)))
                assert {r.status_code for r in codes} >= {200, 429}
                assert (await http.get("/health")).status_code == 200
            metrics = httpx.get(f"{api}/metrics").text
            assert 'smartroom_room_key_presentations_total{outcome="revoked"}' in metrics
            assert 'smartroom_ble_adverts_total{outcome="arrived"}' in metrics
        finally:
            proc.terminate()
            await asyncio.to_thread(proc.wait, 20)
    text = log_path.read_text()
    secret = base64.b64decode(credential.stay_secret_b64)
    window = window_of(central.clock.now())
    eids = [rotating_id(secret, w) for w in range(window - 3, window + 2)]
    for forbidden in (
        credential.stay_secret_b64,
        secret.hex(),
        offline.stay_secret_b64,
        *(e.hex() for e in eids),
        *(base64.b64encode(e).decode() for e in eids),
    ):
        assert forbidden not in text
    assert "room_key_refused" in text and "revoked" in text
    assert "stay_taken_in_from_room_key" in text


def _health(api: str) -> dict[str, Any]:
    try:
        return dict(httpx.get(f"{api}/health", timeout=2).json())
    except httpx.HTTPError:
        return {}


def _refused(credential: MemberCredential, api: str) -> bool:
    try:
        MemberApp.present(credential, api)
    except AppError as exc:
        return "revoked" in str(exc)
    return False
