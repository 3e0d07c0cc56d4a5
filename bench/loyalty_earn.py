"""Earn throughput and latency over real HTTP (uvicorn workers on loopback) on PostgreSQL
and SQLite, the same earns in process (no HTTP), and raw psycopg ceilings measured in the
same run.

    ./dev python -m bench.loyalty_earn                 # defaults: 5 s phases, 32 clients
    ./dev python -m bench.loyalty_earn --seconds 10 --clients 64 --workers 2 --no-record

Per backend: (1) closed loop, N keep-alive clients earning as fast as they can → earn/s,
p50/p99; (2) open loop at `--rate` (500/s) offered for `--seconds` → p50/p99 measured from
each request's scheduled start. On PostgreSQL also: (3) the earn path in process (N threads
→ the group-commit writer, no HTTP) → earn/s and CPU per earn; (4) the raw ceiling: N
psycopg threads each doing the minimal equivalent work (insert a transfer, update two
balances) in one transaction per transfer, as the issue defines it; (5) the same raw work
with as many transfers per transaction as the service's mean batch, for an apples-to-apples
ratio. The load generator is raw asyncio sockets (`bench.loyalty_load`), and the CPU each
party used is read from /proc, because everything shares the same 2 cores.
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
    code = f"from loyalty.app import serve; serve(host={HOST!r}, port={port}, workers={workers})"
    proc = subprocess.Popen(
        [sys.executable, "-c", code],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(HOST, port, timeout=60)
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
class HttpFigures:
    closed: LoadResult
    closed_cpu: CpuSplit
    opened: LoadResult
    batch_mean: float


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


def run_http(url: str, workers: int, clients: int, seconds: float, rate: float) -> HttpFigures:
    key, members = prepare(url)
    proc, port = serve(url, workers)
    run = uuid.uuid4().hex[:6]
    try:
        pids = [proc.pid, *_children(proc.pid)]
        asyncio.run(
            closed_loop(HOST, port, requests_for(key, members, f"w{run}"), clients=8, seconds=1)
        )
        since = time.time()
        cpu = CpuSplit.start(pids)
        closed = asyncio.run(
            closed_loop(
                HOST, port, requests_for(key, members, f"c{run}"), clients=clients, seconds=seconds
            )
        )
        cpu.stop(pids)
        until = time.time()
        opened = asyncio.run(
            open_loop(HOST, port, requests_for(key, members, f"o{run}"), rate=rate, seconds=seconds)
        )
    finally:
        stop(proc)
    return HttpFigures(closed, cpu, opened, _mean_batch(url, since, until))


def run_in_process(url: str, callers: int, seconds: float) -> tuple[float, float, float]:
    """The earn path without HTTP: `callers` coroutines → the app's group-commit writer,
    on one event loop as in a worker. Returns (earn/s, µs of CPU per earn in this process,
    mean batch)."""
    from loyalty.app import create_app
    from loyalty.schemas import EarnRequest
    from loyalty.services.earn_batch import EarnJob
    from loyalty.settings import LoyaltySettings

    _key, members = prepare(url)
    app = create_app(LoyaltySettings(database_url=url))
    writer = app.state.earn_writer
    bodies = [EarnRequest(member_id=m, activity="fnb", amount=Decimal("88.00")) for m in members]

    async def phase(count: int, secs: float) -> tuple[float, float, float]:
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
        cpu0, t0 = time.process_time(), time.perf_counter()
        await asyncio.gather(*(caller(n) for n in range(count)))
        elapsed, cpu = time.perf_counter() - t0, time.process_time() - cpu0
        mean = (writer.jobs - j0) / max(1, writer.batches - b0)
        return done[0] / elapsed, cpu / max(1, done[0]) * 1e6, mean

    async def both() -> tuple[float, float, float]:
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


# --- report --------------------------------------------------------------------------------


def _row(name: str, f: HttpFigures, rate: float) -> str:
    c, o = f.closed, f.opened
    server, loadgen, database, rest, total = f.closed_cpu.per_request_us(c.count)
    return (
        f"| {name} | **{c.rate:.0f}** | {c.percentile(0.5):.1f} | {c.percentile(0.99):.1f} | "
        f"{c.errors} | {f.batch_mean:.1f} | {o.percentile(0.5):.1f} | "
        f"**{o.percentile(0.99):.1f}** | {o.errors} | {server:.0f} / {loadgen:.0f} / "
        f"{database:.0f} / {rest:.0f} ({total:.0f}) |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rate", type=float, default=500.0)
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args()
    results: dict[str, HttpFigures] = {}
    with TemporaryPostgres(prefix="loyalty_bench") as pg:
        results["PostgreSQL"] = run_http(
            pg.url, args.workers, args.clients, args.seconds, args.rate
        )
        print(_row("PostgreSQL", results["PostgreSQL"], args.rate), flush=True)
    with TemporaryPostgres(prefix="loyalty_bench") as pg:
        inproc_rate, inproc_us, inproc_batch = run_in_process(pg.url, args.clients, args.seconds)
        print(
            f"in process: {inproc_rate:.0f} earn/s, {inproc_us:.0f} µs service CPU per earn, "
            f"mean batch {inproc_batch:.1f}",
            flush=True,
        )
    with TemporaryPostgres(prefix="loyalty_bench") as pg:
        ceiling = raw_ceiling(pg.dsn, args.clients, args.seconds)
        batch = max(1, round(results["PostgreSQL"].batch_mean))
        batched = raw_ceiling(pg.dsn, args.clients, args.seconds, per_tx=batch)
        print(f"raw ceiling {ceiling:.0f} tx/s; {batched:.0f} transfers/s at {batch} per tx")
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        results["SQLite"] = run_http(url, args.workers, args.clients, args.seconds, args.rate)
        print(_row("SQLite", results["SQLite"], args.rate), flush=True)

    pg_rate = results["PostgreSQL"].closed.rate
    rows = "\n".join(_row(name, f, args.rate) for name, f in results.items())
    body = (
        f"`./dev python -m bench.loyalty_earn --seconds {args.seconds:g} --clients "
        f"{args.clients} --workers {args.workers}`: `POST /v1/earn` (API key, Idempotency-Key, "
        "member lock, rule evaluation, velocity check, two hash-chained ledger transfers, "
        f"idempotency record) over loopback HTTP/1.1 keep-alive, {args.workers} uvicorn "
        f"workers (group commit: concurrent earns share one transaction), {MEMBERS} members. "
        "Load generator (raw asyncio sockets), uvicorn workers, PostgreSQL and the other "
        "tenants of this machine share the same 2 cores.\n\n"
        f"| backend | earn/s, {args.clients} clients | p50 ms | p99 ms | errors | mean batch | "
        f"p50 ms at {args.rate:g}/s offered | p99 ms at {args.rate:g}/s | errors | "
        "CPU µs per earn: service / load generator / PostgreSQL / other tenants (machine) |\n"
        "|---|---|---|---|---|---|---|---|---|---|\n"
        f"{rows}\n\n"
        f"In process (no HTTP; {args.clients} threads → the group-commit writer, PostgreSQL): "
        f"**{inproc_rate:.0f} earn/s**, {inproc_us:.0f} µs of service CPU per earn "
        f"(≈ {1e6 / inproc_us:.0f} earn/s per core before the database), mean batch "
        f"{inproc_batch:.1f}.\n\n"
        f"Raw psycopg ceiling, same PostgreSQL, same run ({args.clients} threads; insert a "
        "transfer + update two balances): one transaction per transfer **"
        f"{ceiling:.0f} tx/s**; {batch} transfers per transaction (the service's mean batch) "
        f"**{batched:.0f} transfers/s**. Service over HTTP on PostgreSQL = "
        f"**{pg_rate / ceiling:.0%}** of the one-per-transaction ceiling and "
        f"**{pg_rate / batched:.0%}** of the same-batch ceiling.\n"
    )
    print(body)
    if not args.no_record:
        record("loyalty-earn", "Loyalty earn throughput (HTTP)", body)


if __name__ == "__main__":
    main()
