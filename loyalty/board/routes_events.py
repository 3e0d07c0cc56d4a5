"""The live feed: `GET /board/events`, server-sent events.

Each open board polls the change feed (`board_changes`, shared by every worker process)
every 0.3 s and receives the cards of the rooms that changed, redrawn on the server, with
the priority list: a change reaches every open board well within 2 s. Every few seconds the
whole board is re-checked for rooms that became stale by silence alone. A stream ends
after 25 s and the browser reconnects at once with `Last-Event-ID`, so no change is lost in
between, a proxy never times the stream out, and the server can always shut down quickly.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass

from fastapi import APIRouter, Depends, Request
from fastapi.responses import StreamingResponse

from loyalty.auth import Principal
from loyalty.board import render
from loyalty.board.routes_pages import attendants_of, lang_of
from loyalty.board.session import BoardSession, staff_of
from loyalty.board.views import changes_since, latest_change, load_board, property_info
from loyalty.routers.common import ctx_of

router = APIRouter(prefix="/board", tags=["board"], include_in_schema=False)

POLL_S = 0.3
RECHECK_S = 3.0
STREAM_S = 25.0


@router.get("/events")
async def events(request: Request, who: Principal = Depends(BoardSession())) -> StreamingResponse:
    staff = staff_of(request)
    ctx = ctx_of(request)
    lang = lang_of(request)
    raw = request.headers.get("last-event-id") or request.query_params.get("after") or ""
    after = int(raw) if raw.isdigit() and len(raw) < 19 else None

    def snapshot(since: int | None, stale: dict[str, bool]) -> Update:
        """The board after `since`: the new change number, the cards to send (changed, or
        stale/fresh again by time alone) redrawn, the priority list, and who is stale."""
        with ctx.engine.begin() as conn:
            if since is None:
                seq, changed = latest_change(conn, staff.property_id), set[str]()
            else:
                seq, changed = changes_since(conn, staff.property_id, since)
            info = property_info(conn, staff.property_id)
            rooms = load_board(conn, staff.property_id, ctx.clock.now())
            attendants = attendants_of(conn, staff.property_id)
        now_stale = {r.room_id: r.stale for r in rooms}
        if stale:
            changed |= {room for room, flag in now_stale.items() if stale.get(room) != flag}
        cards = {
            r.room_id: render.card(r, info=info, me=staff, attendants=attendants, lang=lang)
            for r in rooms
            if r.room_id in changed
        }
        return Update(seq, cards, render.priority(rooms, info=info, lang=lang), now_stale)

    async def stream() -> AsyncIterator[str]:
        loop = asyncio.get_running_loop()
        yield "retry: 500\n\n"
        update = await asyncio.to_thread(snapshot, after, {})
        if update.cards:
            yield update.message()
        end = loop.time() + STREAM_S
        recheck = loop.time() + RECHECK_S
        while loop.time() < end and not await request.is_disconnected():
            await asyncio.sleep(POLL_S)
            with ctx.engine.begin() as conn:  # one indexed max() query: cheap enough inline
                newest = latest_change(conn, staff.property_id)
            if newest == update.seq and loop.time() < recheck:
                continue
            recheck = loop.time() + RECHECK_S
            update = await asyncio.to_thread(snapshot, update.seq, update.stale)
            if update.cards:
                yield update.message()
        yield ": bye\n\n"

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


@dataclass(frozen=True)
class Update:
    seq: int
    cards: dict[str, str]  # room -> redrawn card
    priority: str
    stale: dict[str, bool]

    def message(self) -> str:
        data = json.dumps({"cards": self.cards, "priority": self.priority})
        return f"id: {self.seq}\nevent: rooms\ndata: {data}\n\n"
