"""The local API's presence endpoints over real HTTP (the agent's own server, in a thread):
Hypothesis throws malformed bodies at them; every one gets a clear 4xx and changes nothing."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_presence_in_the_room import Room

from agent.api import create_api
from agent.http_server import LocalServer
from agent.presence.http import presence_routes
from smartroom.clock import FakeClock


class Served:
    def __init__(self, room: Room) -> None:
        self.room = room
        self.loop = asyncio.new_event_loop()
        app = create_api(room.room, extra_routes=presence_routes(room.presence, room.clock))
        self.server = LocalServer(app, "127.0.0.1", 0)
        self.loop.run_until_complete(self.server.start())
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.port}"

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self.server.stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    room = Room(Path(tmp_path_factory.mktemp("api")), FakeClock())
    room.check_in()
    # A generous bucket: this test is about bodies, not rate limits.
    room.presence.limits.burst = 100_000
    served = Served(room)
    try:
        yield served
    finally:
        served.close()
        room.store.close()


JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=12,
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    body=st.one_of(
        st.binary(max_size=3000),
        JSONISH.map(lambda v: json.dumps(v).encode()),
        st.fixed_dictionaries(
            {"room_key": JSONISH, "nonce_b64": JSONISH, "proof_b64": JSONISH}
        ).map(lambda v: json.dumps(v).encode()),
    )
)
def test_malformed_presentations_get_a_clear_4xx_and_change_nothing(
    served: Served, body: bytes
) -> None:
    reply = httpx.post(f"{served.url}/presence/key", content=body, timeout=10)
    assert reply.status_code in (413, 422), reply.text
    assert "detail" in reply.json()
    assert served.room.presence.desk.metrics is not None
    assert not served.room.status()["member_present"]


def test_flood_gets_429_per_client_and_health_still_answers(tmp_path: Path) -> None:
    room = Room(tmp_path, FakeClock())
    served = Served(room)
    try:
        with httpx.Client(base_url=served.url, timeout=10) as http:
            codes = [http.post("/presence/challenge").status_code for _ in range(40)]
            assert codes[:10] == [200] * 10 and codes[-1] == 429
            refused = http.post("/presence/challenge")
            assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1
            assert http.get("/health").status_code in (200, 503)  # answered, not starved
    finally:
        served.close()
        room.store.close()
