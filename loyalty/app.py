"""The FastAPI application factory, and `serve()` to run it on several workers.

    app = create_app(LoyaltySettings(database_url="sqlite:///loyalty.db"))
    uvicorn.run(app)
    serve(host="127.0.0.1", port=8400, workers=2)   # each worker builds its app from env

Everything the app needs is built here and hung on `app.state` (no module globals): the
engine, the clock, the programme, the signing key, the API-key store and a Prometheus
registry of its own.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from prometheus_client import CollectorRegistry, Histogram
from sqlalchemy import inspect
from starlette.exceptions import HTTPException as StarletteHTTPException

from loyalty.auth import Allow, KeyStore
from loyalty.board import web as board_web
from loyalty.context import Context
from loyalty.db.engine import make_engine
from loyalty.db.migrate import upgrade
from loyalty.edge.middleware import Edge, LargeBody, allow_header
from loyalty.edge.openapi import document_edges
from loyalty.errors import ApiError
from loyalty.ledger import ensure_system_accounts
from loyalty.routers import (
    admin,
    agent,
    analytics,
    benefits,
    experiments,
    members,
    models,
    points,
    presence,
    stays,
    system,
    webhooks,
)
from loyalty.routers import sync as sync_routes
from loyalty.rules.loader import default_programme, load_programme
from loyalty.rules.programme import Programme
from loyalty.schemas import MODEL_B64_MAX
from loyalty.services.earn_writer import earn_writer
from loyalty.settings import LoyaltySettings
from loyalty.signing import RoomSigner
from smartroom.clock import Clock, SystemClock
from smartroom.log import get_logger
from smartroom.settings import ConfigError

log = get_logger("loyalty.app")

DESCRIPTION = """
The hotel group's loyalty system of record: members, stays, a tamper-evident double-entry
points ledger, tiers, earn and redeem. Every write takes an `Idempotency-Key` header (the
agent endpoints are idempotent by their own ids). Authenticate with
`Authorization: Bearer lk.<id>.<secret>`; each operation lists its roles in `x-roles`.
"""


# A comfort model (<= 1 MiB) travels as base64 inside its JSON body.
LARGE_BODIES = {("POST", "/v1/admin/models"): LargeBody(MODEL_B64_MAX + 16_384, ("admin",))}


def _validation_message(exc: RequestValidationError) -> tuple[str, str | None]:
    problems = []
    first_field = None
    for error in exc.errors()[:5]:
        loc = [str(p) for p in error.get("loc", ()) if p not in ("body",)]
        where = ".".join(loc) or "body"
        first_field = first_field or where
        problems.append(f"{where}: {error.get('msg', 'invalid')}")
    return "; ".join(problems) or "invalid request", first_field


def _declare_roles(router: APIRouter, *, public: bool = False) -> None:
    """Copy each route's Allow(...) roles into its OpenAPI operation as `x-roles`, and
    refuse to start if a protected route forgot to declare them."""
    for route in router.routes:
        if not isinstance(route, APIRoute):
            continue
        allowed = [d.call for d in route.dependant.dependencies if isinstance(d.call, Allow)]
        if allowed:
            roles = list(allowed[0].roles)
        elif public:
            roles = []
        else:
            raise RuntimeError(f"route {route.path} declares no roles")
        route.openapi_extra = {**(route.openapi_extra or {}), "x-roles": roles}


def load_programme_for(settings: LoyaltySettings) -> Programme:
    if settings.programme_file is None:
        return default_programme()
    return load_programme(settings.programme_file)


def create_app(
    settings: LoyaltySettings | None = None,
    *,
    clock: Clock | None = None,
    programme: Programme | None = None,
    migrate: bool = False,
    earn_batch_max: int = 128,
) -> FastAPI:
    settings = settings or LoyaltySettings()
    clock = clock or SystemClock()
    programme = programme or load_programme_for(settings)
    engine = make_engine(settings.database_url, pool_size=settings.db_pool_size)
    if migrate:
        upgrade(engine)
    if "transfers" not in inspect(engine).get_table_names():
        raise ConfigError(
            "database",
            [
                f"{engine.url.render_as_string(hide_password=True)} has no schema "
                "(fix: run `loyalty migrate`)"
            ],
        )
    with engine.begin() as conn:
        ensure_system_accounts(conn, clock.now())
        signer = RoomSigner.load_or_create(conn, clock.now())

    registry = CollectorRegistry(auto_describe=True)
    batch_sizes = Histogram(
        "loyalty_earn_batch_size",
        "earns committed per transaction (group commit)",
        registry=registry,
        buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256),
    )
    context = Context(
        engine=engine, clock=clock, programme=programme, signer=signer, settings=settings
    )
    writer = earn_writer(context, max_batch=earn_batch_max, observe=batch_sizes.observe)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        writer.close()
        engine.dispose()

    app = FastAPI(
        lifespan=lifespan,
        title="Smartroom loyalty",
        version="1",
        description=DESCRIPTION,
        openapi_tags=[
            {"name": "members"},
            {"name": "stays"},
            {"name": "points"},
            {"name": "agent", "description": "called by room agents"},
            {"name": "sync", "description": "offline-first sync with the rooms (docs/sync.md)"},
            {"name": "admin"},
            {"name": "analytics", "description": "programme KPIs for the loyalty team"},
            {"name": "webhooks", "description": "signed event deliveries (outbox)"},
            {"name": "experiments", "description": "benefit A/B tests"},
            {"name": "benefits", "description": "catalogue, entitlements, fulfilments"},
            {"name": "system"},
        ],
    )
    app.state.registry = registry
    app.state.ctx = context
    app.state.earn_writer = writer
    app.state.keys = KeyStore(engine, ttl_s=settings.key_cache_s)

    # points first: the earn route is the hot path, and routes are matched in order.
    for module in (
        points,
        benefits,
        members,
        stays,
        admin,
        agent,
        models,
        sync_routes,
        analytics,
        experiments,
        presence,
        webhooks,
        system,
    ):
        _declare_roles(module.router)
        app.include_router(module.router, prefix="/v1")
    _declare_roles(system.public, public=True)
    app.include_router(system.public)
    _declare_roles(analytics.public, public=True)
    app.include_router(analytics.public)
    board_web.install(app, declare=_declare_roles)  # the housekeeping board (/board)

    @app.exception_handler(ApiError)
    async def _api_error(_request: Request, exc: ApiError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else {}
        if exc.retry_after is not None:
            headers["Retry-After"] = str(exc.retry_after)
        return JSONResponse(exc.body(), status_code=exc.status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        message, where = _validation_message(exc)
        return JSONResponse(
            ApiError(422, "invalid_request", message, field=where).body(), status_code=422
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        headers = dict(exc.headers or {})
        if exc.status_code == 405:  # every method served at this path, not one route's
            headers["Allow"] = allow_header(request.scope)
        return JSONResponse(
            ApiError(exc.status_code, code, str(exc.detail)).body(),
            status_code=exc.status_code,
            headers=headers,
        )

    @app.exception_handler(Exception)
    async def _crash(request: Request, exc: Exception) -> JSONResponse:
        log.error("unhandled error", path=request.url.path, error=type(exc).__name__, exc_info=exc)
        return JSONResponse(
            ApiError(500, "internal_error", "internal error (logged)").body(), status_code=500
        )

    app.add_middleware(
        Edge, max_body=settings.max_body_bytes, registry=registry, limits=LARGE_BODIES
    )
    document_edges(app)

    return app
