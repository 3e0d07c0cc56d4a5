"""A Hypothesis state machine drives random earn, redeem (hold/confirm/cancel), reverse,
transfer, expiry, tier evaluation, duplicate retries and clock jumps through the HTTP API,
and after every step checks: Σdebits = Σcredits per ledger, no negative balance, the chain
verifies, stored balances equal the sum of their transfers, same key → same outcome."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test
from service_harness import Service


def test_ledger_state_machine(sqlite_service: Service) -> None:
    service = sqlite_service
    members = [service.member() for _ in range(3)]
    counter = iter(range(10**9))

    class Ledger(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.sent: list[tuple[str, str, dict[str, Any], int, Any]] = []
            self.holds: list[str] = []
            self.earns: list[str] = []

        def _send(self, method: str, path: str, body: dict[str, Any], role: str = "staff") -> Any:
            key = f"sm-{next(counter):09d}"
            resp = service.client.request(
                method, path, json=body, headers=service.headers(role, key)
            )
            assert resp.status_code < 500, resp.text
            self.sent.append((key, path, body, resp.status_code, resp.json()))
            return resp

        @rule(m=st.sampled_from(members), amount=st.integers(0, 20_000))
        def earn(self, m: str, amount: int) -> None:
            resp = self._send(
                "POST", "/v1/earn", {"member_id": m, "activity": "fnb", "amount": str(amount)}
            )
            if resp.status_code == 200 and resp.json()["transfer_id"]:
                self.earns.append(resp.json()["transfer_id"])

        @rule(m=st.sampled_from(members), nights=st.integers(1, 3), rate=st.integers(100, 3000))
        def hold(self, m: str, nights: int, rate: int) -> None:
            body = {
                "member_id": m,
                "property_id": "sh01",
                "check_in": "2026-07-01",
                "nights": nights,
                "cash_rate": str(rate),
            }
            resp = self._send("POST", "/v1/redemptions", body)
            if resp.status_code == 201:
                self.holds.append(resp.json()["id"])

        @rule(data=st.data(), action=st.sampled_from(["confirm", "cancel"]))
        def settle(self, data: st.DataObject, action: str) -> None:
            if self.holds:
                rid = data.draw(st.sampled_from(self.holds))
                self._send("POST", f"/v1/redemptions/{rid}/{action}", {})

        @rule(data=st.data(), part=st.integers(1, 5000))
        def reverse(self, data: st.DataObject, part: int) -> None:
            if self.earns:
                tid = data.draw(st.sampled_from(self.earns))
                self._send(
                    "POST", f"/v1/transfers/{tid}/reverse", {"reason": "test", "points": part}
                )

        @rule(
            a=st.sampled_from(members), b=st.sampled_from(members), points=st.integers(1000, 9000)
        )
        def transfer(self, a: str, b: str, points: int) -> None:
            self._send(
                "POST", "/v1/transfers", {"from_member_id": a, "to_member_id": b, "points": points}
            )

        @rule(days=st.integers(0, 500))
        def clock_jump(self, days: int) -> None:
            service.clock.advance(days=days, seconds=1)

        @rule()
        def jobs(self) -> None:
            today = service.clock.now().date().isoformat()
            self._send("POST", "/v1/jobs/expiry", {"as_of": today}, "admin")
            yesterday = (service.clock.now().date() - timedelta(days=1)).isoformat()
            self._send("POST", "/v1/jobs/tier-evaluation", {"year_ending": yesterday}, "admin")
            self._send("POST", "/v1/jobs/expire-holds", {}, "admin")

        @rule(data=st.data())
        def duplicate_retry(self, data: st.DataObject) -> None:
            if not self.sent:
                return
            key, path, body, status, result = data.draw(st.sampled_from(self.sent))
            if "/jobs/" in path:
                return
            resp = service.client.post(path, json=body, headers=service.headers("staff", key))
            assert (resp.status_code, resp.json()) == (status, result)

        @invariant()
        def books_balance(self) -> None:
            report = service.call("GET", "/v1/admin/ledger/verify", "admin")
            assert report["ok"], report["problems"]
            totals = service.call("GET", "/v1/admin/ledger/totals", "admin")
            assert all(t["balanced"] for t in totals), totals
            for m in members:
                balance = service.call("GET", f"/v1/members/{m}")["balance"]
                assert balance["available"] >= 0 and balance["points"] >= 0, balance

    run_state_machine_as_test(
        Ledger,
        settings=settings(
            max_examples=8,
            stateful_step_count=25,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
        ),
    )
