"""Tier status and progress, from qualifying credits (never from the spendable balance)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, and_, case, func, select

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
