"""The real central service for agent tests: the loyalty app on SQLite, served by uvicorn on
a real socket, with keys for each role and helpers to make a checked-in member."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx

from agent.config import RoomConfig, parse_room_config
from loyalty.app import create_app
from loyalty.auth import create_key
from loyalty.settings import LoyaltySettings
from smartroom.clock import SystemClock
from smartroom.services import AppServer, free_port

PROPERTY, ROOM = "SHA-01", "1201"
HVAC = {"hvac": {"driver": "modbus_hvac", "port": "/dev/null"}}  # a FakeDevice stands in


class Central:
    """The loyalty app on SQLite; `start()`/`stop()` keep the port (an outage and back)."""

    def __init__(self, tmp_path: Path) -> None:
        self.clock = SystemClock()
        self.app = create_app(
            LoyaltySettings(database_url=f"sqlite:///{tmp_path / 'loyalty.db'}", key_cache_s=0),
            clock=self.clock,
            migrate=True,
        )
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.keys = {role: self.key(role) for role in ("admin", "staff")}
        self.keys["agent"] = self.key("agent", property_id=PROPERTY, room_id=ROOM)
        self._server: AppServer | None = None
        self._n = 0

    def key(self, role: str, **scope: Any) -> str:
        with self.app.state.ctx.engine.begin() as conn:
            _id, plaintext = create_key(conn, role=role, now=self.clock.now(), **scope)  # type: ignore[arg-type]
        return plaintext

    def start(self) -> None:
        self._server = AppServer(self.app, port=self.port, start_timeout=10).start()

    def stop(self) -> None:
        assert self._server is not None
        self._server.stop()

    def call(self, method: str, path: str, role: str = "staff", **kwargs: Any) -> Any:
        self._n += 1
        headers = {
            "Authorization": f"Bearer {self.keys[role]}",
            "Idempotency-Key": f"agent-test-{self._n}-{id(self)}",
        }
        response = httpx.request(method, self.url + path, headers=headers, timeout=10, **kwargs)
        assert response.status_code < 300, (response.status_code, response.text)
        return response.json()

    def checked_in_member(self) -> tuple[str, str]:
        member = str(self.call("POST", "/v1/members", json={})["id"])
        now = self.clock.now()
        stay = str(
            self.call(
                "POST",
                "/v1/stays",
                json={
                    "member_id": member,
                    "property_id": PROPERTY,
                    "arrival": now.isoformat(),
                    "departure": (now + timedelta(days=2)).isoformat(),
                    "nightly_rate": "800.00",
                },
            )["id"]
        )
        self.call("POST", f"/v1/stays/{stay}/check-in", json={"room_id": ROOM})
        return member, stay

    def checked_in_member_preferring(self, setpoint_c: float) -> tuple[str, str]:
        """A checked-in member who set `setpoint_c` in the app just now."""
        member, stay = self.checked_in_member()
        self.call(
            "PUT",
            f"/v1/agent/preferences/{member}",
            "agent",
            json={
                "member_id": member,
                "climate": {
                    "setpoint_c": {
                        "value": setpoint_c,
                        "updated_at": self.clock.now().isoformat(),
                        "source": "member",
                    }
                },
            },
        )
        return member, stay

    def agent_key_file(self, directory: Path) -> Path:
        """The room's credential as its unit reads it: one key in a file only root may read."""
        key_file = directory / "agent.key"
        key_file.write_text(self.keys["agent"])
        os.chmod(key_file, 0o600)
        return key_file


def room_config(
    tmp_path: Path, central: Central, broker: Any, key_file: Path, devices: dict[str, Any]
) -> RoomConfig:
    """A room file for an in-process agent against `central`, syncing fast."""
    return parse_room_config(
        {
            "room": {"property_id": PROPERTY, "room_id": ROOM},
            "mqtt": {"host": broker.host, "port": broker.port},
            "devices": devices,
            "central": {
                "url": central.url,
                "credential_file": str(key_file),
                "pull_interval_s": 0.2,
                "push_interval_s": 0.1,
            },
            "store": {"path": str(tmp_path / "agent.db")},
            "api": {"port": 0},
            "runtime": {"tick_s": 0.05},
        },
        source="test",
    )
