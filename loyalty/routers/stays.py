"""Stays: book, read, check in, check out, cancel, no-show (front desk)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import JSONResponse
from sqlalchemy import Connection

from loyalty.auth import Allow, Principal
from loyalty.routers.common import ERRORS, IdempotencyKey, ctx_of, read, write
from loyalty.schemas import CheckIn, CheckOut, StayCreate, StayView
from loyalty.services import stays as svc

router = APIRouter(prefix="/stays", tags=["stays"], responses=ERRORS)
StayId = Annotated[str, Path(pattern=r"^[A-Za-z0-9_-]{8,64}$")]
STAFF = Allow("admin", "staff")


@router.post("", response_model=StayView, status_code=201)
def book(
    request: Request, body: StayCreate, key: IdempotencyKey, who: Principal = Depends(STAFF)
) -> JSONResponse:
    ctx = ctx_of(request)

    def work(conn: Connection) -> StayView:
        return svc.stay_view(conn, svc.get_stay(conn, svc.book(conn, ctx, body)))

    return write(request, who, key, "stays.book", body, work, status=201)


@router.get("/{stay_id}", response_model=StayView)
def get_stay(
    request: Request, stay_id: StayId, who: Principal = Depends(Allow("admin", "staff", "member"))
) -> StayView:
    def work(conn: Connection) -> StayView:
        row = svc.get_stay(conn, stay_id)
        who.require_owner(row.member_id, svc.stay_missing(stay_id))
        return svc.stay_view(conn, row)

    return read(request, work)


@router.post("/{stay_id}/check-in", response_model=StayView)
def check_in(
    request: Request,
    stay_id: StayId,
    body: CheckIn,
    key: IdempotencyKey,
    who: Principal = Depends(STAFF),
) -> JSONResponse:
    """Assign the room; the stay's estimated points become pending; a per-stay BLE secret
    and an Ed25519-signed room key are issued."""
    ctx = ctx_of(request)

    def work(conn: Connection) -> StayView:
        lines = svc.check_in(conn, ctx, stay_id, body.room_id)
        return svc.stay_view(conn, svc.get_stay(conn, stay_id), breakdown=lines)

    return write(
        request, who, key, "stays.check_in", {"stay_id": stay_id, **body.model_dump()}, work
    )


@router.post("/{stay_id}/room-change", response_model=StayView)
def change_room(
    request: Request,
    stay_id: StayId,
    body: CheckIn,
    key: IdempotencyKey,
    who: Principal = Depends(STAFF),
) -> JSONResponse:
    """Move the guest to another room (a booked stay: re-assign it). Checked in: a new
    room key and BLE secret for the new room; the old room revokes the old key and drops
    the stay, the new room gets it with the member's preferences (both on the sync feed)."""
    ctx = ctx_of(request)

    def work(conn: Connection) -> StayView:
        svc.change_room(conn, ctx, stay_id, body.room_id)
        return svc.stay_view(conn, svc.get_stay(conn, stay_id))

    return write(
        request, who, key, "stays.change_room", {"stay_id": stay_id, **body.model_dump()}, work
    )


@router.post("/{stay_id}/check-out", response_model=StayView)
def check_out(
    request: Request,
    stay_id: StayId,
    body: CheckOut,
    key: IdempotencyKey,
    who: Principal = Depends(STAFF),
) -> JSONResponse:
    """Price the folio; post the pending points (plus any difference) and qualifying credits."""
    ctx = ctx_of(request)

    def work(conn: Connection) -> StayView:
        lines = svc.check_out(conn, ctx, stay_id, body)
        return svc.stay_view(conn, svc.get_stay(conn, stay_id), breakdown=lines)

    return write(
        request,
        who,
        key,
        "stays.check_out",
        {"stay_id": stay_id, **body.model_dump(mode="json")},
        work,
    )


@router.post("/{stay_id}/cancel", response_model=StayView)
def cancel(
    request: Request, stay_id: StayId, key: IdempotencyKey, who: Principal = Depends(STAFF)
) -> JSONResponse:
    ctx = ctx_of(request)

    def work(conn: Connection) -> StayView:
        svc.cancel(conn, ctx, stay_id, no_show=False)
        return svc.stay_view(conn, svc.get_stay(conn, stay_id))

    return write(request, who, key, "stays.cancel", {"stay_id": stay_id}, work)


@router.post("/{stay_id}/no-show", response_model=StayView)
def no_show(
    request: Request, stay_id: StayId, key: IdempotencyKey, who: Principal = Depends(STAFF)
) -> JSONResponse:
    ctx = ctx_of(request)

    def work(conn: Connection) -> StayView:
        svc.cancel(conn, ctx, stay_id, no_show=True)
        return svc.stay_view(conn, svc.get_stay(conn, stay_id))

    return write(request, who, key, "stays.no_show", {"stay_id": stay_id}, work)
