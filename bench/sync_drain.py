"""Sync benchmarks: drain a 100,000-event backlog into PostgreSQL through the real HTTP
endpoint (compared in the same run with a raw insert loop of the same rows), bytes on the
wire per event, change-to-room latency over the long poll, and convergence after an outage.

    ./dev python -m bench.sync_drain                 # writes docs/benchmarks.md (sync-drain)
    ./dev python -m bench.sync_drain --events 20000 --outages 20  # a quicker run

A benchmark, so it times with perf_counter (the rules forbid it only outside bench/).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg

from agent.presence.sealing import Sealer
from agent.store import AgentStore, NewEvent
from bench.record import record
from loyalty.auth import create_key
from loyalty.db.engine import make_engine
from loyalty.db.migrate import upgrade
from smartroom.clock import SystemClock
from smartroom.services import PortProcess, TemporaryPostgres, free_port
from sync.client import SyncClient
from sync.engine import SyncEngine
from sync.outbox import Budget, BudgetClass
from sync.wire import EventKind, RoomSpend
from sync.worker import Hooks, SyncWorker

PROPERTY, ROOM = "SHA-01", "1201"
BIG = Budget(max_events=1_000_000, max_bytes=2_000_000_000)
PER_STAY = 5_000  # backlog events per stay (50 in-room spends each)


class Central(PortProcess):
    """Central as production runs it: `loyalty serve` (one uvicorn worker) in a process of
    its own on the bench's PostgreSQL, so the room's upload side (this process) and central's
    accept side do not share one interpreter. `stop()`/`start()` keep the port (an outage)."""

    def __init__(self, database_url: str, log: Path) -> None:
        port = free_port()
        argv = [sys.executable, "-m", "loyalty.cli", "serve", "--database", database_url]
        env = {**os.environ, "LOYALTY_LOG_LEVEL": "warning"}
        super().__init__(
            [*argv, "--port", str(port)], port, log=log, env=env, start_timeout_s=120, grace_s=30
        )
        self.url = f"http://127.0.0.1:{port}"


class Stage:
    def __init__(self, url: str, work: Path, stays: int = 1) -> None:
        self.clock = SystemClock()
        upgrade(url)
        # Keys straight into central's database (only their hashes are stored), as
        # `loyalty keys create` does; everything else goes over HTTP to the central process.
        engine = make_engine(url, pool_size=1)
        with engine.begin() as conn:
            self.admin = create_key(conn, role="admin", now=self.clock.now())[1]
            self.staff = create_key(conn, role="staff", now=self.clock.now())[1]
            self.agent = create_key(
                conn, role="agent", property_id=PROPERTY, room_id=ROOM, now=self.clock.now()
            )[1]
        engine.dispose()
        self.server = Central(url, work / "central.log")
        self.server.start()
        self.url = self.server.url
        self.http = httpx.Client(base_url=self.url, timeout=30)
        n = 0

        def call(method: str, path: str, key: str, **kw: Any) -> Any:
            nonlocal n
            n += 1
            headers = {
                "Authorization": f"Bearer {key}",
                "Idempotency-Key": f"bench-{n}-{time.time_ns()}",
            }
            response = self.http.request(method, path, headers=headers, **kw)
            response.raise_for_status()
            return response.json()

        self.call = call
        # A backlog this long spans many guests: one stay per PER_STAY events, checked in
        # and out in turn (the last one stays in), 50 spends each, as real stays have.
        self.stays: list[tuple[str, str]] = []
        for i in range(stays):
            member = call("POST", "/v1/members", self.staff, json={})["id"]
            now = self.clock.now()
            stay = call(
                "POST",
                "/v1/stays",
                self.staff,
                json={
                    "member_id": member,
                    "property_id": PROPERTY,
                    "arrival": now.isoformat(),
                    "departure": (now + timedelta(days=3)).isoformat(),
                    "nightly_rate": "800.00",
                },
            )["id"]
            call("POST", f"/v1/stays/{stay}/check-in", self.staff, json={"room_id": ROOM})
            if i < stays - 1:
                folio = {"folio": [{"category": "room", "amount": "2400.00"}]}
                call("POST", f"/v1/stays/{stay}/check-out", self.staff, json=folio)
            self.stays.append((member, stay))
        self.member, self.stay = self.stays[-1]
        self.dsn = ""

    def close(self) -> None:
        self.http.close()
        self.server.stop()


def fill(store: AgentStore, stage: Stage, events: int) -> None:
    """A long offline backlog: 1% in-room spend (charged to the stays in turn), 10%
    housekeeping, the rest energy."""
    spend = RoomSpend(category="minibar", item="water", amount="18.00").model_dump(mode="json")
    batch: list[NewEvent] = []
    per_stay = -(-events // len(stage.stays))
    for i in range(events):
        if i % 100 == 0:
            member, stay = stage.stays[i // per_stay]
            batch.append(NewEvent(EventKind.ROOM_SPEND, spend, stay_id=stay, member_id=member))
        elif i % 10 == 0:
            batch.append(NewEvent(EventKind.HOUSEKEEPING, {"dnd": i % 20 == 0, "via": "button"}))
        else:
            batch.append(NewEvent(EventKind.ENERGY, {"kwh": round(i * 0.001, 3), "device": "hvac"}))
        if len(batch) == 1000:
            store.commit(events=batch)
            batch = []
    if batch:
        store.commit(events=batch)


def open_store(path: Path) -> AgentStore:
    budgets: dict[BudgetClass, Budget] = {"ledger": BIG, "records": BIG, "telemetry": BIG}
    return AgentStore(
        path,
        clock=SystemClock(),
        property_id=PROPERTY,
        room_id=ROOM,
        sealer=Sealer.from_file(path.with_suffix(".key")),
        budgets=budgets,
    )


def cpu_s(pid: int) -> float:
    """User + system CPU seconds a process has used (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def backends(dsn: str) -> dict[int, float]:
    """CPU seconds of each PostgreSQL backend serving the bench's database (central's pool)."""
    with psycopg.connect(dsn) as conn:
        pids = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid()"
        ).fetchall()
    seen: dict[int, float] = {}
    for (pid,) in pids:
        with contextlib.suppress(OSError):  # a backend that ended meanwhile
            seen[pid] = cpu_s(pid)
    return seen


