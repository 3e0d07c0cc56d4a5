"""Member credentials: the member's app gets its room keys and stay secrets; a room's agent
gets what it needs to check them offline (docs/presence.md)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request

from loyalty.auth import Allow, Principal
from loyalty.routers.common import ERRORS, ctx_of, read
from loyalty.services import presence as svc
from sync.wire import MemberCredential, RoomCredentials

router = APIRouter(tags=["presence"], responses=ERRORS)
MemberId = Annotated[str, Path(pattern=r"^[A-Za-z0-9_-]{8,64}$")]


@router.get("/members/{member_id}/room-keys", response_model=list[MemberCredential])
def member_room_keys(
    request: Request, member_id: MemberId, who: Principal = Depends(Allow("member"))
) -> list[MemberCredential]:
    """The member's own checked-in stays: each signed room key with its stay secret (for
    the app's BLE identifier and its answers to a room's challenge). Member keys only:
    staff never need a guest's secret."""
    who.require_member(member_id)
    return read(request, lambda c: svc.member_credentials(c, member_id))


@router.get("/agent/credentials", response_model=RoomCredentials)
def room_credentials(request: Request, who: Principal = Depends(Allow("agent"))) -> RoomCredentials:
    """For the calling agent's room only: the room-signing public key to pin, the room
    secret stay secrets derive from, and revoked keys not yet expired."""
    ctx = ctx_of(request)
    return read(request, lambda c: svc.room_credentials(c, ctx, who))
