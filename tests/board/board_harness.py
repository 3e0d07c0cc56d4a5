"""The central service with a board, for the board tests: the loyalty app on SQLite with a
FakeClock, served over real HTTP, the example property imported, and staff of each kind.

    with Board(tmp_path) as board:
        board.staff["supervisor"]          # a plaintext staff key with a supervisor profile
        board.status("1201", occupied=True)
"""

from __future__ import annotations

import tomllib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from loyalty.app import create_app
from loyalty.auth import create_key
from loyalty.board.setup import PropertySetup, add_staff, import_property
from loyalty.settings import LoyaltySettings
from smartroom.clock import Clock, FakeClock
from smartroom.services import AppServer
from sync.wire import RoomStatus

ROOT = Path(__file__).resolve().parents[2]
SETUP = ROOT / "examples" / "board" / "SHA-01.toml"
PROPERTY = "SHA-01"
START = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai


class Board:
    def __init__(self, tmp_path: Path, *, clock: Clock | None = None, url: str | None = None):
        self.clock = clock or FakeClock(START)
        self.app = create_app(
            LoyaltySettings(
                database_url=url or f"sqlite:///{tmp_path / 'loyalty.db'}", key_cache_s=0
            ),
            clock=self.clock,
            migrate=True,
        )
        self.engine = self.app.state.ctx.engine
        setup = PropertySetup.model_validate(tomllib.loads(SETUP.read_text()))
        now = self.clock.now()
        with self.engine.begin() as conn:
            import_property(conn, setup, now)
            self.staff_ids: dict[str, str] = {}
            self.staff: dict[str, str] = {}
            for name, role in (
                ("Wang Fang", "supervisor"),
                ("Li Na", "attendant"),
                ("Zhao Lei", "attendant"),
                ("Chen Jie", "front_desk"),
            ):
                key_id, key = add_staff(
                    conn,
                    property_id=PROPERTY,
                    name=name,
                    role=role,
                    now=now,  # type: ignore[arg-type]
                )
                label = role if role not in self.staff else "attendant2"
                self.staff[label], self.staff_ids[label] = key, key_id
            _, self.admin = create_key(conn, role="admin", now=now)
            _, self.plain_staff = create_key(conn, role="staff", now=now)
        self.server = AppServer(self.app)
        self.url = ""
        self._n = 0

    def __enter__(self) -> Board:
        self.server.start()
        self.url = self.server.url
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.stop()
        self.engine.dispose()

    def agent_key(self, room: str) -> str:
        with self.engine.begin() as conn:
            return create_key(
                conn, role="agent", property_id=PROPERTY, room_id=room, now=self.clock.now()
            )[1]

    def member_key(self) -> str:
        member = self.call("POST", "/v1/members", json={})["id"]
        with self.engine.begin() as conn:
            return create_key(conn, role="member", member_id=member, now=self.clock.now())[1]

    def call(self, method: str, path: str, key: str | None = None, **kw: Any) -> Any:
        self._n += 1
        headers = {
            "Authorization": f"Bearer {key or self.admin}",
            "Idempotency-Key": f"board-test-{self._n}-{id(self)}",
        }
        r = httpx.request(method, self.url + path, headers=headers, timeout=10, **kw)
        assert r.status_code < 300, (r.status_code, r.text)
        return r.json() if r.content else None

    def status(self, room: str, key: str, **fields: Any) -> RoomStatus:
        status = RoomStatus(
            property_id=PROPERTY,
            room_id=room,
            at=self.clock.now(),
            rented=fields.pop("rented", False),
            occupied=fields.pop("occupied", False),
            member_present=fields.pop("member_present", False),
            scene=fields.pop("scene", "vacant"),
            **fields,
        )
        r = httpx.post(
            f"{self.url}/v1/agent/status",
            content=status.model_dump_json(),
            headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
            timeout=10,
        )
        assert r.status_code == 204, r.text
        return status

    def stay(
        self,
        room: str,
        *,
        arrive_in: timedelta,
        nights: int = 2,
        check_in: bool,
        gold: bool = False,
    ) -> str:
        member = self.call("POST", "/v1/members", json={})["id"]
        if gold:  # qualifying dining spend over the gold line: gold at once, with its benefits
            body = {"member_id": member, "activity": "fnb", "amount": "30000.00"}
            self.call("POST", "/v1/earn", json=body)
        now = self.clock.now()
        stay = self.call(
            "POST",
            "/v1/stays",
            json={
                "member_id": member,
                "property_id": PROPERTY,
                "room_id": room,
                "arrival": (now + arrive_in).isoformat(),
                "departure": (now + arrive_in + timedelta(days=nights)).isoformat(),
                "nightly_rate": "800.00",
            },
        )["id"]
        if check_in:
            self.call("POST", f"/v1/stays/{stay}/check-in", json={"room_id": room})
        return str(stay)
