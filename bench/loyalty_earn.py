"""Earn throughput and latency over real HTTP (uvicorn workers on loopback) on PostgreSQL
and SQLite, the same earns in process (no HTTP), and raw psycopg ceilings measured in the
same run.

    ./dev python -m bench.loyalty_earn                 # defaults: 5 s phases, 32 and 128 clients
    ./dev python -m bench.loyalty_earn --seconds 10 --clients 64 --workers 2 --no-record

Per backend, one server (`loyalty.serving.serve`, 2 workers): (1) closed loops, N keep-alive
clients earning as fast as they can, for each N → earn/s, p50/p99, earns per commit and the
CPU each party used; (2) an open loop at `--rate` (500/s) offered for `--seconds` →
p50/p90/p99 measured from each request's scheduled start. On PostgreSQL also: (3) the earn
path in process (coroutines → the group-commit writer, no HTTP) → earn/s and CPU per earn
with and without the database; (4) the raw ceiling: psycopg threads doing the minimal
equivalent work (insert a transfer, update two balances) in one transaction per transfer,
as the issue defines it; (5) the same raw work with as many transfers per transaction as
the service's batches, for an apples-to-apples ratio. The load generator is raw asyncio
sockets (`bench.loyalty_load`); everything shares the machine's 2 cores, so the CPU each
party used is read from /proc and reported.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from bench.loyalty_load import LoadResult, closed_loop, open_loop, post_json
from bench.record import record
from smartroom.services import TemporaryPostgres, free_port, wait_for_port

MEMBERS = 2000
HOST = "127.0.0.1"
TICK = os.sysconf("SC_CLK_TCK")


# --- CPU accounting from /proc -----------------------------------------------------------


def _proc_cpu(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICK  # utime + stime


def _children(pid: int) -> list[int]:
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                out.append(int(stat.parent.name))
        except (OSError, ValueError, IndexError):
            continue
    return out


def _postgres_pids() -> list[int]:
    out = []
    for comm in Path("/proc").glob("[0-9]*/comm"):
        try:
            if comm.read_text().strip() == "postgres":
                out.append(int(comm.parent.name))
        except (OSError, ValueError):
            continue
    return out


def _machine_busy() -> float:
    """CPU seconds all cores spent busy since boot."""
    parts = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = parts[3] + parts[4]
    return (sum(parts[:8]) - idle) / TICK


@dataclass
class CpuSplit:
    """CPU seconds per party over one phase."""

    server: float = 0.0
    loadgen: float = 0.0
    database: float = 0.0
    machine: float = 0.0
    marks: dict[str, float] = field(default_factory=dict)
    pg: dict[int, float] = field(default_factory=dict)

    @classmethod
    def start(cls, server_pids: list[int]) -> CpuSplit:
        split = cls()
        split.marks = {
            "server": sum(_proc_cpu(p) for p in server_pids),
            "loadgen": time.process_time(),
            "machine": _machine_busy(),
        }
        # Backends that exit during the phase are missed; ours live as long as the pool.
        split.pg = {pid: _proc_cpu(pid) for pid in _postgres_pids()}
        return split

    def stop(self, server_pids: list[int]) -> CpuSplit:
        self.server = sum(_proc_cpu(p) for p in server_pids) - self.marks["server"]
        self.loadgen = time.process_time() - self.marks["loadgen"]
        self.machine = _machine_busy() - self.marks["machine"]
        self.database = sum(_proc_cpu(p) - self.pg.get(p, 0.0) for p in _postgres_pids())
        return self

    def per_request_us(self, requests: int) -> tuple[float, float, float, float, float]:
        """µs of CPU per request: service workers, load generator, PostgreSQL, everything
        else on the machine (other tenants), machine total."""
        n = max(1, requests) / 1e6
        rest = self.machine - self.server - self.loadgen - self.database
        return (
            self.server / n,
            self.loadgen / n,
            self.database / n,
            rest / n,
            self.machine / n,
        )


# --- setup ---------------------------------------------------------------------------------


def prepare(url: str) -> tuple[str, list[str]]:
    """Migrate, create a staff key and the members; return (key, member ids)."""
    from loyalty.app import create_app
    from loyalty.auth import create_key
    from loyalty.schemas import MemberCreate
    from loyalty.services.members import create_member
    from loyalty.settings import LoyaltySettings

    app = create_app(LoyaltySettings(database_url=url), migrate=True)
    ctx = app.state.ctx
    with ctx.engine.begin() as conn:
        _id, key = create_key(conn, role="staff", now=ctx.clock.now())
        members = [create_member(conn, ctx, MemberCreate()) for _ in range(MEMBERS)]
    ctx.engine.dispose()
    return key, members


def serve(url: str, workers: int) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    env = {
        **os.environ,
        "LOYALTY_DATABASE_URL": url,
        "LOYALTY_LOG_LEVEL": "warning",
        "LOYALTY_DB_POOL_SIZE": "4",
    }
    code = (
        f"from loyalty.serving import serve; serve(host={HOST!r}, port={port}, workers={workers})"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(HOST, port, timeout=240)  # two workers importing on a loaded machine
    except Exception:
        stop(proc)
        raise
    time.sleep(1.0 if workers > 1 else 0.3)
    return proc, port


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def requests_for(key: str, members: list[str], tag: str) -> Any:
    """A request factory: request i earns for member i (mod), with a unique key."""
    headers = {"Authorization": f"Bearer {key}"}
    bodies = [{"member_id": m, "activity": "fnb", "amount": "88.00"} for m in members]

    def make(i: int) -> bytes:
        return post_json(
            "/v1/earn",
            bodies[(i * 7919) % len(bodies)],
            {**headers, "Idempotency-Key": f"{tag}-{i:010d}"},
        )

    return make


# --- phases --------------------------------------------------------------------------------


@dataclass
class Closed:
    clients: int
    result: LoadResult
    cpu: CpuSplit
    batch_mean: float


@dataclass
class HttpFigures:
    closed: list[Closed]
    opened: list[LoadResult]


def _mean_batch(url: str, since: float, until: float) -> float:
    """Earns per transaction in [since, until]: a batch's transfers share one timestamp."""
    from datetime import UTC, datetime

    from sqlalchemy import create_engine, text

    def stamp(t: float) -> datetime:
        # SQLite stores naive UTC; PostgreSQL compares aware timestamps.
        at = datetime.fromtimestamp(t, UTC)
        return at.replace(tzinfo=None) if url.startswith("sqlite") else at

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            earns, batches = conn.execute(
                text(
                    "SELECT count(*), count(DISTINCT created_at) FROM transfers "
                    "WHERE ledger = 'points' AND code LIKE 'earn_%' "
                    "AND created_at >= :a AND created_at <= :b"
                ),
                {"a": stamp(since), "b": stamp(until)},
            ).one()
    finally:
        engine.dispose()
    return float(earns) / batches if batches else float("nan")


