"""The live feed: `GET /board/events`, server-sent events.

Each open board waits on the process's `BoardHub`, which watches the change feed
(`board_changes`, shared by every worker process) every 0.3 s; when its property changes the
board receives the cards of the rooms that changed, redrawn on the server for its reader
(language, role), with the priority list: a change reaches every open board well within
2 s. Every 3 s the board is also re-checked for rooms that became stale (or fresh) by time
alone. A stream ends after 25 s and the browser reconnects at once with `Last-Event-ID`, so
no change is lost in between, a proxy never times the stream out, and the server can always
shut down quickly.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

from fastapi import APIRouter, Depends, Request
from fastapi.responses import StreamingResponse

from loyalty.auth import Principal
from loyalty.board import render
from loyalty.board.hub import BoardHub
from loyalty.board.model import RoomView
from loyalty.board.routes_pages import attendants_of, lang_of
from loyalty.board.session import BoardSession, staff_of
from loyalty.board.views import PropertyInfo, changes_since, latest_change, property_info
from loyalty.board.workflow import Staff
from loyalty.routers.common import ctx_of

router = APIRouter(prefix="/board", tags=["board"], include_in_schema=False)

RECHECK_S = 3.0
STREAM_S = 25.0


@router.get("/events")
async def events(request: Request, who: Principal = Depends(BoardSession())) -> StreamingResponse:
    staff = staff_of(request)
    ctx = ctx_of(request)
    lang = lang_of(request)
    raw = request.headers.get("last-event-id") or request.query_params.get("after") or ""
    after = int(raw) if raw.isdigit() and len(raw) < 19 else None

    pid = staff.property_id
    hub: BoardHub = request.app.state.board_hub

    def setting() -> tuple[PropertyInfo, list[Staff], int]:
        with ctx.engine.connect() as conn:
            info = property_info(conn, pid)
            return info, attendants_of(conn, pid), latest_change(conn, pid)

    def since(seq: int) -> tuple[int, set[str]]:
        with ctx.engine.connect() as conn:
            return changes_since(conn, pid, seq)

    def draw(rooms: list[RoomView], send: set[str], info: PropertyInfo, who: list[Staff]) -> str:
        cards = {
            r.room_id: render.card(r, info=info, me=staff, attendants=who, lang=lang)
            for r in rooms
            if r.room_id in send
        }
        return json.dumps(
            {"cards": cards, "priority": render.priority(rooms, info=info, lang=lang)}
        )

    async def stream() -> AsyncIterator[str]:
        loop = asyncio.get_running_loop()
        yield "retry: 500\n\n"
        info, attendants, newest = await asyncio.to_thread(setting)
        seq = newest if after is None else after
        stale: dict[str, bool] = {}
        end = loop.time() + STREAM_S
        while loop.time() < end and not await request.is_disconnected():
            newest = await hub.wait(pid, seq, within_s=RECHECK_S)
            send: set[str] = set()
            if newest > seq:
                newest, send = await asyncio.to_thread(since, seq)
            rooms = await hub.views(pid, newest)
            now_stale = {r.room_id: r.stale for r in rooms}
            if stale:
                send |= {room for room, flag in now_stale.items() if stale.get(room) != flag}
            stale, seq = now_stale, newest
            if send:
                data = await asyncio.to_thread(draw, rooms, send, info, attendants)
                yield f"id: {seq}\nevent: rooms\ndata: {data}\n\n"
        yield ": bye\n\n"

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
