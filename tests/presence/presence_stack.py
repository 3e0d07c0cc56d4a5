"""The agent tests' real central (tests/agent/agent_central.py: the loyalty app on SQLite
behind uvicorn), listening on a second socket too: the room's agent uses the first (stopped
to cut the room's link), the front desk and the member's app the second (always up)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import agent_central
import httpx

from smartroom.services import AppServer, free_port

PROPERTY, ROOM = agent_central.PROPERTY, agent_central.ROOM


class Central(agent_central.Central):
    def __init__(self, tmp_path: Path) -> None:
        super().__init__(tmp_path)
        self.desk_url = ""
        self._desk: AppServer | None = None

    def start(self) -> None:
        if self._desk is None:
            self._desk = AppServer(self.app, port=free_port(), start_timeout=10).start()
            self.desk_url = f"http://127.0.0.1:{self._desk.port}"
        super().start()

    def stop(self) -> None:
        super().stop()
        self._server = None

    def close(self) -> None:
        if self._server is not None:
            self.stop()
        if self._desk is not None:
            self._desk.stop()
        self.app.state.ctx.engine.dispose()

    def call(self, method: str, path: str, role: str = "staff", **kwargs: Any) -> Any:
        """Through the front desk's socket: works while the room's link is cut. `key`
        overrides the role's key (a member's own)."""
        self._n += 1
        key = kwargs.pop("key", None) or self.keys[role]
        headers = {"Authorization": f"Bearer {key}", "Idempotency-Key": f"presence-{self._n}"}
        response = httpx.request(
            method, self.desk_url + path, headers=headers, timeout=10, **kwargs
        )
        assert response.status_code < 300, (response.status_code, response.text)
        return response.json()

    def checked_in_member_with_key(self) -> tuple[str, str, str]:
        """(member id, stay id, the member's own API key)."""
        member, stay = self.checked_in_member()
        return member, stay, self.key("member", member_id=member)


def get(url: str) -> Any:
    return httpx.get(url, timeout=5).json()
