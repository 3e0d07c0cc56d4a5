"""A clock that jumps back after a reboot: a real `smartroom-agent run` process works offline,
is killed with SIGKILL, and comes back with its wall clock a day behind (a Pi without a
real-time clock, `--clock-start`). Its hybrid logical clock continues from the stamp it
persisted, so every stamp after the reboot orders after every stamp before it; no local
change is lost; when the link heals everything arrives once and the operator sees the
room's clock flagged (`clock_skew` on the board, /health `clock_offset_s`)."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from room_process import RoomProcess, central_behind_link
from sync_harness import room_name

from smartroom.clock import SystemClock
from smartroom.services import MosquittoBroker
from sync.hlc import Stamp

pytestmark = [pytest.mark.mqtt, pytest.mark.timeout(120)]
SPEND = {"category": "minibar", "item": "water", "amount": "18.00"}


def _outbox(path: Path) -> list[dict[str, Any]]:
    conn = sqlite3.connect(path)  # a reader beside the agent (WAL)
    try:
        rows = conn.execute(
            "SELECT seq, kind, doc, created_at, sent_at FROM outbox ORDER BY seq"
        ).fetchall()
        return [
            {"seq": s, "kind": k, "doc": json.loads(d), "created_at": c, "sent": t is not None}
            for s, k, d, c, t in rows
        ]
    finally:
        conn.close()


async def _local_changes(room: RoomProcess, setpoint: float, dnd: bool) -> int:
    assert (await room.api("POST", "/spend", json=SPEND)).status_code == 200
    reply = await room.api("POST", "/devices/hvac/override", json={"setpoint_c": setpoint})
    assert reply.status_code == 200, reply.text
    assert (await room.api("PUT", "/housekeeping", json={"dnd": dnd})).status_code == 200
    return 1


async def test_kill_9_and_a_clock_a_day_back_keep_the_stamps_monotonic(
    tmp_path: Path, mqtt_broker: MosquittoBroker
) -> None:
    room_id = room_name()
    async with central_behind_link(tmp_path, SystemClock()) as (central, link):
        member, _stay = central.checked_in_member(room_id)
        store = tmp_path / "agent.db"
        async with RoomProcess(
            tmp_path, mqtt_broker, link.url, central.agent_key(room_id), room_id
        ) as room:
            await room.start()
            await room.until(room.spend, 15, "the stay reaching the room")
            spends = 1
            await link.cut()
            spends += await _local_changes(room, 23.5, dnd=True)
            spends += await _local_changes(room, 24.5, dnd=False)
            before = _outbox(store)
            newest_before = max(Stamp.parse(e["doc"]["hlc"]) for e in before)
            room.kill9()

            back = datetime.now(UTC) - timedelta(days=1)
            await room.start("--clock-start", back.isoformat())
            spends += await _local_changes(room, 22.0, dnd=True)
            after = [e for e in _outbox(store) if e["seq"] > before[-1]["seq"]]
            assert after, "nothing written after the reboot"
            for event in after:
                # Written a day earlier by the wall clock, stamped later by the room's clock.
                assert event["created_at"] < before[-1]["created_at"]
                assert Stamp.parse(event["doc"]["hlc"]) > newest_before, event
            stamps = [Stamp.parse(e["doc"]["hlc"]) for e in _outbox(store)]
            assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps)

            await link.heal()
            await room.until(room.drained, 20, "the outbox drained", every=0.2)
            health = await room.get("/health")
            assert 86_000 < health["central"]["clock_offset_s"] < 86_800, health["central"]
            assert "room_clock_skew" in room.log()
            board = central.board(room_id)
            profile = central.call("GET", f"/v1/members/{member}/preferences")
            room.stop()
        rows = _outbox(store)
        agent_id = _meta(store, "agent_id")

    # Nothing lost, nothing twice, nothing refused.
    # (The status written as the agent stopped, after the drain, is all that may be unsent,
    # or sent with its answer cut by the stop: it goes again, as a duplicate, next start.)
    sent = {e["doc"]["event_id"] for e in rows if e["sent"]}
    assert sent <= central.event_ids(agent_id) <= {e["doc"]["event_id"] for e in rows}
    assert {e["kind"] for e in rows if not e["sent"]} <= {"room_status", "scene_applied"}
    assert central.spend_points(member)[0] == spends
    last_prefs = [e for e in rows if e["kind"] == "preferences"][-1]["doc"]["payload"]
    assert profile["comfort_offset"] == last_prefs["comfort_offset"]
    assert board["dnd"] is True  # the last housekeeping request, made after the reboot
    assert "clock_skew" in board["alerts"]


def _meta(path: Path, key: str) -> str:
    conn = sqlite3.connect(path)
    try:
        return str(conn.execute("SELECT value FROM meta WHERE key = ?", [key]).fetchone()[0])
    finally:
        conn.close()