class CpuSplit:
    """Where the drain's CPU went: the room's side (this process), central's process and the
    PostgreSQL backends serving central (pooled connections live through the drain)."""

    def __init__(self, stage: Stage) -> None:
        self.stage = stage
        assert stage.server.proc is not None
        self.central_pid = stage.server.proc.pid
        self.start = self._sample()
        self.spent: tuple[float, float, float] = (0.0, 0.0, 0.0)

    def _sample(self) -> tuple[float, float, dict[int, float]]:
        return cpu_s(os.getpid()), cpu_s(self.central_pid), backends(self.stage.dsn)

    def stop(self) -> None:
        room, central, pg = self._sample()
        room0, central0, pg0 = self.start
        self.spent = (
            room - room0,
            central - central0,
            sum(cpu - pg0.get(pid, 0.0) for pid, cpu in pg.items()),
        )


async def drain(stage: Stage, store: AgentStore) -> tuple[float, int, int, CpuSplit]:
    client = SyncClient(stage.url, stage.agent, timeout_s=60)
    engine = SyncEngine(store, client)
    split = CpuSplit(stage)
    start = time.perf_counter()
    sent = await engine.push()
    seconds = time.perf_counter() - start
    split.stop()
    await client.aclose()
    return seconds, sent, client.bytes_sent, split


