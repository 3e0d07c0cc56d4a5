"""The kill rig: hundreds of real SIGKILLs of a room's sync and of central, cheaply, with the
databases and the sync invariants checked after every one (issue 16, fault test 2).

One parent process imports everything once, builds central's app on a SQLite file, or with
`--postgres` on a throwaway PostgreSQL database (central's production engine), and holds its
listening socket; then it forks:

* a **central** child that serves the app with uvicorn on that socket, armed to SIGKILL itself
  at one of central's named fault points (`sync/faults.py`: the accept transaction, the
  room_spend earn, after the commit before the answer, the pull path) at its n-th hit; when
  it dies the parent restarts it at once (connections wait in the socket's backlog), armed
  for the next point;
* per cycle, an **agent** child that opens the room's SQLite store, writes a few minibar
  purchases and a preference change (one transaction each), then pushes and pulls through
  the real sync engine over HTTP. It dies at a named agent point at its n-th hit, at a
  random point (`random:p:seed`), or by the parent's SIGKILL after a random delay.
  Central is also killed from outside at random moments.

Points not yet hit are armed first, so every point dies at least once per run. Each kill is
read back from the child's exit status and attributed from the fault log (`<pid> <point>`).

After every kill of central the parent checks central's database (`central_integrity`: the
ledger's hash chains and balances, the dedupe records against their effects; SQLite's
`PRAGMA integrity_check`; amcheck on PostgreSQL at the heals). After every cycle it checks:
`PRAGMA integrity_check` on the agent's database; central's events ⊆ the agent's; every
event the agent holds as acknowledged is at central (nothing lost); one `room_spends` row
and one points transfer per accepted purchase and the member's balance = their sum (nothing
counted twice); every command and config version at or below the room's cursor is in the
room (cursor never ahead of applied data); the room's HLC and its last committed preference
change never go back.
Every `--heal-every` cycles, and at the end, central runs unarmed until the room has sent
everything and pulled everything; then the two sides must be equal: the same events, every
purchase earned once, both preference changes present on both sides, cursors at central's
watermark.

    python tests/sync/kill_rig.py --kills 100 --postgres --json summary.json   # exit 0: all held

Exit 1 with `INVARIANT VIOLATED: ...` on the first broken invariant (the meta-test plants
SMARTROOM_SYNC_UNSAFE=no_dedupe / cursor_first and expects that). Timing uses time.monotonic:
this is a test harness, not agent logic.
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import itertools
import json
import os
import random
import signal
import socket
import sqlite3
import sys
import threading
import time
import traceback
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import anyio._backends._asyncio  # noqa: F401 - imported once here, not in every child
import httpx
import uvicorn
from sqlalchemy import Connection, create_engine, text
from sqlalchemy.pool import NullPool

from agent.presence.sealing import Sealer
from agent.store import AgentStore, NewEvent
from loyalty.app import create_app
from loyalty.auth import create_key
from loyalty.ledger import balance, member_account
from loyalty.ledger.chain import verify_ledger
from loyalty.settings import LoyaltySettings
from smartroom.clock import SystemClock
from smartroom.services import TemporaryPostgres
from sync import faults
from sync.client import SyncClient, SyncError
from sync.engine import SyncEngine
from sync.wire import EventKind, MemberPreferences, RoomSpend

PROPERTY, ROOM = "SHA-01", "K0101"
AGENT_POINTS = [p for p in faults.POINTS if p.startswith("agent.")]
CENTRAL_POINTS = [p for p in faults.POINTS if p.startswith("central.")]
BATCH = 4  # small batches: every cycle crosses the upload points several times


# Dedupe records per agent: (agent, high-water mark, top seq, lowest seq, rows, distinct seqs).
# Dead letters count as records too (a refused event moves the mark); the rig has none.
DEDUPE_SQL = """
SELECT c.agent_id, c.high_water_seq, max(r.seq), min(r.seq), count(r.seq),
       count(DISTINCT r.seq)
