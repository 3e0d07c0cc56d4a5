"""A real central (the loyalty app on SQLite behind uvicorn) for the presence tests. It
listens on two sockets: the one the room's agent uses (stopped to cut the room's link)
and the one the front desk and the member's app use (always up)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx

from loyalty.app import create_app
from loyalty.auth import create_key
from loyalty.settings import LoyaltySettings
from smartroom.clock import SystemClock
from smartroom.services import AppServer, free_port

PROPERTY, ROOM = "SHA-01", "1201"


class Central:
    def __init__(self, tmp_path: Path) -> None:
        self.clock = SystemClock()
        self.app = create_app(
            LoyaltySettings(database_url=f"sqlite:///{tmp_path / 'loyalty.db'}", key_cache_s=0),
            clock=self.clock,
            migrate=True,
        )
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.keys = {"staff": self.key("staff")}
        self.keys["agent"] = self.key("agent", property_id=PROPERTY, room_id=ROOM)
        self.desk_url = ""
        self._desk: AppServer | None = None
        self._server: AppServer | None = None
        self._n = 0

    def key(self, role: str, **scope: Any) -> str:
        with self.app.state.ctx.engine.begin() as conn:
            _id, plaintext = create_key(conn, role=role, now=self.clock.now(), **scope)  # type: ignore[arg-type]
        return plaintext

    def start(self) -> None:
        if self._desk is None:
            self._desk = AppServer(self.app, port=free_port(), start_timeout=10).start()
            self.desk_url = f"http://127.0.0.1:{self._desk.port}"
        self._server = AppServer(self.app, port=self.port, start_timeout=10).start()

    def stop(self) -> None:
        assert self._server is not None
        self._server.stop()
        self._server = None

    def close(self) -> None:
        if self._server is not None:
            self.stop()
        if self._desk is not None:
            self._desk.stop()
        self.app.state.ctx.engine.dispose()

    def call(self, method: str, path: str, key: str | None = None, **kwargs: Any) -> Any:
        """Through the front desk's socket: works while the room's link is cut."""
        self._n += 1
        headers = {
            "Authorization": f"Bearer {key or self.keys['staff']}",
            "Idempotency-Key": f"presence-test-{self._n}",
        }
        response = httpx.request(
            method, self.desk_url + path, headers=headers, timeout=10, **kwargs
        )
        assert response.status_code < 300, (response.status_code, response.text)
        return response.json()

    def checked_in_member(self) -> tuple[str, str, str]:
        """(member id, stay id, the member's own API key)."""
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
        return member, stay, self.key("member", member_id=member)


def get(url: str) -> Any:
    return httpx.get(url, timeout=5).json()
