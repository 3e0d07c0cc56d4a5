"""Crash at every point: the agent (a process of its own, tests/sync/sync_drill.py) SIGKILLs
itself at each named fault point of its write and sync paths, then at random points, and
its SQLite passes an integrity check after each kill. Central is served in the test process
(`loyalty serve` took ~30 s to start on the loaded CI machine); its accept-path points are
not killed here (see docs/sync.md, "Not done"). In the end central holds every event the
room wrote exactly once and the member earned for every purchase once."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sync_harness import Central, room_name

from smartroom.clock import SystemClock
from smartroom.services import AppServer
from sync.faults import POINTS

HERE = Path(__file__).resolve().parent
AGENT_POINTS = [p for p in POINTS if p.startswith("agent.")]
SPENDS = 12
pytestmark = [pytest.mark.timeout(600)]


class Served:
    url = ""


@pytest.fixture
def stage(tmp_path: Path) -> Iterator[tuple[Central, Served, list[str]]]:
    central = Central(f"sqlite:///{tmp_path / 'central.db'}", SystemClock())
    room = room_name()
    with AppServer(central.app) as server:
        central.base_url = server.url
        served = Served()
        served.url = server.url
        member, stay = central.checked_in_member(room)
        yield central, served, [room, member, stay, central.agent_key(room)]
    central.engine.dispose()


def drill(
    tmp: Path, central: Served, args: list[str], faults: str = "", spends: int = SPENDS
) -> int:
    room, member, stay, key = args
    env = {**os.environ, "SMARTROOM_FAULTS": faults}
    run = subprocess.run(
        [
            sys.executable,
            str(HERE / "sync_drill.py"),
            "--db",
            str(tmp / "agent.db"),
            "--url",
            central.url,
            "--key",
            key,
            "--room",
            room,
            "--stay",
            stay,
            "--member",
            member,
            "--spends",
            str(spends),
        ],
        env=env,
        capture_output=True,
        timeout=120,
        check=False,
    )
    return run.returncode


def integrity(path: Path) -> None:
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_sigkill_at_every_point_then_at_random(
    tmp_path: Path, stage: tuple[Central, Served, list[str]]
) -> None:
    central, process, args = stage  # `process`: where the room reaches central
    kills = 0
    total = SPENDS
    for point in AGENT_POINTS:  # every agent point is hit: the drill dies there
        total += 2  # new purchases, so every path runs again
        code = drill(tmp_path, process, args, f"{point}@1", spends=total)
        assert code == -signal.SIGKILL, point
        kills += 1
        integrity(tmp_path / "agent.db")
    for seed in range(4):  # random points in the agent
        total += 1
        code = drill(tmp_path, process, args, f"random:0.05:{seed}", spends=total)
        kills += code == -signal.SIGKILL
        integrity(tmp_path / "agent.db")
    assert drill(tmp_path, process, args, spends=total) == 0  # healed: the drill finishes
    integrity(tmp_path / "agent.db")
    integrity(tmp_path / "central.db")
    with sqlite3.connect(tmp_path / "agent.db") as conn:
        ours = {r[0] for r in conn.execute("SELECT event_id FROM outbox")}
        agent_id = conn.execute("SELECT value FROM meta WHERE key = 'agent_id'").fetchone()[0]
        spends = conn.execute("SELECT count(*) FROM outbox WHERE kind='room_spend'").fetchone()[0]
    assert spends == total
    assert central.event_ids(agent_id) == ours
    count, points = central.spend_points(args[1])
    assert count == total and central.points(args[1]) == points > 0
    print(f"sync crash test: {kills} SIGKILLs, {total} purchases, none lost or doubled")
