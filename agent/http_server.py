"""A small HTTP/1.1 server for the agent's local API: asyncio streams, parsed by h11, one
ASGI application (`agent.api.create_api`).

    server = LocalServer(app, "127.0.0.1", 8780)
    await server.start()          # raises OSError when the port is taken
    server.port                   # the bound port (8780, or the free one for port 0)
    await server.stop()

Why not uvicorn: the agent serves a handful of small JSON requests a minute on loopback;
uvicorn brings multiprocessing, its config and logging machinery (~2-3 MB of resident
memory) for features the agent never uses. h11 (already loaded for httpx) does the parsing
that matters: request line, headers, chunked and fixed-length bodies, keep-alive.

Limits: request head at most `max_head` bytes (431/400 beyond), a connection idle for
`idle_timeout_s` is closed, the body limit is the application's (it reads through
`receive` and answers 413 early). Responses are sent whole (no streaming); one request at a
time per connection (no pipelining), as HTTP/1.1 clients expect.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import h11

from agent.api import Message, Receive, Scope, Send
from smartroom.log import get_logger

log = get_logger("agent.http")

App = Any  # an ASGI callable: (scope, receive, send) -> awaitable
READ_CHUNK = 16384


class LocalServer:
    def __init__(
        self,
        app: App,
        host: str,
        port: int,
        *,
        max_head: int = 16384,
        idle_timeout_s: float = 30.0,
    ) -> None:
        self.app = app
        self.host, self.requested_port = host, port
        self.max_head = max_head
        self.idle_timeout_s = idle_timeout_s
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()
        self.port: int | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, self.host, self.requested_port)
        self.port = int(self._server.sockets[0].getsockname()[1])

    async def stop(self, grace_s: float = 2.0) -> None:
        """Stop accepting, let requests in progress finish for `grace_s`, then cut the rest."""
        if self._server is None:
            return
        self._server.close()
        pending = set(self._connections)
        if pending:
            _done, still = await asyncio.wait(pending, timeout=grace_s)
            for task in still:
                task.cancel()
            await asyncio.gather(*still, return_exceptions=True)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._server.wait_closed(), 1.0)
        self._server = None

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        try:
            await self._connection(reader, writer)
        except (ConnectionError, TimeoutError, asyncio.IncompleteReadError):
            pass
        finally:
            self._connections.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _next_event(self, conn: h11.Connection, reader: asyncio.StreamReader) -> Any:
        while True:
            event = conn.next_event()
            if event is not h11.NEED_DATA:
                return event
            async with asyncio.timeout(self.idle_timeout_s):
                data = await reader.read(READ_CHUNK)
            conn.receive_data(data)  # b"" = the client closed its side

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = h11.Connection(h11.SERVER, max_incomplete_event_size=self.max_head)
        peer = writer.get_extra_info("peername")
        sock = writer.get_extra_info("sockname")
        while True:
            try:
                event = await self._next_event(conn, reader)
            except h11.RemoteProtocolError as exc:
                await self._refuse(conn, writer, exc)
                return
            if isinstance(event, h11.ConnectionClosed) or not isinstance(event, h11.Request):
                return
            await self._serve(conn, event, reader, writer, peer, sock)
            if conn.our_state is h11.MUST_CLOSE or conn.their_state is not h11.DONE:
                # The app answered without reading the whole body (413), or the client
                # asked to close: this connection cannot carry another request.
                return
            try:
                conn.start_next_cycle()
            except h11.LocalProtocolError:
                return

    async def _refuse(
        self, conn: h11.Connection, writer: asyncio.StreamWriter, exc: h11.RemoteProtocolError
    ) -> None:
        if conn.our_state not in (h11.IDLE, h11.SEND_RESPONSE):
            return
        status = exc.error_status_hint
        body = f'{{"detail": "bad request: {_plain(str(exc))}"}}'.encode()
        with contextlib.suppress(h11.LocalProtocolError, ConnectionError):
            writer.write(
                conn.send(
                    h11.Response(
                        status_code=status,
                        headers=[
                            ("content-type", "application/json"),
                            ("content-length", str(len(body))),
                            ("connection", "close"),
                        ],
                    )
                )
                + conn.send(h11.Data(data=body))
                + conn.send(h11.EndOfMessage())
            )
            await writer.drain()

    async def _serve(
        self,
        conn: h11.Connection,
        request: h11.Request,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        peer: Any,
        sock: Any,
    ) -> None:
        target = bytes(request.target)
        path, _, query = target.partition(b"?")
        scope: Scope = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": request.http_version.decode(),
            "method": request.method.decode("ascii"),
            "scheme": "http",
            "path": path.decode("latin-1"),
            "raw_path": path,
            "query_string": query,
            "root_path": "",
            "headers": [(bytes(k), bytes(v)) for k, v in request.headers],
            "client": tuple(peer[:2]) if isinstance(peer, tuple) else None,
            "server": tuple(sock[:2]) if isinstance(sock, tuple) else None,
        }
        body_done = False

        async def receive() -> Message:
            nonlocal body_done
            if body_done:
                return {"type": "http.disconnect"}
            try:
                event = await self._next_event(conn, reader)
            except h11.RemoteProtocolError:
                body_done = True
                return {"type": "http.disconnect"}
            if isinstance(event, h11.Data):
                return {"type": "http.request", "body": bytes(event.data), "more_body": True}
            body_done = True
            if isinstance(event, h11.EndOfMessage):
                return {"type": "http.request", "body": b"", "more_body": False}
            return {"type": "http.disconnect"}

        started: dict[str, Any] = {}

        async def send(message: Message) -> None:
            if message["type"] == "http.response.start":
                started.update(message)
                return
            if message["type"] != "http.response.body" or not started:
                return
            headers = [(bytes(k), bytes(v)) for k, v in started.get("headers", [])]
            if conn.their_state is not h11.DONE:
                headers.append((b"connection", b"close"))
            data = conn.send(h11.Response(status_code=started["status"], headers=headers))
            data += conn.send(h11.Data(data=message.get("body", b"")))
            data += conn.send(h11.EndOfMessage())
            writer.write(data)
            await writer.drain()

        receive_fn: Receive = receive
        send_fn: Send = send
        try:
            await self.app(scope, receive_fn, send_fn)
        except Exception:
            log.exception("api_request_failed", method=scope["method"], path=scope["path"])
            if conn.our_state is h11.SEND_RESPONSE:
                await send({"type": "http.response.start", "status": 500, "headers": []})
                await send({"type": "http.response.body", "body": b'{"detail": "internal"}'})


def _plain(text: str) -> str:
    return "".join(c for c in text if c.isalnum() or c in " .,:-_()")[:120]
