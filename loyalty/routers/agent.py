"""Older per-resource agent endpoints (stays, preferences). Events go up and changes come
down through `/v1/sync` (loyalty.routers.sync); the old `POST /v1/agent/events` is gone:
it stored events without acting on them, and would have swallowed points."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request
from sqlalchemy import Connection

from loyalty.auth import Allow, Principal
from loyalty.routers.common import ERRORS, ctx_of, read, retrying
from loyalty.services import agent as svc
from loyalty.services import preferences as prefs
from sync.wire import MemberPreferences, StayAssignment

router = APIRouter(prefix="/agent", tags=["agent"], responses=ERRORS)
AGENT = Allow("agent")
MemberId = Annotated[str, Path(pattern=r"^[A-Za-z0-9_-]{8,64}$")]


@router.get("/stays", response_model=list[StayAssignment])
def stays(request: Request, who: Principal = Depends(AGENT)) -> list[StayAssignment]:
    """Stays in the calling agent's room: checked in, or booked and arriving within 48 h.
    Includes each checked-in stay's `ble_secret_b64`."""
    ctx = ctx_of(request)
    return read(request, lambda c: svc.room_stays(c, ctx, who))


@router.get("/preferences/{member_id}", response_model=MemberPreferences)
def get_preferences(
    request: Request, member_id: MemberId, who: Principal = Depends(AGENT)
) -> MemberPreferences:
    """404 unless the member has such a stay in this agent's room."""
    ctx = ctx_of(request)
    return read(request, lambda c: prefs.load(c, svc.member_in_room(c, ctx, who, member_id)))


@router.put("/preferences/{member_id}", response_model=MemberPreferences)
def put_preferences(
    request: Request, member_id: MemberId, body: MemberPreferences, who: Principal = Depends(AGENT)
) -> MemberPreferences:
    """Merge per field by `Stamped.updated_at`; returns the merged document."""
    ctx = ctx_of(request)

    def work(conn: Connection) -> MemberPreferences:
        member = svc.member_in_room(conn, ctx, who, member_id)
        return prefs.save(conn, member, body, ctx.clock.now())

    return retrying(request, work)
