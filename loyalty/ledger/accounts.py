"""Accounts: one per member per ledger (pseudonymous ids), plus system accounts.

Member accounts keep running totals, updated under the member's chain lock. System accounts
(issuance, redemption, breakage, partners) would be the hottest rows in the database, so
they are never updated: their balances are aggregated from transfers when asked.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import Connection, case, func, select

from loyalty.db.tables import accounts, transfers
from loyalty.ledger.chain import genesis_hash

Ledger = Literal["points", "qualifying", "nights"]
LEDGERS: tuple[Ledger, ...] = ("points", "qualifying", "nights")
"""points: spendable points; qualifying: qualifying spend in minor units (fen);
nights: qualifying nights. Tiers are computed from the last two, never from points."""

SYSTEM: dict[str, str] = {
    "points:issuance": "sys:points:issuance",
    "points:redemption": "sys:points:redemption",
    "points:breakage": "sys:points:breakage",
    "points:partners": "sys:points:partners",
    "qualifying:issuance": "sys:qualifying:issuance",
    "nights:issuance": "sys:nights:issuance",
}


def member_account(pseudonym: str, ledger: Ledger) -> str:
    return f"{pseudonym}:{ledger}"


def is_system(account_id: str) -> bool:
    return account_id.startswith("sys:")


@dataclass(frozen=True)
class AccountBalance:
    account_id: str
    debits_pending: int
    debits_posted: int
    credits_pending: int
    credits_posted: int

    @property
    def posted(self) -> int:
        """Credits minus debits, posted only (a member's points balance)."""
        return self.credits_posted - self.debits_posted

    @property
    def available(self) -> int:
        """What can still be spent: posted balance minus what pending holds reserve."""
        return self.credits_posted - self.debits_posted - self.debits_pending


def ensure_system_accounts(conn: Connection, now: datetime) -> None:
    existing = set(conn.execute(select(accounts.c.id).where(accounts.c.owner.is_(None))).scalars())
    rows = [
        {
            "id": account_id,
            "owner": None,
            "ledger": key.split(":")[0],
            "code": key.split(":")[1],
            "debits_pending": 0,
            "debits_posted": 0,
            "credits_pending": 0,
            "credits_posted": 0,
            "debits_must_not_exceed_credits": False,
            "created_at": now,
        }
        for key, account_id in SYSTEM.items()
        if account_id not in existing
    ]
    if rows:
        conn.execute(accounts.insert(), rows)


def open_member_accounts(conn: Connection, pseudonym: str, now: datetime) -> None:
    """Create the member's accounts and the (empty) head of their hash chain."""
    from loyalty.db.tables import chains

    conn.execute(chains.insert().values(owner=pseudonym, seq=0, head=genesis_hash(pseudonym)))
    conn.execute(
        accounts.insert(),
        [
            {
                "id": member_account(pseudonym, ledger),
                "owner": pseudonym,
                "ledger": ledger,
                "code": "member",
                "debits_pending": 0,
                "debits_posted": 0,
                "credits_pending": 0,
                "credits_posted": 0,
                "debits_must_not_exceed_credits": True,
                "created_at": now,
            }
            for ledger in LEDGERS
        ],
    )


def balance(conn: Connection, account_id: str) -> AccountBalance:
    """The account's totals: stored for member accounts, aggregated for system ones."""
    if not is_system(account_id):
        row = conn.execute(select(accounts).where(accounts.c.id == account_id)).one()
        return AccountBalance(
            account_id,
            row.debits_pending,
            row.debits_posted,
            row.credits_pending,
            row.credits_posted,
        )
    return aggregate_balance(conn, account_id)


def aggregate_balance(conn: Connection, account_id: str) -> AccountBalance:
    """Totals recomputed from the transfers (system accounts; and the verifier)."""
    t = transfers
    pend = t.alias("pend")
    resolved = select(pend.c.amount).where(pend.c.id == t.c.pending_id).scalar_subquery()
    # pending: +amount while open; post: -pending +posted; void: -pending.
    pending_delta = case(
        (t.c.flags == "pending", t.c.amount),
        (t.c.flags.in_(("post", "void")), -resolved),
        else_=0,
    )
    posted_delta = case((t.c.flags.in_(("single", "post")), t.c.amount), else_=0)

    def totals(column: Any) -> tuple[int, int]:
        row = conn.execute(
            select(
                func.coalesce(func.sum(pending_delta), 0),
                func.coalesce(func.sum(posted_delta), 0),
            ).where(column == account_id)
        ).one()
        return int(row[0]), int(row[1])

    dp, dpo = totals(t.c.debit_account_id)
    cp, cpo = totals(t.c.credit_account_id)
    return AccountBalance(account_id, dp, dpo, cp, cpo)
