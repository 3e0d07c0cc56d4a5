"""A chaos proxy for sync: an HTTP-aware TCP proxy between rooms and central that injects
network faults, each counted by kind.

    proxy = ChaosProxy("127.0.0.1", central_port, plan=Plan(fault_rate=0.6), seed=1)
    await proxy.start()          # rooms use http://127.0.0.1:{proxy.port}
    ...                          # proxy.counts: Counter of injected faults by kind
    proxy.heal()                 # pass everything through from now on
    await proxy.stop()

One request per connection: the proxy reads a whole HTTP/1.1 request from the room
(Content-Length framing, which is what the agent's client sends), decides its fate, and
forwards it to central with `Connection: close`, reading the answer to EOF, so every fault
lands on one request and can be counted. Fault kinds (`KINDS`):

| kind | what the room sees | did central act? |
|---|---|---|
| `refused` | connection refused: the listener is closed for a window | no |
| `outage` | a long window of refused connections, or of blackholed ones | no |
| `reset_request` | RST while it is still sending the request | no |
| `reset_response` | RST part-way through central's answer | yes |
| `lost_response` | RST after central answered in full (answer lost after commit) | yes |
| `blackhole` | the request is taken and never answered: the client's timeout fires | no |
| `trickle` | request and answer dribble through in small, delayed pieces | yes |
| `duplicate` | central gets it twice, one after the other; the room gets the 2nd answer | twice |
| `duplicate_parallel` | central gets it twice at once (racing transactions) | twice |
| `truncate_request` | part of the body: cut off (disconnect) or re-framed short | no (400) |
| `truncate_response` | the answer's body is cut short and the connection closed | yes |
| `status_5xx` | a burst of 500/502/503/504 from the "gateway", without forwarding | no |
| `status_429` | a burst of 429 with `Retry-After` (whole seconds) | no |

It also checks the room honours `Retry-After`: the next request from the same room (its
credential) on the same path must not come sooner (`retry_after_early` lists the ones
that did). Test tooling, loopback only; it times with the event loop's clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import random
import socket
import struct
from collections import Counter
from dataclasses import dataclass, field

KINDS = (
    "refused",
    "outage",
    "reset_request",
    "reset_response",
    "lost_response",
    "blackhole",
    "trickle",
    "duplicate",
    "duplicate_parallel",
    "truncate_request",
    "truncate_response",
    "status_5xx",
    "status_429",
)
# Faults chosen per request (the others are windows on a schedule).
PER_REQUEST = KINDS[2:]
MAX_HEAD = 64 * 1024
_GATEWAY_ERRORS = [(500, "Internal Error"), (502, "Bad Gateway"), (503, "Busy"), (504, "Timeout")]
MAX_BODY = 32 * 1024 * 1024


@dataclass
class Plan:
    """How much chaos: the share of requests given a fault, the relative weight of each
    per-request kind, and the schedule of refused windows and long outages (seconds)."""

    fault_rate: float = 0.5
    weights: dict[str, float] = field(
        default_factory=lambda: {
            "reset_request": 1.0,
            "reset_response": 1.0,
            "lost_response": 1.5,
            "blackhole": 0.15,
            "trickle": 0.6,
            "duplicate": 1.0,
            "duplicate_parallel": 1.0,
            "truncate_request": 1.0,
            "truncate_response": 1.0,
            "status_5xx": 1.0,
            "status_429": 0.5,
        }
    )
    burst_max: int = 4  # a 5xx/429 burst answers this many requests at most
    # Retry-After of a 429 (and of some 503s), whole seconds as HTTP has them.
    retry_after_s: tuple[int, ...] = (0, 0, 0, 0, 0, 0, 0, 1)
    refused_every_s: float = 4.0  # a refused window starts about this often ...
    refused_s: float = 0.3  # ... and lasts this long
    outage_every_s: float = 25.0  # a long outage starts about this often ...
    outage_s: float = 3.0  # ... and lasts this long
    blackhole_hold_s: float = 30.0  # a blackholed connection is dropped after this at most
    trickle_s: float = 0.4  # the longest a trickled direction takes

    def __post_init__(self) -> None:
        if not 0 <= self.fault_rate <= 1:
            raise ValueError("fault_rate is a share, 0..1")
        unknown = set(self.weights) - set(PER_REQUEST)
        if unknown or not any(w > 0 for w in self.weights.values()):
            raise ValueError(f"weights name per-request kinds of {PER_REQUEST}: {unknown}")


@dataclass
class _Request:
    head: bytes  # request line and headers, without the blank line
    body: bytes
    path: str
    length: int  # the Content-Length the room sent

    @property
    def caller(self) -> str:
        """Who asked where: the path and a digest of the credential (one room's loop)."""
        auth = b""
        for line in self.head.split(b"\r\n")[1:]:
            if line.lower().startswith(b"authorization:"):
                auth = line
        return f"{self.path} {hashlib.sha256(auth).hexdigest()[:8]}"

    def wire(self, *, content_length: int | None = None, body: bytes | None = None) -> bytes:
        """The request as sent upstream, with `Connection: close` (and another length)."""
        lines = [
            line
            for line in self.head.split(b"\r\n")
            if not line.lower().startswith((b"connection:", b"content-length:", b"keep-alive:"))
        ]
        body = self.body if body is None else body
        length = len(body) if content_length is None else content_length
        lines += [b"Connection: close", b"Content-Length: " + str(length).encode()]
        return b"\r\n".join(lines) + b"\r\n\r\n" + body


def _close_response_head(raw: bytes) -> tuple[bytes, bytes]:
    """Central's answer split into a head saying `Connection: close` and the body."""
    head, sep, body = raw.partition(b"\r\n\r\n")
    if not sep:
        return raw, b""
    lines = [
        line
        for line in head.split(b"\r\n")
        if not line.lower().startswith((b"connection:", b"keep-alive:"))
    ]
    return b"\r\n".join([*lines, b"Connection: close"]) + b"\r\n\r\n", body


def _status(code: int, reason: str, retry_after: int | None = None) -> bytes:
    body = b'{"error":{"code":"injected","message":"chaos proxy"}}'
    extra = f"Retry-After: {retry_after}\r\n" if retry_after is not None else ""
    return (
        f"HTTP/1.1 {code} {reason}\r\nContent-Type: application/json\r\n{extra}"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode() + body


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close with RST (SO_LINGER 0) instead of FIN."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


class ChaosProxy:
    def __init__(
        self,
        upstream_host: str,
        upstream_port: int,
        *,
        plan: Plan | None = None,
        seed: int = 0,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.plan = plan or Plan()
        self.host, self.port = host, port
        self.rng = random.Random(seed)
        self.counts: Counter[str] = Counter({kind: 0 for kind in KINDS})
        self.requests = 0  # requests read from rooms (faulted or not)
        self.forwarded = 0  # requests central received (a duplicate counts twice)
        # (caller, asked, waited): retries sooner than a Retry-After asked
        self.retry_after_early: list[tuple[str, float, float]] = []
        self.healed = False
        self._server: asyncio.Server | None = None
        self._blackhole_all = False
        self._burst: tuple[str, int] = ("", 0)
        self._retry_after: dict[str, tuple[float, int]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._schedule: asyncio.Task[None] | None = None

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    # --- lifecycle ------------------------------------------------------------------------

    async def start(self, *, schedule: bool = True) -> ChaosProxy:
        await self._listen()
        if schedule:
            await self.start_windows()
        return self

    async def start_windows(self) -> None:
        """Begin the refused windows and long outages (`start` does, unless told not to)."""
        if self._schedule is None and not self.healed:
            self._schedule = asyncio.create_task(self._windows())

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(
            self._serve, self.host, self.port, reuse_address=True, limit=MAX_HEAD
        )
        self.port = self._server.sockets[0].getsockname()[1]

    async def _unlisten(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None

    async def heal(self) -> None:
        """No more faults: every request goes through (a window in progress ends now)."""
        self.healed = True
        self._blackhole_all = False
        if self._schedule is not None:
            self._schedule.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._schedule
            self._schedule = None
        if self._server is None:
            await self._listen()

    async def stop(self) -> None:
        if self._schedule is not None:
            self._schedule.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._schedule
        await self._unlisten()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _windows(self) -> None:
        """Refused windows and long outages, on a jittered schedule."""
        plan, loop = self.plan, asyncio.get_running_loop()
        next_outage = loop.time() + plan.outage_every_s * self.rng.uniform(0.5, 1.0)
        try:
            while True:
                await asyncio.sleep(plan.refused_every_s * self.rng.uniform(0.5, 1.5))
                if loop.time() >= next_outage:
                    self.counts["outage"] += 1
                    if self.counts["outage"] % 2:  # the link is down: nothing answers
                        await self._unlisten()
                        await asyncio.sleep(plan.outage_s)
                        await self._listen()
                    else:  # a dead route: connections go nowhere
                        self._blackhole_all = True
                        await asyncio.sleep(plan.outage_s)
                        self._blackhole_all = False
                    next_outage = loop.time() + plan.outage_every_s * self.rng.uniform(0.7, 1.3)
                else:
                    self.counts["refused"] += 1
                    await self._unlisten()
                    await asyncio.sleep(plan.refused_s * self.rng.uniform(0.5, 1.5))
                    await self._listen()
        finally:
            self._blackhole_all = False
            if self._server is None:
                await self._listen()

    # --- one connection, one request ------------------------------------------------------

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            await self._one(reader, writer)
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
            writer.transport.abort()
        except asyncio.CancelledError:  # the proxy stops: drop the connection quietly
            writer.transport.abort()
        finally:
            self._tasks.discard(task)
            if not writer.is_closing():
                writer.close()

    async def _read_head(self, reader: asyncio.StreamReader) -> _Request | None:
        """The request line and headers; `body` is left to read (its length is in it)."""
        try:
            raw = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError:
            return None  # the room went away before sending a request
        head = raw[:-4]
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value.strip())
            if name.strip().lower() == b"transfer-encoding":
                raise ValueError("chunked requests are not proxied")
        if not 0 <= length <= MAX_BODY:
            raise ValueError("bad Content-Length")
        path = head.split(b" ", 2)[1].decode("latin-1") if b" " in head else "?"
        return _Request(head, b"", path, length)

    def _fate(self) -> str:
        if self.healed:
            return "ok"
        if self._blackhole_all:
            return "outage_blackhole"
        kind, left = self._burst
        if left > 0:
            self._burst = (kind, left - 1)
            return kind
        if self.rng.random() >= self.plan.fault_rate:
            return "ok"
        kinds = list(self.plan.weights)
        kind = self.rng.choices(kinds, weights=[self.plan.weights[k] for k in kinds])[0]
        if kind in ("status_5xx", "status_429"):
            self._burst = (kind, self.rng.randint(0, self.plan.burst_max - 1))
        return kind

    def _check_retry_after(self, caller: str, now: float) -> None:
        asked = self._retry_after.pop(caller, None)
        if asked is not None and now - asked[0] < asked[1] * 0.95:
            self.retry_after_early.append((caller, float(asked[1]), now - asked[0]))

    async def _upstream(self, request: bytes, *, trickle: bool = False) -> bytes:
        """Send a request to central and read its whole answer (to EOF)."""
        reader, writer = await asyncio.open_connection(*self.upstream)
        self.forwarded += 1
        try:
            if trickle:
                await self._trickle(writer, request)
            else:
                writer.write(request)
                await writer.drain()
            return await reader.read()  # Connection: close, so EOF ends the answer
        finally:
            writer.close()

    async def _trickle(self, writer: asyncio.StreamWriter, data: bytes) -> None:
        pieces = max(1, min(40, len(data) // 16))
        size = -(-len(data) // pieces)
        pause = self.plan.trickle_s / pieces
        for at in range(0, len(data), size):
            writer.write(data[at : at + size])
            await writer.drain()
            await asyncio.sleep(pause * self.rng.uniform(0.5, 1.5))

    async def _one(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        loop = asyncio.get_running_loop()
        request = await self._read_head(reader)
        if request is None:
            return
        self.requests += 1
        self._check_retry_after(request.caller, loop.time())
        fate = self._fate()
        if fate == "outage_blackhole":  # counted as its outage, not per request
            await self._hold(reader)
            return
        if fate != "ok":
            self.counts[fate] += 1
        if fate == "reset_request":
            # Part of the body is through, then the link drops.
            await reader.readexactly(self.rng.randint(0, max(0, request.length - 1)))
            _reset(writer)
            return
        request.body = await reader.readexactly(request.length)
        if fate == "blackhole":
            await self._hold(reader)
            return
        if fate == "status_5xx":
            code, reason = self.rng.choice(_GATEWAY_ERRORS)
            retry = self.rng.choice(self.plan.retry_after_s) if code == 503 else None
            if retry is not None:
                self._retry_after[request.caller] = (loop.time(), retry)
            writer.write(_status(code, reason, retry))
            await writer.drain()
            return
        if fate == "status_429":
            retry = self.rng.choice(self.plan.retry_after_s)
            self._retry_after[request.caller] = (loop.time(), retry)
            writer.write(_status(429, "Too Many Requests", retry))
            await writer.drain()
            return
        if fate == "truncate_request":
            cut = self.rng.randint(0, max(0, len(request.body) - 1))
            if self.rng.random() < 0.5:
                # Re-framed short: central gets a complete request with a broken body.
                answer = await self._upstream(request.wire(body=request.body[:cut]))
                writer.write(b"".join(_close_response_head(answer)))
                await writer.drain()
            else:
                # Cut off: the upstream connection dies mid-body; so does the room's.
                _, up_writer = await asyncio.open_connection(*self.upstream)
                self.forwarded += 1
                whole = request.wire()
                up_writer.write(whole[: len(whole) - len(request.body) + cut])
                await up_writer.drain()
                _reset(up_writer)
                _reset(writer)
            return
        if fate == "duplicate_parallel":
            answers = await asyncio.gather(
                self._upstream(request.wire()), self._upstream(request.wire())
            )
            answer = self.rng.choice(answers)
        elif fate == "duplicate":
            await self._upstream(request.wire())
            answer = await self._upstream(request.wire())
        else:
            answer = await self._upstream(request.wire(), trickle=fate == "trickle")
        head, body = _close_response_head(answer)
        if fate == "lost_response":
            _reset(writer)
        elif fate == "reset_response":
            writer.write((head + body)[: self.rng.randint(0, len(head) + len(body) - 1)])
            await writer.drain()
            _reset(writer)
        elif fate == "truncate_response":
            writer.write(head + body[: self.rng.randint(0, max(0, len(body) - 1))])
            await writer.drain()
            writer.write_eof()
        elif fate == "trickle":
            await self._trickle(writer, head + body)
        else:
            writer.write(head + body)
            await writer.drain()

    async def _hold(self, reader: asyncio.StreamReader) -> None:
        """Never answer; wait for the room to give up (or the cap)."""
        with contextlib.suppress(TimeoutError, OSError):
            async with asyncio.timeout(self.plan.blackhole_hold_s):
                while await reader.read(4096):
                    pass
