"""Health, metrics, the room-signing public key and the programme in force."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from loyalty.auth import Allow, Principal
from loyalty.routers.common import ERRORS, ctx_of
from loyalty.schemas import Health, PublicKey

public = APIRouter(tags=["system"])
router = APIRouter(tags=["system"], responses=ERRORS)


@public.get("/health", response_model=Health)
def health(request: Request) -> Health:
    ctx = ctx_of(request)
    with ctx.engine.connect() as conn:
        conn.execute(text("SELECT 1"))
    return Health(status="ok", database=ctx.engine.dialect.name, programme=ctx.programme.version)


@public.get("/metrics", response_class=Response)
def metrics(request: Request) -> Response:
    """Prometheus metrics of this worker (request counts and latencies, ledger writes)."""
    return Response(generate_latest(request.app.state.registry), media_type=CONTENT_TYPE_LATEST)


@router.get("/keys/room-signing", response_model=PublicKey)
def room_signing_key(
    request: Request, who: Principal = Depends(Allow("admin", "staff", "agent", "member"))
) -> PublicKey:
    """The Ed25519 public key that verifies room keys (agents fetch and pin it)."""
    signer = ctx_of(request).signer
    return PublicKey(key_id=signer.key_id, public_key_b64=signer.public_b64)


@router.get("/programme")
def programme(
    request: Request, who: Principal = Depends(Allow("admin", "staff", "agent", "member"))
) -> dict[str, Any]:
    """The programme definition in force (tiers, earn rules, redemption pricing, ...)."""
    return ctx_of(request).programme.model_dump(mode="json")