def run_http(
    url: str, workers: int, clients: list[int], seconds: float, rate: float, rounds: int = 2
) -> HttpFigures:
    key, members = prepare(url)
    proc, port = serve(url, workers)
    run = uuid.uuid4().hex[:6]
    closed: list[Closed] = []
    try:
        pids = [proc.pid, *_children(proc.pid)]
        warm = requests_for(key, members, f"w{run}")
        asyncio.run(closed_loop(HOST, port, warm, clients=8, seconds=1))
        for n in clients:
            since = time.time()
            cpu = CpuSplit.start(pids)
            make = requests_for(key, members, f"c{n}{run}")
            result = asyncio.run(closed_loop(HOST, port, make, clients=n, seconds=seconds))
            cpu.stop(pids)
            closed.append(Closed(n, result, cpu, _mean_batch(url, since, time.time())))
        opened = [
            asyncio.run(
                open_loop(
                    HOST,
                    port,
                    requests_for(key, members, f"o{n}{run}"),
                    rate=rate,
                    seconds=seconds,
                )
            )
            for n in range(rounds)
        ]
    finally:
        stop(proc)
    return HttpFigures(closed, opened)


def run_in_process(url: str, callers: int, seconds: float) -> tuple[float, float, float, float]:
    """The earn path without HTTP: `callers` coroutines → the app's group-commit writer,
    on one event loop as in a worker. Returns (earn/s, µs of CPU per earn in this process,
    µs of PostgreSQL CPU per earn, mean batch)."""
    from loyalty.app import create_app
    from loyalty.schemas import EarnRequest
    from loyalty.services.earn_batch import EarnJob
    from loyalty.settings import LoyaltySettings

    _key, members = prepare(url)
    app = create_app(LoyaltySettings(database_url=url))
    writer = app.state.earn_writer
    bodies = [EarnRequest(member_id=m, activity="fnb", amount=Decimal("88.00")) for m in members]

    async def phase(count: int, secs: float) -> tuple[float, float, float, float]:
        done = [0]
        deadline = time.perf_counter() + secs

        async def caller(n: int) -> None:
            i = 0
            while time.perf_counter() < deadline:
                i += 1
                body = bodies[(n * 7919 + i) % len(bodies)]
                outcome = await writer.submit(EarnJob.of("bench", uuid.uuid4().hex, body))
                if outcome.status != 200:
                    raise RuntimeError(f"earn failed: {outcome.body}")
            done[0] += i

        b0, j0 = writer.batches, writer.jobs
        split = CpuSplit.start([])
        t0 = time.perf_counter()
        await asyncio.gather(*(caller(n) for n in range(count)))
        elapsed = time.perf_counter() - t0
        split.stop([])
        mean = (writer.jobs - j0) / max(1, writer.batches - b0)
        n = max(1, done[0])
        return done[0] / elapsed, split.loadgen / n * 1e6, split.database / n * 1e6, mean

    async def both() -> tuple[float, float, float, float]:
        await phase(8, 1.0)
        return await phase(callers, seconds)

    try:
        return asyncio.run(both())
    finally:
        writer.close()
        app.state.ctx.engine.dispose()


