"""Central's room config acted on by a real `smartroom-agent run` process against the real
central (loyalty on SQLite over a real socket), its thermostat simulated by the rig: a
lower guest maximum moves the thermostat and the app's limits; a config that clashes with
the room file is refused (the previous one stays in force, central shows why); after a
kill -9 with central down the room still runs on the applied version."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from agent_central import PROPERTY, ROOM, Central
from polling import eventually_value

from firmware_mocks.rig import Rig
from firmware_mocks.standard_room import standard_devices
from smartroom.services import MosquittoBroker, free_port

pytestmark = [pytest.mark.mqtt, pytest.mark.timeout(180)]
BIN = Path(sys.executable).parent / "smartroom-agent"
ROOM_PATH = f"/v1/sync/rooms/{PROPERTY}/{ROOM}"


def _get(url: str) -> dict[str, Any]:
    return dict(httpx.get(url, timeout=5).json())


def _override(api: str, setpoint: float) -> int:
    reply = httpx.post(f"{api}/devices/hvac/override", json={"setpoint_c": setpoint}, timeout=10)
    return reply.status_code


async def test_room_config_changes_the_room_is_refused_whole_and_survives_kill_9(
    tmp_path: Path, central: Central, mqtt_broker_fresh: MosquittoBroker
) -> None:
    central.checked_in_member_preferring(26.0)
    key = central.agent_key_file(tmp_path)
    api_port = free_port()
    data: dict[str, Any] = {
        "room": {"property_id": PROPERTY, "room_id": ROOM, "timezone": "Asia/Shanghai"},
        "mqtt": {"host": mqtt_broker_fresh.host, "port": mqtt_broker_fresh.port},
        "devices": standard_devices(only=("hvac",), hvac_poll_s=0.5),
        "store": {"path": str(tmp_path / "agent.db")},
        "api": {"port": api_port},
        "runtime": {"tick_s": 0.1, "status_heartbeat_s": 5, "start_grace_s": 1},
    }
    async with Rig(data, free_ports=True) as rig:
        hvac: Any = rig.simulators["hvac"]
        room_file = tmp_path / "room.toml"
        room_file.write_text(
            rig.room_toml()
            + f'\n[central]\nurl = "{central.url}"\ncredential_file = "{key}"\n'
            + "pull_interval_s = 0.5\npush_interval_s = 0.5\n",
            encoding="utf-8",
        )
        api = f"http://127.0.0.1:{api_port}"
        log = tmp_path / "agent.log"

        def start() -> subprocess.Popen[bytes]:
            with log.open("a") as out:
                return subprocess.Popen(
                    [str(BIN), "run", "--config", str(room_file)], stdout=out, stderr=out
                )

        def room_sync() -> dict[str, Any]:
            return dict(central.call("GET", ROOM_PATH))

        proc = start()
        try:
            await eventually_value(
                lambda: hvac.controls.setpoint_c == 26.0, "the member's 26 °C", 90
            )

            # v1: a lower guest maximum. The running room clamps the member to it, the app's
            # limit follows, and central hears the version applied.
            central.call(
                "PUT",
                f"{ROOM_PATH}/config",
                "admin",
                json={
                    "settings": {"limits": {"setpoint_max_c": 24}, "energy": {"away_setback_c": 3}}
                },
            )
            await eventually_value(lambda: hvac.controls.setpoint_c == 24.0, "clamped to 24 °C")
            await eventually_value(lambda: room_sync()["config_applied"] == 1, "v1 reported")
            assert _override(api, 25.5) == 422
            detail = _get(f"{api}/status/detail")
            assert detail["limits"]["setpoint_max_c"] == 24.0
            assert detail["energy_policy"]["away_setback_c"] == 3.0

            # Refused at central: nothing stored, the version does not move.
            bad = httpx.put(
                central.url + f"{ROOM_PATH}/config",
                headers={"Authorization": f"Bearer {central.keys['admin']}"},
                json={"settings": {"limits": {"setpoint_max_c": "hot"}, "lights": {}}},
                timeout=10,
            )
            assert bad.status_code == 422, bad.text
            assert "limits.setpoint_max_c" in bad.text and "lights" in bad.text
            assert room_sync()["config_version"] == 1

            # v2 is valid alone but clashes with this room's default setpoint (22 °C):
            # refused by the room, v1 stays in force, central shows the refusal and why.
            central.call(
                "PUT",
                f"{ROOM_PATH}/config",
                "admin",
                json={"settings": {"limits": {"setpoint_max_c": 20}}},
            )
            seen = await eventually_value(
                lambda: (s := room_sync())["config_refused"] == 2 and s, "v2 refused"
            )
            assert seen["config_applied"] == 1
            assert "default_setpoint_c" in seen["config_error"], seen
            health = _get(f"{api}/health")["room_config"]
            assert health["central_version"] == 1 and health["refused"]["version"] == 2
            assert _get(f"{api}/status/detail")["limits"]["setpoint_max_c"] == 24.0

            # kill -9, central unreachable: the room starts on v1 from its own store.
            proc.kill()
            proc.wait()
            central.stop()
            proc = start()
            await eventually_value(
                lambda: _get(f"{api}/health")["room_config"]["central_version"] == 1,
                "v1 in force after the restart",
                90,
            )
            assert _get(f"{api}/health")["central"]["online"] is False
            assert _override(api, 25.5) == 422
            assert _get(f"{api}/status/detail")["limits"]["setpoint_max_c"] == 24.0

            # Central back, v3 fits: applied, the refusal cleared, the thermostat follows.
            central.start()
            central.call(
                "PUT",
                f"{ROOM_PATH}/config",
                "admin",
                json={"settings": {"limits": {"setpoint_max_c": 25}}},
            )
            await eventually_value(lambda: room_sync()["config_applied"] == 3, "v3 reported", 60)
            await eventually_value(lambda: hvac.controls.setpoint_c == 25.0, "clamped to 25 °C")
            final = room_sync()
            assert final["config_refused"] is None and final["config_error"] is None
            assert final["config_settings"] == {"limits": {"setpoint_max_c": 25.0}}
        finally:
            if proc.poll() is None:
                proc.terminate()
                await asyncio.to_thread(proc.wait, 20)
