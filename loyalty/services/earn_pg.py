"""The PostgreSQL fast path of `earn_batch`: psycopg's asyncio driver in pipeline mode,
two round trips per batch whatever its size.

    outcomes = await earn_batch_pg(conn, ctx, jobs)    # conn: psycopg.AsyncConnection

Same results, records and guarantees as `loyalty.services.earn_batch.earn_batch` (which
stays the path for SQLite and the reference for this one), with the statements folded:

1. BEGIN and one statement that locks every member of the batch (chain, member and
   points-account rows, in pseudonym order like every ledger writer) and counts their
   earns for limits and velocity — sent together;
2. one statement that writes every transfer, chain head, balance, activity stamp and flag
   and stores every idempotency record, and COMMIT — sent together. If a twin holds one
   of the keys, the statement's guard divides by zero, so the transaction rolls back and
   the COMMIT does nothing; the batch is then redone without the twins' keys.

The counts are read in the statement that takes the locks. Where it had to wait for a
concurrent writer, the locked rows come back at their latest version but the counts from
the statement's snapshot: every transfer moves its chain's head, so a head that moved
(`seen_seq` ≠ `seq`) marks counts to read again, in a statement of their own.
"""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal
from typing import Any

import psycopg
from psycopg.pq import TransactionStatus
from psycopg.rows import dict_row

from loyalty.context import Context
from loyalty.idempotency import PG_CLAIM, Outcome, pg_claim_params
from loyalty.ledger import member_account
from loyalty.ledger.batch import PG_FLUSH_CTES
from loyalty.services.earn_batch import (
    EarnJob,
    Member,
    Plan,
    Reads,
    busy,
    earn_batch,
    records_of,
    replay_outcome,
    split_repeats,
)

_EARN_COUNTS = """
       (SELECT count(*) FROM transfers t
         WHERE t.credit_account_id = a.id AND t.code LIKE 'earn_%%'
           AND t.created_at >= CAST(%(since)s AS timestamptz)) AS recent,
       (SELECT json_object_agg(
                 w.code,
                 (SELECT coalesce(sum(t.amount), 0) FROM transfers t
                   WHERE t.credit_account_id = a.id AND t.code = w.code
                     AND t.created_at >= w.start AND t.created_at < w.stop))
          FROM json_to_recordset(CAST(%(windows)s AS json))
               AS w(code text, start timestamptz, stop timestamptz)) AS earned"""

LOCK_AND_COUNT = f"""
SELECT m.id, m.pseudonym, m.tier, c.seq, c.head,
       a.debits_pending, a.debits_posted, a.credits_pending, a.credits_posted,
       (SELECT s.seq FROM chains s WHERE s.owner = c.owner) AS seen_seq,
       {_EARN_COUNTS}
FROM unnest(CAST(%(ids)s AS text[])) AS wanted(id)
JOIN members m ON m.id = wanted.id
JOIN chains c ON c.owner = m.pseudonym
JOIN accounts a ON a.id = m.pseudonym || ':points'
WHERE m.erased_at IS NULL
ORDER BY c.owner
FOR NO KEY UPDATE OF c, m, a
"""  # noqa: S608 - constant fragments only

# The qualification year so far of the batch's members with a qualifying earn (as
# `tiers.qualification_totals` counts it), read after the locks in the same round trip.
YEAR_TOTALS = """
SELECT m.id,
       (SELECT coalesce(sum(CASE WHEN t.credit_account_id = k.q THEN t.amount
                                 ELSE -t.amount END), 0)
          FROM transfers t
         WHERE (t.credit_account_id = k.q OR t.debit_account_id = k.q) AND t.flags = 'single'
           AND t.created_at >= %(qstart)s AND t.created_at < %(qend)s) AS spend_minor,
       (SELECT coalesce(sum(CASE WHEN t.credit_account_id = k.n THEN t.amount
                                 ELSE -t.amount END), 0)
          FROM transfers t
         WHERE (t.credit_account_id = k.n OR t.debit_account_id = k.n) AND t.flags = 'single'
           AND t.created_at >= %(qstart)s AND t.created_at < %(qend)s) AS nights,
       (SELECT coalesce(sum(CASE WHEN t.code = 'stay_nights' THEN 1 ELSE -1 END), 0)
          FROM transfers t
         WHERE (t.credit_account_id = k.n OR t.debit_account_id = k.n) AND t.flags = 'single'
           AND t.code IN ('stay_nights', 'stay_nights_reversal')
           AND t.created_at >= %(qstart)s AND t.created_at < %(qend)s) AS stays
FROM members m
CROSS JOIN LATERAL (SELECT m.pseudonym || ':qualifying' AS q, m.pseudonym || ':nights' AS n) k
WHERE m.id = ANY(CAST(%(qids)s AS text[]))
"""


