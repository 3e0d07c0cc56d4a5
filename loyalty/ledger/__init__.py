"""The points ledger: TigerBeetle-style double entry with two-phase transfers, per-member
hash chains and a verifier.

    from loyalty.ledger import TransferSpec, create_transfer, lock_owners
    with db.engine.begin() as conn:
        lock_owners(conn, [member.pseudonym])
        create_transfer(conn, TransferSpec(id=new_id("t_"), ledger="points",
            debit=SYSTEM["points:issuance"], credit=member_account(p, "points"),
            amount=1200, code="earn_fnb", chain_owner=p), now=clock.now())
"""

from loyalty.ledger.accounts import (
    LEDGERS,
    SYSTEM,
    AccountBalance,
    balance,
    ensure_system_accounts,
    member_account,
    open_member_accounts,
)
from loyalty.ledger.chain import VerifyReport, verify_ledger
from loyalty.ledger.errors import LedgerError
from loyalty.ledger.transfers import (
    Transfer,
    TransferSpec,
    create_transfer,
    get_transfer,
    lock_owners,
    member_history,
    pending_state,
)

__all__ = [
    "LEDGERS",
    "SYSTEM",
    "AccountBalance",
    "LedgerError",
    "Transfer",
    "TransferSpec",
    "VerifyReport",
    "balance",
    "create_transfer",
    "ensure_system_accounts",
    "get_transfer",
    "lock_owners",
    "member_account",
    "member_history",
    "open_member_accounts",
    "pending_state",
    "verify_ledger",
]
