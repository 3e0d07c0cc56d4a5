"""Hooks the board into the central app: its routers (pages, JSON, live feed, agent side
under /v1), its static files, and the redirect to sign-in for pages.

    install(app, declare=_declare_roles)   # in loyalty.app.create_app
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles

from loyalty.board import routes_agent, routes_api, routes_events, routes_pages
from loyalty.board.hub import BoardHub

STATIC = Path(__file__).resolve().parent / "static"


def install(app: FastAPI, *, declare: Callable[..., None]) -> None:
    ctx = app.state.ctx
    app.state.board_hub = BoardHub(ctx.engine, ctx.clock)
    declare(routes_agent.router)
    app.include_router(routes_agent.router, prefix="/v1")
    for router in (routes_api.router, routes_pages.router, routes_events.router):
        declare(router)
        app.include_router(router)
    for router in (routes_api.public, routes_pages.public):
        declare(router, public=True)
        app.include_router(router)
    app.mount("/board/static", StaticFiles(directory=STATIC), name="board-static")

    @app.exception_handler(routes_pages.SignInRequired)
    async def _sign_in(request: Request, _exc: Exception) -> RedirectResponse:
        lang = request.query_params.get("lang")
        target = "/board/login" + (f"?lang={lang}" if lang in ("en", "zh") else "")
        return RedirectResponse(target, status_code=303)


__all__ = ["install"]
