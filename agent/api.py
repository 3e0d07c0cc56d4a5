"""The agent's local HTTP API: a small ASGI application served in-process by uvicorn.

    GET    /health                    200 when the control loop is alive and ready, else 503
    GET    /status                    sync.wire.RoomStatus
    GET    /status/detail             the plan, who decided each device, the last scene result
    GET    /metrics                   Prometheus text
    GET    /events?since=ID&limit=N   the room's event log after ID, with each event's sync
                                      state (local / pending / sent); `next` pages on
    PUT    /housekeeping              {"dnd": true} / {"mur": true} / {"dnd": false, "mur": false}
    POST   /spend                     sync.wire.RoomSpend charged to the checked-in stay ->
                                      {"event_id", "stay_id"}; 409 no stay, 507 store full
    POST   /presence/challenge        a nonce for the app's room key (agent/presence/http.py)
    POST   /presence/key              the app's signed room key + proof
    POST   /devices/{name}/override   a guest change from the app, held like a knob change
    DELETE /devices/{name}/override   hand the device back to automation

    app = create_api(room, token="...", health=lambda: {...})
    uvicorn.Config(app, ..., lifespan="off")

Changing endpoints need `Authorization: Bearer <key>` when `api.token_file` is set. Bodies
over 4 KiB are refused while they are read, before parsing; unknown fields are errors.

Why not FastAPI: seven fixed routes do not need a framework, and FastAPI with Starlette
costs the agent ~8 MB of resident memory on a box that should stay under 80 MB. Errors keep
FastAPI's shape (`{"detail": ...}`, validation errors as pydantic's error list), so clients
did not have to change.
"""

from __future__ import annotations

import hmac
import json
import urllib.parse
from collections.abc import Awaitable, Callable, MutableMapping
from datetime import datetime
from enum import Enum
from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from agent.metrics import CONTENT_TYPE
from agent.room import RoomController, state_dict
from agent.spend import SpendRefused, record_spend
from drivers.base import (
    ClimateCommand,
    ClimateMode,
    CoverCommand,
    DriverError,
    FanMode,
    LightCommand,
    MediaCommand,
)
from scenes.model import Command
from sync.wire import RoomSpend

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
M = TypeVar("M", bound=BaseModel)

MAX_BODY = 4096


class HousekeepingRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    dnd: bool | None = None
    mur: bool | None = None

    @model_validator(mode="after")
    def _something(self) -> HousekeepingRequest:
        if self.dnd is None and self.mur is None:
            raise ValueError("give dnd and/or mur")
        if self.dnd and self.mur:
            raise ValueError("dnd and mur cannot both be on")
        return self


class OverrideRequest(BaseModel):
    """Fields of the device's capability only (climate: mode/setpoint_c/fan; light:
    on/level_pct/colour_temp_k; media: power/volume_pct/source; cover: position_pct)."""

    model_config = ConfigDict(extra="forbid")
    mode: ClimateMode | None = None
    setpoint_c: Annotated[float, Field(ge=5, le=35)] | None = None
    fan: FanMode | None = None
    on: bool | None = None
    level_pct: Annotated[int, Field(ge=0, le=100)] | None = None
    colour_temp_k: Annotated[int, Field(ge=1500, le=7000)] | None = None
    power: bool | None = None
    volume_pct: Annotated[int, Field(ge=0, le=100)] | None = None
    source: Annotated[str, Field(max_length=128)] | None = None
    position_pct: Annotated[int, Field(ge=0, le=100)] | None = None


_FIELDS = {
    "climate": ("mode", "setpoint_c", "fan"),
    "light": ("on", "level_pct", "colour_temp_k"),
    "media": ("power", "volume_pct", "source"),
    "cover": ("position_pct",),
}


def _command(capability: str, body: OverrideRequest, limits: tuple[float, float]) -> Command:
    given = body.model_dump(exclude_none=True)
    allowed = _FIELDS[capability]
    wrong = sorted(set(given) - set(allowed))
    if wrong:
        raise HttpError(
            422, f"a {capability} device takes {', '.join(allowed)}; not {', '.join(wrong)}"
        )
    if not given:
        raise HttpError(422, f"give at least one of {', '.join(allowed)}")
    if capability == "climate":
        sp = body.setpoint_c
        if sp is not None and not limits[0] <= sp <= limits[1]:
            raise HttpError(
                422, f"setpoint_c {sp} is outside the guest limits {limits[0]}-{limits[1]} °C"
            )
        return ClimateCommand(mode=body.mode, setpoint_c=sp, fan=body.fan)
    if capability == "light":
        return LightCommand(on=body.on, level_pct=body.level_pct, colour_temp_k=body.colour_temp_k)
    if capability == "media":
        return MediaCommand(power=body.power, volume_pct=body.volume_pct, source=body.source)
    assert body.position_pct is not None
    return CoverCommand(position_pct=body.position_pct)


