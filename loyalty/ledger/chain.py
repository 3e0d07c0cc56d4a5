"""Per-member hash chains over transfers, and the verifier.

Each transfer is linked into the chain of one owner (a member's pseudonym):
`hash = sha256(prev_hash || canonical(transfer))`. Editing, deleting or reordering a row
breaks a link; the `chains` table holds every head, and `digest` (a hash over all heads)
can be published periodically so even a rewrite of a whole chain is caught.

    report = verify_ledger(conn)   # VerifyReport(ok=False, first_bad=BadEntry(...))
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, select

HASHED_FIELDS = (
    "id",
    "ledger",
    "debit_account_id",
    "credit_account_id",
    "amount",
    "flags",
    "pending_id",
    "timeout_at",
    "code",
    "reference",
    "created_at",
    "chain_owner",
    "chain_seq",
)


def genesis_hash(owner: str) -> str:
    return hashlib.sha256(f"smartroom-loyalty-genesis:{owner}".encode()).hexdigest()


def _canonical(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat(timespec="microseconds")
    return value


def entry_hash(prev_hash: str, row: Mapping[str, Any]) -> str:
    body = json.dumps(
        [_canonical(row[name]) for name in HASHED_FIELDS], separators=(",", ":"), sort_keys=True
    )
    return hashlib.sha256(prev_hash.encode() + b"\n" + body.encode()).hexdigest()


@dataclass(frozen=True)
class BadEntry:
    transfer_id: str | None
    chain_owner: str
    chain_seq: int
    reason: str


@dataclass
class VerifyReport:
    ok: bool
    transfers_checked: int
    chains_checked: int
    digest: str
    first_bad: BadEntry | None = None
    problems: list[str] = field(default_factory=list)


def verify_ledger(conn: Connection, *, check_balances: bool = True) -> VerifyReport:
    """Recompute every chain and (optionally) every stored balance; stop at the first
    broken entry and name it."""
    from loyalty.db.tables import chains, transfers

    heads = {r.owner: (r.seq, r.head) for r in conn.execute(select(chains))}
    digest = hashlib.sha256(
        "".join(f"{o}:{s}:{h}\n" for o, (s, h) in sorted(heads.items())).encode()
    ).hexdigest()
    report = VerifyReport(ok=True, transfers_checked=0, chains_checked=0, digest=digest)

    def fail(bad: BadEntry) -> VerifyReport:
        report.ok = False
        report.first_bad = bad
        report.problems.append(
            f"transfer {bad.transfer_id or '(missing)'} (chain {bad.chain_owner} "
            f"#{bad.chain_seq}): {bad.reason}"
        )
        return report

    totals: dict[str, list[int]] = {}
    amounts: dict[str, int] = {}
    rows = conn.execution_options(yield_per=2000).execute(
        select(transfers).order_by(transfers.c.chain_owner, transfers.c.chain_seq)
    )
    seen_owners: set[str] = set()
    try:
        early = _walk(rows, heads, report, fail, totals, amounts, seen_owners, check_balances)
    finally:
        rows.close()
    if early is not None:
        return early
    return _finish(conn, heads, report, fail, totals, seen_owners, check_balances)


def _walk(
    rows: Any,
    heads: dict[str, tuple[int, str]],
    report: VerifyReport,
    fail: Callable[[BadEntry], VerifyReport],
    totals: dict[str, list[int]],
    amounts: dict[str, int],
    seen_owners: set[str],
    check_balances: bool,
) -> VerifyReport | None:
    owner: str | None = None
    prev = ""
    seq = 0
    for row in rows.mappings():
        row_owner: str = row["chain_owner"]
        if row_owner != owner:
            if owner is not None and (seq, prev) != heads.get(owner):
                return fail(BadEntry(None, owner, seq, "chain head does not match its last entry"))
            owner = row_owner
            seen_owners.add(owner)
            prev, seq = genesis_hash(owner), 0
        seq += 1
        report.transfers_checked += 1
        if row["chain_seq"] != seq:
            return fail(
                BadEntry(row["id"], row_owner, seq, f"expected entry #{seq} (missing entry)")
            )
        if row["prev_hash"] != prev:
            return fail(
                BadEntry(row["id"], row_owner, seq, "prev_hash does not match the previous entry")
            )
        if entry_hash(prev, dict(row)) != row["hash"]:
            return fail(BadEntry(row["id"], row_owner, seq, "content does not match its hash"))
        prev = row["hash"]
        if check_balances:
            _accumulate(totals, amounts, row)
    if owner is not None and (seq, prev) != heads.get(owner):
        return fail(BadEntry(None, owner, seq, "chain head does not match its last entry"))
    return None


def _finish(
    conn: Connection,
    heads: dict[str, tuple[int, str]],
    report: VerifyReport,
    fail: Callable[[BadEntry], VerifyReport],
    totals: dict[str, list[int]],
    seen_owners: set[str],
    check_balances: bool,
) -> VerifyReport:
    from loyalty.db.tables import accounts

    for other, (head_seq, _h) in heads.items():
        if other not in seen_owners and head_seq != 0:
            return fail(BadEntry(None, other, head_seq, "chain head names entries that are gone"))
    report.chains_checked = len(heads)
    if check_balances:
        for acc in conn.execute(select(accounts).where(accounts.c.owner.is_not(None))):
            want = totals.get(acc.id, [0, 0, 0, 0])
            have = [acc.debits_pending, acc.debits_posted, acc.credits_pending, acc.credits_posted]
            if have != want:
                report.ok = False
                report.problems.append(
                    f"account {acc.id}: stored totals {have} differ from its transfers {want}"
                )
                break
    return report


def _accumulate(totals: dict[str, list[int]], amounts: dict[str, int], row: Any) -> None:
    # Chains are read owner by owner, but a post/void always sits in the same chain as its
    # pending transfer (same owner), so the pending amount is known when it is needed.
    flags, amount = row["flags"], row["amount"]
    debit = totals.setdefault(row["debit_account_id"], [0, 0, 0, 0])
    credit = totals.setdefault(row["credit_account_id"], [0, 0, 0, 0])
    if flags == "single":
        debit[1] += amount
        credit[3] += amount
    elif flags == "pending":
        amounts[row["id"]] = amount
        debit[0] += amount
        credit[2] += amount
    else:
        held = amounts.get(row["pending_id"], 0)
        debit[0] -= held
        credit[2] -= held
        if flags == "post":
            debit[1] += amount
            credit[3] += amount
