"""Non-stay earning (F&B, spa, surveys, profile completion, partners), its dry run, velocity
limits and anomaly flags, and reversals (corrections are new transfers, never edits)."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any

from sqlalchemy import Connection, func, select

from loyalty.context import Context
from loyalty.db.tables import flags, transfers
from loyalty.errors import ApiError
from loyalty.ledger import SYSTEM, TransferSpec, create_transfer, get_transfer, member_account
from loyalty.rules.errors import RulesError
from loyalty.rules.periods import limit_window
from loyalty.schemas import EarnRequest, EarnResult, ReverseRequest
from loyalty.services import rules_adapter
from loyalty.services.members import get_member, member_balance, touch_activity
from sync.wire import new_id


def _at(day: Any) -> datetime:
    return datetime.combine(day, time(0), tzinfo=UTC)


def _earned_in_window(conn: Connection, account: str, code: str, start: Any, end: Any) -> int:
    t = transfers.c
    value = conn.execute(
        select(func.coalesce(func.sum(t.amount), 0)).where(
            t.credit_account_id == account,
            t.code == code,
            t.created_at >= _at(start),
            t.created_at < _at(end),
        )
    ).scalar_one()
    return int(value)


def flag(conn: Connection, ctx: Context, member_id: str, kind: str, detail: str) -> None:
    conn.execute(
        flags.insert().values(
            id=new_id("f_"),
            member_id=member_id,
            kind=kind,
            detail=detail[:512],
            created_at=ctx.clock.now(),
        )
    )


def earn(conn: Connection, ctx: Context, body: EarnRequest) -> EarnResult:
    member = get_member(conn, body.member_id, for_update=not body.dry_run)
    now = ctx.clock.now()
    activity = ctx.programme.earn.activities.get(body.activity)
    if activity is None:
        known = ", ".join(sorted(ctx.programme.earn.activities)) or "none"
        raise ApiError(
            422,
            "unknown_activity",
            f"activity {body.activity!r} is not in the programme (known: {known})",
            field="activity",
        )
    points_account = member_account(member.pseudonym, "points")
    code = f"earn_{body.activity}"[:24]
    earned = 0
    if activity.limit is not None:
        start, end = limit_window(ctx.programme, activity.limit.period, now.date())
        earned = _earned_in_window(conn, points_account, code, start, end)
    try:
        breakdown = rules_adapter.activity_earn(
            ctx.programme,
            tier=member.tier,
            activity=body.activity,
            on=now.date(),
            amount=body.amount,
            earned_this_period=earned,
        )
    except RulesError as exc:
        raise ApiError(422, exc.code, str(exc), field="amount") from None
    lines = rules_adapter.breakdown_lines(breakdown)
    if body.dry_run:
        return EarnResult(
            member_id=member.id,
            points=breakdown.points,
            breakdown=lines,
            transfer_id=None,
            dry_run=True,
        )
    flagged = _velocity(conn, ctx, member, points_account, now)
    transfer_id = None
    if breakdown.points > 0:
        transfer_id = new_id("t_")
        create_transfer(
            conn,
            TransferSpec(
                id=transfer_id,
                ledger="points",
                debit=SYSTEM["points:issuance"],
                credit=points_account,
                amount=breakdown.points,
                code=code,
                reference=body.reference,
                chain_owner=member.pseudonym,
            ),
            now=now,
        )
    spend_minor = int(breakdown.qualifying_spend * 100)
    if spend_minor > 0:
        create_transfer(
            conn,
            TransferSpec(
                id=new_id("t_"),
                ledger="qualifying",
                debit=SYSTEM["qualifying:issuance"],
                credit=member_account(member.pseudonym, "qualifying"),
                amount=spend_minor,
                code=code,
                reference=transfer_id,
                chain_owner=member.pseudonym,
            ),
            now=now,
        )
    touch_activity(conn, member.id, now)
    return EarnResult(
        member_id=member.id,
        points=breakdown.points,
        breakdown=lines,
        transfer_id=transfer_id,
        dry_run=False,
        balance=member_balance(conn, member.pseudonym),
        flagged=flagged,
    )


def _velocity(conn: Connection, ctx: Context, member: Any, account: str, now: datetime) -> bool:
    """Too many earns in the window: flag for review, or refuse (programme's choice)."""
    rule = ctx.programme.abuse.velocity
    t = transfers.c
    recent = conn.execute(
        select(func.count()).where(
            t.credit_account_id == account,
            t.code.like("earn_%"),
            t.created_at >= now - timedelta(minutes=rule.window_minutes),
        )
    ).scalar_one()
    if recent < rule.max_earns:
        return False
    detail = f"{recent + 1} earns within {rule.window_minutes} min (limit {rule.max_earns})"
    if rule.action == "reject":
        raise ApiError(429, "velocity_limit", f"earning paused for review: {detail}")
    flag(conn, ctx, member.id, "velocity", detail)
    return True


def reverse(conn: Connection, ctx: Context, transfer_id: str, body: ReverseRequest) -> str:
    original = get_transfer(conn, transfer_id)
    if (
        original is None
        or original.ledger != "points"
        or original.debit_account_id != SYSTEM["points:issuance"]
        or original.flags not in ("single", "post")
    ):
        raise ApiError(
            404,
            "transfer_not_found",
            f"no reversible earn transfer {transfer_id!r}",
            field="transfer_id",
        )
    owner = original.chain_owner
    from loyalty.db.tables import members

    member = conn.execute(select(members).where(members.c.pseudonym == owner)).first()
    if member is None:
        raise ApiError(404, "member_not_found", "the member of this transfer was erased")
    get_member(conn, member.id, for_update=True)
    t = transfers.c
    already = int(
        conn.execute(
            select(func.coalesce(func.sum(t.amount), 0)).where(
                t.reference == transfer_id, t.code == "reversal"
            )
        ).scalar_one()
    )
    left = original.amount - already
    points = body.points or left
    if points > left:
        raise ApiError(
            409,
            "exceeds_original",
            f"only {left} of transfer {transfer_id}'s {original.amount} points remain to reverse",
            field="points",
        )
    now = ctx.clock.now()
    reversal_id = new_id("t_")
    create_transfer(
        conn,
        TransferSpec(
            id=reversal_id,
            ledger="points",
            debit=original.credit_account_id,
            credit=SYSTEM["points:issuance"],
            amount=points,
            code="reversal",
            reference=transfer_id,
            chain_owner=owner,
        ),
        now=now,
    )
    rule = ctx.programme.abuse.reversal_loops
    count = conn.execute(
        select(func.count()).where(
            t.debit_account_id == original.credit_account_id,
            t.code == "reversal",
            t.created_at >= now - timedelta(days=rule.window_days),
        )
    ).scalar_one()
    if count >= rule.max_reversals:
        flag(
            conn,
            ctx,
            member.id,
            "earn_reverse_loop",
            f"{count} reversals within {rule.window_days} days (limit {rule.max_reversals})",
        )
    return reversal_id