FROM agent_cursors c
LEFT JOIN (SELECT agent_id, seq FROM agent_events
           UNION ALL SELECT agent_id, seq FROM sync_dead_letters) r ON r.agent_id = c.agent_id
GROUP BY c.agent_id, c.high_water_seq
"""
ORPHANS = {
    "events without a dedupe mark": "SELECT DISTINCT agent_id FROM agent_events e WHERE NOT "
    "EXISTS (SELECT 1 FROM agent_cursors c WHERE c.agent_id = e.agent_id)",
    "accepted purchases without their earn": "SELECT event_id FROM agent_events e WHERE "
    "kind = 'room_spend' AND NOT EXISTS (SELECT 1 FROM room_spends s "
    "WHERE s.event_id = e.event_id)",
    "earns without an accepted purchase": "SELECT event_id FROM room_spends s WHERE NOT "
    "EXISTS (SELECT 1 FROM agent_events e WHERE e.event_id = s.event_id)",
    "earns whose points transfer is missing": "SELECT event_id FROM room_spends s WHERE "
    "s.points > 0 AND NOT EXISTS (SELECT 1 FROM transfers t WHERE t.id = s.transfer_id)",
}
# amcheck (contrib; creating it needs a superuser, as the test servers have): every B-tree
# index of the schema, each with heapallindexed (every heap tuple has its index entry).
AMCHECK_SQL = """
SELECT count(bt_index_check(c.oid, true))
FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am a ON a.oid = c.relam
WHERE a.amname = 'btree' AND c.relnamespace = 'public'::regnamespace
"""


class Violation(AssertionError):
    pass


def check(ok: bool, what: str) -> None:
    if not ok:
        raise Violation(what)


@dataclass
class Summary:
    kills: int = 0
    agent_kills: int = 0
    central_kills: int = 0
    external_agent_kills: int = 0
    external_central_kills: int = 0
    points_hit: dict[str, int] = field(default_factory=dict)
    points_missed: list[str] = field(default_factory=list)
    cycles: int = 0
    heals: int = 0
    checks: int = 0
    central_checks: int = 0  # central_integrity runs (after every central kill, at heals)
    amchecked_indexes: int = 0  # PostgreSQL: indexes amcheck verified at the last heal
    database: str = "sqlite"
    events: int = 0
    purchases: int = 0
    points: int = 0
    lost: int = -1
    doubled: int = -1
    duration_s: float = 0.0
    violation: str | None = None
    error: str | None = None  # the rig itself failed (not an invariant): see children.log

    def line(self) -> str:
        outside = self.external_agent_kills + self.external_central_kills
        return (
            f"central on {self.database}: "
            f"{self.kills} SIGKILLs ({self.agent_kills} agent, {self.central_kills} central; "
            f"{outside} from outside), {len(self.points_hit)}/{len(faults.POINTS)} points hit, "
            f"{self.cycles} cycles, {self.heals} heals, {self.central_checks} central "
            f"integrity checks, {self.events} events, "
            f"{self.purchases} purchases, lost {self.lost}, counted twice {self.doubled}, "
            f"{self.duration_s} s"
        )


def _quiet_child(log: Path) -> None:
    """A forked child dies with the rig (never a central left serving after a crashed or
    timed-out rig) and writes its output to a file, not into the test's."""
    if sys.platform == "linux":
        ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)


def _hlc(text: str | None) -> tuple[int, int]:
    if not text:
        return (0, 0)
    wall, _, counter = text.partition(":")
    return int(wall), int(counter)