def raw_ceiling(dsn: str, threads: int, seconds: float, per_tx: int = 1) -> float:
    """Transfers/s of N psycopg threads doing the minimal equivalent of an earn: insert a
    transfer, credit the member, debit the system row; `per_tx` transfers per transaction."""
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS raw_bal (id int PRIMARY KEY, bal bigint)")
        conn.execute(
            "CREATE TABLE IF NOT EXISTS raw_tx "
            "(id text PRIMARY KEY, a int, b int, amt bigint, at timestamptz)"
        )
        conn.execute(
            "INSERT INTO raw_bal SELECT g, 0 FROM generate_series(0, 2000) g ON CONFLICT DO NOTHING"
        )
    count = [0]
    lock = threading.Lock()
    deadline = time.perf_counter() + seconds

    def worker(n: int) -> None:
        done = 0
        with psycopg.connect(dsn) as conn:
            i = 0
            while time.perf_counter() < deadline:
                members = []
                for _ in range(per_tx):
                    i += 1
                    members.append(1 + (n * 7919 + i) % 2000)
                with conn.transaction(), conn.cursor() as cur:
                    cur.executemany(
                        "INSERT INTO raw_tx VALUES (%s, 0, %s, 88, now())",
                        [(uuid.uuid4().hex, m) for m in members],
                    )
                    cur.executemany(
                        "UPDATE raw_bal SET bal = bal + 88 WHERE id = %s", [(m,) for m in members]
                    )
                    cur.execute("UPDATE raw_bal SET bal = bal - %s WHERE id = 0", (88 * per_tx,))
                done += per_tx
        with lock:
            count[0] += done

    start = time.perf_counter()
    pool = [threading.Thread(target=worker, args=(n,)) for n in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return count[0] / (time.perf_counter() - start)


def pg_settings(dsn: str) -> str:
    """The durability settings of the server the run used, as it reports them."""
    import psycopg

    names = ("fsync", "synchronous_commit", "full_page_writes", "wal_sync_method")
    with psycopg.connect(dsn, autocommit=True) as conn:
        return ", ".join(
            f"`{name}={conn.execute(f'SHOW {name}').fetchone()[0]}`"  # type: ignore[index]
            for name in names
        )


def sqlite_ceiling(path: Path, seconds: float, per_tx: int = 1) -> float:
    """Transfers/s of one sqlite3 connection (SQLite has one writer) doing the minimal
    equivalent of an earn with the service's settings (WAL, synchronous=FULL): insert a
    transfer, credit the member, debit the system row; `per_tx` per transaction."""
    import sqlite3

    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("CREATE TABLE IF NOT EXISTS raw_bal (id INTEGER PRIMARY KEY, bal INTEGER)")
    conn.execute(
        "CREATE TABLE IF NOT EXISTS raw_tx (id TEXT PRIMARY KEY, a INT, b INT, amt INT, at TEXT)"
    )
    conn.executemany("INSERT OR IGNORE INTO raw_bal VALUES (?, 0)", [(i,) for i in range(2001)])
    done = i = 0
    start = time.perf_counter()
    deadline = start + seconds
    while time.perf_counter() < deadline:
        members = []
        for _ in range(per_tx):
            i += 1
            members.append(1 + (i * 7919) % 2000)
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(
            "INSERT INTO raw_tx VALUES (?, 0, ?, 88, datetime('now'))",
            [(uuid.uuid4().hex, m) for m in members],
        )
        conn.executemany("UPDATE raw_bal SET bal = bal + 88 WHERE id = ?", [(m,) for m in members])
        conn.execute("UPDATE raw_bal SET bal = bal - ? WHERE id = 0", (88 * per_tx,))
        conn.execute("COMMIT")
        done += per_tx
    conn.close()
    return done / (time.perf_counter() - start)


# --- report --------------------------------------------------------------------------------


def _closed_row(name: str, c: Closed) -> str:
    r = c.result
    server, loadgen, database, rest, total = c.cpu.per_request_us(r.count)
    ours = server + loadgen + database
    return (
        f"| {name} | {c.clients} | **{r.rate:.0f}** | {r.percentile(0.5):.1f} | "
        f"{r.percentile(0.99):.1f} | {r.errors} | {c.batch_mean:.1f} | {server:.0f} / "
        f"{loadgen:.0f} / {database:.0f} / {rest:.0f} ({total:.0f}) | {2e6 / ours:.0f} |"
    )


def _open_rows(name: str, rounds: list[LoadResult], rate: float) -> str:
    return "\n".join(
        f"| {name} | {n + 1} | {rate:g} | {o.count} | {o.percentile(0.5):.1f} | "
        f"{o.percentile(0.9):.1f} | **{o.percentile(0.99):.1f}** | {o.percentile(1.0):.1f} | "
        f"{o.errors} |"
        for n, o in enumerate(rounds)
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument(
        "--clients", default="32,128", help="closed-loop client counts, comma-separated"
    )
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rate", type=float, default=500.0)
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args()
    clients = [int(n) for n in args.clients.split(",")]
    results: dict[str, HttpFigures] = {}
    load_before = os.getloadavg()
    with TemporaryPostgres(prefix="loyalty_bench", durable=True) as pg:
        durability = pg_settings(pg.dsn)
        print(f"PostgreSQL: {durability}", flush=True)
        results["PostgreSQL"] = run_http(pg.url, args.workers, clients, args.seconds, args.rate)
        for c in results["PostgreSQL"].closed:
            print(_closed_row("PostgreSQL", c), flush=True)
        print(_open_rows("PostgreSQL", results["PostgreSQL"].opened, args.rate), flush=True)
    with TemporaryPostgres(prefix="loyalty_bench", durable=True) as pg:
        inproc_rate, inproc_us, inproc_pg_us, inproc_batch = run_in_process(
            pg.url, clients[0], args.seconds
        )
        print(
            f"in process: {inproc_rate:.0f} earn/s, {inproc_us:.0f} µs service CPU and "
            f"{inproc_pg_us:.0f} µs PostgreSQL CPU per earn, mean batch {inproc_batch:.1f}",
            flush=True,
        )
    best = max(results["PostgreSQL"].closed, key=lambda c: c.result.rate)
    with TemporaryPostgres(prefix="loyalty_bench", durable=True) as pg:
        ceiling = raw_ceiling(pg.dsn, clients[0], args.seconds)
        batch = max(1, round(best.batch_mean))
        batched = raw_ceiling(pg.dsn, clients[0], args.seconds, per_tx=batch)
        print(f"raw ceiling {ceiling:.0f} tx/s; {batched:.0f} transfers/s at {batch} per tx")
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        results["SQLite"] = run_http(url, args.workers, clients, args.seconds, args.rate)
        for c in results["SQLite"].closed:
            print(_closed_row("SQLite", c), flush=True)
        print(_open_rows("SQLite", results["SQLite"].opened, args.rate), flush=True)
        best_sqlite = max(results["SQLite"].closed, key=lambda c: c.result.rate)
        sq_ceiling = sqlite_ceiling(Path(tmp) / "raw.db", args.seconds)
        sq_batch = max(1, round(best_sqlite.batch_mean))
        sq_batched = sqlite_ceiling(Path(tmp) / "raw.db", args.seconds, per_tx=sq_batch)
        print(f"sqlite ceiling {sq_ceiling:.0f} tx/s; {sq_batched:.0f}/s at {sq_batch} per tx")
    load_after = os.getloadavg()

    pg_rate = best.result.rate
    closed_rows = "\n".join(_closed_row(name, c) for name, f in results.items() for c in f.closed)
    open_rows = "\n".join(_open_rows(name, f.opened, args.rate) for name, f in results.items())
    per_core = 1e6 / (inproc_us + inproc_pg_us)
    body = (
        f"`./dev python -m bench.loyalty_earn --seconds {args.seconds:g} --clients "
        f"{args.clients} --workers {args.workers} --rate {args.rate:g}`: `POST /v1/earn` (API "
        "key, Idempotency-Key, member lock, rule evaluation, limit and velocity checks, two "
        "hash-chained ledger transfers, idempotency record) over loopback HTTP/1.1 "
        f"keep-alive to {args.workers} uvicorn workers (`loyalty.serving.serve`), group commit "
        f"(concurrent earns share one transaction), {MEMBERS} members. The load generator "
        "(raw asyncio sockets), the workers, PostgreSQL and the other tenants of this machine "
        "share the same 2 cores; the CPU each used is read from /proc. The last column "
        "projects a dedicated 2-core machine: 2 s of CPU per second over the CPU one earn "
        "costs us (service + load generator + PostgreSQL), other tenants excluded.\n\n"
        "Closed loop (each client sends its next earn when the last is answered):\n\n"
        "| backend | clients | earn/s | p50 ms | p99 ms | errors | earns per commit | "
        "CPU µs per earn: service / load gen. / PostgreSQL / other tenants (machine) | "
        "earn/s projected, dedicated 2 cores |\n"
        "|---|---|---|---|---|---|---|---|---|\n"
        f"{closed_rows}\n\n"
        f"Open loop ({args.rate:g} earns/s offered for {args.seconds:g} s, twice, right after "
        "the closed loops; latency from each request's scheduled start, so stalls count):\n\n"
        "| backend | round | offered /s | requests | p50 ms | p90 ms | p99 ms | max ms | "
        "errors |\n"
        "|---|---|---|---|---|---|---|---|---|\n"
        f"{open_rows}\n\n"
        f"In process (no HTTP; {clients[0]} coroutines → the group-commit writer, "
        f"PostgreSQL): **{inproc_rate:.0f} earn/s**, {inproc_us:.0f} µs of service CPU + "
        f"{inproc_pg_us:.0f} µs of PostgreSQL CPU per earn at {inproc_batch:.1f} earns per "
        f"commit: **≈ {per_core:.0f} earns per core-second** including the database.\n\n"
        f"Raw psycopg ceiling, same PostgreSQL, same run ({clients[0]} threads; insert a "
        "transfer + update two balances, the system row included): one transaction per "
        f"transfer **{ceiling:.0f} tx/s**; {batch} transfers per transaction (the service's "
        f"mean batch at its best rate) **{batched:.0f} transfers/s**. Best service rate over "
        f"HTTP on PostgreSQL ({pg_rate:.0f}/s) = **{pg_rate / ceiling:.0%}** of the "
        f"one-per-transaction ceiling and **{pg_rate / batched:.0%}** of the same-batch "
        "ceiling.\n\n"
        "SQLite baseline, same run (one sqlite3 connection, WAL, `synchronous=FULL` as the "
        f"service; the same minimal work): one transaction per transfer **{sq_ceiling:.0f} "
        f"tx/s**; {sq_batch} per transaction **{sq_batched:.0f} transfers/s**. Best service "
        f"rate over HTTP on SQLite ({best_sqlite.result.rate:.0f}/s) = "
        f"**{best_sqlite.result.rate / sq_ceiling:.0%}** of the one-per-transaction ceiling "
        f"and **{best_sqlite.result.rate / sq_batched:.0%}** of the same-batch ceiling.\n\n"
        "Durability: PostgreSQL is a private cluster started for the run with its defaults, "
        f"as the server reports them: {durability}; SQLite runs WAL with "
        "`synchronous=FULL` (the service's settings). Load: the machine is shared (2 cores, "
        f"other engineers' builds and tests); load average {load_before[0]:.1f} (1 min) at "
        f"the start and {load_after[0]:.1f} at the end; the CPU other tenants used during "
        "each closed-loop phase is in the table above. Compare the ratios, not the "
        "absolute rates, across runs.\n"
    )
    print(body)
    if not args.no_record:
        record("loyalty-earn", "Loyalty earn throughput (HTTP)", body)


if __name__ == "__main__":
    main()
