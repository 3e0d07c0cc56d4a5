"""Real central (the loyalty app on SQLite or PostgreSQL) and a real agent store for the sync
tests, with helpers to book and check in a member and to read what central recorded."""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from agent.presence.sealing import Sealer
from agent.store import AgentStore, NewEvent
from loyalty.app import create_app
from loyalty.auth import create_key
from loyalty.db.board_tables import board_rooms
from loyalty.db.sync_tables import room_spends, sync_dead_letters
from loyalty.db.tables import agent_events, members
from loyalty.ledger import balance, member_account
from loyalty.settings import LoyaltySettings
from smartroom.clock import Clock
from smartroom.services import AppServer
from sync.client import SyncClient
from sync.engine import SyncEngine
from sync.wire import EventKind, RoomSpend

PROPERTY = "SHA-01"
_counter = itertools.count()


class Central:
    def __init__(self, url: str, clock: Clock) -> None:
        self.clock = clock
        self.app = create_app(
            LoyaltySettings(database_url=url, key_cache_s=0), clock=clock, migrate=True
        )
        self.engine = self.app.state.ctx.engine
        self.keys = {role: self.key(role) for role in ("admin", "staff")}
        self.base_url = "http://central.invalid"
        self._n = 0
        self.server_errors: list[str] = []  # 5xx answers `call` retried

    def key(self, role: str, **scope: Any) -> str:
        with self.engine.begin() as conn:
            _id, plaintext = create_key(conn, role=role, now=self.clock.now(), **scope)  # type: ignore[arg-type]
        return plaintext

    def agent_key(self, room: str) -> str:
        return self.key("agent", property_id=PROPERTY, room_id=room)

    def call(
        self, method: str, path: str, role: str = "staff", *, retries: int = 0, **kwargs: Any
    ) -> Any:
        """One staff/admin request; `retries`: a 5xx or a timeout is tried again with the same
        Idempotency-Key, as a client would (each is listed in `server_errors`)."""
        self._n += 1
        headers = {
            "Authorization": f"Bearer {self.keys[role]}",
            "Idempotency-Key": f"sync-test-{self._n}-{id(self)}",
        }
        for attempt in range(retries + 1):
            try:
                response = httpx.request(
                    method, self.base_url + path, headers=headers, timeout=30, **kwargs
                )
            except httpx.TimeoutException:
                if attempt == retries:
                    raise
                self.server_errors.append(f"{method} {path}: no answer in 30 s")
                continue
            if response.status_code < 500 or attempt == retries:
                break
            self.server_errors.append(f"{method} {path}: {response.status_code}")
            time.sleep(0.2 * (attempt + 1))
        assert response.status_code < 300, (response.status_code, response.text)
        return response.json()

    def checked_in_member(self, room: str, nights: int = 2, *, retries: int = 0) -> tuple[str, str]:
        member = str(self.call("POST", "/v1/members", json={}, retries=retries)["id"])
        now = self.clock.now()
        stay = str(
            self.call(
                "POST",
                "/v1/stays",
                json={
                    "member_id": member,
                    "property_id": PROPERTY,
                    "arrival": now.isoformat(),
                    "departure": (now + timedelta(days=nights)).isoformat(),
                    "nightly_rate": "800.00",
                },
                retries=retries,
            )["id"]
        )
        self.call("POST", f"/v1/stays/{stay}/check-in", json={"room_id": room}, retries=retries)
        return member, stay

    # --- what central recorded -----------------------------------------------------------

    def event_ids(self, agent_id: str) -> set[str]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(agent_events.c.event_id).where(agent_events.c.agent_id == agent_id)
            ).scalars()
            return set(rows)

    def event_kinds(self, agent_id: str) -> dict[str, str]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(agent_events.c.event_id, agent_events.c.kind).where(
                    agent_events.c.agent_id == agent_id
                )
            ).all()
            return {str(r[0]): str(r[1]) for r in rows}

    def dead_letters(self, agent_id: str) -> dict[str, tuple[str, int, str]]:
        """The agent's refused events: event id -> (kind, seq, reason)."""
        d = sync_dead_letters.c
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(d.event_id, d.kind, d.seq, d.reason).where(d.agent_id == agent_id)
            ).all()
            return {str(r[0]): (str(r[1]), int(r[2]), str(r[3])) for r in rows}

    def board(self, room: str) -> dict[str, Any]:
        """What the housekeeping board shows of the room: DND and the alerts' kinds."""
        with self.engine.connect() as conn:
            row = conn.execute(
                select(board_rooms.c.dnd, board_rooms.c.alerts_json).where(
                    board_rooms.c.property_id == PROPERTY, board_rooms.c.room_id == room
                )
            ).first()
        if row is None:
            return {"dnd": None, "alerts": []}
        return {"dnd": row.dnd, "alerts": [a["kind"] for a in json.loads(row.alerts_json)]}

    def points(self, member_id: str) -> int:
        with self.engine.connect() as conn:
            pseudonym = conn.execute(
                select(members.c.pseudonym).where(members.c.id == member_id)
            ).scalar_one()
            return balance(conn, member_account(pseudonym, "points")).posted

    def spend_points(self, member_id: str) -> tuple[int, int]:
        """(number of recorded in-room spends, their points) for the member."""
        with self.engine.connect() as conn:
            count, points = conn.execute(
                select(func.count(), func.coalesce(func.sum(room_spends.c.points), 0)).where(
                    room_spends.c.member_id == member_id
                )
            ).one()
            return int(count), int(points)


@contextmanager
def serving(url: str, clock: Clock) -> Iterator[Central]:
    """Central on the database at `url`, served on a real socket for the block."""
    svc = Central(url, clock)
    try:
        with AppServer(svc.app) as server:
            svc.base_url = server.url
            yield svc
    finally:
        svc.engine.dispose()


def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A new SQLite file for a module's central."""
    return f"sqlite:///{tmp_path_factory.mktemp('central') / 'central.db'}"


def room_name() -> str:
    return f"R{next(_counter):04d}"


def open_store(path: Path, clock: Clock, room: str, **kw: Any) -> AgentStore:
    sealer = Sealer.from_file(path.with_suffix(".key"))
    return AgentStore(path, clock=clock, property_id=PROPERTY, room_id=room, sealer=sealer, **kw)


def spend(store: AgentStore, stay_id: str, member_id: str, amount: str = "36.00") -> str:
    """A minibar purchase charged to the stay, written like the room writes it."""
    payload = RoomSpend(category="minibar", item="cola", amount=amount).model_dump(mode="json")
    (event,) = store.commit(
        events=[NewEvent(EventKind.ROOM_SPEND, payload, stay_id=stay_id, member_id=member_id)]
    )
    return event.event_id


def all_event_ids(store: AgentStore) -> set[str]:
    return {r[0] for r in store.db.execute("SELECT event_id FROM outbox").fetchall()}


def engine_for(store: AgentStore, base_url: str, token: str, **kw: Any) -> SyncEngine:
    return SyncEngine(store, SyncClient(base_url, token, **kw))
