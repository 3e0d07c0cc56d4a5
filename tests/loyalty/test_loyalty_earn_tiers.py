"""Earning outside stays: qualifying spend that crosses a tier line upgrades the member in
the same transaction (this earn priced at the old tier, the next at the new one), and an
earn cut by a limit names the limit — on SQLite (reference path) and PostgreSQL (the
pipelined fast path)."""

from __future__ import annotations

from service_harness import Service


def _earn(service: Service, member: str, activity: str, amount: str, **extra: object) -> dict:
    body = {"member_id": member, "activity": activity, "amount": amount, **extra}
    return dict(service.call("POST", "/v1/earn", json=body))


def test_spend_outside_stays_upgrades_in_the_earn_that_crosses(service: Service) -> None:
    member = service.member()
    first = _earn(service, member, "fnb", "29000.00")
    assert first["upgraded_to"] is None and first["points"] == 29000
    assert service.call("GET", f"/v1/members/{member}")["tier"] == "silver"
    dry = _earn(service, member, "fnb", "2000.00", dry_run=True)
    assert dry["upgraded_to"] == "gold" and dry["points"] == 2000
    assert service.call("GET", f"/v1/members/{member}")["tier"] == "silver"
    crossing = _earn(service, member, "fnb", "2000.00")
    assert crossing["upgraded_to"] == "gold"
    assert crossing["points"] == 2000  # priced at silver (x1.0): the spend was made there
    view = service.call("GET", f"/v1/members/{member}")
    assert view["tier"] == "gold" and view["balance"]["points"] == 31000
    after = _earn(service, member, "spa", "1000.00")
    assert after["points"] == 1200 and after["upgraded_to"] is None  # gold x1.2 from now on
    tier_line = next(line for line in after["breakdown"] if line["rule"] == "tier")
    assert "gold" in tier_line["detail"]
    assert service.call("GET", "/v1/admin/ledger/verify", "admin")["ok"] is True


def test_an_earn_cut_by_the_yearly_limit_says_which_limit(service: Service) -> None:
    member = service.member()
    assert _earn(service, member, "spa", "29900.00")["capped_by"] is None
    part = _earn(service, member, "spa", "500.00")
    assert part["points"] == 100
    assert part["capped_by"]["rule"] == "limit:spa" and part["capped_by"]["points"] == -400
    assert "30,000 spa points per year" in part["capped_by"]["detail"]
    for extra in ({}, {"dry_run": True}):
        none = _earn(service, member, "spa", "500.00", **extra)
        assert none["points"] == 0 and none["transfer_id"] is None
        capped = none["capped_by"]
        assert capped["rule"] == "limit:spa" and "30,000 already earned" in capped["detail"]
        before_limit = sum(line["points"] for line in none["breakdown"][:-1])
        assert capped["points"] == -before_limit < 0  # all of it (gold by now: 600)
    assert service.call("GET", f"/v1/members/{member}")["balance"]["points"] == 30000
