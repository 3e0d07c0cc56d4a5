"""A cheap HTTP/1.1 load generator for the loyalty benchmarks: raw asyncio sockets with
keep-alive, pre-encoded requests, and just enough response parsing (status line,
Content-Length) to time each request. httpx costs the load generator ~0.5 ms of CPU per
request, which on a 2-core machine would be taken straight from the service under test.

    result = asyncio.run(closed_loop("127.0.0.1", port, make_request, clients=32, seconds=5))
    result = asyncio.run(open_loop("127.0.0.1", port, make_request, rate=500, seconds=5))
    print(result.rate, result.percentile(0.99))

`make_request(i)` returns the whole request as bytes (see `post_json`). Both loops are
bounded: the closed loop by its deadline, the open loop by exactly `rate × seconds`
requests; latency in the open loop is measured from each request's scheduled start, so a
stalled server shows up in the figures (no coordinated omission).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

RequestFactory = Callable[[int], bytes]


def post_json(path: str, body: Any, headers: dict[str, str], host: str = "127.0.0.1") -> bytes:
    """One keep-alive POST with a JSON body, as bytes ready for the socket."""
    payload = json.dumps(body, separators=(",", ":")).encode()
    head = [f"POST {path} HTTP/1.1", f"Host: {host}", "Content-Type: application/json"]
    head += [f"{name}: {value}" for name, value in headers.items()]
    head.append(f"Content-Length: {len(payload)}")
    return ("\r\n".join(head) + "\r\n\r\n").encode() + payload


@dataclass
class LoadResult:
    seconds: float
    latencies: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    sample_error: bytes = b""

    @property
    def count(self) -> int:
        return len(self.latencies)

    @property
    def rate(self) -> float:
        return self.count / self.seconds if self.seconds else 0.0

    @property
    def errors(self) -> int:
        return sum(n for status, n in self.statuses.items() if status != 200)

    def percentile(self, p: float) -> float:
        """Latency at quantile `p`, in milliseconds."""
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(p * len(ordered)))] * 1000


class Connection:
    """One keep-alive HTTP/1.1 connection; `request()` sends and reads one exchange."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, host: str, port: int) -> Connection:
        reader, writer = await asyncio.open_connection(host, port)
        return cls(reader, writer)

    async def request(self, data: bytes) -> tuple[int, bytes]:
        self.writer.write(data)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        for line in head.split(b"\r\n")[1:]:
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
                break
        body = await self.reader.readexactly(length) if length else b""
        return status, body

    def close(self) -> None:
        self.writer.close()


def _note(result: LoadResult, status: int, body: bytes) -> None:
    result.statuses[status] = result.statuses.get(status, 0) + 1
    if status != 200 and not result.sample_error:
        result.sample_error = body[:300]


async def closed_loop(
    host: str, port: int, make: RequestFactory, *, clients: int, seconds: float
) -> LoadResult:
    """`clients` connections, each sending its next request as soon as the last answers."""
    conns = [await Connection.open(host, port) for _ in range(clients)]
    result = LoadResult(seconds=0.0)
    counter = iter(range(10**12))
    deadline = time.perf_counter() + seconds

    async def client(conn: Connection) -> None:
        while time.perf_counter() < deadline:
            data = make(next(counter))
            start = time.perf_counter()
            status, body = await conn.request(data)
            result.latencies.append(time.perf_counter() - start)
            _note(result, status, body)

    start = time.perf_counter()
    try:
        await asyncio.gather(*(client(c) for c in conns))
    finally:
        result.seconds = time.perf_counter() - start
        for conn in conns:
            conn.close()
    return result


async def open_loop(
    host: str,
    port: int,
    make: RequestFactory,
    *,
    rate: float,
    seconds: float,
    max_connections: int = 256,
) -> LoadResult:
    """Exactly `rate × seconds` requests, each started at its scheduled time on an idle
    connection (opening one while fewer than `max_connections` exist, else waiting)."""
    total = int(rate * seconds)
    result = LoadResult(seconds=0.0)
    idle: asyncio.Queue[Connection] = asyncio.Queue()
    opened: list[Connection] = []
    for _ in range(min(16, max_connections)):
        conn = await Connection.open(host, port)
        opened.append(conn)
        idle.put_nowait(conn)

    async def one(i: int, scheduled: float) -> None:
        if idle.empty() and len(opened) < max_connections:
            conn = await Connection.open(host, port)
            opened.append(conn)
        else:
            conn = await idle.get()
        status, body = await conn.request(make(i))
        result.latencies.append(time.perf_counter() - scheduled)
        _note(result, status, body)
        idle.put_nowait(conn)

    tasks = []
    start = time.perf_counter()
    try:
        for i in range(total):
            scheduled = start + i / rate
            delay = scheduled - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(i, scheduled)))
        await asyncio.gather(*tasks)
    finally:
        result.seconds = time.perf_counter() - start
        for conn in opened:
            conn.close()
    return result
