"""Jobs that run "as of" a date and are idempotent: point expiry, tier evaluation, expired
holds. Each records its run in `job_runs`; transfers they post carry deterministic ids, so
a re-run (or a crash mid-run) never posts twice."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, select, update
from sqlalchemy.exc import IntegrityError

from loyalty.context import Context
from loyalty.db.tables import job_runs, members, transfers
from loyalty.errors import ApiError
from loyalty.ledger import (
    SYSTEM,
    TransferSpec,
    balance,
    create_transfer,
    get_transfer,
    lock_owners,
    member_account,
)
from loyalty.rules.expiry import EarnLot, expire
from loyalty.rules.periods import qualification_year_bounds, qualification_year_of
from loyalty.rules.tiers import QualificationYear, evaluate_tier
from loyalty.services.redemptions import expire_holds
from loyalty.services.tiers import qualification_totals
from loyalty.webhooks import emit


def _tid(kind: str, pseudonym: str, key: str) -> str:
    return f"{kind}_" + hashlib.sha256(f"{pseudonym}|{key}".encode()).hexdigest()[:40]


def _members(conn: Connection) -> list[Any]:
    return list(
        conn.execute(select(members).where(members.c.erased_at.is_(None)).order_by(members.c.id))
    )


def earn_lots(conn: Connection, pseudonym: str, as_of: date) -> list[EarnLot]:
    """FIFO lots: every credit to the member's points, minus every debit, oldest first."""
    account = member_account(pseudonym, "points")
    t = transfers.c
    end = datetime.combine(as_of + timedelta(days=1), time(0), tzinfo=UTC)
    rows = conn.execute(
        select(t.id, t.amount, t.created_at, t.debit_account_id)
        .where(
            (t.credit_account_id == account) | (t.debit_account_id == account),
            t.flags.in_(("single", "post")),
            t.created_at < end,
        )
        .order_by(t.created_at, t.chain_seq)
    ).all()
    lots = [[r.id, r.amount, r.created_at.date()] for r in rows if r.debit_account_id != account]
    spent = sum(r.amount for r in rows if r.debit_account_id == account)
    for lot in lots:
        used = min(lot[1], spent)
        lot[1] -= used
        spent -= used
    return [EarnLot(lot_id=str(i), earned_at=d, remaining=n) for i, n, d in lots]


def refuse_future(ctx: Context, as_of: date, field: str = "as_of") -> None:
    """The one "as of" rule of the API and the CLI: a job never runs ahead of the clock (an
    expiry or a tier evaluation run early cannot be taken back)."""
    today = ctx.clock.now().date()
    if as_of > today:
        raise ApiError(
            422,
            "future_date",
            f"{field} {as_of} is after today ({today}): jobs never run ahead of time",
            field=field,
        )


def run_expiry(conn: Connection, ctx: Context, as_of: date) -> dict[str, Any]:
    expired_points = members_hit = 0
    changes: list[dict[str, Any]] = []
    for member in _members(conn):
        lock_owners(conn, [member.pseudonym])
        lots = earn_lots(conn, member.pseudonym, as_of)
        last = member.last_activity_at.date() if member.last_activity_at else None
        if last and last > as_of:
            last = as_of
        actions = expire(ctx.programme, lots, last, as_of)
        hit = False
        for action in actions:
            account = member_account(member.pseudonym, "points")
            points = min(action.points, balance(conn, account).available)
            tid = _tid("x", member.pseudonym, action.idempotency_key)
            if points <= 0 or get_transfer(conn, tid) is not None:
                continue
            create_transfer(
                conn,
                TransferSpec(
                    id=tid,
                    ledger="points",
                    debit=account,
                    credit=SYSTEM["points:breakage"],
                    amount=points,
                    code="expiry",
                    reference=action.lot_id,
                    chain_owner=member.pseudonym,
                ),
                now=ctx.clock.now(),
            )
            expired_points += points
            changes.append({"member_id": member.id, "points_expired": points})
            hit = True
        members_hit += hit
    return {
        "as_of": as_of.isoformat(),
        "points_expired": expired_points,
        "members": members_hit,
        "changes": changes,
    }


