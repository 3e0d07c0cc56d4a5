"""The worked example of docs/analytics.md, played through the real service over HTTP.

April 2026 (the hand-computed example; default programme, all silver, OTA bookings of
standard rooms outside the seasons, so 1 point per CNY):
  A: stays at sh01 (2 nights, 2,000 CNY) and sh02 (1 night, 1,000 CNY);
  B: stays at sh01 (3 nights, 6,000 CNY), dines for 500 CNY, books an award night at sh01
     (5,000 points);
  C: joins and does nothing.
Then May to September: A stays every month at sh01, C every other month at sh02.

    ./dev python -m loyalty.examples.economics --database sqlite:///economics.db

prints the loyalty-team key it made and leaves the database for `loyalty analytics ...`
and `loyalty serve` (the dashboard at /analytics/dashboard).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from itertools import count
from typing import Any

import httpx

from smartroom.clock import FakeClock

START = datetime(2026, 4, 1, 9, 0, tzinfo=UTC)
ROOM = "1208"
Call = Callable[..., Any]  # call(method, path, role="staff", *, expect=200, json=..., params=...)


def stay(call: Call, clock: FakeClock, member: str, prop: str, nights: int, rate: str) -> None:
    """Book, check in, and check out `nights` later with the room on the folio."""
    arrival = clock.now()
    body = {
        "member_id": member,
        "property_id": prop,
        "arrival": arrival.isoformat(),
        "departure": (arrival + timedelta(days=nights)).isoformat(),
        "nightly_rate": rate,
        "channel": "ota",
    }
    stay_id = call("POST", "/v1/stays", json=body, expect=201)["id"]
    call("POST", f"/v1/stays/{stay_id}/check-in", json={"room_id": ROOM})
    clock.advance(days=nights)
    folio = {"folio": [{"category": "room", "amount": str(Decimal(rate) * nights)}]}
    call("POST", f"/v1/stays/{stay_id}/check-out", json=folio)


def member(call: Call, **body: Any) -> str:
    return str(call("POST", "/v1/members", json=body, expect=201)["id"])


def april(call: Call, clock: FakeClock) -> dict[str, str]:
    a = member(call, name="A", consents={"personalisation": True}, age_band="30-50")
    b = member(call, name="B")
    c = member(call, name="C")
    stay(call, clock, a, "sh01", 2, "1000.00")  # 04-01 .. 04-03
    clock.advance(days=2)
    stay(call, clock, b, "sh01", 3, "2000.00")  # 04-05 .. 04-08
    clock.advance(days=2)
    stay(call, clock, a, "sh02", 1, "1000.00")  # 04-10 .. 04-11
    clock.advance(days=9)  # 04-20
    call("POST", "/v1/earn", json={"member_id": b, "activity": "fnb", "amount": "500"})
    clock.advance(days=5)  # 04-25
    award = {"member_id": b, "property_id": "sh01", "check_in": "2026-06-10", "cash_rate": "50.00"}
    held = call("POST", "/v1/redemptions", expect=201, json=award)
    call("POST", f"/v1/redemptions/{held['id']}/confirm")
    return {"a": a, "b": b, "c": c}


def half_year(call: Call, clock: FakeClock) -> dict[str, str]:
    ids = april(call, clock)
    for month in range(5, 10):
        clock.set(datetime(2026, month, 5, 9, 0, tzinfo=UTC))
        stay(call, clock, ids["a"], "sh01", 1 + month % 3, "1200.00")
        if month % 2:
            stay(call, clock, ids["c"], "sh02", 2, "900.00")
    clock.set(datetime(2026, 10, 1, 9, 0, tzinfo=UTC))
    return ids


def main() -> None:
    from loyalty.app import create_app
    from loyalty.auth import create_key
    from loyalty.examples.player import served
    from loyalty.settings import LoyaltySettings

    parser = argparse.ArgumentParser(description="Build the worked example of docs/analytics.md")
    parser.add_argument("--database", required=True, help="SQLAlchemy URL, e.g. sqlite:///x.db")
    args = parser.parse_args()
    clock = FakeClock(START)
    app = create_app(
        LoyaltySettings(database_url=args.database, key_cache_s=0), clock=clock, migrate=True
    )
    keys = {}
    with app.state.ctx.engine.begin() as conn:
        for role in ("staff", "loyalty"):
            keys[role] = create_key(conn, role=role, now=clock.now(), label="worked example")[1]
    numbers = count()
    with served(app) as url, httpx.Client(base_url=url, timeout=30) as client:

        def call(
            method: str, path: str, role: str = "staff", *, expect: int = 200, **kwargs: Any
        ) -> Any:
            headers = {
                "Authorization": f"Bearer {keys[role]}",
                "Idempotency-Key": f"example-{next(numbers):06d}",
            }
            response = client.request(method, path, headers=headers, **kwargs)
            if response.status_code != expect:
                raise SystemExit(f"{method} {path}: {response.status_code} {response.text}")
            return response.json()

        ids = half_year(call, clock)
    app.state.ctx.engine.dispose()
    print(f"members: A={ids['a']} B={ids['b']} C={ids['c']}")
    print(f"loyalty-team key (shown once): {keys['loyalty']}")


if __name__ == "__main__":
    main()
