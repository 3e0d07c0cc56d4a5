"""A Hypothesis stateful model of sync: the real agent store and sync engine against the real
central service (uvicorn, SQLite) through a transport that decides each request's fate —
delivered, lost, answer lost after central committed, duplicated, held back and delivered
later (reordered), 503, 429, timeout — with in-room spend, preference changes on both sides,
config pushes, reboots with the agent's clock jumping (back up to a day), and a crash while a
page is being applied.

Invariants after every step: central's events are a subset of the agent's; the member's
points equal the points of the spends central recorded, each at most once; the config
cursor never runs ahead of the config the room holds; the agent's clock never goes back.
After healing: central has exactly the agent's events, every spend counted once, and both
sides hold the same preference, the last writer's by hybrid logical clock.

`SMARTROOM_SYNC_UNSAFE=no_dedupe` (central) or `=cursor_first` (agent) plant the two bugs
the suite must catch; test_sync_meta.py runs this model with each and expects it to fail.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test
from sqlalchemy import func, select
from sync_harness import PROPERTY, Central, open_store, room_name, spend

from agent.store import AgentStore
from loyalty.db.sync_tables import sync_changes
from smartroom.clock import FakeClock
from smartroom.services import AppServer
from sync import faults
from sync.client import SyncClient, SyncError
from sync.engine import SyncEngine
from sync.hlc import Stamp
from sync.wire import MemberPreferences

FATES = ("ok", "lost", "lost_response", "duplicate", "reorder", "503", "429", "timeout")
META = bool(os.environ.get("SMARTROOM_SYNC_UNSAFE"))
EXAMPLES = int(os.environ.get("SMARTROOM_MODEL_EXAMPLES", "25"))
T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


class SimulatedCrash(Exception):
    """Raised at a fault point: the transaction in progress is lost, as with SIGKILL."""


class FateTransport(httpx.AsyncBaseTransport):
    """The real HTTP transport, with each request's fate chosen by the model."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport(retries=0)
        self.fate = "ok"
        self.held: list[httpx.Request] = []
        self.faults = 0

    async def _forward(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        await response.aread()
        return response

    async def _copy(self, request: httpx.Request) -> httpx.Request:
        body = await request.aread()
        return httpx.Request(request.method, request.url, headers=request.headers, content=body)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        fate, self.fate = self.fate, "ok"
        for late in self.held:  # reordered: an older request arrives before this one
            await self._forward(late)
        self.held.clear()
        if fate != "ok":
            self.faults += 1
        if fate == "lost":
            raise httpx.ConnectError("injected: connection refused", request=request)
        if fate == "timeout":
            raise httpx.ReadTimeout("injected: no answer", request=request)
        if fate == "503":
            return httpx.Response(503, json={"error": {"code": "busy"}}, request=request)
        if fate == "429":
            return httpx.Response(429, headers={"Retry-After": "1"}, request=request)
        if fate == "reorder":
            self.held.append(await self._copy(request))
            raise httpx.ReadTimeout("injected: held back", request=request)
        copy = await self._copy(request) if fate == "duplicate" else None
        response = await self._forward(request)
        if fate == "lost_response":
            raise httpx.ReadTimeout("injected: answer lost after commit", request=request)
        if copy is not None:
            response = await self._forward(copy)
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()


@pytest.fixture(scope="module")
def served() -> Iterator[Central]:
    with tempfile.TemporaryDirectory() as tmp:
        central = Central(f"sqlite:///{Path(tmp) / 'central.db'}", FakeClock(T0))
        with AppServer(central.app) as server:
            central.base_url = server.url
            yield central
        central.engine.dispose()


class SyncModel(RuleBasedStateMachine):
    central: Central

    def __init__(self) -> None:
        super().__init__()
        self.tmp = tempfile.TemporaryDirectory()
        self.loop = asyncio.new_event_loop()
        central = self.central
        self.central_clock: FakeClock = central.clock  # type: ignore[assignment]
        self.agent_clock = FakeClock(self.central_clock.now())
        self.room = room_name()
        self.member, self.stay = central.checked_in_member(self.room)
        self.key = central.agent_key(self.room)
        self.path = Path(self.tmp.name) / "agent.db"
        self.transport = FateTransport()
        self.store: AgentStore = open_store(self.path, self.agent_clock, self.room)
        self.engine = self._engine()
        self.spends: list[str] = []
        self.changes: list[tuple[Stamp, float]] = []  # every preference change, both sides
        self.config_version = 0
        self.hlc = Stamp.parse(self.store.hlc_last())
        self.value = 16.0

    def _engine(self) -> SyncEngine:
        client = SyncClient(self.central.base_url, self.key, timeout_s=10, transport=self.transport)
        return SyncEngine(self.store, client, batch_events=3)

    def run(self, coro: Any) -> Any:
        return self.loop.run_until_complete(coro)

    def _next_value(self) -> float:
        self.value = 16.0 + ((self.value - 16.0 + 0.5) % 14.0)
        return self.value

    # --- what happens in the room and at central ----------------------------------------

    @rule(amount=st.sampled_from(["12.00", "36.00", "88.50"]))
    def minibar(self, amount: str) -> None:
        self.spends.append(spend(self.store, self.stay, self.member, amount))

    @rule()
    def guest_changes_setpoint(self) -> None:
        value = self._next_value()
        at = self.agent_clock.now()
        doc = {
            "member_id": self.member,
            "climate": {"setpoint_c": {"value": value, "updated_at": at.isoformat()}},
        }
        self.store.put_preferences(MemberPreferences.model_validate(doc), dirty=True)
        stored = self.store.preferences(self.member)
        assert stored is not None and stored.climate.setpoint_c is not None
        assert stored.climate.setpoint_c.value == value  # the room's own latest change wins
        self.changes.append((Stamp.parse(stored.climate.setpoint_c.hlc or ""), value))

    @rule()
    def member_changes_setpoint_in_the_app(self) -> None:
        value = self._next_value()
        self.central_clock.advance(1)
        at = self.central_clock.now()
        doc = {
            "member_id": self.member,
            "climate": {"setpoint_c": {"value": value, "updated_at": at.isoformat()}},
        }
        self.central.call("PUT", f"/v1/members/{self.member}/preferences", json=doc)
        self.changes.append((Stamp(int(at.timestamp() * 1000), 0), value))

    @rule()
    def config_pushed(self) -> None:
        body = {"settings": {"energy": {"away_setback_c": 3.0 + self.config_version % 5}}}
        doc = self.central.call(
            "PUT", f"/v1/sync/rooms/{PROPERTY}/{self.room}/config", "admin", json=body
        )
        self.config_version = int(doc["version"])

    @rule(seconds=st.integers(1, 120))
    def time_passes(self, seconds: int) -> None:
        self.central_clock.advance(seconds)
        self.agent_clock.advance(seconds)

    # --- the network -----------------------------------------------------------------------

    @rule(fate=st.sampled_from(FATES))
    def upload(self, fate: str) -> None:
        self.transport.fate = fate
        with contextlib.suppress(SyncError):
            self.run(self.engine.push_batch())

    @rule(fate=st.sampled_from(FATES), crash=st.booleans())
    def download(self, fate: str, crash: bool) -> None:
        self.transport.fate = fate

        def hook(name: str) -> None:
            if crash and name == "agent.apply.after_items":
                raise SimulatedCrash(name)

        faults.set_hook(hook)
        try:
            self.run(self.engine.pull())
        except SyncError:
            pass
        except SimulatedCrash:
            self.reboot(0)  # the process died mid-apply: start again from the file
        finally:
            faults.set_hook(None)

    @rule(jump_s=st.sampled_from([0, -30, -3600, -86_400, 20]))
    def reboot(self, jump_s: int) -> None:
        """Power cut and restart; a Pi without an RTC may come back with its clock behind."""
        self.run(self.engine.client.aclose())  # type: ignore[attr-defined]
        self.store.close()
        RECORD["faults"] += self.transport.faults
        self.transport = FateTransport()
        self.agent_clock.set(self.agent_clock.now() + timedelta(seconds=jump_s))
        self.store = open_store(self.path, self.agent_clock, self.room)
        self.engine = self._engine()

    # --- invariants -------------------------------------------------------------------------

    @invariant()
    def central_events_are_the_agents(self) -> None:
        ours = {r[0] for r in self.store.db.execute("SELECT event_id FROM outbox").fetchall()}
        assert self.central.event_ids(self.store.agent_id) <= ours

    @invariant()
    def points_are_counted_once(self) -> None:
        count, points = self.central.spend_points(self.member)
        assert count <= len(self.spends)
        assert self.central.points(self.member) == points

    @invariant()
    def cursor_never_ahead_of_data(self) -> None:
        cursor = self.store.sync_cursors()["config"]
        with self.central.engine.connect() as conn:
            c = sync_changes.c
            held = conn.execute(
                select(func.count()).where(
                    c.property_id == PROPERTY,
                    c.room_id == self.room,
                    c.stream == "config",
                    c.seq <= cursor,
                )
            ).scalar_one()
        config = self.store.room_config()
        assert (config.version if config else 0) >= held, "cursor past config not applied"

    @invariant()
    def clock_is_monotonic(self) -> None:
        now = Stamp.parse(self.store.hlc_last())
        assert now >= self.hlc
        self.hlc = now

    def teardown(self) -> None:
        try:
            self.heal()
        finally:
            self.run(self.engine.client.aclose())  # type: ignore[attr-defined]
            self.store.close()
            self.loop.close()
            self.tmp.cleanup()

    def heal(self) -> None:
        self.transport.fate = "ok"
        self.run(self.engine.push())
        self.run(self.engine.pull_all())
        self.run(self.engine.push())  # config_applied etc. are not generated here: one round
        ours = {r[0] for r in self.store.db.execute("SELECT event_id FROM outbox").fetchall()}
        assert self.central.event_ids(self.store.agent_id) == ours
        count, points = self.central.spend_points(self.member)
        assert count == len(self.spends), (count, len(self.spends))
        assert self.central.points(self.member) == points
        config = self.store.room_config()
        assert (config.version if config else 0) == self.config_version
        if self.changes:
            expected = max(self.changes)[1]
            local = self.store.preferences(self.member)
            remote = self.central.call("GET", f"/v1/members/{self.member}/preferences")
            assert local is not None and local.climate.setpoint_c is not None
            assert local.climate.setpoint_c.value == expected
            assert remote["climate"]["setpoint_c"]["value"] == expected
        RECORD["faults"] += self.transport.faults


RECORD = {"faults": 0}


def test_sync_model(served: Central) -> None:
    SyncModel.central = served
    phases = [Phase.explicit, Phase.reuse, Phase.generate]
    if not META:
        phases.append(Phase.shrink)
    run_state_machine_as_test(
        SyncModel,
        settings=settings(
            max_examples=EXAMPLES,
            stateful_step_count=25,
            deadline=None,
            phases=phases,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )
    print(f"sync model: {RECORD['faults']} injected request faults, none lost or doubled")
