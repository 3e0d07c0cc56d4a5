"""The ASGI middleware every request passes before routing, and the 405 `Allow` header.

For each HTTP request `Edge`:
1. refuses a body over the limit with 413, from Content-Length or while reading a chunked
   one (it reads the whole body, so no route ever sees a partial one);
2. for POST/PUT/PATCH with a non-empty body: a JSON body (`application/json`) is decoded by
   `strict_json.parse` (400/422 naming the field); any other type sent to a route whose
   body is JSON is a 415 naming `application/json`;
3. refuses query strings that break the text policy (422 naming `query.<name>`);
4. records request counts and latencies (Prometheus).
Then it hands the route the same bytes. New routers need nothing to get this: declare a
JSON body (a `loyalty.schemas.Request` model) and it applies.
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from fastapi import params
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute, iter_route_contexts
from prometheus_client import CollectorRegistry, Counter, Histogram
from starlette.routing import Match

from loyalty.auth import Role
from loyalty.edge import strict_json
from loyalty.edge.text import text_problem
from loyalty.errors import ApiError

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGI = Callable[[Scope, Receive, Send], Awaitable[None]]

JSON_TYPE = "application/json"
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


@dataclass(frozen=True)
class LargeBody:
    """A route whose body may exceed LOYALTY_MAX_BODY_BYTES, for callers with one of `roles`
    only: everyone else keeps the normal limit, so nobody can make central read a large body
    without a valid key for the route."""

    limit: int
    roles: tuple[Role, ...]


class _TooLarge(Exception):
    pass


def media_type(scope: Scope) -> str | None:
    """The request's media type, lower case, with `; charset=utf-8` allowed and any other
    parameter kept (so it does not pass for JSON)."""
    for name, value in scope.get("headers", []):
        if name == b"content-type":
            kind, _, rest = value.decode("latin-1").partition(";")
            rest = rest.strip().lower().replace(" ", "")
            kind = kind.strip().lower()
            return kind if rest in ("", "charset=utf-8") else f"{kind};{rest}"
    return None


def _route(scope: Scope) -> Any | None:
    """The route that will serve this request (only looked up off the hot path)."""
    app = scope.get("app")
    if app is None:
        return None
    for context in iter_route_contexts(app.router.routes):
        match, _child = context.matches(scope)
        if match == Match.FULL:
            return context.original_route
    return None


def takes_json(route: Any) -> bool:
    """Whether the route declares a body that FastAPI reads as JSON (not a form or file)."""
    if not isinstance(route, APIRoute) or route.body_field is None:
        return False
    return not isinstance(route.body_field.field_info, params.Form | params.File)


def allow_header(scope: Scope) -> str:
    """Every method some route serves at this path (for a 405's `Allow`)."""
    methods: set[str] = set()
    app = scope.get("app")
    if app is not None:
        for context in iter_route_contexts(app.router.routes):
            for method in sorted(context.methods or ()):
                probe = {**scope, "method": method}
                if context.matches(probe)[0] == Match.FULL:
                    methods.add(method)
    return ", ".join(sorted(methods))


class Edge:
    """Pure ASGI middleware (see the module docstring). `limits` raises the body limit for
    single routes (method, path) and the roles allowed there, checked against the app's
    `state.keys`."""

    def __init__(
        self,
        app: ASGI,
        *,
        max_body: int,
        registry: CollectorRegistry,
        limits: dict[tuple[str, str], LargeBody] | None = None,
    ) -> None:
        self.app = app
        self.max_body = max_body
        self.limits = limits or {}
        self.requests = Counter(
            "loyalty_requests", "HTTP requests", ["method", "route", "status"], registry=registry
        )
        self.latency = Histogram(
            "loyalty_request_seconds",
            "HTTP request latency",
            ["route"],
            registry=registry,
            buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = [500]

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            refusal, replay = await self._admit(scope, receive)
            if refusal is not None:
                await _answer(sending, refusal)
            else:
                await self.app(scope, replay, sending)
        finally:
            route = scope.get("route")
            path = getattr(route, "path", "unmatched")
            self.requests.labels(scope["method"], path, str(status[0])).inc()
            self.latency.labels(path).observe(time.perf_counter() - start)

    async def _admit(self, scope: Scope, receive: Receive) -> tuple[ApiError | None, Receive]:
        """Read and check the request; an ApiError to answer with, or the body replayed."""
        max_body = self._limit(scope)
        too_large = ApiError(413, "body_too_large", f"body exceeds {max_body} bytes")
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    length = int(value)
                except ValueError:
                    bad = ApiError(400, "bad_content_length", "Content-Length is not a number")
                    return bad, receive
                if length > max_body:
                    return too_large, receive
        try:
            body = await _read_body(receive, max_body)
        except _TooLarge:
            return too_large, receive
        encoded = _inflate(scope, body, max_body * INFLATE_RATIO)
        if isinstance(encoded, ApiError):
            return encoded, receive
        body = encoded
        refusal = _check_query(scope)
        if refusal is None and body and scope["method"] in BODY_METHODS:
            refusal = _check_body(scope, body)
        sent = [False]

        async def replay() -> Message:
            if not sent[0]:
                sent[0] = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        return refusal, replay

    def _limit(self, scope: Scope) -> int:
        large = self.limits.get((scope["method"], scope["path"]))
        if large is None:
            return self.max_body
        token = dict(scope.get("headers", [])).get(b"authorization", b"")
        scheme, _, credentials = token.decode("latin-1").partition(" ")
        if scheme.lower() != "bearer":
            return self.max_body
        try:
            principal = scope["app"].state.keys.authenticate(credentials.strip())
        except ApiError:
            return self.max_body  # the route's own dependency gives the precise 401
        return max(self.max_body, large.limit) if principal.role in large.roles else self.max_body


async def _read_body(receive: Receive, limit: int) -> bytes:
    chunks: list[bytes] = []
    seen = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":  # the client went away: nothing to serve
            return b"".join(chunks)
        chunk = message.get("body", b"")
        seen += len(chunk)
        if seen > limit:
            raise _TooLarge
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


INFLATE_RATIO = 16  # a gzip body may inflate to this many times the body limit


def _inflate(scope: Scope, body: bytes, limit: int) -> bytes | ApiError:
    """A `Content-Encoding: gzip` body (the rooms' sync uploads), inflated with a limit; the
    route then sees plain bytes and no Content-Encoding. Other encodings are a 415."""
    headers = scope.get("headers", [])
    encoding = b"identity"
    for name, value in headers:
        if name == b"content-encoding":
            encoding = value.strip().lower()
    if encoding == b"identity":
        return body
    if encoding != b"gzip":
        shown = encoding.decode("latin-1")
        return ApiError(
            415,
            "unsupported_encoding",
            f"Content-Encoding {shown!r}: send gzip or none",
            field="Content-Encoding",
        )
    inflater = zlib.decompressobj(wbits=31)
    try:
        plain = inflater.decompress(body, limit)
    except zlib.error as exc:
        return ApiError(
            400, "malformed_body", f"the gzip body does not inflate: {exc}", field="body"
        )
    if inflater.unconsumed_tail or not inflater.eof:
        return ApiError(413, "body_too_large", f"the inflated body exceeds {limit} bytes")
    scope["headers"] = [
        (n, str(len(plain)).encode() if n == b"content-length" else v)
        for n, v in headers
        if n != b"content-encoding"
    ]
    return plain


def _check_query(scope: Scope) -> ApiError | None:
    raw = scope.get("query_string", b"")
    if not raw:
        return None
    # latin-1, as Starlette decodes it, so the check sees what the route would see
    for name, value in parse_qsl(raw.decode("latin-1"), keep_blank_values=True):
        problem = text_problem(value)
        where = f"query.{name}"
        if problem is None:
            problem, where = text_problem(name), "query"
        if problem:
            return ApiError(422, "invalid_text", f"{where}: {problem}", field=where)
    return None


def _check_body(scope: Scope, body: bytes) -> ApiError | None:
    kind = media_type(scope)
    if kind != JSON_TYPE:
        if not takes_json(_route(scope)):
            return None  # a form, a file, or a route without a body: not ours to judge
        got = f"got {kind}" if kind else "no Content-Type was sent"
        return ApiError(
            415,
            "unsupported_media_type",
            f"send the body as Content-Type: {JSON_TYPE} ({got})",
            field="Content-Type",
        )
    try:
        strict_json.parse(body)
    except strict_json.BodyError as exc:
        return ApiError(exc.status, exc.code, exc.message, field=exc.field)
    return None


async def _answer(send: Send, error: ApiError) -> None:
    response = JSONResponse(error.body(), status_code=error.status)
    await send(
        {"type": "http.response.start", "status": error.status, "headers": response.raw_headers}
    )
    await send({"type": "http.response.body", "body": response.body})
