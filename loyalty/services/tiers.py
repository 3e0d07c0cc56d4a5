"""Tier status and progress, from qualifying credits (never from the spendable balance)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, and_, case, func, select, update

from loyalty.context import Context
from loyalty.db.tables import transfers
from loyalty.ledger import member_account
from loyalty.rules.periods import qualification_year_bounds, qualification_year_of
from loyalty.schemas import TierProgress


def _utc(day: date) -> Any:
    from datetime import UTC, datetime, time

    return datetime.combine(day, time(0), tzinfo=UTC)


def qualification_totals(
    conn: Connection, pseudonym: str, start: date, end: date
) -> tuple[Decimal, int, int]:
    """(spend, nights, stays) credited in [start, end), net of reversals."""
    t = transfers.c
    window = and_(t.created_at >= _utc(start), t.created_at < _utc(end), t.flags == "single")
    totals: dict[str, int] = {}
    for ledger in ("qualifying", "nights"):
        account = member_account(pseudonym, ledger)
        signed = case((t.credit_account_id == account, t.amount), else_=-t.amount)
        value = conn.execute(
            select(func.coalesce(func.sum(signed), 0)).where(
                window, (t.credit_account_id == account) | (t.debit_account_id == account)
            )
        ).scalar_one()
        totals[ledger] = int(value)
    stays_signed = case((t.code == "stay_nights", 1), else_=-1)
    stays = conn.execute(
        select(func.coalesce(func.sum(stays_signed), 0)).where(
            window,
            t.code.in_(("stay_nights", "stay_nights_reversal")),
            (t.credit_account_id == member_account(pseudonym, "nights"))
            | (t.debit_account_id == member_account(pseudonym, "nights")),
        )
    ).scalar_one()
    return Decimal(totals["qualifying"]) / 100, totals["nights"], int(stays)


def year_totals(
    conn: Connection, owners: dict[str, str], year: tuple[datetime, datetime]
) -> dict[str, list[Any]]:
    """`qualification_totals` for many members in one statement: {member id: [spend,
    nights, stays]} in [year); `owners` maps each pseudonym to its member id."""
    if not owners:
        return {}
    qualifying = {member_account(p, "qualifying"): p for p in owners}
    nights = {member_account(p, "nights"): p for p in owners}
    wanted = [*qualifying, *nights]
    t = transfers.c
    rows = conn.execute(
        select(t.credit_account_id, t.debit_account_id, t.amount, t.code).where(
            (t.credit_account_id.in_(wanted)) | (t.debit_account_id.in_(wanted)),
            t.flags == "single",
            t.created_at >= year[0],
            t.created_at < year[1],
        )
    )
    tally = {member_id: [0, 0, 0] for member_id in owners.values()}
    for credit, debit, amount, code in rows:
        for account, sign in ((credit, 1), (debit, -1)):
            if account in qualifying:
                tally[owners[qualifying[account]]][0] += sign * amount
            elif account in nights:
                totals = tally[owners[nights[account]]]
                totals[1] += sign * amount
                if code in ("stay_nights", "stay_nights_reversal"):
                    totals[2] += 1 if code == "stay_nights" else -1
    return {m: [Decimal(v[0]) / 100, v[1], v[2]] for m, v in tally.items()}


def year_window(ctx: Context, on: date) -> tuple[date, date]:
    """[start, end) of the qualification year containing `on`."""
    return qualification_year_bounds(ctx.programme, qualification_year_of(ctx.programme, on))


def upgrade(conn: Connection, ctx: Context, member_id: str, from_tier: str, to_tier: str) -> None:
    """Raise a member's tier now (upgrades happen as soon as the member qualifies;
    downgrades only at year end), tell the webhooks and refresh the member's benefits."""
    from loyalty.db.tables import members
    from loyalty.services import offers  # offers → jobs → tiers: imported when used
    from loyalty.webhooks import emit

    conn.execute(update(members).where(members.c.id == member_id).values(tier=to_tier))
    data = {
        "member_id": member_id,
        "from_tier": from_tier,
        "to_tier": to_tier,
        "reason": "qualified during the year",
    }
    emit(conn, "tier.changed", data, now=ctx.clock.now())
    offers.tier_changed(
        conn, ctx, member_id, from_tier, to_tier, reason=f"tier changed to {to_tier}"
    )


def progress_for(conn: Connection, ctx: Context, row: Any, on: date | None = None) -> TierProgress:
    from loyalty.services import rules_adapter

    on = on or ctx.clock.now().date()
    year = qualification_year_of(ctx.programme, on)
    start, end = qualification_year_bounds(ctx.programme, year)
    spend, nights, stays = qualification_totals(conn, row.pseudonym, start, end)
    state = rules_adapter.tier_state(row.tier_state)
    next_tier, message = rules_adapter.progress_message(
        ctx.programme, row.tier, spend, nights, stays, year
    )
    return TierProgress(
        tier=row.tier,
        next_tier=next_tier,
        message=message,
        year_start=start,
        spend=spend,
        nights=nights,
        stays=stays,
        years_below=int(state.get("years_below", 0)),
    )
