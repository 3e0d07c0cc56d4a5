"""Earning, reversals, redemptions, member-to-member transfers and partner conversions."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Header, Path, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy import Connection
from starlette.concurrency import run_in_threadpool

from loyalty.auth import Allow, Principal
from loyalty.errors import ApiError
from loyalty.idempotency import KEY_PATTERN, Outcome
from loyalty.routers.common import ERRORS, IdempotencyKey, ctx_of, read, write
from loyalty.schemas import (
    ConversionRequest,
    ConversionResult,
    EarnRequest,
    EarnResult,
    MemberTransferRequest,
    MemberTransferResult,
    Quote,
    QuoteRequest,
    RedeemRequest,
    RedemptionView,
    ReverseRequest,
    TransferView,
)
from loyalty.services import earn as earn_svc
from loyalty.services import exchanges
from loyalty.services import redemptions as red
from loyalty.services.earn_batch import EarnJob
from loyalty.services.earn_writer import EarnWriter

router = APIRouter(tags=["points"], responses=ERRORS)
Ident = Annotated[str, Path(pattern=r"^[A-Za-z0-9_-]{8,80}$")]
STAFF = Allow("admin", "staff")
SELF = Allow("admin", "staff", "member")


def outcome_response(outcome: Outcome) -> Response:
    """The stored outcome as a response (a replay says so in `Idempotent-Replayed`)."""
    headers = {"Idempotent-Replayed": "true"} if outcome.replayed else None
    return JSONResponse(outcome.body, status_code=outcome.status, headers=headers)


@router.post("/earn", response_model=EarnResult)
async def earn(
    request: Request,
    body: EarnRequest,
    key: Annotated[
        str | None,
        Header(alias="Idempotency-Key", pattern=KEY_PATTERN, description="required unless dry_run"),
    ] = None,
    who: Principal = Depends(STAFF),
) -> Response:
    """Post points for a non-stay activity. `dry_run` explains each rule's contribution
    and writes nothing. Earning is posted only by trusted roles (admin, staff).

    Concurrent earns are committed together (group commit): each still gets its own
    result, failure and idempotency record."""
    ctx = ctx_of(request)
    if body.dry_run:
        result = await run_in_threadpool(read, request, lambda c: earn_svc.dry_run(c, ctx, body))
        return JSONResponse(result.model_dump(mode="json"))
    if key is None:
        raise ApiError(
            422,
            "idempotency_key_required",
            "send an Idempotency-Key header",
            field="Idempotency-Key",
        )
    writer: EarnWriter = request.app.state.earn_writer
    outcome = await writer.submit(EarnJob.of(who.key_id, key, body))
    return outcome_response(outcome)


@router.post("/transfers/{transfer_id}/reverse", response_model=TransferView)
def reverse(
    request: Request,
    transfer_id: Ident,
    body: ReverseRequest,
    key: IdempotencyKey,
    who: Principal = Depends(STAFF),
) -> JSONResponse:
    """Reverse (part of) an earn with a new transfer; the original is never edited."""
    ctx = ctx_of(request)

    def work(conn: Connection) -> TransferView:
        from loyalty.ledger import get_transfer

        rid = earn_svc.reverse(conn, ctx, transfer_id, body)
        t = get_transfer(conn, rid)
        assert t is not None
        return TransferView(
            id=t.id,
            ledger=t.ledger,
            code=t.code,
            amount=t.amount,
            direction="debit",
            flags=t.flags,
            state="posted",
            reference=t.reference,
            created_at=t.created_at,
            hash=t.hash,
        )

    return write(
        request,
        who,
        key,
        "transfers.reverse",
        {"transfer_id": transfer_id, **body.model_dump()},
        work,
    )


@router.post("/redemptions/quote", response_model=Quote)
def quote(request: Request, body: QuoteRequest, who: Principal = Depends(SELF)) -> Quote:
    """Price an award stay (peak dates, occupancy forecast, points + cash options)."""
    who.require_member(body.member_id)
    ctx = ctx_of(request)
    return read(request, lambda c: red.quote(c, ctx, body))


@router.post("/redemptions", response_model=RedemptionView, status_code=201)
def redeem(
    request: Request, body: RedeemRequest, key: IdempotencyKey, who: Principal = Depends(SELF)
) -> JSONResponse:
    """Hold the award's points (pending, with a timeout) until confirmed or cancelled."""
    who.require_member(body.member_id)
    ctx = ctx_of(request)
    return write(
        request, who, key, "redemptions.hold", body, lambda c: red.hold(c, ctx, body), status=201
    )


def _owned(request: Request, who: Principal, redemption_id: str) -> None:
    view = read(request, lambda c: red.get_view(c, redemption_id))
    who.require_owner(view.member_id, red.missing(redemption_id))


@router.get("/redemptions/{redemption_id}", response_model=RedemptionView)
def get_redemption(
    request: Request, redemption_id: Ident, who: Principal = Depends(SELF)
) -> RedemptionView:
    view = read(request, lambda c: red.get_view(c, redemption_id))
    who.require_owner(view.member_id, red.missing(redemption_id))
    return view


@router.post("/redemptions/{redemption_id}/confirm", response_model=RedemptionView)
def confirm(
    request: Request, redemption_id: Ident, key: IdempotencyKey, who: Principal = Depends(SELF)
) -> JSONResponse:
    _owned(request, who, redemption_id)
    ctx = ctx_of(request)
    return write(
        request,
        who,
        key,
        "redemptions.confirm",
        {"id": redemption_id},
        lambda c: red.confirm(c, ctx, redemption_id),
    )


@router.post("/redemptions/{redemption_id}/cancel", response_model=RedemptionView)
def cancel(
    request: Request, redemption_id: Ident, key: IdempotencyKey, who: Principal = Depends(SELF)
) -> JSONResponse:
    """Void a hold, or refund a confirmed award with a new transfer."""
    _owned(request, who, redemption_id)
    ctx = ctx_of(request)
    return write(
        request,
        who,
        key,
        "redemptions.cancel",
        {"id": redemption_id},
        lambda c: red.cancel(c, ctx, redemption_id),
    )


@router.post("/transfers", response_model=MemberTransferResult)
def member_transfer(
    request: Request,
    body: MemberTransferRequest,
    key: IdempotencyKey,
    who: Principal = Depends(SELF),
) -> JSONResponse:
    """Give points to another member (annual cap per sender)."""
    who.require_member(body.from_member_id)
    ctx = ctx_of(request)
    return write(
        request,
        who,
        key,
        "transfers.member",
        body,
        lambda c: exchanges.member_transfer(c, ctx, body),
    )


@router.post("/partners/conversions", response_model=ConversionResult)
def convert(
    request: Request,
    body: ConversionRequest,
    key: IdempotencyKey,
    who: Principal = Depends(SELF),
) -> JSONResponse:
    """Convert points to a partner's currency (e.g. airline miles) at the programme's ratio."""
    who.require_member(body.member_id)
    ctx = ctx_of(request)
    return write(
        request, who, key, "partners.convert", body, lambda c: exchanges.convert(c, ctx, body)
    )
