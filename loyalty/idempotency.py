"""Client-chosen idempotency keys for every write.

Same key + same body → the original outcome, failures included (a retry never flips the
result); same key + different body → 409 naming the first differing field. Keys are scoped
to the API key that sent them and kept forever (a later job may prune old ones).

    outcome = run_idempotent(engine, principal="k1", key=key, operation="earn",
                             request=body.model_dump(mode="json"), work=do_earn)

Batched writers (group commit) store many outcomes in the transaction that did the work
with `claim()`, and replay the keys a twin got first with `lookup_many()` + `replay()`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, select, tuple_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError, OperationalError

from loyalty.db.tables import idempotency
from loyalty.errors import ApiError
from loyalty.ledger.errors import LedgerError

KEY_PATTERN = r"^[A-Za-z0-9_.:-]{8,128}$"


@dataclass(frozen=True)
class Outcome:
    status: int
    body: Any
    replayed: bool = False


def canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def first_difference(old: Any, new: Any, path: str = "") -> str | None:
    """The path of the first field whose value differs ('lines[1].amount'), else None."""
    if isinstance(old, dict) and isinstance(new, dict):
        for name in sorted(set(old) | set(new)):
            where = f"{path}.{name}" if path else name
            if name not in old or name not in new:
                return where
            found = first_difference(old[name], new[name], where)
            if found:
                return found
        return None
    if isinstance(old, list) and isinstance(new, list):
        for i, (a, b) in enumerate(zip(old, new, strict=False)):
            found = first_difference(a, b, f"{path}[{i}]")
            if found:
                return found
        return f"{path}[{min(len(old), len(new))}]" if len(old) != len(new) else None
    return None if old == new else (path or "(body)")


def replay(row: Any, operation: str, request: Any) -> Outcome:
    """The stored outcome of `row` for a retry of (operation, request), or a 409 naming
    what differs."""
    return _replay(row, operation, request)


def _replay(row: Any, operation: str, request: Any) -> Outcome:
    if row.operation != operation:
        raise ApiError(
            409,
            "idempotency_key_reused",
            f"this Idempotency-Key was used for {row.operation}, not {operation}",
            field="Idempotency-Key",
        )
    old = json.loads(row.request_json)
    differing = first_difference(old, request)
    if differing is not None:
        raise ApiError(
            409,
            "idempotency_key_reused",
            f"this Idempotency-Key was used with a different value of {differing!r}",
            field=differing,
        )
    return Outcome(row.status_code, json.loads(row.response_json), replayed=True)


def _lookup(conn: Connection, principal: str, key: str) -> Any:
    return conn.execute(
        select(idempotency).where(idempotency.c.principal == principal, idempotency.c.key == key)
    ).first()


def run_idempotent(
    engine: Engine,
    *,
    principal: str,
    key: str,
    operation: str,
    request: Any,
    now: Callable[[], datetime],
    work: Callable[[Connection], Outcome],
    attempts: int = 4,
) -> Outcome:
    """Run `work` in one transaction and record its outcome under the key, atomically.

    A concurrent twin blocks on the key's unique index, then fails the insert, rolls back
    everything it did, and replays the winner's outcome. A refused request (`ApiError`,
    `LedgerError`) rolls back and its failure is recorded in a transaction of its own."""
    last: Exception | None = None
    for _ in range(attempts):
        with engine.connect() as conn:
            existing = None
            try:
                with conn.begin():
                    existing = _lookup(conn, principal, key)
                    if existing is None:
                        try:
                            outcome = work(conn)
                        except LedgerError as exc:
                            raise ApiError.from_ledger(exc) from None
                        _store(conn, principal, key, operation, request, outcome, now())
                        return outcome
            except ApiError as exc:
                failure = Outcome(exc.status, exc.body())
                try:
                    with conn.begin():
                        _store(conn, principal, key, operation, request, failure, now())
                    return failure
                except IntegrityError as race:
                    last = race
                    continue
            except (IntegrityError, OperationalError) as race:
                # A deadlock or serialization failure (PostgreSQL) or a busy SQLite rolled
                # the whole transaction back: safe to run again. The network chaos test
                # found check-ins answered 500 when one deadlocked with a room's upload.
                last = race
                continue
            if existing is not None:
                return _replay(existing, operation, request)
    raise ApiError(
        503, "busy", f"could not complete after {attempts} attempts ({type(last).__name__})"
    )


def _store(
    conn: Connection,
    principal: str,
    key: str,
    operation: str,
    request: Any,
    outcome: Outcome,
    now: datetime,
) -> None:
    conn.execute(
        idempotency.insert().values(
            principal=principal,
            key=key,
            operation=operation,
            request_json=canonical(request),
            status_code=outcome.status,
            response_json=canonical(outcome.body),
            created_at=now,
        )
    )


# PostgreSQL (psycopg placeholders): one statement of fixed text for any number of records;
# `loyalty.services.earn_pg` puts the batch's writes in front of it as CTEs.
PG_CLAIM = """
INSERT INTO idempotency (principal, key, operation, request_json, status_code, response_json,
                         created_at)
SELECT r.principal, r.key, r.operation, r.request, r.status, r.response,
       CAST(%(now)s AS timestamptz)
FROM json_to_recordset(CAST(%(idempotency_records)s AS json))
     AS r(principal text, key text, operation text, request text, status integer,
          response text)
ON CONFLICT (principal, key) DO NOTHING
RETURNING principal, key
"""


def pg_claim_params(records: list[Record], now: datetime) -> dict[str, Any]:
    """The parameters of `PG_CLAIM` for `records`."""
    rows = [
        {
            "principal": r.principal,
            "key": r.key,
            "operation": r.operation,
            "request": canonical(r.request),
            "status": r.outcome.status,
            "response": canonical(r.outcome.body),
        }
        for r in records
    ]
    return {"now": now, "idempotency_records": json.dumps(rows)}


@dataclass(frozen=True)
class Record:
    """One outcome to store under (principal, key)."""

    principal: str
    key: str
    operation: str
    request: Any
    outcome: Outcome


def claim(conn: Connection, records: list[Record], now: datetime) -> set[tuple[str, str]]:
    """Store `records` in the caller's transaction; return the (principal, key) pairs this
    transaction now owns. A pair left out belongs to a twin (on PostgreSQL the insert
    waits for an in-flight twin to finish first), so its work must not be written: replay
    the twin's outcome after commit instead."""
    if not records:
        return set()
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    stmt = (
        dialect.insert(idempotency)
        .on_conflict_do_nothing(index_elements=["principal", "key"])
        .returning(idempotency.c.principal, idempotency.c.key)
    )
    rows = conn.execute(
        stmt,
        [
            {
                "principal": r.principal,
                "key": r.key,
                "operation": r.operation,
                "request_json": canonical(r.request),
                "status_code": r.outcome.status,
                "response_json": canonical(r.outcome.body),
                "created_at": now,
            }
            for r in records
        ],
    ).all()
    return {(row.principal, row.key) for row in rows}


def lookup_many(conn: Connection, pairs: list[tuple[str, str]]) -> dict[tuple[str, str], Any]:
    """Stored rows for the given (principal, key) pairs."""
    if not pairs:
        return {}
    c = idempotency.c
    rows = conn.execute(select(idempotency).where(tuple_(c.principal, c.key).in_(pairs)))
    return {(row.principal, row.key): row for row in rows}
