"""`create_transfers` (the in-room spends' ledger writes, grouped per upload pass) must leave
exactly what `create_transfer` one by one leaves: the same rows, hashes, chain heads and
balances, the same error before anything is written, and a chain that verifies."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, func, select

from loyalty.db.tables import accounts, chains, metadata, transfers
from loyalty.ledger import (
    SYSTEM,
    LedgerError,
    TransferSpec,
    create_transfer,
    create_transfers,
    ensure_system_accounts,
    member_account,
    verify_ledger,
)
from loyalty.ledger.accounts import open_member_accounts

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
OWNERS = ("pseudo_alpha", "pseudo_bravo")


def _ledger(path: Path) -> Engine:
    engine = create_engine(f"sqlite:///{path}")
    metadata.create_all(engine)
    with engine.begin() as conn:
        ensure_system_accounts(conn, T0)
        for owner in OWNERS:
            open_member_accounts(conn, owner, T0)
    return engine


def _earn(i: int, owner: str, ledger: str = "points", amount: int = 100) -> TransferSpec:
    issuance = "points:issuance" if ledger == "points" else "qualifying:issuance"
    return TransferSpec(
        id=f"t_{ledger[:2]}_{i:04d}",
        ledger=ledger,
        debit=SYSTEM[issuance],
        credit=member_account(owner, ledger),  # type: ignore[arg-type]
        amount=amount,
        code="room_spend",
        reference=f"stay_{owner}",
        chain_owner=owner,
    )


def _items() -> list[tuple[TransferSpec, datetime]]:
    out = []
    for i in range(12):
        owner = OWNERS[i % 3 == 0]
        now = T0 + timedelta(seconds=i)
        out.append((_earn(i, owner, "points", 10 + i), now))
        out.append((_earn(i, owner, "qualifying", 3600 + i), now))
    return out


def _state(engine: Engine) -> tuple[list[tuple[object, ...]], ...]:
    with engine.connect() as conn:
        rows = conn.execute(select(transfers).order_by(transfers.c.id)).all()
        heads = conn.execute(select(chains).order_by(chains.c.owner)).all()
        balances = conn.execute(
            select(accounts.c.id, accounts.c.credits_posted, accounts.c.debits_posted).order_by(
                accounts.c.id
            )
        ).all()
    return [tuple(r) for r in rows], [tuple(h) for h in heads], [tuple(b) for b in balances]


def test_grouped_transfers_equal_one_by_one(tmp_path: Path) -> None:
    one, grouped = _ledger(tmp_path / "one.db"), _ledger(tmp_path / "grouped.db")
    items = _items()
    with one.begin() as conn:
        create_transfer(conn, items[0][0], now=items[0][1])
        for spec, now in items + items[:3]:  # ids already posted are the same transfer
            create_transfer(conn, spec, now=now)
    with grouped.begin() as conn:
        create_transfers(conn, items[:1])
        create_transfers(conn, items + items[:3])
    assert _state(one) == _state(grouped)
    with grouped.connect() as conn:
        report = verify_ledger(conn)
    assert report.ok and report.transfers_checked == len(items), report.problems


def test_a_refused_transfer_raises_the_same_error_and_writes_nothing(tmp_path: Path) -> None:
    one, grouped = _ledger(tmp_path / "one.db"), _ledger(tmp_path / "grouped.db")
    bad = _earn(99, "pseudo_nobody")  # no such account
    items = [*_items()[:4], (bad, T0), *_items()[4:6]]

    def one_by_one() -> None:
        with one.begin() as conn:
            for spec, now in items:
                create_transfer(conn, spec, now=now)

    with pytest.raises(LedgerError) as first:
        one_by_one()
    with grouped.begin() as conn:
        with pytest.raises(LedgerError) as second:
            create_transfers(conn, items)
        assert conn.execute(select(func.count()).select_from(transfers)).scalar_one() == 0
        assert conn.execute(select(chains.c.seq)).scalars().all() == [0, 0]
    assert first.value.code == second.value.code == "credit_account_not_found"