def run_tier_evaluation(conn: Connection, ctx: Context, as_of: date) -> dict[str, Any]:
    programme = ctx.programme
    this_year = qualification_year_of(programme, as_of)
    depth = programme.qualification.downgrade_after_years_below + 1
    changes: dict[str, int] = {"upgrade": 0, "downgrade": 0, "unchanged": 0}
    bonuses = 0
    listed: list[dict[str, Any]] = []
    for member in _members(conn):
        lock_owners(conn, [member.pseudonym])
        years = []
        for year in range(this_year - depth, this_year + 1):
            start, end = qualification_year_bounds(programme, year)
            spend, nights, stays = qualification_totals(conn, member.pseudonym, start, end)
            years.append(QualificationYear(year=year, spend=spend, nights=nights, stays=stays))
        state = json.loads(member.tier_state)
        since = date.fromisoformat(state["since"]) if state.get("since") else None
        decision = evaluate_tier(
            programme,
            member.tier,
            years,
            as_of,
            tier_since=since if since and since <= as_of else None,
        )
        changes[decision.change] += 1
        bonus = decision.retention_bonus
        if decision.tier != member.tier or (bonus and bonus.points > 0):
            listed.append(
                {
                    "member_id": member.id,
                    "from_tier": member.tier,
                    "to_tier": decision.tier,
                    "retention_bonus": bonus.points if bonus else 0,
                }
            )
        if decision.tier != member.tier:
            data = {
                "member_id": member.id,
                "from_tier": member.tier,
                "to_tier": decision.tier,
                "reason": decision.reason[:300],
            }
            emit(
                conn,
                "tier.changed",
                data,
                now=ctx.clock.now(),
                event_id=_tid("evt_t", member.pseudonym, as_of.isoformat()),
            )
        conn.execute(
            update(members)
            .where(members.c.id == member.id)
            .values(
                tier=decision.tier,
                tier_state=json.dumps(
                    {
                        "since": decision.effective_from.isoformat(),
                        "years_below": decision.years_below,
                        "at_risk": decision.at_risk,
                        "reason": decision.reason[:300],
                    }
                ),
            )
        )
        if decision.tier != member.tier:
            # Imported here: offers reads earn lots from this module.
            from loyalty.services.offers import tier_changed

            reason = f"tier changed to {decision.tier}"
            tier_changed(conn, ctx, member.id, member.tier, decision.tier, reason=reason)
        if bonus and bonus.points > 0:
            tid = _tid("b", member.pseudonym, bonus.idempotency_key)
            if get_transfer(conn, tid) is None:
                create_transfer(
                    conn,
                    TransferSpec(
                        id=tid,
                        ledger="points",
                        debit=SYSTEM["points:issuance"],
                        credit=member_account(member.pseudonym, "points"),
                        amount=bonus.points,
                        code="retention_bonus",
                        chain_owner=member.pseudonym,
                    ),
                    now=ctx.clock.now(),
                )
                data = {
                    "member_id": member.id,
                    "points": bonus.points,
                    "code": "retention_bonus",
                    "transfer_id": tid,
                }
                emit(conn, "points.posted", data, now=ctx.clock.now(), event_id=f"evt_{tid}")
                bonuses += 1
    return {"as_of": as_of.isoformat(), **changes, "retention_bonuses": bonuses, "changes": listed}


def run_job(
    engine: Engine, ctx: Context, name: str, period: str, work: Any, *, dry_run: bool = False
) -> tuple[bool, dict[str, Any]]:
    """Run `work(conn)` once per (name, period); a second run returns the first's result.
    A dry run does all the work in a transaction it rolls back, and returns the result
    with `changes` (member by member) and `dry_run: true`; a real run stores and returns
    the totals only."""
    if dry_run:
        with engine.connect() as conn, conn.begin() as tx:
            row = conn.execute(
                select(job_runs).where(job_runs.c.name == name, job_runs.c.period == period)
            ).first()
            if row is not None:
                tx.rollback()
                return True, dict(json.loads(row.result_json))
            result = work(conn)
            tx.rollback()
        return False, {**result, "dry_run": True}
    with engine.begin() as conn:
        row = conn.execute(
            select(job_runs).where(job_runs.c.name == name, job_runs.c.period == period)
        ).first()
        if row is not None:
            return True, dict(json.loads(row.result_json))
        result = work(conn)
        result.pop("changes", None)
        try:
            with conn.begin_nested():
                conn.execute(
                    job_runs.insert().values(
                        name=name,
                        period=period,
                        result_json=json.dumps(result),
                        ran_at=ctx.clock.now(),
                    )
                )
        except IntegrityError:
            pass
    return False, result


def expire_points(
    engine: Engine, ctx: Context, as_of: date, *, dry_run: bool = False
) -> tuple[bool, dict[str, Any]]:
    refuse_future(ctx, as_of)
    return run_job(
        engine,
        ctx,
        "expiry",
        as_of.isoformat(),
        lambda c: run_expiry(c, ctx, as_of),
        dry_run=dry_run,
    )


def evaluate_tiers(
    engine: Engine, ctx: Context, as_of: date, *, dry_run: bool = False
) -> tuple[bool, dict[str, Any]]:
    """`as_of` is the first day after the qualification year to evaluate."""
    refuse_future(ctx, as_of)
    return run_job(
        engine,
        ctx,
        "tiers",
        as_of.isoformat(),
        lambda c: run_tier_evaluation(c, ctx, as_of),
        dry_run=dry_run,
    )


def void_expired_holds(engine: Engine, ctx: Context, as_of: datetime) -> dict[str, Any]:
    with engine.begin() as conn:
        return {"voided": expire_holds(conn, ctx, as_of)}
