"""What room agents send to and read from the board: their RoomStatus, and the staff
commands for their room. An agent key reaches only its own room."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response

from loyalty.auth import Allow, Principal
from loyalty.board.commands import commands_after
from loyalty.board.projection import apply_room_status
from loyalty.errors import ApiError
from loyalty.routers.common import ERRORS, ctx_of, read, retrying
from sync.wire import RoomStatus, StaffCommand

router = APIRouter(prefix="/agent", tags=["agent"], responses=ERRORS)
AGENT = Allow("agent")


@router.post("/status", status_code=204)
def post_status(request: Request, body: RoomStatus, who: Principal = Depends(AGENT)) -> Response:
    """The room's current status (sent when it changes, and as a heartbeat); the
    housekeeping board shows it. A status older than the last one applied changes nothing."""
    if (body.property_id, body.room_id) != (who.property_id, who.room_id):
        raise ApiError(403, "forbidden", "this agent key is for another room", field="room_id")
    ctx = ctx_of(request)
    now = ctx.clock.now()
    assert who.property_id is not None and who.room_id is not None
    pid, room = who.property_id, who.room_id
    retrying(request, lambda c: apply_room_status(c, pid, room, body, now))
    return Response(status_code=204)


@router.get("/board-commands", response_model=list[StaffCommand])
def get_commands(
    request: Request,
    after: Annotated[int, Query(ge=0, le=2**62)] = 0,
    who: Principal = Depends(AGENT),
) -> list[StaffCommand]:
    """Staff commands for this agent's room with `seq` > `after`, oldest first (at most
    100): `service_start` when an attendant starts cleaning, `service_end` when done."""
    assert who.property_id is not None and who.room_id is not None
    pid, room = who.property_id, who.room_id
    return read(request, lambda c: commands_after(c, pid, room, after))
