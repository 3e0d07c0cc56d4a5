"""Non-stay earning (F&B, spa, surveys, profile completion, partners): pricing and the dry
run, anomaly flags, and reversals (corrections are new transfers, never edits). Posting
earns is batched: see `loyalty.services.earn_batch`."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from sqlalchemy import Connection, func, select

from loyalty.context import Context
from loyalty.db.tables import flags, transfers
from loyalty.errors import ApiError
from loyalty.ledger import SYSTEM, TransferSpec, create_transfer, get_transfer, member_account
from loyalty.rules.earn import EarnBreakdown
from loyalty.rules.errors import RulesError
from loyalty.rules.periods import limit_window
from loyalty.schemas import EarnRequest, EarnResult, ReverseRequest
from loyalty.services import rules_adapter
from loyalty.services.members import get_member
from loyalty.services.tiers import qualification_totals, year_window
from sync.wire import new_id


def at_midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=UTC)


def _earned_in_window(
    conn: Connection, account: str, code: str, start: datetime, end: datetime
) -> int:
    t = transfers.c
    value = conn.execute(
        select(func.coalesce(func.sum(t.amount), 0)).where(
            t.credit_account_id == account,
            t.code == code,
            t.created_at >= start,
            t.created_at < end,
        )
    ).scalar_one()
    return int(value)


def flag_row(ctx: Context, member_id: str, kind: str, detail: str) -> dict[str, object]:
    """A flag for staff review, as a row of `flags`."""
    return {
        "id": new_id("f_"),
        "member_id": member_id,
        "kind": kind,
        "detail": detail[:512],
        "created_at": ctx.clock.now(),
        "resolved_at": None,
        "resolution": None,
    }


def flag(conn: Connection, ctx: Context, member_id: str, kind: str, detail: str) -> None:
    conn.execute(flags.insert().values(**flag_row(ctx, member_id, kind, detail)))


def activity_code(activity: str) -> str:
    """The transfer code of an activity's earn (what limits and velocity count)."""
    return f"earn_{activity}"[:24]


def price(ctx: Context, *, tier: str, body: EarnRequest, on: date, earned: int) -> EarnBreakdown:
    """The rules' answer for one earn: points, qualifying spend, each rule's step.

    `earned` is what the member already earned for this activity in its limit window
    (`window_of`). Raises ApiError 422 for an unknown activity or a refused amount."""
    if body.activity not in ctx.programme.earn.activities:
        known = ", ".join(sorted(ctx.programme.earn.activities)) or "none"
        raise ApiError(
            422,
            "unknown_activity",
            f"activity {body.activity!r} is not in the programme (known: {known})",
            field="activity",
        )
    try:
        return rules_adapter.activity_earn(
            ctx.programme,
            tier=tier,
            activity=body.activity,
            on=on,
            amount=body.amount,
            earned_this_period=earned,
        )
    except RulesError as exc:
        raise ApiError(422, exc.code, str(exc), field="amount") from None


def window_of(ctx: Context, activity: str, on: date) -> tuple[datetime, datetime] | None:
    """The [start, end) of the activity's limit period containing `on`, if it has one."""
    rule = ctx.programme.earn.activities.get(activity)
    if rule is None or rule.limit is None:
        return None
    start, end = limit_window(ctx.programme, rule.limit.period, on)
    return at_midnight(start), at_midnight(end)


def dry_run(conn: Connection, ctx: Context, body: EarnRequest) -> EarnResult:
    """What an earn would post and why; writes nothing. (Writes go through
    `loyalty.services.earn_batch`, which commits many earns per transaction.)"""
    member = get_member(conn, body.member_id)
    now = ctx.clock.now()
    window = window_of(ctx, body.activity, now.date())
    earned = 0
    if window is not None:
        account = member_account(member.pseudonym, "points")
        earned = _earned_in_window(conn, account, activity_code(body.activity), *window)
    breakdown = price(ctx, tier=member.tier, body=body, on=now.date(), earned=earned)
    upgraded_to = None
    if breakdown.qualifying_spend > 0:
        start, end = year_window(ctx, now.date())
        spend, nights, stays = qualification_totals(conn, member.pseudonym, start, end)
        upgraded_to = crossed(ctx, member.tier, spend + breakdown.qualifying_spend, nights, stays)
    return EarnResult(
        member_id=member.id,
        points=breakdown.points,
        breakdown=rules_adapter.breakdown_lines(breakdown),
        transfer_id=None,
        dry_run=True,
        capped_by=rules_adapter.capped_line(breakdown),
        upgraded_to=upgraded_to,
    )


def crossed(ctx: Context, tier: str, spend: Decimal, nights: int, stays: int) -> str | None:
    """The higher tier these qualification totals reach, or None when they reach none."""
    reached = rules_adapter.qualified_tier(ctx.programme, spend, nights, stays)
    names = ctx.programme.tier_names
    current = names.index(tier) if tier in names else 0
    return reached if names.index(reached) > current else None


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
