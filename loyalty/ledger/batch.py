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
    batch.flush(conn)                       # one INSERT, two executemany UPDATEs
"""

from __future__ import annotations

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
        self.rows = []
        self.credits.clear()
        self._moved.clear()