def raw_loop(dsn: str, rows: list[tuple[Any, ...]]) -> float:
    """The baseline: the same rows straight into a table shaped like agent_events, 500 per
    transaction, no HTTP, no dedupe, no effects."""
    with psycopg.connect(dsn) as conn:
        conn.execute(
            "CREATE TABLE raw_events (event_id text primary key, agent_id text, seq bigint, "
            "kind text, at timestamptz, document text)"
        )
        start = time.perf_counter()
        with conn.cursor() as cur:
            for i in range(0, len(rows), 500):
                cur.executemany(
                    "INSERT INTO raw_events VALUES (%s, %s, %s, %s, %s, %s)", rows[i : i + 500]
                )
                conn.commit()
        return time.perf_counter() - start


async def latency(stage: Stage, store: AgentStore, rounds: int) -> list[float]:
    client = SyncClient(stage.url, stage.agent, timeout_s=10)
    engine = SyncEngine(store, client)
    await engine.pull_all()
    seen: list[float] = []
    for i in range(rounds):
        poll = asyncio.create_task(engine.pull_all(wait_s=20))
        await asyncio.sleep(0.3)  # the long poll is waiting at central
        start = time.perf_counter()
        await asyncio.to_thread(
            stage.call,
            "PUT",
            f"/v1/sync/rooms/{PROPERTY}/{ROOM}/config",
            stage.admin,
            json={"settings": {"scenes": {"default_volume_pct": i % 101}}},
        )
        await poll
        config = store.room_config()
        assert config is not None and config.settings == {"scenes": {"default_volume_pct": i % 101}}
        seen.append(time.perf_counter() - start)
    await client.aclose()
    return seen


