"""Members: create, read, consents, preferences, history, tier, export, erasure."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import JSONResponse
from sqlalchemy import Connection, select

from loyalty.auth import Allow, Principal
from loyalty.db.tables import redemptions, stays
from loyalty.edge.fields import Moment, QueryInt
from loyalty.ledger import LEDGERS, member_account, member_history, pending_state
from loyalty.routers.common import ERRORS, IdempotencyKey, ctx_of, read, write
from loyalty.schemas import (
    Consents,
    ErasureResult,
    HistoryPage,
    MemberCreate,
    MemberExport,
    MemberView,
    TierProgress,
    TransferView,
)
from loyalty.services import members as svc
from loyalty.services import preferences as prefs
from loyalty.services import sync_feed
from loyalty.services.redemptions import view as redemption_view
from loyalty.services.stays import stay_view
from loyalty.services.tiers import progress_for
from sync.wire import MemberPreferences

router = APIRouter(prefix="/members", tags=["members"], responses=ERRORS)
MemberId = Annotated[str, Path(pattern=r"^[A-Za-z0-9_-]{8,64}$")]


@router.post("", response_model=MemberView, status_code=201)
def create_member(
    request: Request,
    body: MemberCreate,
    key: IdempotencyKey,
    who: Principal = Depends(Allow("admin", "staff")),
) -> JSONResponse:
    """Enrol a member (lowest tier, empty balance)."""
    ctx = ctx_of(request)

    def work(conn: Connection) -> MemberView:
        member_id = svc.create_member(conn, ctx, body)
        return svc.member_view(conn, ctx, svc.get_member(conn, member_id))

    return write(request, who, key, "members.create", body, work, status=201)


@router.get("/{member_id}", response_model=MemberView)
def get_member(
    request: Request,
    member_id: MemberId,
    who: Principal = Depends(Allow("admin", "staff", "member")),
) -> MemberView:
    """A member with balance, tier and progress ("8 nights or 12,000 CNY to gold")."""
    who.require_member(member_id)
    ctx = ctx_of(request)
    return read(request, lambda c: svc.member_view(c, ctx, svc.get_member(c, member_id)))


@router.put("/{member_id}/consents", response_model=MemberView)
def set_consents(
    request: Request,
    member_id: MemberId,
    body: Consents,
    key: IdempotencyKey,
    who: Principal = Depends(Allow("admin", "staff", "member")),
) -> JSONResponse:
    """Record consents; withdrawing personalisation deletes the attributes it covered."""
    who.require_member(member_id)
    ctx = ctx_of(request)

    def work(conn: Connection) -> MemberView:
        svc.set_consents(conn, ctx, member_id, body)
        return svc.member_view(conn, ctx, svc.get_member(conn, member_id))

    return write(
        request, who, key, "members.consents", {"member_id": member_id, **body.model_dump()}, work
    )


@router.get("/{member_id}/tier", response_model=TierProgress)
def tier_status(
    request: Request,
    member_id: MemberId,
    who: Principal = Depends(Allow("admin", "staff", "member")),
) -> TierProgress:
    who.require_member(member_id)
    ctx = ctx_of(request)
    return read(request, lambda c: progress_for(c, ctx, svc.get_member(c, member_id)))


def _history(
    conn: Connection, pseudonym: str, limit: int, before: datetime | None
) -> list[TransferView]:
    accounts = [member_account(pseudonym, ledger) for ledger in LEDGERS]
    out = []
    for t in member_history(conn, accounts, limit=limit, before=before):
        out.append(
            TransferView(
                id=t.id,
                ledger=t.ledger,
                code=t.code,
                amount=t.amount,
                direction="credit" if t.credit_account_id in accounts else "debit",
                flags=t.flags,
                state=pending_state(conn, t.id)
                if t.flags == "pending"
                else "posted"
                if t.flags != "void"
                else "voided",
                reference=t.reference,
                created_at=t.created_at,
                hash=t.hash,
            )
        )
    return out


@router.get("/{member_id}/history", response_model=HistoryPage)
def history(
    request: Request,
    member_id: MemberId,
    limit: Annotated[QueryInt, Query(ge=1, le=500)] = 100,
    before: Annotated[Moment | None, Query(description="RFC 3339: 2026-03-02T10:00:00Z")] = None,
    who: Principal = Depends(Allow("admin", "staff", "member")),
) -> HistoryPage:
    """Ledger entries touching the member's accounts, newest first (each with its chain hash)."""
    who.require_member(member_id)

    def work(conn: Connection) -> HistoryPage:
        member = svc.get_member(conn, member_id)
        return HistoryPage(
            member_id=member_id, entries=_history(conn, member.pseudonym, limit, before)
        )

    return read(request, work)


@router.get("/{member_id}/preferences", response_model=MemberPreferences)
def get_preferences(
    request: Request,
    member_id: MemberId,
    who: Principal = Depends(Allow("admin", "staff", "member")),
) -> MemberPreferences:
    who.require_member(member_id)
    return read(request, lambda c: prefs.load(c, svc.get_member(c, member_id)))


@router.put("/{member_id}/preferences", response_model=MemberPreferences)
def put_preferences(
    request: Request,
    member_id: MemberId,
    body: MemberPreferences,
    who: Principal = Depends(Allow("admin", "staff", "member")),
) -> MemberPreferences:
    """Merge per field by `updated_at` (last writer wins); idempotent by nature."""
    who.require_member(member_id)
    ctx = ctx_of(request)
    from loyalty.routers.common import retrying

    def work(conn: Connection) -> MemberPreferences:
        merged = prefs.save(conn, svc.get_member(conn, member_id), body, ctx.clock.now())
        sync_feed.member_changed(conn, ctx, member_id)  # the rooms they stay in hear it
        return merged

    return retrying(request, work)


@router.get("/{member_id}/export", response_model=MemberExport)
def export(
    request: Request,
    member_id: MemberId,
    who: Principal = Depends(Allow("admin", "member")),
) -> MemberExport:
    """Everything held about the member (PIPL data portability)."""
    who.require_member(member_id)
    ctx = ctx_of(request)

    def work(conn: Connection) -> MemberExport:
        member = svc.get_member(conn, member_id)
        stay_rows = conn.execute(select(stays).where(stays.c.member_id == member_id)).all()
        red_rows = conn.execute(
            select(redemptions).where(redemptions.c.member_id == member_id)
        ).all()
        return MemberExport(
            member=svc.member_view(conn, ctx, member),
            stays=[stay_view(conn, s) for s in stay_rows],
            preferences=prefs.load(conn, member).model_dump(mode="json"),
            ledger=_history(conn, member.pseudonym, 10_000, None),
            redemptions=[redemption_view(r) for r in red_rows],
        )

    return read(request, work)


@router.post("/{member_id}/erase", response_model=ErasureResult)
def erase(
    request: Request,
    member_id: MemberId,
    key: IdempotencyKey,
    who: Principal = Depends(Allow("admin", "member")),
) -> JSONResponse:
    """Erase personal data (PIPL art. 47); the balance is forfeited, the ledger stays
    verifiable because it only ever held a pseudonym."""
    who.require_member(member_id)
    ctx = ctx_of(request)

    def work(conn: Connection) -> ErasureResult:
        at, points = svc.erase_member(conn, ctx, member_id)
        return ErasureResult(member_id=member_id, erased_at=at, points_forfeited=points)

    return write(request, who, key, "members.erase", {"member_id": member_id}, work)
