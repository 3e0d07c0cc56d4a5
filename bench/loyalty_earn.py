"""Earn throughput and latency over real HTTP (uvicorn workers on loopback), on PostgreSQL
and SQLite, against a raw psycopg ceiling measured in the same run.

    ./dev python -m bench.loyalty_earn                 # defaults: 5 s per phase, 32 clients
    ./dev python -m bench.loyalty_earn --seconds 20 --clients 64 --workers 2

Phases per backend: (1) closed loop, N clients earning as fast as they can → tx/s, p50/p99;
(2) open loop at 500 requests/s offered → p99. Then a raw psycopg loop doing the minimal
equivalent work (insert a transfer, update two balances, one transaction) with the same
number of threads gives the ceiling; the service's rate is reported as a ratio of it.
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
from pathlib import Path

import httpx

from bench.record import record
from smartroom.services import TemporaryPostgres, free_port, wait_for_port

MEMBERS = 2000


def prepare(url: str) -> tuple[str, list[str]]:
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
        "LOYALTY_DB_POOL_SIZE": "8",
    }
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "loyalty.cli:app_from_env",
            "--factory",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            str(workers),
            "--no-access-log",
            "--log-level",
            "warning",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_for_port("127.0.0.1", port, timeout=30)
    time.sleep(1.0 if workers > 1 else 0.3)
    return proc, port


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p * len(ordered)))] * 1000


async def closed_loop(
    port: int, key: str, members: list[str], clients: int, seconds: float
) -> tuple[float, list[float], int]:
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=clients)
    async with httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{port}", limits=limits, timeout=30
    ) as http:

        async def one(n: int) -> None:
            nonlocal errors
            i = 0
            while time.perf_counter() < deadline:
                i += 1
                body = {
                    "member_id": members[(n * 7919 + i) % len(members)],
                    "activity": "fnb",
                    "amount": "88.00",
                }
                headers = {
                    "Authorization": f"Bearer {key}",
                    "Idempotency-Key": f"b-{uuid.uuid4().hex}",
                }
                start = time.perf_counter()
                response = await http.post("/v1/earn", json=body, headers=headers)
                latencies.append(time.perf_counter() - start)
                errors += response.status_code != 200

        start = time.perf_counter()
        await asyncio.gather(*(one(n) for n in range(clients)))
        elapsed = time.perf_counter() - start
    return len(latencies) / elapsed, latencies, errors


async def open_loop(
    port: int, key: str, members: list[str], rate: int, seconds: float
) -> tuple[list[float], int, int]:
    latencies: list[float] = []
    errors = 0
    total = int(rate * seconds)
    async with httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{port}", limits=httpx.Limits(max_connections=256), timeout=30
    ) as http:

        async def one(i: int) -> None:
            nonlocal errors
            body = {"member_id": members[i % len(members)], "activity": "fnb", "amount": "88.00"}
            headers = {"Authorization": f"Bearer {key}", "Idempotency-Key": f"o-{uuid.uuid4().hex}"}
            start = time.perf_counter()
            response = await http.post("/v1/earn", json=body, headers=headers)
            latencies.append(time.perf_counter() - start)
            errors += response.status_code != 200

        tasks = []
        start = time.perf_counter()
        for i in range(total):  # bounded: exactly rate × seconds requests
            delay = start + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(i)))
        await asyncio.gather(*tasks)
    return latencies, errors, total


def raw_ceiling(dsn: str, threads: int, seconds: float) -> float:
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
                i += 1
                member = 1 + (n * 7919 + i) % 2000
                with conn.transaction():
                    conn.execute(
                        "INSERT INTO raw_tx VALUES (%s, 0, %s, 88, now())",
                        (uuid.uuid4().hex, member),
                    )
                    conn.execute("UPDATE raw_bal SET bal = bal + 88 WHERE id = %s", (member,))
                    conn.execute("UPDATE raw_bal SET bal = bal - 88 WHERE id = 0")
                done += 1
        with lock:
            count[0] += done

    start = time.perf_counter()
    pool = [threading.Thread(target=worker, args=(n,)) for n in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return count[0] / (time.perf_counter() - start)


def run_backend(
    name: str, url: str, workers: int, clients: int, seconds: float
) -> dict[str, float]:
    key, members = prepare(url)
    proc, port = serve(url, workers)
    try:
        asyncio.run(closed_loop(port, key, members, 8, 1.0))  # warm-up
        rate, lat, errors = asyncio.run(closed_loop(port, key, members, clients, seconds))
        open_lat, open_errors, offered = asyncio.run(open_loop(port, key, members, 500, seconds))
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    out = {
        "rate": rate,
        "p50": pct(lat, 0.5),
        "p99": pct(lat, 0.99),
        "errors": errors,
        "open_p99": pct(open_lat, 0.99),
        "open_p50": pct(open_lat, 0.5),
        "open_errors": open_errors,
        "offered": offered,
    }
    print(
        f"{name}: {rate:.0f} earn/s (p50 {out['p50']:.1f} ms, p99 {out['p99']:.1f} ms, "
        f"{errors} errors); at 500/s offered p99 {out['open_p99']:.1f} ms"
    )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args()
    results: dict[str, dict[str, float]] = {}
    with TemporaryPostgres(prefix="loyalty_bench") as pg:
        results["PostgreSQL"] = run_backend(
            "PostgreSQL", pg.url, args.workers, args.clients, args.seconds
        )
        ceiling = raw_ceiling(pg.dsn, args.clients, args.seconds)
        print(f"raw psycopg ceiling: {ceiling:.0f} tx/s ({args.clients} threads)")
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        results["SQLite"] = run_backend("SQLite", url, args.workers, args.clients, args.seconds)
    pg_rate = results["PostgreSQL"]["rate"]
    rows = "\n".join(
        f"| {name} | {r['rate']:.0f} | {r['p50']:.1f} | {r['p99']:.1f} | {int(r['errors'])} | "
        f"{r['open_p50']:.1f} | {r['open_p99']:.1f} | {int(r['open_errors'])} |"
        for name, r in results.items()
    )
    body = (
        f"`./dev python -m bench.loyalty_earn --seconds {args.seconds:g} --clients {args.clients} "
        f"--workers {args.workers}`: `POST /v1/earn` (auth, idempotency key, member lock, "
        "rule evaluation, two ledger transfers with hash chain, velocity check) over loopback "
        f"HTTP, {args.workers} uvicorn workers, {MEMBERS} members.\n\n"
        "| backend | earn/s (closed loop) | p50 ms | p99 ms | errors | p50 ms at 500/s | "
        "p99 ms at 500/s | errors at 500/s |\n|---|---|---|---|---|---|---|---|\n"
        f"{rows}\n\n"
        f"Raw psycopg ceiling (insert a transfer + update two balances, one transaction, "
        f"{args.clients} threads, same PostgreSQL, same run): **{ceiling:.0f} tx/s**. "
        f"Service on PostgreSQL = **{pg_rate / ceiling:.0%}** of the ceiling. "
        "Load generator, uvicorn workers and PostgreSQL share the same 2 cores.\n"
    )
    print(body)
    if not args.no_record:
        record("loyalty-earn", "Loyalty earn throughput (HTTP)", body)


if __name__ == "__main__":
    main()