class Rig:
    def __init__(self, work: Path, seed: int, database_url: str | None = None) -> None:
        """`database_url`: central's PostgreSQL database (empty, migrated here); None: a
        SQLite file in `work`."""
        self.work = work
        self.rng = random.Random(seed)  # the plan of kills, not security
        self.seed = seed
        self.agent_db = work / "agent.db"
        self.central_db = work / "central.db"
        self.kill_log = work / "kills.log"
        self.child_log = work / "children.log"
        url = database_url or f"sqlite:///{self.central_db}"
        self.pg = url.startswith("postgresql")
        self.app = create_app(LoyaltySettings(database_url=url, key_cache_s=0), migrate=True)
        engine = self.app.state.ctx.engine
        now = datetime.now(UTC)
        with engine.begin() as conn:
            self.keys = {
                role: create_key(conn, role=role, now=now)[1] for role in ("admin", "staff")
            }
            self.agent_key = create_key(
                conn, role="agent", now=now, property_id=PROPERTY, room_id=ROOM
            )[1]
            if self.pg:
                conn.execute(text("CREATE EXTENSION IF NOT EXISTS amcheck"))
        engine.dispose()  # no pooled connection crosses a fork
        # Every check reads one snapshot (`snapshot`): central may still be committing an
        # upload whose room was killed mid-request. PostgreSQL: REPEATABLE READ; SQLite:
        # driver-level transactions off, so the explicit BEGIN is the snapshot.
        if self.pg:
            self.reader = create_engine(url, poolclass=NullPool, isolation_level="REPEATABLE READ")
        else:
            self.reader = create_engine(
                url, poolclass=NullPool, connect_args={"isolation_level": None}
            )
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(256)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        # Loaded once here (protocol classes, the app's middleware stack): a forked central
        # serves at once instead of importing on its first request.
        self.uvicorn = uvicorn.Config(self.app, log_config=None, access_log=False, lifespan="off")
        self.uvicorn.load()
        # One client (its TLS context built once), no keep-alive: central is often new.
        no_reuse = httpx.Limits(max_keepalive_connections=0)
        self.http = httpx.Client(timeout=10, limits=no_reuse)
        asyncio.run(self._warm())
        self.central_pid = 0
        self.central_armed = ""
        self.summary = Summary(database="postgresql" if self.pg else "sqlite")
        self.hit: Counter[str] = Counter()
        self._log_seen = 0
        self._n = itertools.count()
        self.member = self.stay = ""
        self.hlc = (0, 0)
        self.room_pref = -1  # the last preference change the room committed (its cycle)
        self.central_pref = -1  # the last one made at central
        self.verbose = False
        self.agent_s = 0.15  # running mean of an agent cycle, for random kill delays

    async def _warm(self) -> None:
        """One request through the app in this process: FastAPI builds its route table on
        the first request (~1 s of CPU here); built before the forks, no child pays it."""
        transport = httpx.ASGITransport(app=self.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://warm") as client:
            await client.get("/v1/no-such-route")
        check(threading.active_count() == 1, "a thread was left running before the forks")

    # --- processes ----------------------------------------------------------------------------

    def start_central(self, arm: str) -> None:
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child
            try:
                _quiet_child(self.child_log)
                faults.configure(arm, log=str(self.kill_log))
                self.app.state.ctx.engine.dispose(close=False)
                uvicorn.Server(self.uvicorn).run(sockets=[self.sock])
            finally:
                os._exit(0)
        self.central_pid, self.central_armed = pid, arm

    def spawn_agent(self, arm: str, cycle: int, spends: int, attempts: int) -> int:
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child
            code = 5
            try:
                _quiet_child(self.child_log)
                faults.configure(arm, log=str(self.kill_log))
                code = asyncio.run(self._agent(cycle, spends, attempts))
            finally:
                os._exit(code)
        return pid

    async def _agent(self, cycle: int, spends: int, attempts: int) -> int:
        store = AgentStore(
            self.agent_db,
            clock=SystemClock(),
            property_id=PROPERTY,
            room_id=ROOM,
            sealer=Sealer.from_file(self.agent_db.with_suffix(".key")),
        )
        payload = RoomSpend(category="minibar", item="water", amount="18.00").model_dump(
            mode="json"
        )
        for _ in range(spends):
            event = NewEvent(
                EventKind.ROOM_SPEND, payload, stay_id=self.stay, member_id=self.member
            )
            store.commit(events=[event])
        if cycle >= 0:
            store.put_preferences(self._prefs("audio", "source", f"room-{cycle}"), dirty=True)
        client = SyncClient(self.url, self.agent_key, timeout_s=10)
        engine = SyncEngine(store, client, batch_events=BATCH)
        code = 4
        for _ in range(attempts):
            try:
                await engine.push()
                await engine.pull_all()
            except SyncError:
                await asyncio.sleep(0.02)
                continue
            if store.outbox_depth() == 0:
                code = 0
                break
        await client.aclose()
        store.close()
        return code

    def _prefs(self, section: str, name: str, value: str) -> MemberPreferences:
        stamped = {"value": value, "updated_at": datetime.now(UTC).isoformat()}
        return MemberPreferences.model_validate(
            {"member_id": self.member, section: {name: stamped}}
        )

    def _reaped(self, pid: int, status: int) -> bool:
        """Account for a child's death; True when it was a SIGKILL."""
        if not (os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL):
            return False
        self.summary.kills += 1
        central = pid == self.central_pid
        if central:
            self.summary.central_kills += 1
        else:
            self.summary.agent_kills += 1
        point = self._points_of().get(pid)
        if point is not None:
            self.hit[point] += 1
        elif central:
            self.summary.external_central_kills += 1
        else:
            self.summary.external_agent_kills += 1
        return True

    def _points_of(self) -> dict[int, str]:
        if not self.kill_log.exists():
            return {}
        lines = self.kill_log.read_text().splitlines()
        return {int(p): name for p, name in (ln.split(" ", 1) for ln in lines)}

    # --- central over HTTP --------------------------------------------------------------------

    def call(self, method: str, path: str, role: str = "staff", **kw: Any) -> Any:
        """A staff/admin request to central. Only the agent's traffic reaches the armed
        points, but central may have died under the last cycle: bring it back and retry
        (the same Idempotency-Key, so a retried write happens once)."""
        headers = {
            "Authorization": f"Bearer {self.keys[role]}",
            "Idempotency-Key": f"kill-rig-{next(self._n)}",
        }
        failure: Exception | None = None
        for _ in range(3):
            self.ensure_central()
            try:
                response = self.http.request(method, self.url + path, headers=headers, **kw)
            except httpx.TransportError as exc:
                # A request of a room killed mid-cycle may still run in central and kill it
                # at an armed point under this one: give a dying central time to be reaped.
                failure = exc
                deadline = time.monotonic() + 2.0
                while not self.ensure_central() and time.monotonic() < deadline:
                    time.sleep(0.01)
                continue
            if response.status_code >= 300:
                raise RuntimeError(f"{method} {path}: {response.status_code} {response.text}")
            return response.json()
        raise Violation(f"{method} {path}: central did not answer three times: {failure!r}")

    def setup(self) -> None:
        self.start_central("")
        self.member = str(self.call("POST", "/v1/members", json={})["id"])
        now = datetime.now(UTC)
        stay = {
            "member_id": self.member,
            "property_id": PROPERTY,
            "arrival": now.isoformat(),
            "departure": (now + timedelta(days=3)).isoformat(),
            "nightly_rate": "800.00",
        }
        self.stay = str(self.call("POST", "/v1/stays", json=stay)["id"])
        self.call("POST", f"/v1/stays/{self.stay}/check-in", json={"room_id": ROOM})
        # The room's first pull is a snapshot, which carries no queued commands: take it
        # before central queues any, so every command after it must reach the room.
        check(self.run_cycle(-1, "", None, None, spends=0, attempts=5) == 0, "first sync failed")

    def central_changes(self, cycle: int) -> None:
        """What central changes for the room before a cycle: a staff command every cycle
        (so every first page has an item), the member's playlist and the config now and then."""
        room = f"/v1/sync/rooms/{PROPERTY}/{ROOM}"
        self.call("POST", f"{room}/commands", json={"action": "make_up_room_done"})
        if cycle % 3 == 0:
            prefs = self._prefs("audio", "welcome_playlist", f"central-{cycle}")
            self.call(
                "PUT", f"/v1/members/{self.member}/preferences", json=prefs.model_dump(mode="json")
            )
            self.central_pref = cycle
        if cycle % 5 == 0:
            settings = {"settings": {"scenes": {"default_light_pct": cycle % 101}}}
            self.call("PUT", f"{room}/config", "admin", json=settings)

    # --- the plan -----------------------------------------------------------------------------

    def _missing(self, points: list[str]) -> list[str]:
        return [p for p in points if not self.hit[p]]

    def central_arm(self) -> str:
        missing = self._missing(CENTRAL_POINTS)
        point = missing[0] if missing else self.rng.choice(CENTRAL_POINTS)
        return f"{point}@{1 if missing else self.rng.randint(1, 4)}"

    def agent_plan(self) -> tuple[str, float | None]:
        """(the agent's arming, a delay after which the parent kills it, or None)."""
        missing = self._missing(AGENT_POINTS)
        if missing:
            return f"{missing[0]}@1", None
        roll = self.rng.random()
        if roll < 0.4:
            return f"{self.rng.choice(AGENT_POINTS)}@{self.rng.randint(1, 3)}", None
        if roll < 0.6:
            return f"random:0.08:{self.rng.randrange(1 << 30)}", None
        if roll < 0.9:
            return "", self.rng.uniform(0.0, self.agent_s)
        return "", None

    # --- one cycle ----------------------------------------------------------------------------

    def ensure_central(self, arm: str | None = None) -> bool:
        """Restart central if it died (True), armed for the next point unless `arm` says."""
        if self.central_pid:
            pid, status = os.waitpid(self.central_pid, os.WNOHANG)
            if pid == 0:
                return False
            self._reaped(pid, status)
            self.central_integrity()
        self.start_central(self.central_arm() if arm is None else arm)
        return True

    def run_cycle(
        self,
        cycle: int,
        arm: str,
        agent_kill: float | None,
        central_kill: float | None,
        *,
        spends: int,
        attempts: int,
        heal: bool = False,
    ) -> int:
        started = time.monotonic()
        pid = self.spawn_agent(arm, cycle, spends, attempts)
        status, limit = -1, started + 120
        while True:
            done, code = os.waitpid(pid, os.WNOHANG)
            gone, cstatus = os.waitpid(self.central_pid, os.WNOHANG)
            if gone:
                self._reaped(gone, cstatus)
                self.central_integrity()
                self.start_central("" if heal else self.central_arm())
            if done:
                status = code
                break
            elapsed = time.monotonic() - started
            if agent_kill is not None and elapsed >= agent_kill:
                os.kill(pid, signal.SIGKILL)
                agent_kill = None
            if central_kill is not None and elapsed >= central_kill:
                os.kill(self.central_pid, signal.SIGKILL)
                central_kill = None
            check(time.monotonic() < limit, f"cycle {cycle}: the agent hung for 120 s")
            time.sleep(0.002)
        if not self._reaped(pid, status):
            self.agent_s = 0.8 * self.agent_s + 0.2 * (time.monotonic() - started)
        return status

    # --- the invariants -----------------------------------------------------------------------

    def integrity(self, path: Path) -> None:
        with sqlite3.connect(path) as conn:
            result = conn.execute("PRAGMA integrity_check").fetchone()[0]
        conn.close()
        check(result == "ok", f"{path.name} failed PRAGMA integrity_check: {result}")

    def central_integrity(self, deep: bool = False) -> None:
        """Central's database after a kill of central: SQLite's own check, then what a
        half-applied accept would break on either engine: every ledger hash chain and stored
        balance recomputes (`verify_ledger`); each agent's dedupe high-water mark is the top
        `seq` it recorded, its recorded seqs have no gap or twin; no dedupe record without
        its effect (an accepted purchase without its earn) and no effect without its record
        or its points transfer. `deep` (at the heals) on PostgreSQL: amcheck's
        `bt_index_check` with heapallindexed on every B-tree index of the schema."""
        if not self.pg:
            self.integrity(self.central_db)
        self.summary.central_checks += 1
        with self.reader.connect() as conn:
            self._snapshot(conn)
            report = verify_ledger(conn)
            check(report.ok, f"central's ledger fails verification: {report.problems[:3]}")
            for agent, high, top, low, rows, seqs in conn.execute(text(DEDUPE_SQL)):
                check(
                    rows == seqs and (rows == 0 or (top == high and top - low + 1 == rows)),
                    f"agent {agent}: dedupe mark {high}, recorded seqs {low}..{top}: "
                    f"{rows} records for {seqs} seqs",
                )
            for what, sql in ORPHANS.items():
                found = conn.execute(text(sql)).scalars().all()
                check(not found, f"central holds {what}: {found[:3]}")
            if deep and self.pg:
                checked = conn.execute(text(AMCHECK_SQL)).scalar_one()
                check(checked > 0, "amcheck checked no index")
                self.summary.amchecked_indexes = int(checked)

    def _agent_state(self) -> dict[str, Any]:
        with sqlite3.connect(self.agent_db) as db:
            meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
            outbox = db.execute("SELECT event_id, kind, sent_at, rejected FROM outbox").fetchall()
            cursors = dict(db.execute("SELECT stream, seq FROM sync_cursors").fetchall())
            commands = {r[0] for r in db.execute("SELECT command_id FROM commands")}
            config = db.execute("SELECT version FROM room_config WHERE id = 1").fetchone()
            prefs = db.execute(
                "SELECT doc FROM preferences WHERE member_id = ?", [self.member]
            ).fetchone()
        db.close()
        return {
            "agent_id": meta.get("agent_id"),
            "hlc": meta.get("hlc"),
            "events": {r[0] for r in outbox},
            "acked": {r[0] for r in outbox if r[2] is not None and r[3] is None},
            "rejected": [r[0] for r in outbox if r[3] is not None],
            "pending": sum(1 for r in outbox if r[2] is None),
            "spends": {r[0] for r in outbox if r[1] == "room_spend"},
            "cursors": cursors,
            "commands": commands,
            "config": int(config[0]) if config else 0,
            "prefs": None if prefs is None else MemberPreferences.model_validate_json(prefs[0]),
        }

    def _snapshot(self, conn: Connection) -> None:
        """Make every read on `conn` see the same commit (see the reader above)."""
        if not self.pg:
            conn.exec_driver_sql("BEGIN")

    def _central_state(self, agent_id: str | None) -> dict[str, Any]:
        with self.reader.connect() as conn:
            self._snapshot(conn)
            events = {
                r[0]: r[1]
                for r in conn.execute(
                    text("SELECT event_id, kind FROM agent_events WHERE agent_id = :a"),
                    {"a": agent_id},
                )
            }
            spends = conn.execute(
                text("SELECT event_id, points, transfer_id FROM room_spends WHERE member_id = :m"),
                {"m": self.member},
            ).all()
            transfers = conn.execute(
                text("SELECT count(*) FROM transfers WHERE id LIKE 't_rs_%'")
            ).scalar_one()
            pseudonym = conn.execute(
                text("SELECT pseudonym FROM members WHERE id = :m"), {"m": self.member}
            ).scalar_one()
            posted = balance(conn, member_account(pseudonym, "points")).posted
            changes = conn.execute(
                text(
                    "SELECT seq, stream, key, document FROM sync_changes "
                    "WHERE property_id = :p AND room_id = :r ORDER BY seq"
                ),
                {"p": PROPERTY, "r": ROOM},
            ).all()
            dead = conn.execute(text("SELECT count(*) FROM sync_dead_letters")).scalar_one()
        return {
            "events": events,
            "spends": spends,
            "transfers": int(transfers),
            "balance": int(posted),
            "changes": changes,
            "dead": int(dead),
        }

    def invariants(self, final: bool = False) -> None:
        self.summary.checks += 1
        self.integrity(self.agent_db)
        a = self._agent_state()
        c = self._central_state(a["agent_id"])
        central_ids = set(c["events"])
        check(central_ids <= a["events"], "central holds events the room never wrote")
        lost = a["acked"] - central_ids
        check(not lost, f"{len(lost)} events acknowledged by central are not there: lost")
        check(not a["rejected"] and c["dead"] == 0, f"events refused: {a['rejected'][:3]}")
        accepted = {e for e, kind in c["events"].items() if kind == "room_spend"}
        rows = c["spends"]
        check(
            len(rows) == len(accepted) == c["transfers"],
            f"counted twice: {len(rows)} earns and {c['transfers']} points transfers for "
            f"{len(accepted)} accepted purchases",
        )
        check(
            c["balance"] == sum(int(r[1]) for r in rows),
            f"balance {c['balance']} is not the sum of the earns",
        )
        hlc = _hlc(a["hlc"])
        check(hlc >= self.hlc, f"the room's HLC went back: {self.hlc} -> {hlc}")
        self.hlc = hlc
        self._cursors(a, c)
        prefs: MemberPreferences | None = a["prefs"]
        mine = prefs.audio.source if prefs else None
        value = int(mine.value.split("-")[1]) if mine is not None else -1
        check(value >= self.room_pref, f"the room's change room-{self.room_pref} was lost")
        self.room_pref = value
        if final:
            self._healed(a, c)

    def _cursors(self, a: dict[str, Any], c: dict[str, Any]) -> None:
        cursors: dict[str, int] = a["cursors"]
        top = max((r[0] for r in c["changes"]), default=0)
        for stream, seq in cursors.items():
            check(seq <= top, f"cursor {stream}={seq} is past central's feed ({top})")
        config = 0
        for seq, stream, key, document in c["changes"]:
            if stream == "commands" and seq <= cursors.get("commands", 0):
                check(
                    key in a["commands"],
                    f"cursor commands={cursors['commands']} is ahead "
                    f"of the applied data: command {key} (seq {seq}) is missing",
                )
            if stream == "config" and seq <= cursors.get("config", 0):
                config = max(config, int(json.loads(document)["version"]))
        check(a["config"] >= config, f"cursor config is ahead: version {config} not applied")

    def _healed(self, a: dict[str, Any], c: dict[str, Any]) -> None:
        check(a["pending"] == 0, f"{a['pending']} events still pending after healing")
        accepted = {e for e, kind in c["events"].items() if kind == "room_spend"}
        check({r[0] for r in c["spends"]} == accepted, "an earn keyed by no accepted purchase")
        check(set(c["events"]) == a["events"], "after healing central's events != the room's")
        check(len(c["spends"]) == len(a["spends"]), "a purchase was not earned")
        top = max((r[0] for r in c["changes"]), default=0)
        check(all(v == top for v in a["cursors"].values()), "cursors not at central's watermark")
        profile = MemberPreferences.model_validate(
            self.call("GET", f"/v1/members/{self.member}/preferences")
        )
        prefs: MemberPreferences | None = a["prefs"]
        check(prefs is not None, "the room lost the member's profile")
        assert prefs is not None
        for side, doc in (("central", profile), ("room", prefs)):
            source, playlist = doc.audio.source, doc.audio.welcome_playlist
            check(
                source is not None and source.value == f"room-{self.room_pref}",
                f"{side} lost the room's change room-{self.room_pref}: {source}",
            )
            if self.central_pref >= 0:
                check(
                    playlist is not None and playlist.value == f"central-{self.central_pref}",
                    f"{side} lost central's change central-{self.central_pref}: {playlist}",
                )

    # --- the run ------------------------------------------------------------------------------

    def heal(self, cycle: int) -> None:
        self.ensure_central()
        code = self.run_cycle(cycle, "", None, None, spends=0, attempts=50, heal=True)
        if code != 0:  # an armed central died under it: it came back unarmed, try again
            self.ensure_central("")
            code = self.run_cycle(cycle, "", None, None, spends=0, attempts=50, heal=True)
        check(code == 0, f"healing: the room could not finish its sync (status {code})")
        self.invariants(final=True)
        self.central_integrity(deep=True)
        self.summary.heals += 1

    def run(self, kills: int, heal_every: int, time_limit: float) -> Summary:
        started = time.monotonic()
        s = self.summary
        try:
            self.setup()
            cycle = 0
            while s.kills < kills or self._missing(list(faults.POINTS)):
                check(
                    time.monotonic() - started < time_limit,
                    f"{s.kills} kills in {time_limit:.0f} s, {kills} asked: too slow",
                )
                cycle += 1
                s.cycles = cycle
                self.ensure_central()
                self.central_changes(cycle)
                arm, agent_kill = self.agent_plan()
                central_kill = (
                    self.rng.uniform(0.0, self.agent_s) if self.rng.random() < 0.2 else None
                )
                self.run_cycle(
                    cycle,
                    arm,
                    agent_kill,
                    central_kill,
                    spends=self.rng.randint(1, 3),
                    attempts=6,
                )
                self.invariants()
                if self.verbose:
                    print(
                        f"cycle {cycle}: {s.kills} kills, {time.monotonic() - started:.1f} s",
                        file=sys.stderr,
                    )
                if cycle % heal_every == 0:
                    self.heal(cycle)
            self.heal(cycle)
        except Violation as exc:
            s.violation = str(exc)
        except Exception as exc:  # noqa: BLE001 - the rig broke: say so in the summary
            s.error = f"{type(exc).__name__}: {exc}"
            traceback.print_exc()
        finally:
            self.stop()
            s.duration_s = round(time.monotonic() - started, 1)
            s.points_hit = dict(sorted(self.hit.items()))
            s.points_missed = self._missing(list(faults.POINTS))
        self._totals()
        return s

    def _totals(self) -> None:
        s = self.summary
        try:
            a = self._agent_state()
            c = self._central_state(a["agent_id"])
        except (sqlite3.Error, OSError) as exc:  # nothing to count: say so, do not guess
            s.violation = s.violation or f"could not read the databases: {exc}"
            return
        s.events = len(a["events"])
        s.purchases = len(a["spends"])
        s.points = c["balance"]
        s.lost = len(a["events"] - set(c["events"])) if a["pending"] == 0 else -1
        accepted = sum(1 for kind in c["events"].values() if kind == "room_spend")
        s.doubled = len(c["spends"]) - accepted

    def stop(self) -> None:
        if self.central_pid:
            try:
                os.kill(self.central_pid, signal.SIGKILL)
                os.waitpid(self.central_pid, 0)
            except (ProcessLookupError, ChildProcessError):
                pass
            self.central_pid = 0
        self.sock.close()
        self.http.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kills", type=int, default=200, help="SIGKILLs to reach (default 200)")
    parser.add_argument("--heal-every", type=int, default=25, help="cycles between heals")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--time-limit", type=float, default=600.0, help="seconds, then fail")
    parser.add_argument("--work", type=Path, default=None, help="directory for the databases")
    parser.add_argument("--json", type=Path, default=None, help="write the summary here")
    parser.add_argument("--verbose", action="store_true", help="a line per cycle on stderr")
    parser.add_argument(
        "--postgres",
        action="store_true",
        help="central on a throwaway PostgreSQL database (as in production), not SQLite",
    )
    args = parser.parse_args()
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1 << 30)
    work = args.work or Path(os.environ.get("TMPDIR", "/tmp")) / f"kill-rig-{os.getpid()}"
    work.mkdir(parents=True, exist_ok=True)
    pg = TemporaryPostgres(prefix="smartroom_killrig").start() if args.postgres else None
    try:
        rig = Rig(work, seed, pg.url if pg else None)
        rig.verbose = args.verbose
        summary = rig.run(args.kills, args.heal_every, args.time_limit)
        rig.reader.dispose()
    finally:
        if pg is not None:
            pg.close()
    if args.json:
        args.json.write_text(json.dumps({"seed": seed, **asdict(summary)}, indent=2))
    print(f"kill rig (seed {seed}): {summary.line()}")
    if summary.violation:
        print(f"INVARIANT VIOLATED: {summary.violation}")
        return 1
    if summary.error:
        print(f"RIG FAILED: {summary.error} (children's output: {work / 'children.log'})")
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
