"""The board's pages: `/board/login` (public) and `/board` (a signed-in staff member; anyone
else is sent to the sign-in page)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import Connection, select

from loyalty.auth import Principal
from loyalty.board import render
from loyalty.board.i18n import Lang, pick_lang
from loyalty.board.session import BoardSession, staff_of
from loyalty.board.views import latest_change, load_board, property_info
from loyalty.board.workflow import Staff
from loyalty.db.board_tables import board_staff
from loyalty.errors import ApiError
from loyalty.routers.common import ctx_of

router = APIRouter(prefix="/board", tags=["board"], include_in_schema=False)
public = APIRouter(prefix="/board", tags=["board"], include_in_schema=False)

# Pages are never cached: a tablet coming back online must not show an old board as new.
NO_STORE = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}
CSP = (
    "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)


class SignInRequired(Exception):
    """Raised by the page dependency; the app answers with a redirect to the sign-in page."""


class BoardPage(BoardSession):
    async def __call__(self, request: Request) -> Principal:
        try:
            return await super().__call__(request)
        except ApiError as exc:
            if exc.status == 401:
                raise SignInRequired from None
            raise


def lang_of(request: Request) -> Lang:
    return pick_lang(
        request.query_params.get("lang"),
        request.cookies.get("board_lang"),
        request.headers.get("accept-language"),
    )


def _html(request: Request, body: str, lang: Lang) -> HTMLResponse:
    response = HTMLResponse(body, headers={**NO_STORE, "Content-Security-Policy": CSP})
    if request.query_params.get("lang") in ("en", "zh"):
        response.set_cookie("board_lang", lang, max_age=365 * 86400, samesite="strict")
    return response


def attendants_of(conn: Connection, property_id: str) -> list[Staff]:
    s = board_staff.c
    rows = conn.execute(
        select(board_staff)
        .where(s.property_id == property_id, s.role == "attendant")
        .order_by(s.name)
    ).all()
    return [Staff(r.id, r.property_id, r.name, r.role) for r in rows]


@public.get("/login", response_class=HTMLResponse)
def login_page(request: Request) -> Response:
    lang = lang_of(request)
    return _html(request, render.login(lang), lang)


@router.get("", response_class=HTMLResponse)
def board_page(request: Request, who: Principal = Depends(BoardPage())) -> Response:
    staff = staff_of(request)
    ctx = ctx_of(request)
    lang = lang_of(request)
    with ctx.engine.begin() as conn:
        info = property_info(conn, staff.property_id)
        seq = latest_change(conn, staff.property_id)
        rooms = load_board(conn, staff.property_id, ctx.clock.now())
        attendants = attendants_of(conn, staff.property_id)
    body = render.page(info=info, me=staff, rooms=rooms, attendants=attendants, lang=lang, seq=seq)
    return _html(request, body, lang)
