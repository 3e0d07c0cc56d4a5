"""Many single-phase credits to member chains, planned in memory and written with a
handful of multi-row statements (the ledger half of group commit).

The caller holds every owner's chain lock (or SQLite's write lock) and has read each
chain's head; `TransferBatch` then appends transfers in memory — hashes, sequence numbers
and balance deltas exactly as `create_transfer` would produce them — and `flush()` writes
all of them at once. Only credits *from system accounts* are batched: they can never drive
a balance negative, so no transfer in a batch can make another one fail.

    batch = TransferBatch({p: (seq, head)}, now=clock.now())
    t = batch.credit(id=new_id("t_"), ledger="points", debit=SYSTEM["points:issuance"],
                     credit=member_account(p, "points"), amount=88, code="earn_fnb",
                     owner=p)
    batch.flush(conn)       # an INSERT and two executemany UPDATEs (any backend)
    batch.pg_params()       # or: the parameters of PG_FLUSH_CTES, one statement for all
"""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, update

from loyalty.db.tables import accounts, chains, transfers
from loyalty.ledger.accounts import is_system
from loyalty.ledger.chain import entry_hash
from loyalty.ledger.transfers import Transfer

_credit_account = (
    update(accounts)
    .where(accounts.c.id == bindparam("account"))
    .values(credits_posted=accounts.c.credits_posted + bindparam("delta"))
)
_move_head = (
    update(chains)
    .where(chains.c.owner == bindparam("chain_owner_"))
    .values(seq=bindparam("new_seq"), head=bindparam("new_head"))
)

# PostgreSQL (psycopg placeholders): the writes as data-modifying CTEs, of fixed text for
# any batch size (so the server plans them once); the rows travel as JSON documents,
# encoded in C on both sides. `loyalty.services.earn_pg` puts them in front of its own
# CTEs and the idempotency insert: one statement writes a whole batch.
PG_FLUSH_CTES = """
new_transfers AS (
    INSERT INTO transfers (id, ledger, debit_account_id, credit_account_id, amount, flags,
                           code, reference, created_at, chain_owner, chain_seq, prev_hash, hash)
    SELECT r.id, r.ledger, r.debit, r.credit, r.amount, 'single', r.code, r.reference,
           CAST(%(now)s AS timestamptz), r.owner, r.seq, r.prev, r.hash
    FROM json_to_recordset(CAST(%(transfer_rows)s AS json))
         AS r(id text, ledger text, debit text, credit text, amount bigint, code text,
              reference text, owner text, seq bigint, prev text, hash text)
), new_heads AS (
    UPDATE chains SET seq = h.seq, head = h.head
    FROM json_to_recordset(CAST(%(chain_heads)s AS json)) AS h(owner text, seq bigint, head text)
    WHERE chains.owner = h.owner
), new_totals AS (
    UPDATE accounts SET credits_posted = accounts.credits_posted + d.delta
    FROM json_to_recordset(CAST(%(account_deltas)s AS json)) AS d(id text, delta bigint)
    WHERE accounts.id = d.id
)"""


class TransferBatch:
    """Transfers planned against chain heads read under the owners' locks."""

    def __init__(self, heads: dict[str, tuple[int, str]], *, now: datetime) -> None:
        self.heads = dict(heads)
        self.now = now
        self.rows: list[dict[str, Any]] = []
        self.credits: defaultdict[str, int] = defaultdict(int)
        self._moved: set[str] = set()

    def credit(
        self,
        *,
        id: str,
        ledger: str,
        debit: str,
        credit: str,
        amount: int,
        code: str,
        owner: str,
        reference: str | None = None,
    ) -> Transfer:
        """Plan a single-phase transfer from a system account to a member account."""
        if not is_system(debit) or is_system(credit):
            raise ValueError("a batch only credits member accounts from system accounts")
        if amount < 0:
            raise ValueError("amount must be zero or more")
        seq, head = self.heads[owner]
        row: dict[str, Any] = {
            "id": id,
            "ledger": ledger,
            "debit_account_id": debit,
            "credit_account_id": credit,
            "amount": amount,
            "flags": "single",
            "pending_id": None,
            "timeout_at": None,
            "code": code,
            "reference": reference,
            "created_at": self.now,
            "chain_owner": owner,
            "chain_seq": seq + 1,
            "prev_hash": head,
        }
        row["hash"] = entry_hash(head, row)
        self.heads[owner] = (seq + 1, row["hash"])
        self._moved.add(owner)
        self.credits[credit] += amount
        self.rows.append(row)
        return Transfer(**{k: row[k] for k in Transfer.__dataclass_fields__})

    def flush(self, conn: Connection) -> None:
        """Write every planned transfer, the new chain heads and the account totals."""
        if not self.rows:
            return
        conn.execute(transfers.insert(), self.rows)
        conn.execute(
            _move_head,
            [
                {"chain_owner_": o, "new_seq": self.heads[o][0], "new_head": self.heads[o][1]}
                for o in sorted(self._moved)
            ],
        )
        deltas = [{"account": a, "delta": d} for a, d in sorted(self.credits.items()) if d]
        if deltas:
            conn.execute(_credit_account, deltas)
        self.clear()

    def pg_params(self) -> dict[str, Any]:
        """The parameters of `PG_FLUSH_CTES` for this batch."""
        rows = [
            {
                "id": r["id"],
                "ledger": r["ledger"],
                "debit": r["debit_account_id"],
                "credit": r["credit_account_id"],
                "amount": r["amount"],
                "code": r["code"],
                "reference": r["reference"],
                "owner": r["chain_owner"],
                "seq": r["chain_seq"],
                "prev": r["prev_hash"],
                "hash": r["hash"],
            }
            for r in self.rows
        ]
        heads = [
            {"owner": o, "seq": self.heads[o][0], "head": self.heads[o][1]}
            for o in sorted(self._moved)
        ]
        deltas = [{"id": a, "delta": d} for a, d in sorted(self.credits.items()) if d]
        return {
            "now": self.now,
            "transfer_rows": json.dumps(rows),
            "chain_heads": json.dumps(heads),
            "account_deltas": json.dumps(deltas),
        }

    def clear(self) -> None:
        """Forget what was planned (after the caller wrote it with `pg_params()`)."""
        self.rows = []
        self.credits.clear()
        self._moved.clear()
