"""Benefits: the catalogue, a stay's entitlements (what was promised), buying experiences
with points, recording fulfilments (staff, or the room's agent for room benefits), a
member's promised-vs-delivered record and the cost report."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import JSONResponse
from sqlalchemy import Connection, select

from loyalty.auth import Allow, Principal
from loyalty.benefit_schemas import (
    Catalogue,
    CostReport,
    EntitlementView,
    FulfilmentRequest,
    FulfilmentView,
    MemberBenefitRecord,
    PurchaseRequest,
)
from loyalty.db.benefit_tables import entitlements
from loyalty.db.tables import stays
from loyalty.errors import ApiError
from loyalty.routers.common import ERRORS, IdempotencyKey, ctx_of, read, write
from loyalty.services import benefits as svc
from loyalty.services import offers as offer_svc
from loyalty.services.members import get_member

router = APIRouter(tags=["benefits"], responses=ERRORS)
Id = Annotated[str, Path(pattern=r"^[A-Za-z0-9_-]{8,64}$")]


def _stay_for(conn: Connection, stay_id: str, who: Principal) -> None:
    """404 alike for an unknown stay and one `who` may not see (no existence oracle)."""
    row = conn.execute(
        select(stays.c.member_id, stays.c.property_id, stays.c.room_id).where(stays.c.id == stay_id)
    ).first()
    hidden = (
        row is None
        or (who.role == "member" and who.member_id != row.member_id)
        or (who.role in ("staff", "agent") and who.property_id not in (None, row.property_id))
        or (who.role == "agent" and who.room_id != row.room_id)
    )
    if hidden:
        raise ApiError(404, "stay_not_found", f"no stay {stay_id!r}", field="stay_id")


@router.get("/benefits", response_model=Catalogue)
def get_catalogue(
    request: Request,
    who: Principal = Depends(Allow("admin", "staff", "member", "loyalty", "agent")),
) -> Catalogue:
    """The programme's benefit catalogue (names in English and Chinese, who gets what)."""
    return svc.catalogue(ctx_of(request))


@router.get("/benefits/costs", response_model=CostReport)
def get_costs(
    request: Request,
    start: Annotated[date, Query(description="first day (UTC)")],
    end: Annotated[date, Query(description="day after the last (UTC)")],
    who: Principal = Depends(Allow("admin", "loyalty")),
) -> CostReport:
    """Delivered benefit cost per tier and per benefit, against the members' revenue."""
    ctx = ctx_of(request)
    return read(request, lambda conn: svc.costs(conn, ctx, start, end))


@router.get("/stays/{stay_id}/entitlements", response_model=list[EntitlementView])
def stay_entitlements(
    request: Request,
    stay_id: Id,
    who: Principal = Depends(Allow("admin", "staff", "member", "agent")),
) -> list[EntitlementView]:
    """What this stay was promised, and how much of it has been delivered."""
    ctx = ctx_of(request)

    def work(conn: Connection) -> list[EntitlementView]:
        _stay_for(conn, stay_id, who)
        return svc.for_stay(conn, ctx, stay_id)

    return read(request, work)


@router.post("/stays/{stay_id}/entitlements", response_model=EntitlementView, status_code=201)
def buy(
    request: Request,
    stay_id: Id,
    body: PurchaseRequest,
    key: IdempotencyKey,
    who: Principal = Depends(Allow("admin", "staff", "member")),
) -> JSONResponse:
    """Buy an experience with points for this stay (capacity per day and limits apply)."""
    ctx = ctx_of(request)

    def work(conn: Connection) -> EntitlementView:
        _stay_for(conn, stay_id, who)
        entitlement_id = svc.purchase(conn, ctx, stay_id, body)
        (view,) = svc.entitlement_views(conn, ctx, entitlements.c.id == entitlement_id)
        return view

    operation = "benefits.buy"
    return write(
        request,
        who,
        key,
        operation,
        {"stay_id": stay_id, **body.model_dump(mode="json")},
        work,
        status=201,
    )


@router.post(
    "/entitlements/{entitlement_id}/fulfilments", response_model=FulfilmentView, status_code=201
)
def record_fulfilment(
    request: Request,
    entitlement_id: Id,
    body: FulfilmentRequest,
    key: IdempotencyKey,
    who: Principal = Depends(Allow("admin", "staff", "agent")),
) -> JSONResponse:
    """Record a benefit delivered (or not, with the reason). Recorded once per
    Idempotency-Key; more than was promised is refused."""
    ctx = ctx_of(request)

    def work(conn: Connection) -> FulfilmentView:
        return svc.fulfil(conn, ctx, who, entitlement_id, key, body)

    payload = {"entitlement_id": entitlement_id, **body.model_dump(mode="json")}
    return write(request, who, key, "benefits.fulfil", payload, work, status=201)


@router.get("/members/{member_id}/benefits", response_model=MemberBenefitRecord)
def member_record(
    request: Request,
    member_id: Id,
    who: Principal = Depends(Allow("admin", "staff", "member", "loyalty")),
) -> MemberBenefitRecord:
    """Everything the member was promised and what was delivered: settles complaints."""
    ctx = ctx_of(request)

    def work(conn: Connection) -> MemberBenefitRecord:
        if who.role == "member" and who.member_id != member_id:
            raise ApiError(404, "member_not_found", f"no member {member_id!r}")
        get_member(conn, member_id)
        return svc.record(conn, ctx, member_id)

    return read(request, work)


# --- lifecycle offers ---------------------------------------------------------------------


@router.post("/offers/run")
def run_offers(
    request: Request, who: Principal = Depends(Allow("admin", "loyalty"))
) -> dict[str, int]:
    """Find the lifecycle offers members are due now, record each once, and send those
    outside quiet hours through the webhook outbox (marketing ones only with consent)."""
    ctx = ctx_of(request)
    with ctx.engine.begin() as conn:
        return offer_svc.run_offers(conn, ctx, now=ctx.clock.now())


@router.get("/members/{member_id}/offers")
def member_offers(
    request: Request,
    member_id: Id,
    who: Principal = Depends(Allow("admin", "staff", "member", "loyalty")),
) -> list[dict[str, Any]]:
    """The lifecycle offers sent (or held, or cancelled) for the member."""

    def work(conn: Connection) -> list[dict[str, Any]]:
        if who.role == "member" and who.member_id != member_id:
            raise ApiError(404, "member_not_found", f"no member {member_id!r}")
        get_member(conn, member_id)
        return offer_svc.member_offers(conn, member_id)

    return read(request, work)


@router.post("/offers/{offer_id}/redeem")
def redeem_offer(
    request: Request,
    offer_id: Id,
    who: Principal = Depends(Allow("admin", "staff", "member")),
) -> dict[str, Any]:
    """The member used the offer (once); experiments read redemption from here."""
    ctx = ctx_of(request)
    with ctx.engine.begin() as conn:
        return offer_svc.redeem(conn, ctx, offer_id, who)
