"""The loyalty test harness: the app served by uvicorn on a real socket, keys for each role,
and a small client that checks status codes."""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import count
from typing import Any

import httpx
from fastapi import FastAPI

from loyalty.app import create_app
from loyalty.auth import create_key
from loyalty.settings import LoyaltySettings
from smartroom.clock import FakeClock

PROPERTY, ROOM = "sh01", "1208"


@dataclass
class Service:
    app: FastAPI
    client: httpx.Client
    clock: FakeClock
    keys: dict[str, str] = field(default_factory=dict)
    _n: count[int] = field(default_factory=count)

    def headers(self, role: str, key: str | None = None) -> dict[str, str]:
        out = {"Authorization": f"Bearer {self.keys[role]}"}
        out["Idempotency-Key"] = key or f"k-{next(self._n):06d}-{id(self)}"
        return out

    def key_for(self, role: str, **scope: Any) -> str:
        with self.app.state.ctx.engine.begin() as conn:
            _id, plaintext = create_key(conn, role=role, now=self.clock.now(), **scope)  # type: ignore[arg-type]
        return plaintext

    def call(
        self,
        method: str,
        path: str,
        role: str = "staff",
        *,
        key: str | None = None,
        expect: int | None = 200,
        **kwargs: Any,
    ) -> Any:
        response = self.client.request(method, path, headers=self.headers(role, key), **kwargs)
        if expect is not None:
            assert response.status_code == expect, (response.status_code, response.text)
        return response.json()

    def member(self, **body: Any) -> str:
        return str(self.call("POST", "/v1/members", json=body, expect=201)["id"])


def make_service(url: str, clock: FakeClock) -> Service:
    settings = LoyaltySettings(database_url=url, key_cache_s=0)
    app = create_app(settings, clock=clock, migrate=True)
    service = Service(app=app, client=httpx.Client(timeout=30), clock=clock)
    for role in ("admin", "staff"):
        service.keys[role] = service.key_for(role)
    service.keys["agent"] = service.key_for("agent", property_id=PROPERTY, room_id=ROOM)
    return service
