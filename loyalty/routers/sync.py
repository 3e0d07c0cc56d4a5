"""The sync endpoints (docs/sync.md). Agents upload and pull for their own room only (the
room comes from the key, never from the body); staff and admins steer a room's sync.

Bodies may be gzip (`Content-Encoding: gzip`): the edge middleware inflates them with a
limit and checks the JSON before a route sees it. Pull is a long poll: with `wait_s` > 0
central answers as soon as the room has a change (within ~0.2 s), or empty when it is over.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import func, select

from loyalty.auth import Allow, Principal
from loyalty.board import projection as board
from loyalty.context import Context
from loyalty.db.sync_tables import sync_alerts, sync_dead_letters, sync_rooms
from loyalty.db.tables import agent_cursors
from loyalty.errors import ApiError
from loyalty.routers.common import ERRORS, ctx_of, read, retrying
from loyalty.services import sync_accept, sync_feed
from loyalty.services.sync_accept import RoomEvents
from sync import faults
from sync.hlc import Hlc, Stamp
from sync.wire import (
    RoomCommand,
    RoomConfigDoc,
    SyncPage,
    SyncPull,
    SyncUpload,
    SyncUploadResult,
)

router = APIRouter(prefix="/sync", tags=["sync"], responses=ERRORS)
AGENT = Allow("agent")
STAFF = Allow("admin", "staff")
ADMIN = Allow("admin")
POLL_S = 0.2
Scope = Annotated[str, Path(pattern=r"^[A-Za-z0-9_.-]{1,32}$")]


class CentralClock:
    """Central's hybrid logical clock, shared by the worker's threads."""

    def __init__(self) -> None:
        self._hlc = Hlc()
        self._lock = threading.Lock()

    def stamp(self, wall_ms: int, remote: str | None = None) -> str:
        with self._lock:
            if remote is not None:
                # A far-future peer is refused per event; our own clock stays sane.
                with contextlib.suppress(ValueError):
                    self._hlc.receive(Stamp.parse(remote), wall_ms)
            return str(self._hlc.tick(wall_ms))


def _clock(request: Request, remote: str | None = None) -> str:
    state = request.app.state
    if not hasattr(state, "sync_hlc"):
        state.sync_hlc = CentralClock()
    wall_ms = int(ctx_of(request).clock.now().timestamp() * 1000)
    clock: CentralClock = state.sync_hlc
    return clock.stamp(wall_ms, remote)


async def _body(request: Request, model: type[Any]) -> Any:
    # The edge (loyalty.edge) has inflated a gzip body and checked it is strict JSON.
    raw = await request.body()
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or "body"
        raise ApiError(
            422, "invalid_request", f"{where}: {first.get('msg', 'invalid')}", field=where
        ) from None


def _room(who: Principal) -> tuple[str, str]:
    return sync_feed.require_room(who.property_id, who.room_id)


@router.post("/upload", response_model=SyncUploadResult)
async def upload(request: Request, who: Principal = Depends(AGENT)) -> SyncUploadResult:
    """Accept a batch of outbox events (body: SyncUpload, optionally gzip). One answer per
    event: accepted, duplicate, or rejected with a reason (dead-lettered, alert raised)."""
    body: SyncUpload = await _body(request, SyncUpload)
    property_id, room_id = _room(who)
    ctx = ctx_of(request)
    hlc = _clock(request, body.hlc)
    result: SyncUploadResult = await run_in_threadpool(
        retrying,
        request,
        lambda c: sync_accept.accept(c, ctx, property_id, room_id, body, hlc),
    )
    faults.point("central.accept.after_commit")  # committed, the answer not yet written
    return result


@router.post("/pull", response_model=SyncPage)
async def pull(request: Request, who: Principal = Depends(AGENT)) -> SyncPage:
    """The room's changes after its cursors (body: SyncPull); a long poll when `wait_s` > 0."""
    body: SyncPull = await _body(request, SyncPull)
    property_id, room_id = _room(who)
    ctx = ctx_of(request)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + body.wait_s
    while True:
        page = await run_in_threadpool(_pull_once, request, ctx, property_id, room_id, body)
        if page.items or page.reset or page.more or loop.time() >= deadline:
            faults.point("central.pull.after_commit")
            return page
        cursors = {str(k): v for k, v in page.cursors.items()}
        while loop.time() < deadline:
            await asyncio.sleep(POLL_S)
            if await run_in_threadpool(_changed, request, property_id, room_id, cursors):
                break
        else:
            faults.point("central.pull.after_commit")
            return page


def _pull_once(
    request: Request, ctx: Context, property_id: str, room_id: str, body: SyncPull
) -> SyncPage:
    hlc = _clock(request, body.hlc)

    def work(conn: Any) -> SyncPage:
        # A pulling agent is alive: the board does not show its room as silent.
        board.touch(conn, property_id, room_id, ctx.clock.now())
        return sync_feed.pull(conn, ctx, property_id, room_id, body, hlc)

    return retrying(request, work)


def _changed(request: Request, property_id: str, room_id: str, cursors: dict[str, int]) -> bool:
    return read(request, lambda c: sync_feed.changed_since(c, property_id, room_id, cursors))


class ConfigBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    settings: dict[str, Any] = Field(description="the room's server-authoritative settings")


class CommandBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    action: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,31}$")]
    detail: dict[str, Any] = Field(default_factory=dict)


class RoomSync(BaseModel):
    """What an operator sees of one room's sync."""

    property_id: str
    room_id: str
    epoch: str
    last_seen_at: str | None
    config_version: int
    config_applied: int | None
    config_refused: int | None = Field(
        description="the last version the room refused; its previous config stays in force"
    )
    config_error: str | None = Field(description="why the room refused `config_refused`")
    config_settings: dict[str, Any] = Field(description="the settings of `config_version`")
    high_water_seq: dict[str, int]
    dead_letters: int
    open_alerts: list[dict[str, Any]]


@router.put("/rooms/{property_id}/{room_id}/config", response_model=RoomConfigDoc)
def put_config(
    request: Request,
    property_id: Scope,
    room_id: Scope,
    body: ConfigBody,
    who: Principal = Depends(ADMIN),
) -> RoomConfigDoc:
    """Set the room's config (`sync.room_settings`: setpoint limits, setbacks, vacancy
    delays, quiet hours, defaults, comfort context); the version goes up by one and the room
    pulls it, applies it (or refuses it, saying why) and reports the version it runs."""
    ctx = ctx_of(request)
    return retrying(
        request, lambda c: sync_feed.set_config(c, ctx, property_id, room_id, body.settings)
    )


@router.post("/rooms/{property_id}/{room_id}/commands", response_model=RoomCommand)
def post_command(
    request: Request,
    property_id: Scope,
    room_id: Scope,
    body: CommandBody,
    who: Principal = Depends(STAFF),
) -> RoomCommand:
    """Queue a staff action for the room's agent (it arrives on the `commands` stream)."""
    ctx = ctx_of(request)
    return retrying(
        request,
        lambda c: sync_feed.enqueue_command(c, ctx, property_id, room_id, body.action, body.detail),
    )


@router.post("/rooms/{property_id}/{room_id}/reset", response_model=dict[str, str])
def post_reset(
    request: Request, property_id: Scope, room_id: Scope, who: Principal = Depends(ADMIN)
) -> dict[str, str]:
    """Order the room to drop its copy and re-snapshot (its outbox is kept)."""
    ctx = ctx_of(request)
    epoch = retrying(request, lambda c: sync_feed.order_reset(c, ctx, property_id, room_id))
    return {"epoch": epoch}


@router.get("/rooms/{property_id}/{room_id}", response_model=RoomSync)
def get_room(
    request: Request, property_id: Scope, room_id: Scope, who: Principal = Depends(STAFF)
) -> RoomSync:
    """The room's sync state: last contact, config applied, high-water marks, alerts."""

    def work(conn: Any) -> RoomSync:
        row = conn.execute(
            select(sync_rooms).where(
                sync_rooms.c.property_id == property_id, sync_rooms.c.room_id == room_id
            )
        ).first()
        if row is None:
            raise ApiError(404, "room_not_found", f"room {property_id}/{room_id} never synced")
        marks = conn.execute(
            select(agent_cursors.c.agent_id, agent_cursors.c.high_water_seq).where(
                agent_cursors.c.property_id == property_id, agent_cursors.c.room_id == room_id
            )
        ).all()
        dead = conn.execute(
            select(func.count()).where(
                sync_dead_letters.c.property_id == property_id,
                sync_dead_letters.c.room_id == room_id,
            )
        ).scalar_one()
        a = sync_alerts.c
        alerts = conn.execute(
            select(a.kind, a.detail, a.created_at)
            .where(a.property_id == property_id, a.room_id == room_id, a.resolved_at.is_(None))
            .order_by(a.created_at)
            .limit(100)
        ).all()
        return RoomSync(
            property_id=property_id,
            room_id=room_id,
            epoch=row.epoch,
            last_seen_at=row.last_seen_at.isoformat() if row.last_seen_at else None,
            config_version=row.config_version,
            config_applied=row.config_applied,
            config_refused=row.config_refused,
            config_error=row.config_error,
            config_settings=json.loads(row.config_json),
            high_water_seq={m.agent_id: int(m.high_water_seq) for m in marks},
            dead_letters=int(dead),
            open_alerts=[
                {"kind": k, "detail": d, "created_at": t.isoformat()} for k, d, t in alerts
            ],
        )

    return read(request, work)


EventId = Annotated[str | None, Query(pattern=r"^[A-Za-z0-9_-]{8,64}$")]


@router.get("/rooms/{property_id}/{room_id}/events", response_model=RoomEvents)
def get_room_events(
    request: Request,
    property_id: Scope,
    room_id: Scope,
    after: EventId = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    who: Principal = Depends(STAFF),
) -> RoomEvents:
    """What the room sent, oldest first as central received it: accepted events and the
    rejected ones with their reason."""

    def work(conn: Any) -> RoomEvents:
        return sync_accept.room_events(conn, property_id, room_id, after=after, limit=limit)

    return read(request, work)
