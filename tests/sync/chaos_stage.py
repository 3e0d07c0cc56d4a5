"""Network chaos between real processes: central (`loyalty serve` on PostgreSQL), the chaos
proxy (`sync.chaos_proxy`, in a thread of this process), and rooms (`chaos_room.py`, each a
process with its SQLite store running the agent's sync worker) pointed at the proxy.

    with ChaosStage(tmp, pg_url, rooms=2, plan=Plan(), seed=1) as stage:
        report = stage.run(min_faults=2000, min_s=20, max_s=120)   # chaos, heal, converge
        stage.check()   # raises AssertionError naming what was lost or doubled

Used by tests/sync/test_sync_chaos.py (one CI run) and bench/sync_chaos_soak.py (the soak).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sync_harness import PROPERTY, Central

from loyalty.db.sync_tables import room_spends, sync_changes, sync_dead_letters, sync_rooms
from smartroom.clock import SystemClock
from smartroom.services import free_port, wait_for_port
from sync.chaos_proxy import KINDS, ChaosProxy, Plan
from sync.hlc import Stamp
from sync.merge import field_order

HERE = Path(__file__).resolve().parent
LOYALTY = [sys.executable, "-m", "loyalty.cli"]
RETRIES = 8  # staff and app requests retried on a 5xx (counted: central.server_errors)
# The room's [central] section for chaos: a fast backoff so thousands of faults fit in a
# minute or two (the defaults are 0.5..4 s). The timeout stays the default 5 s: at 2 s a
# loaded central never answered a room's batch in time and the room never converged (before
# the upload brake, sync/brake.py; tests/sync/test_sync_brake.py covers 2 s since).
CENTRAL_TIMING = {
    "timeout_s": 5.0,
    "pull_interval_s": 0.1,
    "backoff_initial_s": 0.01,
    "backoff_max_s": 0.1,
}


class ProxyThread:
    """The proxy on an event loop of its own thread, so the test can block on HTTP."""

    def __init__(self, proxy: ChaosProxy) -> None:
        self.proxy = proxy
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="chaos-proxy")
        self.thread.start()

    def call(self, coro: Any) -> Any:
        future: Future[Any] = asyncio.run_coroutine_threadsafe(coro, self.loop)
        return future.result(timeout=60)

    def close(self) -> None:
        try:
            self.call(self.proxy.stop())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)
            self.loop.close()


@dataclass
class Room:
    name: str
    dir: Path
    members: list[str] = field(default_factory=list)
    proc: subprocess.Popen[bytes] | None = None
    summary: dict[str, Any] = field(default_factory=dict)

    @property
    def db(self) -> Path:
        return self.dir / "agent.db"

    def read(self, sql: str, *params: Any) -> list[Any]:
        conn = sqlite3.connect(f"file:{self.db}?mode=ro", uri=True, timeout=10)
        try:
            return conn.execute(sql, params).fetchall()
        finally:
            conn.close()

    def changes(self) -> list[dict[str, Any]]:
        path = self.dir / "changes.jsonl"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line]


class ChaosStage:
    def __init__(
        self,
        tmp: Path,
        pg_url: str,
        *,
        rooms: int,
        plan: Plan,
        seed: int,
        prefix: str = "C",
        guest_pause_s: float = 0.3,
    ) -> None:
        """`guest_pause_s`: the mean pause between one guest's actions (purchases,
        setpoint changes, DND/MUR presses) in each room."""
        self.tmp, self.pg_url, self.plan, self.seed = tmp, pg_url, plan, seed
        self.guest_pause_s = guest_pause_s
        self.central = Central(pg_url, SystemClock())  # migrates; reads and keys in-process
        self.rooms = [
            Room(f"{prefix}{seed % 100:02d}{n:02d}", tmp / f"room{n}") for n in range(rooms)
        ]
        self.server: subprocess.Popen[bytes] | None = None
        self.proxy: ProxyThread | None = None
        self.app_changes: dict[str, list[dict[str, Any]]] = {}  # member -> stamped fields
        self.config_version: dict[str, int] = {}
        self.report: dict[str, Any] = {}
        self._n = 0
        self._logs: list[Any] = []

    # --- start and stop -------------------------------------------------------------------

    def __enter__(self) -> ChaosStage:
        try:
            self._start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _start(self) -> None:
        port = free_port()
        env = {**os.environ, "LOYALTY_LOG_LEVEL": "warning"}
        log = (self.tmp / "central.log").open("wb")
        self._logs.append(log)
        self.server = subprocess.Popen(
            [*LOYALTY, "serve", "--database", self.pg_url, "--port", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
        wait_for_port("127.0.0.1", port, timeout=120)
        self.central.base_url = f"http://127.0.0.1:{port}"
        plan_proxy = ChaosProxy("127.0.0.1", port, plan=self.plan, seed=self.seed)
        self.proxy = ProxyThread(plan_proxy)
        self.proxy.call(plan_proxy.start(schedule=False))
        for room in self.rooms:
            room.dir.mkdir(parents=True)
            member, _stay = self.central.checked_in_member(room.name)
            room.members.append(member)
            self.push_config(room)
            self._spawn(room, f"http://127.0.0.1:{plan_proxy.port}")

    def _spawn(self, room: Room, url: str) -> None:
        key = room.dir / "agent.key"
        key.write_text(self.central.agent_key(room.name))
        os.chmod(key, 0o600)
        central = "\n".join(f"{k} = {v}" for k, v in CENTRAL_TIMING.items())
        (room.dir / "room.toml").write_text(
            f'[room]\nproperty_id = "{PROPERTY}"\nroom_id = "{room.name}"\n\n'
            f'[store]\npath = "{room.db}"\n\n'
            f'[central]\nurl = "{url}"\ncredential_file = "{key}"\n{central}\n',
            encoding="utf-8",
        )
        log = (room.dir / "room.log").open("wb")
        self._logs.append(log)
        room.proc = subprocess.Popen(
            [
                *(sys.executable, str(HERE / "chaos_room.py")),
                *("--config", str(room.dir / "room.toml")),
                *("--changes", str(room.dir / "changes.jsonl")),
                *("--summary", str(room.dir / "summary.json")),
                *("--seed", str(self.seed)),
                *("--pause-s", str(self.guest_pause_s)),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )

    def close(self) -> None:
        for room in self.rooms:
            if room.proc is not None and room.proc.poll() is None:
                room.proc.kill()
                room.proc.wait(10)
        if self.proxy is not None:
            self.proxy.close()
        if self.server is not None and self.server.poll() is None:
            self.server.terminate()
            try:
                self.server.wait(20)
            except subprocess.TimeoutExpired:
                self.server.kill()
                self.server.wait(10)
        self.central.engine.dispose()
        for log in self._logs:
            log.close()

    # --- what central's staff and members do meanwhile -----------------------------------

    def push_config(self, room: Room) -> None:
        self._n += 1
        body = {"settings": {"energy": {"away_setback_c": 3.0 + self._n % 5}}}
        path = f"/v1/sync/rooms/{PROPERTY}/{room.name}/config"
        doc = self.central.call("PUT", path, "admin", json=body, retries=RETRIES)
        self.config_version[room.name] = int(doc["version"])

    def app_setpoint(self, member: str) -> None:
        """The member changes the setpoint in the app (a central-side preference change)."""
        self._n += 1
        value = 18.0 + (self._n % 90) / 10
        field = {"value": value, "updated_at": datetime.now(UTC).isoformat()}
        doc = {"member_id": member, "climate": {"setpoint_c": field}}
        self.central.call("PUT", f"/v1/members/{member}/preferences", json=doc, retries=RETRIES)
        self.app_changes.setdefault(member, []).append(field)

    def central_step(self, step: int) -> None:
        room = self.rooms[step % len(self.rooms)]
        action = (step // len(self.rooms)) % 4
        if action == 3 and len(room.members) < 3:
            # another guest in the room
            member, _stay = self.central.checked_in_member(room.name, retries=RETRIES)
            room.members.append(member)
        elif action in (1, 3):
            self.push_config(room)
        else:
            self.app_setpoint(room.members[-1])

    # --- the run --------------------------------------------------------------------------

    def run(
        self,
        *,
        min_faults: int,
        min_s: float,
        max_s: float,
        converge_s: float = 60,
        progress: Callable[[str], None] | None = None,
    ) -> None:
        assert self.proxy is not None
        proxy = self.proxy.proxy
        started = time.monotonic()
        self.proxy.call(proxy.start_windows())
        step = 0
        while True:
            elapsed = time.monotonic() - started
            if elapsed >= max_s or (elapsed >= min_s and proxy.total >= min_faults):
                break
            for room in self.rooms:
                assert room.proc is not None and room.proc.poll() is None, room.dir / "room.log"
            self.central_step(step)
            step += 1
            if progress is not None and step % 60 == 0:
                progress(f"{elapsed:.0f} s: {proxy.total} faults, {proxy.requests} requests")
            time.sleep(0.5)
        chaos_s = time.monotonic() - started
        for room in self.rooms:
            assert room.proc is not None
            room.proc.send_signal(signal.SIGUSR1)  # the guests stop; sync goes on
        counts = dict(proxy.counts)
        self.proxy.call(proxy.heal())
        healed = time.monotonic()
        self._converge(converge_s)
        converged_s = time.monotonic() - healed
        for room in self.rooms:
            assert room.proc is not None
            room.proc.send_signal(signal.SIGTERM)
            assert room.proc.wait(30) == 0, (room.dir / "room.log").read_text()[-3000:]
            room.summary = json.loads((room.dir / "summary.json").read_text())
        self.report = {
            "faults": counts,
            "total_faults": sum(counts.values()),
            "requests": proxy.requests,
            "forwarded": proxy.forwarded,
            "chaos_s": round(chaos_s, 1),
            "converge_s": round(converged_s, 1),
            "central_steps": step,
            "rooms": {r.name: r.summary for r in self.rooms},
            "retry_after_early": list(proxy.retry_after_early),
            "central_5xx_to_staff": list(self.central.server_errors),
        }

    def _converge(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while True:
            for room in self.rooms:
                assert room.proc is not None and room.proc.poll() is None, (
                    f"room {room.name} exited {room.proc and room.proc.returncode}: "
                    + (room.dir / "room.log").read_text(errors="replace")[-3000:]
                )
            behind = [r for r in self.rooms if not self._caught_up(r)]
            if not behind:
                return
            if time.monotonic() > deadline:
                pending = {
                    r.name: r.read("SELECT count(*) FROM outbox WHERE sent_at IS NULL")[0][0]
                    for r in behind
                }
                raise AssertionError(
                    f"rooms {[r.name for r in behind]} did not converge {timeout_s:.0f} s "
                    f"after healing (events pending: {pending}); the last lines of "
                    f"{behind[0].name}'s log: "
                    + (behind[0].dir / "room.log").read_text(errors="replace")[-1500:]
                )
            time.sleep(0.2)

    def _caught_up(self, room: Room) -> bool:
        pending = room.read("SELECT count(*) FROM outbox WHERE sent_at IS NULL")[0][0]
        cursors = dict(room.read("SELECT stream, seq FROM sync_cursors"))
        version = room.read("SELECT version FROM room_config WHERE id = 1")
        return (
            pending == 0
            and bool(cursors)
            and min(cursors.values()) >= self._watermark(room)
            and bool(version)
            and version[0][0] == self.config_version[room.name]
            and self._applied(room) == self.config_version[room.name]
        )

    def _watermark(self, room: Room) -> int:
        with self.central.engine.connect() as conn:
            c = sync_changes.c
            value = conn.execute(
                select(func.coalesce(func.max(c.seq), 0)).where(
                    c.property_id == PROPERTY, c.room_id == room.name
                )
            ).scalar_one()
        return int(value)

    def _applied(self, room: Room) -> int | None:
        with self.central.engine.connect() as conn:
            c = sync_rooms.c
            value = conn.execute(
                select(c.config_applied).where(c.property_id == PROPERTY, c.room_id == room.name)
            ).scalar_one_or_none()
        return None if value is None else int(value)

    # --- the invariants after healing ------------------------------------------------------

    def check(self) -> None:
        for room in self.rooms:
            self._check_room(room)
        assert not self.report["retry_after_early"], self.report["retry_after_early"]

    def _check_room(self, room: Room) -> None:
        agent_id = room.read("SELECT value FROM meta WHERE key = 'agent_id'")[0][0]
        ours = {r[0] for r in room.read("SELECT event_id FROM outbox")}
        central = self.central
        with central.engine.connect() as conn:
            dead = conn.execute(
                select(sync_dead_letters.c.event_id, sync_dead_letters.c.reason).where(
                    sync_dead_letters.c.agent_id == agent_id
                )
            ).all()
        assert not dead, f"{room.name}: dead letters {dead[:5]}"
        accepted = central.event_ids(agent_id)
        assert accepted == ours, (
            f"{room.name}: lost {len(ours - accepted)}, unknown {len(accepted - ours)}"
        )
        rejected = room.read("SELECT count(*) FROM outbox WHERE rejected IS NOT NULL")[0][0]
        assert rejected == 0, f"{room.name}: {rejected} events rejected"
        # Every purchase earned exactly once: one room_spends row per spend event, and the
        # member's balance is their sum.
        spends = dict(
            room.read(
                "SELECT json_extract(doc, '$.member_id'), count(*) FROM outbox "
                "WHERE kind = 'room_spend' GROUP BY 1"
            )
        )
        for member in room.members:
            count, points = central.spend_points(member)
            assert count == spends.get(member, 0), (room.name, member, count, spends.get(member))
            assert central.points(member) == points, (room.name, member)
        # ... and the purchases central recorded are exactly the room's.
        theirs = {r[0] for r in room.read("SELECT event_id FROM outbox WHERE kind = 'room_spend'")}
        with central.engine.connect() as conn:
            recorded = set(
                conn.execute(
                    select(room_spends.c.event_id).where(room_spends.c.member_id.in_(room.members))
                ).scalars()
            )
        assert recorded == theirs, (room.name, len(recorded), len(theirs))
        self._check_preferences(room)
        # Cursors: every stream at central's watermark for the room, none past it.
        cursors = dict(room.read("SELECT stream, seq FROM sync_cursors"))
        watermark = self._watermark(room)
        assert cursors and all(v == watermark for v in cursors.values()), (cursors, watermark)
        # The room's clock never went back: its events' stamps rise with their seq.
        stamps = [
            Stamp.parse(r[0])
            for r in room.read("SELECT json_extract(doc, '$.hlc') FROM outbox ORDER BY seq")
        ]
        assert all(a < b for a, b in itertools.pairwise(stamps)), "HLC went back"

    def _check_preferences(self, room: Room) -> None:
        """No preference change lost: for every member, both sides hold the change that
        wins by the merge's order (hybrid logical clock), whichever side made it."""
        mine: dict[str, list[dict[str, Any]]] = {}
        for change in room.changes():
            mine.setdefault(change["member_id"], []).append(change["field"])
        for member in room.members:
            fields = mine.get(member, []) + self.app_changes.get(member, [])
            if not fields:
                continue
            expected = max(fields, key=field_order)["value"]
            remote = self.central.call("GET", f"/v1/members/{member}/preferences")
            assert remote["climate"]["setpoint_c"]["value"] == expected, (room.name, member)
            local = room.read("SELECT doc FROM preferences WHERE member_id = ?", member)
            assert local, (room.name, member, "profile missing in the room")
            doc = json.loads(local[0][0])
            assert doc["climate"]["setpoint_c"]["value"] == expected, (room.name, member)


def summary_line(report: dict[str, Any]) -> str:
    counts = report["faults"]
    kinds = ", ".join(f"{k} {counts.get(k, 0)}" for k in KINDS)
    return (
        f"{report['total_faults']} injected network faults in {report['chaos_s']} s "
        f"({report['requests']} requests): {kinds}; "
        f"converged {report['converge_s']} s after healing"
    )
