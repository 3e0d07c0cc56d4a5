"""Creating transfers: single-phase, pending, post and void, with TigerBeetle's checks.

Callers open a transaction, `lock_owners()` every member involved (sorted, so two writers
never deadlock), then call `create_transfer()` once per transfer. A refused transfer raises
`LedgerError` before writing anything, and the caller's transaction rolls back.

Idempotency at this layer is by transfer id: the same id with the same fields returns the
existing transfer; with a different field it raises `exists_with_different_<field>`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import Connection, or_, select, update

from loyalty.db.tables import accounts, chains, transfers
from loyalty.ledger.accounts import is_system
from loyalty.ledger.chain import entry_hash
from loyalty.ledger.errors import LedgerError

Flags = Literal["single", "pending", "post", "void"]


@dataclass(frozen=True)
class TransferSpec:
    """What the caller asks for. For post/void, `debit`/`credit` may be left empty (they
    are the pending transfer's); `amount=None` on a post posts the full pending amount."""

    id: str
    ledger: str
    code: str
    chain_owner: str = ""
    debit: str = ""
    credit: str = ""
    amount: int | None = None
    flags: Flags = "single"
    pending_id: str | None = None
    timeout_s: int | None = None
    reference: str | None = None


@dataclass(frozen=True)
class Transfer:
    id: str
    ledger: str
    debit_account_id: str
    credit_account_id: str
    amount: int
    flags: str
    pending_id: str | None
    timeout_at: datetime | None
    code: str
    reference: str | None
    created_at: datetime
    chain_owner: str
    chain_seq: int
    hash: str

    @classmethod
    def from_row(cls, row: Any) -> Transfer:
        m = row._mapping
        return cls(**{name: m[name] for name in cls.__dataclass_fields__})


def lock_owners(conn: Connection, owners: list[str]) -> None:
    """Take each member's chain lock in sorted order (PostgreSQL; SQLite's BEGIN IMMEDIATE
    already serialises writers)."""
    if conn.dialect.name == "sqlite":
        return
    for owner in sorted(set(owners)):
        conn.execute(select(chains.c.owner).where(chains.c.owner == owner).with_for_update())


def get_transfer(conn: Connection, transfer_id: str) -> Transfer | None:
    row = conn.execute(select(transfers).where(transfers.c.id == transfer_id)).first()
    return Transfer.from_row(row) if row else None


def pending_state(conn: Connection, pending_id: str) -> Literal["pending", "posted", "voided"]:
    flag = conn.execute(
        select(transfers.c.flags).where(transfers.c.pending_id == pending_id)
    ).scalar_one_or_none()
    return "pending" if flag is None else ("posted" if flag == "post" else "voided")


def _same(existing: Transfer, spec: TransferSpec) -> None:
    checks: list[tuple[str, object, object]] = [
        ("ledger", spec.ledger, existing.ledger),
        ("code", spec.code, existing.code),
        ("flags", spec.flags, existing.flags),
        ("pending_id", spec.pending_id, existing.pending_id),
        ("reference", spec.reference, existing.reference),
    ]
    if spec.debit:
        checks.append(("debit_account_id", spec.debit, existing.debit_account_id))
    if spec.credit:
        checks.append(("credit_account_id", spec.credit, existing.credit_account_id))
    if spec.amount is not None:
        checks.append(("amount", spec.amount, existing.amount))
    for name, want, have in checks:
        if want != have:
            raise LedgerError(
                f"exists_with_different_{name}",
                f"transfer {spec.id} already exists with a different {name}",
            )


def create_transfer(conn: Connection, spec: TransferSpec, *, now: datetime) -> Transfer:
    existing = get_transfer(conn, spec.id)
    if existing is not None:
        _same(existing, spec)
        return existing
    if spec.amount is not None and spec.amount < 0:
        raise LedgerError("amount_must_not_be_negative", "amount must be zero or more", status=422)

    debit, credit, amount, owner = spec.debit, spec.credit, spec.amount, spec.chain_owner
    timeout_at = None
    held = 0
    if spec.flags in ("post", "void"):
        if not spec.pending_id:
            raise LedgerError("pending_id_required", "post and void need pending_id", status=422)
        pend = get_transfer(conn, spec.pending_id)
        if pend is None or pend.flags != "pending":
            raise LedgerError(
                "pending_transfer_not_found", f"no pending transfer {spec.pending_id}", status=404
            )
        state = pending_state(conn, pend.id)
        if state != "pending":
            raise LedgerError(
                f"pending_transfer_already_{state}", f"transfer {pend.id} was already {state}"
            )
        if spec.flags == "post" and pend.timeout_at is not None and now >= pend.timeout_at:
            raise LedgerError(
                "pending_transfer_expired",
                f"the hold {pend.id} expired at {pend.timeout_at.isoformat()}",
            )
        debit, credit, owner, held = (
            pend.debit_account_id,
            pend.credit_account_id,
            pend.chain_owner,
            pend.amount,
        )
        if spec.flags == "void" or amount is None:
            amount = pend.amount
        elif amount > pend.amount:
            raise LedgerError(
                "exceeds_pending_transfer_amount",
                f"cannot post {amount}: the hold is only {pend.amount}",
            )
    elif spec.pending_id:
        raise LedgerError("pending_id_must_be_empty", "only post/void take pending_id", status=422)
    if amount is None:
        raise LedgerError("amount_required", "amount is required", status=422)
    if spec.flags == "pending" and spec.timeout_s:
        timeout_at = now + timedelta(seconds=spec.timeout_s)
    if debit == credit:
        raise LedgerError("accounts_must_be_different", "debit and credit are the same account")
    if not owner:
        raise LedgerError("chain_owner_required", "every transfer belongs to one member chain")

    _apply_balances(conn, spec, debit, credit, amount, held)

    head = conn.execute(select(chains.c.seq, chains.c.head).where(chains.c.owner == owner)).first()
    if head is None:
        raise LedgerError("chain_not_found", f"no chain for owner {owner}", status=404)
    row: dict[str, Any] = {
        "id": spec.id,
        "ledger": spec.ledger,
        "debit_account_id": debit,
        "credit_account_id": credit,
        "amount": amount,
        "flags": spec.flags,
        "pending_id": spec.pending_id,
        "timeout_at": timeout_at,
        "code": spec.code,
        "reference": spec.reference,
        "created_at": now,
        "chain_owner": owner,
        "chain_seq": head.seq + 1,
        "prev_hash": head.head,
    }
    row["hash"] = entry_hash(head.head, row)
    conn.execute(transfers.insert().values(**row))
    conn.execute(
        update(chains).where(chains.c.owner == owner).values(seq=row["chain_seq"], head=row["hash"])
    )
    return Transfer(**{k: row[k] for k in Transfer.__dataclass_fields__})


def _apply_balances(
    conn: Connection, spec: TransferSpec, debit: str, credit: str, amount: int, held: int
) -> None:
    a = accounts.c
    ledger_rows = conn.execute(
        select(a.id, a.ledger).where(or_(a.id == debit, a.id == credit))
    ).all()
    found = {r.id: r.ledger for r in ledger_rows}
    for side, account_id in (("debit", debit), ("credit", credit)):
        if account_id not in found:
            raise LedgerError(f"{side}_account_not_found", f"no account {account_id}", status=404)
        if found[account_id] != spec.ledger:
            raise LedgerError(
                "accounts_must_have_the_same_ledger",
                f"{account_id} is on ledger {found[account_id]}, not {spec.ledger}",
            )
    if spec.flags == "single":
        d = {"debits_posted": a.debits_posted + amount}
        c = {"credits_posted": a.credits_posted + amount}
    elif spec.flags == "pending":
        d = {"debits_pending": a.debits_pending + amount}
        c = {"credits_pending": a.credits_pending + amount}
    elif spec.flags == "post":
        d = {"debits_pending": a.debits_pending - held, "debits_posted": a.debits_posted + amount}
        c = {
            "credits_pending": a.credits_pending - held,
            "credits_posted": a.credits_posted + amount,
        }
    else:
        d = {"debits_pending": a.debits_pending - held}
        c = {"credits_pending": a.credits_pending - held}
    if not is_system(debit):
        stmt = update(accounts).where(a.id == debit).values(**d)
        if spec.flags in ("single", "pending"):
            # The balance check and the update are one statement under the member's lock.
            stmt = stmt.where(
                ~a.debits_must_not_exceed_credits
                | (a.debits_pending + a.debits_posted + amount <= a.credits_posted)
            )
        if conn.execute(stmt).rowcount != 1:
            raise LedgerError("exceeds_credits", f"not enough available on {debit} for {amount}")
    if not is_system(credit):
        conn.execute(update(accounts).where(a.id == credit).values(**c))


def member_history(
    conn: Connection, account_ids: list[str], *, limit: int = 100, before: datetime | None = None
) -> list[Transfer]:
    t = transfers.c
    query = select(transfers).where(
        or_(t.debit_account_id.in_(account_ids), t.credit_account_id.in_(account_ids))
    )
    if before is not None:
        query = query.where(t.created_at < before)
    rows = conn.execute(query.order_by(t.created_at.desc(), t.chain_seq.desc()).limit(limit))
    return [Transfer.from_row(r) for r in rows]
