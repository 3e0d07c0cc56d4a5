"""The ledger's promises through the API: idempotency (replays, failures, 409 naming the
field), tamper detection naming the first bad entry, bad input changing nothing."""

from __future__ import annotations

from typing import Any

from service_harness import Service
from sqlalchemy import text
from typer.testing import CliRunner

from loyalty.cli import app as cli


def _earn(service: Service, member: str, amount: str, key: str, expect: int = 200) -> Any:
    return service.call(
        "POST",
        "/v1/earn",
        key=key,
        expect=expect,
        json={"member_id": member, "activity": "fnb", "amount": amount},
    )


def test_same_key_same_body_replays_and_different_body_names_field(service: Service) -> None:
    member = service.member()
    first = _earn(service, member, "100.00", "earn-key-0001")
    again = _earn(service, member, "100.00", "earn-key-0001")
    assert again == first
    assert service.call("GET", f"/v1/members/{member}")["balance"]["points"] == first["points"]
    clash = _earn(service, member, "200.00", "earn-key-0001", expect=409)
    assert clash["error"]["code"] == "idempotency_key_reused"
    assert clash["error"]["field"] == "amount"


def test_a_failure_is_replayed_even_after_the_cause_goes_away(service: Service) -> None:
    member = service.member()
    body = {"from_member_id": member, "to_member_id": service.member(), "points": 1000}
    refused = service.call("POST", "/v1/transfers", key="xfer-key-001", json=body, expect=409)
    assert refused["error"]["code"] == "insufficient_points"
    _earn(service, member, "5000.00", "earn-key-0002")
    replay = service.call("POST", "/v1/transfers", key="xfer-key-001", json=body, expect=409)
    assert replay == refused


def test_bad_input_is_a_precise_4xx_and_changes_nothing(service: Service) -> None:
    member = service.member()
    cases = [
        ({"member_id": member, "activity": "fnb", "amount": "-5"}, 422, "amount"),
        ({"member_id": member, "activity": "fnb", "amount": "1e99"}, 422, "amount"),
        ({"member_id": member, "activity": "fnb", "amount": 1, "bogus": 1}, 422, "bogus"),
        ({"member_id": member, "activity": "nope", "amount": "1"}, 422, "activity"),
        ({"member_id": "m_doesnotexist000", "activity": "fnb", "amount": "1"}, 404, "member_id"),
    ]
    for i, (body, status, field) in enumerate(cases):
        out = service.call("POST", "/v1/earn", key=f"bad-input-{i:03d}", json=body, expect=status)
        assert field in (out["error"].get("field") or "") + out["error"]["message"], out
    big = service.client.post(
        "/v1/earn",
        content=b"{" + b" " * 400_000 + b"}",
        headers={**service.headers("staff"), "Content-Type": "application/json"},
    )
    assert big.status_code == 413
    assert service.call("GET", f"/v1/members/{member}")["balance"]["points"] == 0
    assert service.call("GET", "/v1/admin/ledger/verify", "admin")["transfers_checked"] == 0


def test_hand_edited_row_is_detected_and_named(service: Service, db_url: str) -> None:
    member = service.member()
    for i in range(3):
        _earn(service, member, "100.00", f"tamper-earn-{i}")
    history = service.call("GET", f"/v1/members/{member}/history")["entries"]
    victim = history[1]["id"]
    assert service.call("GET", "/v1/admin/ledger/verify", "admin")["ok"] is True
    with service.app.state.ctx.engine.begin() as conn:
        conn.execute(
            text("UPDATE transfers SET amount = amount + 1000 WHERE id = :id"), {"id": victim}
        )
    report = service.call("GET", "/v1/admin/ledger/verify", "admin")
    assert report["ok"] is False
    assert report["first_bad_transfer"] == victim
    result = CliRunner().invoke(cli, ["ledger", "verify", "--database", db_url])
    assert result.exit_code == 1
    assert victim in result.output


def test_erasure_keeps_the_chain_verifiable(service: Service) -> None:
    member = service.member(name="Zhang San", email="z@example.com")
    _earn(service, member, "300.00", "erase-earn-01")
    export = service.call("GET", f"/v1/members/{member}/export", "admin")
    assert export["member"]["name"] == "Zhang San" and export["ledger"]
    out = service.call("POST", f"/v1/members/{member}/erase", "admin")
    assert out["points_forfeited"] > 0
    service.call("GET", f"/v1/members/{member}", expect=404)
    with service.app.state.ctx.engine.begin() as conn:
        row = conn.execute(
            text("SELECT name, email, pseudonym FROM members WHERE id = :id"), {"id": member}
        ).one()
    assert tuple(row) == (None, None, None)
    report = service.call("GET", "/v1/admin/ledger/verify", "admin")
    assert report["ok"] is True and report["transfers_checked"] >= 2
