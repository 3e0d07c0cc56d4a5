"""Scopes that must hold whatever else is true: a member key cannot tell another member's
stay or redemption from a missing one; an agent never sees a stay in the same room number
at another property; a key is never minted for a member who does not exist; and the
ledger refuses an overdraft on its own, without the layers above."""

from __future__ import annotations

from datetime import timedelta

import pytest
from service_harness import PROPERTY, ROOM, Service
from sqlalchemy import select
from typer.testing import CliRunner

from loyalty.cli import app as cli
from loyalty.db.tables import accounts, chains
from loyalty.ledger import (
    SYSTEM,
    LedgerError,
    TransferSpec,
    balance,
    create_transfer,
    lock_owners,
    member_account,
    open_member_accounts,
    verify_ledger,
)


def _stay(service: Service, member: str, property_id: str = PROPERTY) -> str:
    now = service.clock.now()
    body = {
        "member_id": member,
        "property_id": property_id,
        "arrival": now.isoformat(),
        "departure": (now + timedelta(days=5)).isoformat(),
        "nightly_rate": "20000.00",
    }
    return str(service.call("POST", "/v1/stays", json=body, expect=201)["id"])


def test_a_member_key_cannot_tell_others_ids_from_missing_ones(service: Service) -> None:
    me, other = service.member(), service.member()
    service.keys["member"] = service.key_for("member", member_id=me)
    theirs = _stay(service, other)
    service.call("POST", f"/v1/stays/{theirs}/check-in", json={"room_id": ROOM})
    service.call(
        "POST",
        f"/v1/stays/{theirs}/check-out",
        json={"folio": [{"category": "room", "amount": "100000.00"}]},
    )
    quote = {
        "member_id": other,
        "property_id": PROPERTY,
        "check_in": "2026-06-10",
        "nights": 1,
        "cash_rate": "600.00",
    }
    held = service.call("POST", "/v1/redemptions", json=quote, expect=201)["id"]
    pairs = [
        ("GET", f"/v1/stays/{theirs}", "/v1/stays/s_doesnotexist0000000"),
        ("GET", f"/v1/redemptions/{held}", "/v1/redemptions/r_doesnotexist000000"),
        ("POST", f"/v1/redemptions/{held}/confirm", "/v1/redemptions/r_doesnotexist000000/confirm"),
        ("POST", f"/v1/redemptions/{held}/cancel", "/v1/redemptions/r_doesnotexist000000/cancel"),
    ]
    for method, existing, missing in pairs:
        a = service.call(method, existing, "member", expect=404)
        b = service.call(method, missing, "member", expect=404)
        ident_a, ident_b = existing.split("/")[3], missing.split("/")[3]
        assert a["error"]["code"] == b["error"]["code"]
        assert a["error"]["message"].replace(ident_a, "ID") == b["error"]["message"].replace(
            ident_b, "ID"
        )
    assert service.call("GET", f"/v1/redemptions/{held}")["status"] == "held"


def test_an_agent_never_sees_the_same_room_number_at_another_property(service: Service) -> None:
    here, there = service.member(), service.member()
    mine = _stay(service, here)
    service.call("POST", f"/v1/stays/{mine}/check-in", json={"room_id": ROOM})
    elsewhere = _stay(service, there, property_id="bj02")
    service.call("POST", f"/v1/stays/{elsewhere}/check-in", json={"room_id": ROOM})
    seen = service.call("GET", "/v1/agent/stays", "agent")
    assert [s["stay_id"] for s in seen] == [mine]
    hidden = service.call("GET", f"/v1/agent/preferences/{there}", "agent", expect=404)
    assert hidden["error"]["code"] == "member_not_found"
    service.call("GET", f"/v1/agent/preferences/{here}", "agent")


def test_no_key_for_a_member_who_does_not_exist(sqlite_service: Service, sqlite_url: str) -> None:
    service = sqlite_service
    real = service.member()
    runner = CliRunner()
    refused = runner.invoke(
        cli,
        [
            "keys",
            "create",
            "--role",
            "member",
            "--member",
            "m_nobody0000000000",
            "--database",
            sqlite_url,
        ],
    )
    assert refused.exit_code == 2
    assert "no member 'm_nobody0000000000'" in refused.output
    assert "lk." not in refused.output
    made = runner.invoke(
        cli, ["keys", "create", "--role", "member", "--member", real, "--database", sqlite_url]
    )
    assert made.exit_code == 0 and made.output.startswith("lk.")
    service.call("POST", f"/v1/members/{real}/erase", "admin")
    erased = runner.invoke(
        cli, ["keys", "create", "--role", "member", "--member", real, "--database", sqlite_url]
    )
    assert erased.exit_code == 2


def test_the_ledger_refuses_an_overdraft_on_its_own(db_url: str, service: Service) -> None:
    """Straight to create_transfer, no service layer: single and pending debits beyond the
    available balance raise exceeds_credits and change neither balances nor the chain."""
    engine = service.app.state.ctx.engine
    now = service.clock.now()
    owner = "p_ledgeronly0001"
    account = member_account(owner, "points")
    with engine.begin() as conn:
        open_member_accounts(conn, owner, now)
        lock_owners(conn, [owner])
        credit = TransferSpec(
            id="t_ledgeronly_credit",
            ledger="points",
            debit=SYSTEM["points:issuance"],
            credit=account,
            amount=100,
            code="earn_test",
            chain_owner=owner,
        )
        create_transfer(conn, credit, now=now)
        hold = TransferSpec(
            id="t_ledgeronly_hold",
            ledger="points",
            debit=account,
            credit=SYSTEM["points:redemption"],
            amount=60,
            flags="pending",
            code="redeem_hold",
            chain_owner=owner,
        )
        create_transfer(conn, hold, now=now)

    def state() -> tuple[object, ...]:
        with engine.connect() as conn:
            row = conn.execute(select(accounts).where(accounts.c.id == account)).one()
            head = conn.execute(select(chains).where(chains.c.owner == owner)).one()
            return (tuple(row), tuple(head), balance(conn, account).available)

    before = state()
    assert before[-1] == 40
    for flags, amount in (("single", 41), ("pending", 41), ("single", 1_000)):
        with engine.begin() as conn:
            lock_owners(conn, [owner])
            over = TransferSpec(
                id=f"t_ledgeronly_over_{flags}_{amount}",
                ledger="points",
                debit=account,
                credit=SYSTEM["points:redemption"],
                amount=amount,
                flags=flags,  # type: ignore[arg-type]
                code="redeem",
                chain_owner=owner,
            )
            with pytest.raises(LedgerError) as refused:
                create_transfer(conn, over, now=now)
            assert refused.value.code == "exceeds_credits"
        assert state() == before
    with engine.begin() as conn:  # exactly the available amount still goes through
        lock_owners(conn, [owner])
        create_transfer(
            conn,
            TransferSpec(
                id="t_ledgeronly_exact",
                ledger="points",
                debit=account,
                credit=SYSTEM["points:redemption"],
                amount=40,
                code="redeem",
                chain_owner=owner,
            ),
            now=now,
        )
        assert balance(conn, account).available == 0
        assert verify_ledger(conn).ok
