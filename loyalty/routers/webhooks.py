"""Webhook endpoints, secret rotation, the delivery log, replays and the as-of scans
(roles `loyalty` and `admin`). Writes take an Idempotency-Key like every write."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, Strict, StringConstraints
from sqlalchemy import Connection

from loyalty.auth import Allow, Principal
from loyalty.edge.fields import Day
from loyalty.errors import ApiError
from loyalty.routers.common import ERRORS, IdempotencyKey, ctx_of, read, write
from loyalty.webhooks import outbox
from loyalty.webhooks.events import EVENT_TYPES
from loyalty.webhooks.scan import scan_expiring, scan_inactive

router = APIRouter(tags=["webhooks"], responses=ERRORS)
TEAM = Allow("loyalty", "admin")
Ident = Annotated[str, Path(pattern=r"^[A-Za-z0-9_-]{8,64}$")]
EventType = Annotated[str, StringConstraints(pattern=r"^[a-z_]{1,20}\.[a-z_]{1,19}$")]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid", str_max_length=1024)


class EndpointCreate(Body):
    url: Annotated[str, StringConstraints(min_length=8, max_length=500)]
    events: Annotated[list[EventType], Field(min_length=1, max_length=16)]


class Rotate(Body):
    overlap_s: Annotated[int, Strict(), Field(ge=0, le=7 * 86400)] = 86400


class Scan(Body):
    as_of: Day
    expiry_notice_days: Annotated[int, Strict(), Field(ge=1, le=365)] = 30
    inactive_days: Annotated[int, Strict(), Field(ge=7, le=3650)] = 90


class Out(BaseModel):
    """Any JSON object (for `write`, which stores a model's dump)."""

    model_config = ConfigDict(extra="allow")


def _guard(work: Any) -> Any:
    def run(conn: Connection) -> Any:
        try:
            return work(conn)
        except outbox.WebhookError as exc:
            status = 404 if exc.code.endswith("_not_found") else 422
            status = 409 if exc.code == "endpoint_disabled" else status
            raise ApiError(status, exc.code, str(exc), field=exc.field) from None

    return run


@router.get("/webhooks/event-types")
def event_types(who: Principal = Depends(TEAM)) -> dict[str, str]:
    """The event types an endpoint can subscribe to, with what each carries."""
    return EVENT_TYPES


@router.post("/webhooks/endpoints", status_code=201)
def create_endpoint(
    request: Request, body: EndpointCreate, key: IdempotencyKey, who: Principal = Depends(TEAM)
) -> JSONResponse:
    """Subscribe a URL to event types. The response holds the signing secret: store it,
    it is shown only here."""
    now = ctx_of(request).clock.now()

    def work(conn: Connection) -> Out:
        made = outbox.create_endpoint(conn, body.url, body.events, now=now)
        return Out(id=made.id, url=made.url, events=made.events, secret=made.secret)

    return write(request, who, key, "webhooks.create", body, _guard(work), status=201)


@router.get("/webhooks/endpoints")
def list_endpoints(request: Request, who: Principal = Depends(TEAM)) -> list[dict[str, Any]]:
    """Every endpoint (secrets are never listed)."""
    return read(request, outbox.endpoints)


@router.post("/webhooks/endpoints/{endpoint_id}/rotate")
def rotate(
    request: Request,
    endpoint_id: Ident,
    body: Rotate,
    key: IdempotencyKey,
    who: Principal = Depends(TEAM),
) -> JSONResponse:
    """A new signing secret; the current ones keep signing for `overlap_s` seconds, so
    receivers can switch without missing a delivery."""
    now = ctx_of(request).clock.now()

    def work(conn: Connection) -> Out:
        secret = outbox.rotate_secret(
            conn, endpoint_id, now=now, overlap=timedelta(seconds=body.overlap_s)
        )
        old_until = now + timedelta(seconds=body.overlap_s)
        return Out(endpoint_id=endpoint_id, secret=secret, previous_valid_until=old_until)

    return write(request, who, key, "webhooks.rotate", body, _guard(work))


@router.post("/webhooks/endpoints/{endpoint_id}/disable")
def disable(
    request: Request, endpoint_id: Ident, key: IdempotencyKey, who: Principal = Depends(TEAM)
) -> JSONResponse:
    """Stop sending to an endpoint; its pending deliveries are cancelled."""
    now = ctx_of(request).clock.now()

    def work(conn: Connection) -> Out:
        outbox.disable_endpoint(conn, endpoint_id, now=now)
        return Out(id=endpoint_id, disabled=True)

    return write(request, who, key, "webhooks.disable", {"id": endpoint_id}, _guard(work))


@router.get("/webhooks/deliveries")
def deliveries(
    request: Request,
    event_id: Annotated[str | None, Query(pattern=r"^[A-Za-z0-9_-]{8,80}$")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    who: Principal = Depends(TEAM),
) -> list[dict[str, Any]]:
    """The delivery log, newest first: status, attempts, each attempt's HTTP status or
    error."""
    return read(request, lambda c: outbox.delivery_log(c, event_id=event_id, limit=limit))


@router.post("/webhooks/deliveries/{delivery_id}/replay")
def replay(
    request: Request, delivery_id: Ident, key: IdempotencyKey, who: Principal = Depends(TEAM)
) -> JSONResponse:
    """Send a delivery again (same event id: receivers deduplicate on it)."""
    now = ctx_of(request).clock.now()

    def work(conn: Connection) -> Out:
        outbox.replay(conn, delivery_id, now=now)
        return Out(id=delivery_id, status="pending")

    return write(request, who, key, "webhooks.replay", {"id": delivery_id}, _guard(work))


@router.post("/webhooks/scan")
def scan(
    request: Request, body: Scan, key: IdempotencyKey, who: Principal = Depends(TEAM)
) -> JSONResponse:
    """Emit points.will_expire (expiring within the notice) and member.inactive as of a
    date; idempotent per member and occasion."""
    ctx = ctx_of(request)
    if body.as_of > ctx.clock.now().date():
        raise ApiError(422, "future_date", "as_of may not be in the future", field="as_of")
    now = ctx.clock.now()

    def work(conn: Connection) -> Out:
        expiring = scan_expiring(
            conn, ctx.programme, as_of=body.as_of, days_ahead=body.expiry_notice_days, now=now
        )
        inactive = scan_inactive(conn, as_of=body.as_of, days=body.inactive_days, now=now)
        return Out(points_will_expire=expiring, member_inactive=inactive)

    return write(request, who, key, "webhooks.scan", body, work)