class HttpError(Exception):
    """An answer other than 200: status, `detail` for the body, extra headers."""

    def __init__(self, status: int, detail: Any, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status, self.detail, self.headers = status, detail, headers or {}


class Reply:
    def __init__(
        self, body: bytes, status: int = 200, content_type: str = "application/json"
    ) -> None:
        self.body, self.status, self.content_type = body, status, content_type
        self.headers: dict[str, str] = {}


def _default(value: Any) -> Any:
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def json_reply(data: Any, status: int = 200) -> Reply:
    if isinstance(data, BaseModel):
        return Reply(data.model_dump_json().encode(), status)
    return Reply(json.dumps(data, default=_default).encode(), status)


def _problem(exc: HttpError) -> Reply:
    reply = json_reply({"detail": exc.detail}, exc.status)
    reply.headers.update(exc.headers)
    return reply


async def read_body(scope: Scope, receive: Receive, limit: int = MAX_BODY) -> bytes:
    """The request body, refused with 413 as soon as it is known to be over `limit` (from
    Content-Length, or while chunks arrive), so an oversized body is never buffered."""
    for key, value in scope.get("headers", []):
        if key == b"content-length":
            text = value.decode("latin-1")
            if not text.isdigit() or int(text) > limit:
                raise HttpError(413, f"body larger than {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise HttpError(400, "client went away")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise HttpError(413, f"body larger than {limit} bytes")
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def parse_body(kind: type[M], raw: bytes) -> M:
    """A request model from JSON bytes; 422 with pydantic's error list when it is wrong."""
    try:
        return kind.model_validate_json(raw or b"null")
    except ValidationError as exc:
        raise HttpError(
            422, exc.errors(include_url=False, include_context=False, include_input=False)
        ) from None


def _query(scope: Scope) -> dict[str, str]:
    raw = bytes(scope.get("query_string", b"")).decode("latin-1")
    pairs = urllib.parse.parse_qsl(raw, keep_blank_values=True)
    return dict(pairs)


def _int_param(query: dict[str, str], name: str, default: int, lo: int, hi: int) -> int:
    text = query.get(name)
    if text is None:
        return default
    if not text.isdigit() or not lo <= int(text) <= hi:
        raise HttpError(422, f"{name} must be an integer {lo}..{hi}, not {text[:20]!r}")
    return int(text)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return bytes(value).decode("latin-1")
    return None


Handler = Callable[[Scope, Receive, dict[str, str]], Awaitable[Reply]]


def create_api(
    room: RoomController,
    *,
    token: str | None = None,
    health: Callable[[], dict[str, Any]] | None = None,
    extra_routes: dict[str, dict[str, Handler]] | None = None,
) -> Callable[[Scope, Receive, Send], Awaitable[None]]:
    """The ASGI application of one room."""

    def authorise(scope: Scope) -> None:
        if token is None:
            return
        scheme, _, given = (_header(scope, b"authorization") or "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.encode(), token.encode()):
            raise HttpError(401, "missing or wrong bearer key", {"WWW-Authenticate": "Bearer"})

    async def get_health(_s: Scope, _r: Receive, _p: dict[str, str]) -> Reply:
        info = health() if health else {}
        age = room.clock.monotonic() - room.last_step_monotonic
        # The tick is real time; on a rig's scaled clock (`--clock-speed`) the age is read
        # in simulated seconds, so the limit scales with it.
        limit = max(5.0, room.config.runtime.tick_s * 10) * getattr(room.clock, "speed", 1.0)
        ok = age <= limit and bool(info.get("ready", True))
        body = {"ok": ok, "last_step_age_s": round(age, 3), "steps": room.steps, **info}
        return json_reply(body, 200 if ok else 503)

    async def get_status(_s: Scope, _r: Receive, _p: dict[str, str]) -> Reply:
        return json_reply(room.status())

    async def get_detail(_s: Scope, _r: Receive, _p: dict[str, str]) -> Reply:
        return json_reply(room.describe())

    async def get_events(scope: Scope, _r: Receive, _p: dict[str, str]) -> Reply:
        """The room's event log after `since` (the last `id` seen), oldest first, `limit`
        at a time, each with its sync state; `next` is the `since` for the following page."""
        authorise(scope)
        query = _query(scope)
        since = _int_param(query, "since", 0, 0, 2**62)
        limit = _int_param(query, "limit", 100, 1, 500)
        events = room.store.events_since(since, limit)
        return json_reply({"events": events, "next": events[-1]["id"] if events else since})

    async def get_metrics(_s: Scope, _r: Receive, _p: dict[str, str]) -> Reply:
        return Reply(room.metrics.render(), content_type=CONTENT_TYPE)

    async def put_housekeeping(scope: Scope, receive: Receive, _p: dict[str, str]) -> Reply:
        authorise(scope)
        body = parse_body(HousekeepingRequest, await read_body(scope, receive))
        await room.set_housekeeping(dnd=body.dnd, mur=body.mur, via="app")
        return json_reply(room.status())

    async def post_spend(scope: Scope, receive: Receive, _p: dict[str, str]) -> Reply:
        authorise(scope)
        body = parse_body(RoomSpend, await read_body(scope, receive))
        try:
            event = record_spend(room.store, room.stays, body)
        except SpendRefused as exc:
            raise HttpError(exc.status, exc.detail) from None
        return json_reply({"event_id": event.event_id, "stay_id": event.stay_id})

    async def post_override(scope: Scope, receive: Receive, params: dict[str, str]) -> Reply:
        authorise(scope)
        raw = await read_body(scope, receive)
        name = params["name"]
        capability = room.config.capabilities().get(name)
        if capability is None or name not in room.devices:
            raise HttpError(404, f"no device {name!r} in this room")
        if capability == "sensor":
            raise HttpError(422, f"{name} is a sensor: it takes no commands")
        # Read per request: central's room config can move the guest limits while running.
        limits = (room.config.limits.setpoint_min_c, room.config.limits.setpoint_max_c)
        command = _command(capability, parse_body(OverrideRequest, raw), limits)
        try:
            state = await room.override(name, command, via="app")
        except DriverError as exc:
            raise HttpError(502, str(exc)) from None
        except TimeoutError:
            raise HttpError(504, f"{name}: no confirmation in time") from None
        return json_reply({"device": name, "state": state_dict(state), "held": True})

    async def delete_override(scope: Scope, _r: Receive, params: dict[str, str]) -> Reply:
        authorise(scope)
        name = params["name"]
        if name not in room.devices:
            raise HttpError(404, f"no device {name!r} in this room")
        return json_reply({"device": name, "released": room.release(name)})

    fixed: dict[str, dict[str, Handler]] = {
        "/health": {"GET": get_health},
        "/status": {"GET": get_status},
        "/status/detail": {"GET": get_detail},
        "/metrics": {"GET": get_metrics},
        "/events": {"GET": get_events},
        "/housekeeping": {"PUT": put_housekeeping},
        "/spend": {"POST": post_spend},
        **(extra_routes or {}),  # the presence endpoints (agent/presence/http.py)
    }
    device_routes: dict[str, Handler] = {"POST": post_override, "DELETE": delete_override}

    def route(path: str) -> tuple[dict[str, Handler], dict[str, str]]:
        if path in fixed:
            return fixed[path], {}
        parts = path.split("/")
        # "/devices/<name>/override" -> ["", "devices", name, "override"]
        if len(parts) == 4 and parts[1] == "devices" and parts[3] == "override" and parts[2]:
            return device_routes, {"name": parts[2]}
        raise HttpError(404, "Not Found")

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":  # lifespan is off; no websockets here
            return
        try:
            methods, params = route(scope["path"])
            handler = methods.get(scope["method"])
            if handler is None:
                raise HttpError(405, "Method Not Allowed", {"Allow": ", ".join(sorted(methods))})
            reply = await handler(scope, receive, params)
        except HttpError as exc:
            reply = _problem(exc)
        headers = [
            (b"content-type", reply.content_type.encode()),
            (b"content-length", str(len(reply.body)).encode()),
            *((k.lower().encode(), v.encode()) for k, v in reply.headers.items()),
        ]
        await send({"type": "http.response.start", "status": reply.status, "headers": headers})
        await send({"type": "http.response.body", "body": reply.body})

    return app
