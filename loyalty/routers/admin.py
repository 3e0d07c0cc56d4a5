"""Ledger verification and totals, anomaly flags, and the as-of jobs."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request
from sqlalchemy import Connection, func, select

from loyalty.auth import Allow, Principal
from loyalty.db.tables import accounts, flags
from loyalty.edge.fields import QueryBool, QueryInt
from loyalty.errors import ApiError
from loyalty.ledger import LEDGERS, balance, verify_ledger
from loyalty.routers.common import ERRORS, ctx_of, read
from loyalty.schemas import (
    ExpiryJob,
    Flag,
    FlagResolve,
    HoldsJob,
    JobResult,
    LedgerTotals,
    TierJob,
    VerifyResult,
)
from loyalty.services import jobs

router = APIRouter(tags=["admin"], responses=ERRORS)
ADMIN = Allow("admin")


def verify_result(conn: Connection) -> VerifyResult:
    report = verify_ledger(conn)
    bad = report.first_bad
    return VerifyResult(
        ok=report.ok,
        transfers_checked=report.transfers_checked,
        chains_checked=report.chains_checked,
        digest=report.digest,
        first_bad_transfer=bad.transfer_id if bad else None,
        first_bad_chain=bad.chain_owner if bad else None,
        problems=report.problems,
    )


@router.get("/admin/ledger/verify", response_model=VerifyResult)
def verify(request: Request, who: Principal = Depends(ADMIN)) -> VerifyResult:
    """Recompute every hash chain and stored balance; name the first entry that does not
    match. `digest` summarises all chain heads (publish it to detect wholesale rewrites)."""
    return read(request, verify_result)


def ledger_totals(conn: Connection) -> list[LedgerTotals]:
    out = []
    for ledger in LEDGERS:
        ids = conn.execute(select(accounts.c.id).where(accounts.c.ledger == ledger)).scalars()
        dp = dpo = cp = cpo = 0
        member_ids = []
        for account_id in ids:
            if account_id.startswith("sys:"):
                b = balance(conn, account_id)
                dp, dpo, cp, cpo = (
                    dp + b.debits_pending,
                    dpo + b.debits_posted,
                    cp + b.credits_pending,
                    cpo + b.credits_posted,
                )
            else:
                member_ids.append(account_id)
        row = conn.execute(
            select(
                func.coalesce(func.sum(accounts.c.debits_pending), 0),
                func.coalesce(func.sum(accounts.c.debits_posted), 0),
                func.coalesce(func.sum(accounts.c.credits_pending), 0),
                func.coalesce(func.sum(accounts.c.credits_posted), 0),
            ).where(accounts.c.ledger == ledger, accounts.c.owner.is_not(None))
        ).one()
        dp, dpo, cp, cpo = dp + row[0], dpo + row[1], cp + row[2], cpo + row[3]
        out.append(
            LedgerTotals(
                ledger=ledger,
                debits_pending=dp,
                debits_posted=dpo,
                credits_pending=cp,
                credits_posted=cpo,
                balanced=dp == cp and dpo == cpo,
            )
        )
    return out


@router.get("/admin/ledger/totals", response_model=list[LedgerTotals])
def totals(request: Request, who: Principal = Depends(ADMIN)) -> list[LedgerTotals]:
    """Per ledger: Σ debits and Σ credits over all accounts (they must be equal)."""
    return read(request, ledger_totals)


@router.get("/flags", response_model=list[Flag])
def list_flags(
    request: Request,
    include_resolved: QueryBool = False,
    limit: Annotated[QueryInt, Query(ge=1, le=500)] = 100,
    who: Principal = Depends(Allow("admin", "staff")),
) -> list[Flag]:
    """Anomalies for staff review (earn velocity, earn-then-reverse loops)."""

    def work(conn: Connection) -> list[Flag]:
        query = select(flags).order_by(flags.c.created_at.desc()).limit(limit)
        if not include_resolved:
            query = query.where(flags.c.resolved_at.is_(None))
        return [Flag.model_validate(r._mapping) for r in conn.execute(query)]

    return read(request, work)


@router.post("/flags/{flag_id}/resolve", response_model=Flag)
def resolve_flag(
    request: Request,
    flag_id: Annotated[str, Path(pattern=r"^[A-Za-z0-9_-]{8,64}$")],
    body: FlagResolve,
    who: Principal = Depends(Allow("admin", "staff")),
) -> Flag:
    """Close a flag with a note (idempotent: resolving twice keeps the first note)."""
    ctx = ctx_of(request)

    def work(conn: Connection) -> Flag:
        row = conn.execute(select(flags).where(flags.c.id == flag_id)).first()
        if row is None:
            raise ApiError(404, "flag_not_found", f"no flag {flag_id!r}")
        if row.resolved_at is None:
            conn.execute(
                flags.update()
                .where(flags.c.id == flag_id)
                .values(resolved_at=ctx.clock.now(), resolution=body.resolution)
            )
            row = conn.execute(select(flags).where(flags.c.id == flag_id)).one()
        return Flag.model_validate(row._mapping)

    return read(request, work)


@router.post("/jobs/expiry", response_model=JobResult)
def expiry(request: Request, body: ExpiryJob, who: Principal = Depends(ADMIN)) -> JobResult:
    """Expire points as of a date, not after today (oldest first). Idempotent per date.
    `dry_run` lists what would expire, member by member, and changes nothing."""
    ctx = ctx_of(request)
    again, result = jobs.expire_points(ctx.engine, ctx, body.as_of, dry_run=body.dry_run)
    return JobResult(
        job="expiry",
        period=body.as_of.isoformat(),
        already_ran=again,
        dry_run=body.dry_run,
        result=result,
    )


@router.post("/jobs/tier-evaluation", response_model=JobResult)
def tier_evaluation(request: Request, body: TierJob, who: Principal = Depends(ADMIN)) -> JobResult:
    """Evaluate every member's tier once the qualification year ending `year_ending` is over
    (upgrades, downgrades after years below, retention bonuses). Idempotent per year.
    `dry_run` lists the tier changes and bonuses it would make and changes nothing."""
    ctx = ctx_of(request)
    first_day_after = body.year_ending + timedelta(days=1)
    if first_day_after > ctx.clock.now().date():
        raise ApiError(
            422,
            "year_not_over",
            f"the qualification year ending {body.year_ending} is not over yet "
            f"(fix: run on or after {first_day_after})",
            field="year_ending",
        )
    # The rules count a year as completed once `as_of` lies in the next one.
    again, result = jobs.evaluate_tiers(ctx.engine, ctx, first_day_after, dry_run=body.dry_run)
    return JobResult(
        job="tier-evaluation",
        period=body.year_ending.isoformat(),
        already_ran=again,
        dry_run=body.dry_run,
        result=result,
    )


@router.post("/jobs/expire-holds", response_model=JobResult)
def expire_holds(request: Request, body: HoldsJob, who: Principal = Depends(ADMIN)) -> JobResult:
    """Void award holds past their timeout (naturally idempotent)."""
    ctx = ctx_of(request)
    as_of = body.as_of or ctx.clock.now()
    if as_of > ctx.clock.now():
        raise ApiError(422, "future_date", "as_of may not be in the future", field="as_of")
    result = jobs.void_expired_holds(ctx.engine, ctx, as_of)
    return JobResult(job="expire-holds", period=as_of.isoformat(), already_ran=False, result=result)
