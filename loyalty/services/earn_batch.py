"""Posting earns in batches: many earns, one transaction, one commit (group commit).

`earn_batch(ctx, jobs)` takes the earns queued by concurrent requests and, in a single
transaction, locks every member involved (sorted, as every ledger writer does), reads what
the rules need for all of them in two statements, prices and chains each earn in memory in
arrival order, stores every outcome under its Idempotency-Key and writes all transfers with
a few multi-row statements. Per earn it gives the same results, failures and records as one
earn per transaction would:

* a refused earn (unknown member or activity, amount the rules refuse, velocity `reject`)
  is recorded under its key as a failure and written nothing, without failing the others;
* the same key twice in one batch runs once; the second replays the first;
* a key that a twin (another process, or a retry racing this one) stored first is
  detected by the idempotency insert; the transaction is rolled back and redone without
  it, and it replays the twin's outcome (or gets the 409 naming the differing field).

    outcomes = earn_batch(ctx, [EarnJob.of(principal, key, body), ...])
    writer = earn_writer(ctx)                 # what the API uses: batches form by themselves
    outcome = await writer.submit(EarnJob.of(principal, key, body))
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, and_, case, func, literal, select, update
from sqlalchemy.exc import DBAPIError

from loyalty.context import Context
from loyalty.db.tables import accounts, chains, flags, members, transfers
from loyalty.errors import ApiError
from loyalty.idempotency import (
    Outcome,
    Record,
    claim,
    lookup_many,
    replay,
)
from loyalty.ledger import SYSTEM, member_account
from loyalty.ledger.batch import TransferBatch
from loyalty.schemas import Balance, EarnRequest, EarnResult
from loyalty.services import rules_adapter
from loyalty.services.earn import activity_code, at_midnight, crossed, flag_row, price, window_of
from loyalty.services.tiers import upgrade, year_totals, year_window
from sync.wire import new_id

OPERATION = "earn"
Pair = tuple[str, str]


@dataclass(frozen=True)
class EarnJob:
    """One `POST /v1/earn` to post: who sent it, its Idempotency-Key, the body."""

    principal: str
    key: str
    body: EarnRequest
    request: dict[str, Any]

    @classmethod
    def of(cls, principal: str, key: str, body: EarnRequest) -> EarnJob:
        return cls(principal, key, body, body.model_dump(mode="json"))

    @property
    def pair(self) -> Pair:
        return self.principal, self.key


@dataclass
class Member:
    id: str
    pseudonym: str
    tier: str
    seq: int
    head: str
    balance: list[int]  # points account: debits_pending, debits_posted, credits_pending, ...


class TwinFirst(Exception):
    """Some keys were stored by a twin: roll back and redo the batch without them."""

    def __init__(self, pairs: set[Pair]) -> None:
        self.pairs = pairs


def earn_batch(ctx: Context, jobs: list[EarnJob], *, attempts: int = 5) -> list[Outcome]:
    """Post `jobs` in one transaction; one outcome per job, in order."""
    with ctx.engine.connect() as conn:
        return earn_batch_on(conn, ctx, jobs, attempts=attempts)


def earn_batch_on(
    conn: Connection, ctx: Context, jobs: list[EarnJob], *, attempts: int = 5
) -> list[Outcome]:
    """`earn_batch` on a connection the caller provides (each transaction is begun and
    committed on it; an asyncio caller runs this under `AsyncConnection.run_sync`)."""
    outcomes: dict[int, Outcome] = {}
    todo, later = split_repeats(jobs)
    for _ in range(attempts):
        try:
            with conn.begin():
                outcomes.update(_post(conn, ctx, [(i, jobs[i]) for i in todo]))
            break
        except TwinFirst as twins:
            later.extend(i for i in todo if jobs[i].pair in twins.pairs)
            todo = [i for i in todo if jobs[i].pair not in twins.pairs]
        except DBAPIError as exc:
            if not _retryable(exc):
                raise
    else:
        outcomes.update(busy(todo, f"could not post the earn after {attempts} attempts"))
    if later:
        outcomes.update(_replays(conn, ctx, jobs, later, attempts))
    return [outcomes[i] for i in range(len(jobs))]


def split_repeats(jobs: list[EarnJob]) -> tuple[list[int], list[int]]:
    """(first use of each key, repeats): a key used twice in one batch runs once, and the
    repeat replays it after commit."""
    first: dict[Pair, int] = {}
    later: list[int] = []
    for i, job in enumerate(jobs):
        if job.pair in first:
            later.append(i)
        else:
            first[job.pair] = i
    return sorted(first.values()), later


def busy(indices: list[int], message: str) -> dict[int, Outcome]:
    error = ApiError(503, "busy", message)
    return {i: Outcome(error.status, error.body()) for i in indices}


def replay_outcome(row: Any, job: EarnJob) -> Outcome:
    try:
        return replay(row, OPERATION, job.request)
    except ApiError as exc:
        return Outcome(exc.status, exc.body())


def _retryable(exc: DBAPIError) -> bool:
    """Deadlock, serialization failure or a busy SQLite: worth another go."""
    code = getattr(exc.orig, "sqlstate", None)
    return code in ("40P01", "40001") or "database is locked" in str(exc.orig)


def _replays(
    conn: Connection, ctx: Context, jobs: list[EarnJob], indices: list[int], attempts: int
) -> dict[int, Outcome]:
    with conn.begin():
        stored = lookup_many(conn, sorted({jobs[i].pair for i in indices}))
    out: dict[int, Outcome] = {}
    missing: list[int] = []
    for i in indices:
        row = stored.get(jobs[i].pair)
        if row is None:
            missing.append(i)  # the twin rolled back after all: run this one for real
            continue
        out[i] = replay_outcome(row, jobs[i])
    if missing and attempts > 1:
        redo = earn_batch_on(conn, ctx, [jobs[i] for i in missing], attempts=attempts - 1)
        out.update(zip(missing, redo, strict=True))
    elif missing:
        out.update(busy(missing, "the Idempotency-Key is in use by a request in flight"))
    return out


@dataclass(frozen=True)
class Reads:
    """What a batch must read under its locks: members, limit windows, velocity start."""

    now: datetime
    member_ids: list[str]
    windows: dict[str, tuple[datetime, datetime]]
    since: datetime
    # Members with a qualifying activity in this batch, and the qualification year: their
    # year's totals are read so an earn that crosses a tier line upgrades in this batch.
    qualifying_ids: list[str]
    year: tuple[datetime, datetime]

    @classmethod
    def of(cls, ctx: Context, jobs: list[tuple[int, EarnJob]]) -> Reads:
        now = ctx.clock.now()
        windows = {
            code: window
            for code, window in (
                (activity_code(job.body.activity), window_of(ctx, job.body.activity, now.date()))
                for _, job in jobs
            )
            if window is not None
        }
        minutes = ctx.programme.abuse.velocity.window_minutes
        activities = ctx.programme.earn.activities
        qualifying = {
            job.body.member_id
            for _, job in jobs
            if job.body.activity in activities and activities[job.body.activity].qualifying
        }
        start, end = year_window(ctx, now.date())
        return cls(
            now,
            sorted({job.body.member_id for _, job in jobs}),
            windows,
            now - timedelta(minutes=minutes),
            sorted(qualifying),
            (at_midnight(start), at_midnight(end)),
        )


def records_of(jobs: list[tuple[int, EarnJob]], outcomes: dict[int, Outcome]) -> list[Record]:
    return [Record(job.principal, job.key, OPERATION, job.request, outcomes[i]) for i, job in jobs]


def _post(conn: Connection, ctx: Context, jobs: list[tuple[int, EarnJob]]) -> dict[int, Outcome]:
    if not jobs:
        return {}
    reads = Reads.of(ctx, jobs)
    found = _lock_members(conn, reads.member_ids)
    accounts_ = [member_account(m.pseudonym, "points") for m in found.values()]
    counts = _earn_counts(conn, accounts_, reads.windows, reads.since)
    plan = Plan(ctx, reads.now, found, counts, reads.windows)
    owners = {found[m].pseudonym: m for m in reads.qualifying_ids if m in found}
    plan.qualification = year_totals(conn, owners, reads.year)
    outcomes = {i: plan.earn(job) for i, job in jobs}
    records = records_of(jobs, outcomes)
    mine = claim(conn, records, reads.now)
    if len(mine) != len(records):
        raise TwinFirst({job.pair for _, job in jobs} - mine)
    plan.flush(conn)
    return outcomes


def _lock_members(conn: Connection, member_ids: list[str]) -> dict[str, Member]:
    """Each member's row, chain head and points totals, locked in pseudonym order (the
    order every ledger writer locks in). Erased and unknown members are simply absent."""
    m, c, a = members.c, chains.c, accounts.c
    query = (
        select(
            m.id,
            m.pseudonym,
            m.tier,
            c.seq,
            c.head,
            a.debits_pending,
            a.debits_posted,
            a.credits_pending,
            a.credits_posted,
        )
        .select_from(
            members.join(chains, c.owner == m.pseudonym).join(
                accounts, a.id == m.pseudonym.concat(literal(":points"))
            )
        )
        .where(m.id.in_(member_ids), m.erased_at.is_(None))
        .order_by(c.owner)
        # Locking all three makes PostgreSQL re-read each of them if a writer we waited
        # for changed it (READ COMMITTED re-checks only the rows it locks).
        .with_for_update(of=[chains, members, accounts], key_share=True)
    )
    return {
        row.id: Member(row.id, row.pseudonym, row.tier, row.seq, row.head, list(row[5:9]))
        for row in conn.execute(query)
    }


def _earn_counts(
    conn: Connection,
    account_ids: list[str],
    windows: dict[str, tuple[datetime, datetime]],
    since: datetime,
) -> dict[str, tuple[dict[str, int], int]]:
    """Per points account: points earned per activity code in its limit window, and the
    number of earns since `since` (velocity) — for every account in one statement."""
    if not account_ids:
        return {}
    t = transfers.c
    codes = sorted(windows)
    columns: list[Any] = [t.credit_account_id]
    for code in codes:
        start, end = windows[code]
        inside = and_(t.code == code, t.created_at >= start, t.created_at < end)
        columns.append(func.coalesce(func.sum(case((inside, t.amount), else_=0)), 0))
    columns.append(func.count(case((t.created_at >= since, 1))))
    earliest = min([since, *(start for start, _ in windows.values())])
    rows = conn.execute(
        select(*columns)
        .where(
            t.credit_account_id.in_(account_ids),
            t.code.like("earn_%"),
            t.created_at >= earliest,
        )
        .group_by(t.credit_account_id)
    )
    return {
        row[0]: ({code: int(row[1 + n]) for n, code in enumerate(codes)}, int(row[-1]))
        for row in rows
    }


class Plan:
    """Prices and chains earns in arrival order, keeping running totals so that later
    earns in the batch see earlier ones exactly as if each had committed on its own."""

    def __init__(
        self,
        ctx: Context,
        now: datetime,
        found: dict[str, Member],
        counts: dict[str, tuple[dict[str, int], int]],
        windows: dict[str, tuple[datetime, datetime]],
    ) -> None:
        self.ctx = ctx
        self.now = now
        self.found = found
        self.windows = windows
        self.earned: defaultdict[tuple[str, str], int] = defaultdict(int)
        self.recent: defaultdict[str, int] = defaultdict(int)
        for account, (per_code, recent) in counts.items():
            self.recent[account] = recent
            for code, points in per_code.items():
                self.earned[account, code] = points
        self.ledger = TransferBatch({m.pseudonym: (m.seq, m.head) for m in found.values()}, now=now)
        self.flags: list[dict[str, object]] = []
        self.touched: set[str] = set()
        # member id -> [spend, nights, stays] this qualification year (see _qualification)
        self.qualification: dict[str, list[Any]] = {}
        self.upgrades: list[tuple[str, str, str]] = []  # (member id, from tier, to tier)

    def earn(self, job: EarnJob) -> Outcome:
        try:
            result = self._earn(job.body)
        except ApiError as exc:
            return Outcome(exc.status, exc.body())
        return Outcome(200, result.model_dump(mode="json"))

    def _earn(self, body: EarnRequest) -> EarnResult:
        member = self.found.get(body.member_id)
        if member is None:
            raise ApiError(
                404, "member_not_found", f"no member {body.member_id!r}", field="member_id"
            )
        account = member_account(member.pseudonym, "points")
        code = activity_code(body.activity)
        earned = self.earned[account, code] if code in self.windows else 0
        breakdown = price(self.ctx, tier=member.tier, body=body, on=self.now.date(), earned=earned)
        flagged = self._velocity(member, account)
        transfer_id = None
        if breakdown.points > 0:
            transfer_id = new_id("t_")
            self.ledger.credit(
                id=transfer_id,
                ledger="points",
                debit=SYSTEM["points:issuance"],
                credit=account,
                amount=breakdown.points,
                code=code,
                reference=body.reference,
                owner=member.pseudonym,
            )
            self.earned[account, code] += breakdown.points
            self.recent[account] += 1
            member.balance[3] += breakdown.points
        spend_minor = int(breakdown.qualifying_spend * 100)
        upgraded_to = None
        if spend_minor > 0:
            self.ledger.credit(
                id=new_id("t_"),
                ledger="qualifying",
                debit=SYSTEM["qualifying:issuance"],
                credit=member_account(member.pseudonym, "qualifying"),
                amount=spend_minor,
                code=code,
                reference=transfer_id,
                owner=member.pseudonym,
            )
            upgraded_to = self._upgrade(member, Decimal(spend_minor) / 100)
        self.touched.add(member.id)
        dp, dpo, cp, cpo = member.balance
        return EarnResult(
            member_id=member.id,
            points=breakdown.points,
            breakdown=rules_adapter.breakdown_lines(breakdown),
            transfer_id=transfer_id,
            dry_run=False,
            balance=Balance(points=cpo - dpo, available=cpo - dpo - dp, held=dp, incoming=cp),
            flagged=flagged,
            capped_by=rules_adapter.capped_line(breakdown),
            upgraded_to=upgraded_to,
        )

    def _upgrade(self, member: Member, spend: Decimal) -> str | None:
        """Add this earn's qualifying spend to the member's year; if it crosses a tier line,
        the member is upgraded (in this transaction) and later earns price at the new tier.
        This earn keeps the tier it was priced at: the spend that qualified was made there."""
        totals = self.qualification.get(member.id)
        if totals is None:
            return None
        totals[0] += spend
        reached = crossed(self.ctx, member.tier, totals[0], totals[1], totals[2])
        if reached is not None:
            self.upgrades.append((member.id, member.tier, reached))
            member.tier = reached
        return reached

    def _velocity(self, member: Member, account: str) -> bool:
        """Too many earns in the window: flag for review, or refuse (programme's choice)."""
        rule = self.ctx.programme.abuse.velocity
        recent = self.recent[account]
        if recent < rule.max_earns:
            return False
        detail = f"{recent + 1} earns within {rule.window_minutes} min (limit {rule.max_earns})"
        if rule.action == "reject":
            raise ApiError(429, "velocity_limit", f"earning paused for review: {detail}")
        self.flags.append(flag_row(self.ctx, member.id, "velocity", detail))
        return True

    def pg_params(self) -> dict[str, Any]:
        """Parameters of the ledger, activity and flag CTEs of `_PG_WRITE`."""
        return {
            **self.ledger.pg_params(),
            "touched": sorted(self.touched),
            "flag_rows": json.dumps(
                [{k: f[k] for k in ("id", "member_id", "kind", "detail")} for f in self.flags]
            ),
        }

    def flush(self, conn: Connection) -> None:
        self.ledger.flush(conn)
        for member_id, from_tier, to_tier in self.upgrades:
            upgrade(conn, self.ctx, member_id, from_tier, to_tier)
        if self.touched:
            conn.execute(
                update(members)
                .where(members.c.id.in_(sorted(self.touched)))
                .values(last_activity_at=self.now)
            )
        if self.flags:
            conn.execute(flags.insert(), self.flags)