class UpgradeInBatch(Exception):
    """An earn in the batch crosses a tier line: the batch is redone on the reference path,
    which writes the upgrade and its webhook in the same transaction (rare: once a year
    per member at most)."""


COUNT_AGAIN = f"""
SELECT a.id, {_EARN_COUNTS}
FROM accounts a WHERE a.id = ANY(CAST(%(accounts)s AS text[]))
"""  # noqa: S608 - constant fragments only

WRITE = f"""
WITH {PG_FLUSH_CTES},
touched AS (
    UPDATE members SET last_activity_at = CAST(%(now)s AS timestamptz)
    WHERE id = ANY(CAST(%(touched)s AS text[]))
),
new_flags AS (
    INSERT INTO flags (id, member_id, kind, detail, created_at)
    SELECT f.id, f.member_id, f.kind, f.detail, CAST(%(now)s AS timestamptz)
    FROM json_to_recordset(CAST(%(flag_rows)s AS json))
         AS f(id text, member_id text, kind text, detail text)
),
claimed AS ({PG_CLAIM})
SELECT 1 / (CASE WHEN count(*) = %(expected)s THEN 1 ELSE 0 END) AS all_claimed FROM claimed
"""  # noqa: S608 - constant fragments only

LOOKUP = """
SELECT principal, key, operation, request_json, status_code, response_json
FROM idempotency
WHERE (principal, key) IN (SELECT * FROM json_to_recordset(CAST(%(pairs)s AS json))
                           AS p(principal text, key text))
"""


