"""The board's JSON endpoints: sign in/out, the rooms, staff actions (idempotent by the
`Idempotency-Key` the page gives each action, so one queued offline and sent twice counts
once), maintenance problems with photos, and the front desk's check-in rule."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Depends, Path, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, StringConstraints
from sqlalchemy import Connection, update

from loyalty.auth import Principal
from loyalty.board import problems
from loyalty.board.model import RoomView, priority_list
from loyalty.board.session import COOKIE, LIFETIME, BoardSession, sign_in, sign_out, staff_of
from loyalty.board.views import load_board, property_info
from loyalty.board.workflow import Action, act
from loyalty.db.board_tables import board_properties
from loyalty.edge.fields import Switch
from loyalty.errors import ApiError
from loyalty.routers.common import ERRORS, IdempotencyKey, ctx_of, read, retrying, write
from sync.wire import RoomId

router = APIRouter(prefix="/board/api", tags=["board"], responses=ERRORS)
public = APIRouter(prefix="/board/api", tags=["board"], responses=ERRORS)
BOARD = BoardSession()
ProblemId = Annotated[str, Path(pattern=r"^[A-Za-z0-9_-]{8,64}$")]


class SignIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    api_key: Annotated[str, StringConstraints(min_length=8, max_length=200)]


class SignedIn(BaseModel):
    staff_id: str
    name: str
    role: str
    property_id: str


class Rooms(BaseModel):
    rooms: list[RoomView]
    priority: list[str]


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    require_inspected: Switch


@public.post("/session", response_model=SignedIn)
def create_session(request: Request, body: SignIn) -> JSONResponse:
    """Sign in with a staff key that has a board profile; sets the session cookie."""
    ctx = ctx_of(request)
    principal = request.app.state.keys.authenticate(body.api_key.strip())
    token, staff = retrying(request, lambda c: sign_in(c, principal, ctx.clock.now()))
    out = SignedIn(
        staff_id=staff.id, name=staff.name, role=staff.role, property_id=staff.property_id
    )
    response = JSONResponse(out.model_dump())
    response.set_cookie(
        COOKIE,
        token,
        max_age=int(LIFETIME.total_seconds()),
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/board",
    )
    return response


@router.delete("/session", status_code=204)
def delete_session(request: Request, who: Principal = Depends(BOARD)) -> Response:
    token = request.cookies.get(COOKIE, "")
    retrying(request, lambda c: sign_out(c, token))
    response = Response(status_code=204)
    response.delete_cookie(COOKIE, path="/board")
    return response


@router.get("/rooms", response_model=Rooms)
def rooms(request: Request, who: Principal = Depends(BOARD)) -> Rooms:
    """Every room of the staff member's property, and the priority list (room ids)."""
    staff = staff_of(request)
    ctx = ctx_of(request)
    views = read(request, lambda c: load_board(c, staff.property_id, ctx.clock.now()))
    return Rooms(rooms=views, priority=[r.room_id for r in priority_list(views)])


@router.post("/actions", response_model=RoomView)
def action(
    request: Request,
    key: IdempotencyKey,
    body: Annotated[Action, Body()],
    who: Principal = Depends(BOARD),
) -> JSONResponse:
    """One staff action on a room; answers with the room as it is now."""
    staff = staff_of(request)
    ctx = ctx_of(request)

    def work(conn: Connection) -> RoomView:
        return act(conn, staff, body, key=key, now=ctx.clock.now())

    return write(request, who, key, "board.action", body.model_dump(mode="json"), work)


class ProblemOut(BaseModel):
    id: str
    room_id: str
    photo: bool


@router.post("/rooms/{room_id}/problems", response_model=ProblemOut, status_code=201)
def report_problem(
    request: Request,
    room_id: Annotated[RoomId, Path()],
    body: problems.ProblemReport,
    key: IdempotencyKey,
    who: Principal = Depends(BOARD),
) -> JSONResponse:
    """A maintenance problem, optionally with a photo (JPEG/PNG/WebP, at most 160 KiB)."""
    staff = staff_of(request)
    ctx = ctx_of(request)

    def work(conn: Connection) -> ProblemOut:
        out = problems.report(conn, staff, room_id, body, key=key, now=ctx.clock.now())
        return ProblemOut(**out)

    request_doc = {"room_id": room_id, **body.model_dump(mode="json")}
    return write(request, who, key, "board.problem", request_doc, work, status=201)


@router.get("/problems/{problem_id}/photo")
def problem_photo(
    request: Request, problem_id: ProblemId, who: Principal = Depends(BOARD)
) -> Response:
    staff = staff_of(request)
    kind, data = read(request, lambda c: problems.photo(c, staff, problem_id))
    headers = {
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "default-src 'none'",
        "Cache-Control": "private, max-age=3600",
    }
    return Response(data, media_type=kind, headers=headers)


@router.put("/settings", response_model=Settings)
def put_settings(request: Request, body: Settings, who: Principal = Depends(BOARD)) -> Settings:
    """The front desk (or a supervisor) decides whether check-in needs an inspected room."""
    staff = staff_of(request)
    if staff.role not in ("front_desk", "supervisor"):
        raise ApiError(403, "forbidden", f"a {staff.role} may not change the check-in rule")
    ctx = ctx_of(request)

    def work(conn: Connection) -> Settings:
        property_info(conn, staff.property_id)
        conn.execute(
            update(board_properties)
            .where(board_properties.c.property_id == staff.property_id)
            .values(require_inspected=body.require_inspected, updated_at=ctx.clock.now())
        )
        return body

    return retrying(request, work)
