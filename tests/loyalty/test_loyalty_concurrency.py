"""50 clients earning and redeeming on the same few members at once, on PostgreSQL over
real HTTP: exact final balances, no negative balance, no error surfaced to a client."""

from __future__ import annotations

import random
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from service_harness import Service

pytestmark = pytest.mark.postgres

CLIENTS, ROUNDS, MEMBERS = 50, 6, 3


@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
def test_fifty_clients_end_with_exact_balances(service: Service) -> None:
    members = [service.member() for _ in range(MEMBERS)]
    fnb_points = service.call(
        "POST",
        "/v1/earn",
        json={"member_id": members[0], "activity": "fnb", "amount": "100.00", "dry_run": True},
    )["points"]
    base = service.client.base_url
    staff = service.keys["staff"]

    def client(n: int) -> list[tuple[str, str, int]]:
        rng = random.Random(n)
        done = []
        with httpx.Client(base_url=base, timeout=60) as http:
            for r in range(ROUNDS):
                member = rng.choice(members)
                key = f"c{n:03d}-r{r:03d}"
                headers = {"Authorization": f"Bearer {staff}", "Idempotency-Key": key}
                if rng.random() < 0.6:
                    body: dict[str, object] = {
                        "member_id": member,
                        "activity": "fnb",
                        "amount": "100.00",
                    }
                    resp = http.post("/v1/earn", json=body, headers=headers)
                    assert resp.status_code == 200, resp.text
                    # a client retry with the same key must not earn twice
                    assert http.post("/v1/earn", json=body, headers=headers).json() == resp.json()
                    done.append((member, "earn", resp.json()["points"]))
                else:
                    other = rng.choice([m for m in members if m != member])
                    body = {
                        "from_member_id": member,
                        "to_member_id": other,
                        "points": 1000,
                    }
                    resp = http.post("/v1/transfers", json=body, headers=headers)
                    if resp.status_code == 200:
                        done.append((member, "sent", 1000))
                        done.append((other, "got", 1000))
                    else:
                        assert resp.status_code == 409, resp.text
                        assert resp.json()["error"]["code"] in ("insufficient_points", "annual_cap")
        return done

    with ThreadPoolExecutor(CLIENTS) as pool:
        results = [item for chunk in pool.map(client, range(CLIENTS)) for item in chunk]
    expected = dict.fromkeys(members, 0)
    for member, what, points in results:
        expected[member] += -points if what == "sent" else points
        if what == "earn":
            assert points == fnb_points
    for member in members:
        balance = service.call("GET", f"/v1/members/{member}")["balance"]
        assert balance["points"] == expected[member] >= 0
    assert service.call("GET", "/v1/admin/ledger/verify", "admin")["ok"] is True
    assert all(t["balanced"] for t in service.call("GET", "/v1/admin/ledger/totals", "admin"))