class _Row:
    """A stored idempotency record, with the attributes `replay()` reads."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.operation = data["operation"]
        self.request_json = data["request_json"]
        self.status_code = data["status_code"]
        self.response_json = data["response_json"]


# Prepared once per connection (`prepare`), executed in simple-protocol strings that also
# carry BEGIN / COMMIT: one round trip each, and no statement is planned twice.
_STATEMENTS: dict[str, tuple[str, tuple[str, ...], str]] = {
    "earn_lock": (LOCK_AND_COUNT, ("ids", "since", "windows"), "text[], timestamptz, json"),
    "earn_count": (COUNT_AGAIN, ("accounts", "since", "windows"), "text[], timestamptz, json"),
    "earn_year": (YEAR_TOTALS, ("qids", "qstart", "qend"), "text[], timestamptz, timestamptz"),
    "earn_write": (
        WRITE,
        (
            "now",
            "transfer_rows",
            "chain_heads",
            "account_deltas",
            "touched",
            "flag_rows",
            "idempotency_records",
            "expected",
        ),
        "timestamptz, json, json, json, text[], json, json, bigint",
    ),
}


def _positional(sql: str, names: tuple[str, ...]) -> str:
    for n, name in enumerate(names, 1):
        sql = sql.replace(f"%({name})s", f"${n}")
    return sql.replace("%%", "%")


async def prepare(conn: psycopg.AsyncConnection[Any]) -> None:
    """Set up a new connection (autocommit on) for batches: prepare the statements."""
    # Every statement here touches a handful of rows by key; the JSON row sets are always
    # estimated at 100 rows, which on small tables picks hash joins over full scans (1.5 ms
    # a batch on 2,000 members). On this connection, index nested loops only.
    await conn.execute("SET enable_hashjoin = off")
    await conn.execute("SET enable_mergejoin = off")
    await conn.execute("SET enable_seqscan = off")
    for name, (sql, names, types) in _STATEMENTS.items():
        await conn.execute(f"PREPARE {name}({types}) AS {_positional(sql, names)}")


def _call(name: str) -> str:
    return f"EXECUTE {name}({', '.join(['%s'] * len(_STATEMENTS[name][1]))})"


_LOCK = f"BEGIN; {_call('earn_lock')}; {_call('earn_year')}"
_COUNT = _call("earn_count")
_WRITE = f"{_call('earn_write')}; COMMIT"


async def earn_batch_pg(
    conn: psycopg.AsyncConnection[Any], ctx: Context, jobs: list[EarnJob], *, attempts: int = 5
) -> list[Outcome]:
    """Post `jobs` in one transaction on `conn` (autocommit on, `prepare`d); one outcome
    per job, in order."""
    outcomes: dict[int, Outcome] = {}
    todo, later = split_repeats(jobs)
    for _ in range(attempts):
        if not todo:
            break
        try:
            outcomes.update(await _post(conn, ctx, [(i, jobs[i]) for i in todo]))
            break
        except UpgradeInBatch:  # nothing was written: the whole batch goes the other way
            return await asyncio.to_thread(earn_batch, ctx, jobs, attempts=attempts)
        except psycopg.errors.DivisionByZero:
            # A twin stored some of these keys first: find which, redo without them.
            taken = set(await _lookup(conn, [jobs[i].pair for i in todo]))
            later.extend(i for i in todo if jobs[i].pair in taken)
            todo = [i for i in todo if jobs[i].pair not in taken]
        except (psycopg.errors.DeadlockDetected, psycopg.errors.SerializationFailure):
            continue
    else:
        outcomes.update(busy(todo, f"could not post the earn after {attempts} attempts"))
    if later:
        stored = await _lookup(conn, sorted({jobs[i].pair for i in later}))
        missing = [i for i in later if jobs[i].pair not in stored]
        for i in later:
            if jobs[i].pair in stored:
                outcomes[i] = replay_outcome(stored[jobs[i].pair], jobs[i])
        if missing and attempts > 1:
            redo = await earn_batch_pg(conn, ctx, [jobs[i] for i in missing], attempts=attempts - 1)
            outcomes.update(zip(missing, redo, strict=True))
        elif missing:
            outcomes.update(busy(missing, "the Idempotency-Key is in use by a request in flight"))
    return [outcomes[i] for i in range(len(jobs))]


def _args(name: str, params: dict[str, Any]) -> list[Any]:
    return [params[n] for n in _STATEMENTS[name][1]]


async def _post(
    conn: psycopg.AsyncConnection[Any], ctx: Context, jobs: list[tuple[int, EarnJob]]
) -> dict[int, Outcome]:
    reads = Reads.of(ctx, jobs)
    windows = json.dumps(
        [
            {"code": code, "start": start.isoformat(), "stop": stop.isoformat()}
            for code, (start, stop) in reads.windows.items()
        ]
    )
    cur = psycopg.AsyncClientCursor(conn, row_factory=dict_row)
    try:
        lock = {"ids": reads.member_ids, "since": reads.since, "windows": windows}
        year = {"qids": reads.qualifying_ids, "qstart": reads.year[0], "qend": reads.year[1]}
        await cur.execute(_LOCK, _args("earn_lock", lock) + _args("earn_year", year))
        cur.nextset()  # past BEGIN's empty result
        found, counts, stale = _read_locked(await cur.fetchall())
        cur.nextset()
        qualification = {
            r["id"]: [Decimal(r["spend_minor"]) / 100, int(r["nights"]), int(r["stays"])]
            for r in await cur.fetchall()
        }
        if stale:
            again = {"accounts": stale, "since": reads.since, "windows": windows}
            await cur.execute(_COUNT, _args("earn_count", again))
            counts.update({r["id"]: _counts(r) for r in await cur.fetchall()})
        plan = Plan(ctx, reads.now, found, counts, reads.windows)
        plan.qualification = qualification
        outcomes = {i: plan.earn(job) for i, job in jobs}
        if plan.upgrades:
            raise UpgradeInBatch
        records = records_of(jobs, outcomes)
        params = {
            **plan.pg_params(),
            **pg_claim_params(records, reads.now),
            "expected": len(records),
        }
        await cur.execute(_WRITE, _args("earn_write", params))
    except BaseException:
        idle = conn.closed or conn.broken or conn.info.transaction_status == TransactionStatus.IDLE
        if not idle:
            await conn.execute("ROLLBACK")
        raise
    finally:
        await cur.close()
    return outcomes


def _read_locked(
    rows: list[dict[str, Any]],
) -> tuple[dict[str, Member], dict[str, tuple[dict[str, int], int]], list[str]]:
    found: dict[str, Member] = {}
    counts: dict[str, tuple[dict[str, int], int]] = {}
    stale: list[str] = []
    for r in rows:
        totals = ("debits_pending", "debits_posted", "credits_pending", "credits_posted")
        balance = [r[name] for name in totals]
        found[r["id"]] = Member(r["id"], r["pseudonym"], r["tier"], r["seq"], r["head"], balance)
        account = member_account(r["pseudonym"], "points")
        if r["seen_seq"] != r["seq"]:
            stale.append(account)  # a writer we waited for moved this chain: count again
        else:
            counts[account] = _counts(r)
    return found, counts, stale


def _counts(row: dict[str, Any]) -> tuple[dict[str, int], int]:
    earned = {code: int(points) for code, points in (row["earned"] or {}).items()}
    return earned, int(row["recent"])


async def _lookup(
    conn: psycopg.AsyncConnection[Any], pairs: list[tuple[str, str]]
) -> dict[tuple[str, str], _Row]:
    if not pairs:
        return {}
    payload = json.dumps([{"principal": p, "key": k} for p, k in pairs])
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(LOOKUP, {"pairs": payload})
    return {(r["principal"], r["key"]): _Row(r) for r in await cur.fetchall()}