async def convergence(stage: Stage, store: AgentStore, outage_s: float) -> float:
    """Central down for `outage_s` while the room goes on (a guest's evening: 100 events, of
    which 5 minibar purchases); seconds from central being back to central holding all of
    them. The room runs its upload and download tasks as the agent does (backoff with
    jitter, the TCP probe, each direction waking the other)."""
    # The room's default timeout (5 s): central comes back as a fresh process, and its
    # first answers on a loaded machine can take longer than 2 s.
    client = SyncClient(stage.url, stage.agent)
    engine = SyncEngine(store, client)
    worker = SyncWorker(engine, store, Hooks(), SystemClock(), probe=client.probe)
    stage.server.stop()
    tasks = [asyncio.create_task(worker.run_upload()), asyncio.create_task(worker.run_download())]
    spend = RoomSpend(category="minibar", item="nuts", amount="9.00").model_dump(mode="json")
    written: list[str] = []
    for i in range(20):
        events = [NewEvent(EventKind.ENERGY, {"kwh": i / 10, "device": "hvac"})] * 4
        events.append(
            NewEvent(EventKind.ROOM_SPEND, spend, stay_id=stage.stay, member_id=stage.member)
        )
        written += [e.event_id for e in store.commit(events=events)]
        await asyncio.sleep(outage_s / 20)
    stage.server.start()  # returns once central's port accepts connections
    healed = time.perf_counter()
    while store.outbox_depth() > 0:  # noqa: ASYNC110 (polling the store is the measurement)
        await asyncio.sleep(0.02)
    took = time.perf_counter() - healed
    for task in tasks:
        task.cancel()
    # A task that ignored its cancellation would hang the agent's shutdown: fail loudly.
    done, stuck = await asyncio.wait(tasks, timeout=10)
    assert not stuck, f"sync tasks ignored cancellation: {stuck}"
    for task in done:
        with contextlib.suppress(asyncio.CancelledError):
            await task
    await client.aclose()
    with psycopg.connect(stage.dsn) as conn:
        held = conn.execute(
            "SELECT count(*) FROM agent_events WHERE event_id = ANY(%s)", [written]
        ).fetchone()
    assert held is not None and held[0] == len(written) == 100, held
    return took


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--outages", default="20,60", help="seconds, comma-separated")
    args = parser.parse_args()
    outages = [float(x) for x in args.outages.split(",")]
    load_start = os.getloadavg()[0]
    with TemporaryPostgres(prefix="sync_bench") as pg, tempfile.TemporaryDirectory() as tmp:
        stage = Stage(pg.url, Path(tmp), stays=max(1, args.events // PER_STAY))
        stage.dsn = pg.dsn
        try:
            store = open_store(Path(tmp) / "agent.db")
            start = time.perf_counter()
            fill(store, stage, args.events)
            filled = time.perf_counter() - start
            rows = [
                (e.event_id + "r", store.agent_id, e.seq, str(e.kind), e.at, e.model_dump_json())
                for e, _ in store.pending_sized(args.events)
            ]
            load_drain = os.getloadavg()[0]
            seconds, sent, wire_bytes, split = asyncio.run(drain(stage, store))
            raw = raw_loop(pg.dsn, rows)
            lat = asyncio.run(latency(stage, store, args.rounds))
            conv = [(o, asyncio.run(convergence(stage, store, o))) for o in outages]
            store.close()
        finally:
            stage.close()
    load_end = os.getloadavg()[0]
    rate, raw_rate = sent / seconds, len(rows) / raw
    p95 = statistics.quantiles(lat, n=20)[18]
    room_cpu, central_cpu, pg_cpu = split.spent
    p50 = statistics.median(lat)

    def per_k(cpu_s: float) -> str:
        return f"{cpu_s * 1e6 / sent:.0f}"

    conv_rows = "".join(
        f"| convergence after a {o:.0f} s outage (100 events, 5 of them spend, written "
        f"meanwhile) | **{c:.2f} s** | ≤ 5 s |\n"
        for o, c in conv
    )
    body = f"""
`bench/sync_drain.py`: one room's backlog (1% in-room spend earning points, charged to
{len(stage.stays)} stays in turn, 50 each; 10% housekeeping applied to the board; 89% energy
telemetry) uploaded through `POST /v1/sync/upload` (gzip, 500
events a batch, real HTTP, one upload in flight) into PostgreSQL 15, every event
deduplicated and consumed in the transaction that records it (an upload's in-room spends
settled in one pass: each stay read once, the hash-chained transfers planned in memory and
written in one statement with the spends; the dedupe records in one statement). Central
runs as production runs it, `loyalty serve` (one uvicorn worker) in a process of its own;
the room's upload path (outbox reads, batching, gzip, HTTP client) runs in the bench
process, and while a batch is at central it acknowledges the previous batch and reads the
next one. An outage stops central's process and starts a new one on
the same port; convergence is timed from its port accepting connections, so it includes a
cold central's first requests (the room at its default 5 s timeout). Load average (1 min, 2 cores
shared with other engineers): {load_start:.1f} at the start, {load_drain:.1f} when the drain
began, {load_end:.1f} at the end.

| measure | result | goal |
|---|---|---|
| drain of {sent:,} events | {seconds:.1f} s, **{rate:,.0f} events/s** | ≥ 5,000 events/s |
| raw insert loop, same rows, same database (baseline) | {raw:.1f} s, {raw_rate:,.0f} rows/s | — |
| sync / raw | {rate / raw_rate:.2f} | — |
| CPU during the drain: room side (bench process) / central process / PostgreSQL \
backends | {room_cpu:.1f} s / {central_cpu:.1f} s / {pg_cpu:.1f} s (in {seconds:.1f} s) | — |
| the same per 1,000 events | {per_k(room_cpu)} / {per_k(central_cpu)} / {per_k(pg_cpu)} \
ms | — |
| bytes on the wire per event (upload, gzip) | {wire_bytes / sent:.0f} B | — |
| writing the backlog into the room's outbox (agent SQLite, 1,000 a commit) \
| {filled:.1f} s | — |
| change at central → applied in the room (long poll), p50 / p95 of {len(lat)} \
| {p50 * 1000:.0f} ms / **{p95 * 1000:.0f} ms** | p95 ≤ 2 s |
{conv_rows}"""
    print(body)
    record("sync-drain", "Sync: backlog drain, latency, convergence", body)


if __name__ == "__main__":
    main()
