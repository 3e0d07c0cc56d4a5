"""Signed webhooks from the outbox, delivered to the example receiver running as a real
process: events are committed with the change that caused them (or not at all), carry
verifiable HMAC signatures (with rotation overlap), retry with exponential backoff, are
logged per attempt and can be replayed. SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, date, datetime

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from receiver_process import Receiver
from service_harness import Service
from sqlalchemy import Engine
from test_kpis import _stay

from loyalty.db.economics_tables import webhook_events
from loyalty.webhooks import emit
from loyalty.webhooks.delivery import Policy, deliver_due
from loyalty.webhooks.signing import SignatureError, sign, signature_header, verify
from smartroom.clock import FakeClock, SystemClock


@given(st.binary(max_size=2000), st.integers(min_value=0, max_value=2**40))
def test_signature_round_trip_and_tamper(body: bytes, ts: int) -> None:
    header = signature_header(["whsec_a", "whsec_b"], body, timestamp=ts)
    assert verify(header, body, ["whsec_b"], now=ts + 299) == ts
    with pytest.raises(SignatureError, match="no signature matches"):
        verify(header, body + b"x", ["whsec_a"], now=ts)
    with pytest.raises(SignatureError, match="tolerance"):
        verify(header, body, ["whsec_a"], now=ts + 301)
    with pytest.raises(SignatureError, match="no signature matches"):
        verify(header, body, ["whsec_c"], now=ts)


def test_signature_is_stripe_style() -> None:
    # HMAC-SHA256("k", "1700000000.{}") computed independently (openssl dgst -sha256 -hmac k)
    assert sign("k", b"{}", 1_700_000_000) == (
        "c6ef4734033cee2367414a0939385eca0397754aa7a59716da7463a9298b5146"
    )
    for bad in ("", "t=1", "v1=ab", "t=x,v1=ab", "nonsense"):
        with pytest.raises(SignatureError):
            verify(bad, b"{}", ["k"], now=1)


def test_an_event_is_stored_only_with_its_transaction(service: Service) -> None:
    engine = service.app.state.ctx.engine
    now = service.clock.now()

    def failing_change() -> None:
        with engine.begin() as conn:
            emit(conn, "member.inactive", {"member_id": "m_x"}, now=now, event_id="evt_rolled_back")
            raise RuntimeError("the change failed")

    with pytest.raises(RuntimeError):
        failing_change()
    with engine.begin() as conn:
        assert emit(conn, "member.inactive", {"member_id": "m_x"}, now=now, event_id="evt_kept")
        assert emit(conn, "member.inactive", {}, now=now, event_id="evt_kept") is None
        ids = {r.id for r in conn.execute(webhook_events.select())}
    assert "evt_kept" in ids and "evt_rolled_back" not in ids


def test_deliveries_signed_retried_logged_rotated_replayed(service: Service) -> None:
    engine = service.app.state.ctx.engine
    # The receiver checks timestamps against its own clock: the worker delivers "now"
    # (the service's clock is in April 2026, so everything it emits is due).
    clock = FakeClock(SystemClock().now())
    policy = Policy(base_s=10, max_attempts=3)
    created = service.call(
        "POST",
        "/v1/webhooks/endpoints",
        "loyalty",
        expect=201,
        json={"url": "http://127.0.0.1:1/placeholder", "events": ["points.posted"]},
    )
    assert created["secret"].startswith("whsec_")
    service.call("POST", f"/v1/webhooks/endpoints/{created['id']}/disable", "loyalty")
    secret_box: list[str] = []
    recv = _start(secret_box, service)
    try:
        member = service.member()
        _stay(service, member, "sh01", 2, "1000.00")  # points.posted, in the check-out txn
        with httpx.Client() as client:
            assert deliver_due(engine, clock, client, policy=policy) == 1
            got = recv.next()
            assert got["event"]["type"] == "points.posted"
            assert got["event"]["data"]["points"] == 2000 and got["duplicate"] is False
            # The receiver goes away: attempts fail and back off 10 s, then 20 s.
            recv.stop()
            _stay(service, member, "sh01", 1, "500.00")
            assert deliver_due(engine, clock, client, policy=policy) == 1
            assert deliver_due(engine, clock, client, policy=policy) == 0  # not due yet
            clock.advance(seconds=10)
            assert deliver_due(engine, clock, client, policy=policy) == 1
            clock.advance(seconds=19)
            assert deliver_due(engine, clock, client, policy=policy) == 0
            clock.advance(seconds=1)
            recv = Receiver(secret_box, port=recv.port)
            assert deliver_due(engine, clock, client, policy=policy) == 1
            assert recv.next()["event"]["data"]["points"] == 500
            log = service.call("GET", "/v1/webhooks/deliveries", "loyalty")
            latest = log[0]
            assert latest["status"] == "delivered" and latest["attempts"] == 3
            assert [a["status_code"] for a in latest["log"]] == [None, None, 200]
            assert "ConnectError" in latest["log"][0]["error"]
            # Replay: the same event id again; the receiver sees a duplicate.
            service.call("POST", f"/v1/webhooks/deliveries/{latest['id']}/replay", "loyalty")
            assert deliver_due(engine, clock, client, policy=policy) == 1
            again = recv.next()
            assert again["duplicate"] is True and again["event"]["id"] == latest["event_id"]
            # Rotation: for the overlap both secrets sign, so a receiver still on the old
            # one verifies; after it, only the new one does.
            endpoint = log[0]["endpoint_id"]
            service.clock.set(clock.now())
            rotated = service.call(
                "POST",
                f"/v1/webhooks/endpoints/{endpoint}/rotate",
                "loyalty",
                json={"overlap_s": 120},
            )
            clock.advance(seconds=60)
            _posted(engine, clock, 700)
            assert deliver_due(engine, clock, client, policy=policy) == 1
            assert recv.next()["event"]["data"]["points"] == 700  # old secret still verifies
            recv.stop()
            recv = Receiver([rotated["secret"]], port=recv.port)
            _posted(engine, clock, 800)
            assert deliver_due(engine, clock, client, policy=policy) == 1
            assert recv.next()["event"]["data"]["points"] == 800  # and so does the new one
            # After the overlap only the new secret signs: a receiver on the old one refuses.
            clock.advance(seconds=61)
            recv.stop()
            recv = Receiver(secret_box, port=recv.port)
            _posted(engine, clock, 900)
            assert deliver_due(engine, clock, client, policy=policy) == 1
            assert recv.next() == {"rejected": "no signature matches our secrets"}
    finally:
        recv.stop()


def _posted(engine: Engine, clock: FakeClock, points: int) -> None:
    with engine.begin() as conn:
        emit(conn, "points.posted", {"member_id": "m_test", "points": points}, now=clock.now())


def _start(secret_box: list[str], service: Service) -> Receiver:
    """Register an endpoint for a receiver on a free port, then start it with the secret."""
    from smartroom.services import free_port

    port = free_port()
    made = service.call(
        "POST",
        "/v1/webhooks/endpoints",
        "loyalty",
        expect=201,
        json={
            "url": f"http://127.0.0.1:{port}/hooks",
            "events": ["points.posted", "redemption.booked", "tier.changed"],
        },
    )
    secret_box.append(made["secret"])
    return Receiver(secret_box, port=port)


def test_scans_emit_once_per_occasion(service: Service) -> None:
    member = service.member()
    _stay(service, member, "sh01", 2, "1000.00")  # 2026-04-03: last activity
    service.clock.advance(days=100)
    as_of = service.clock.now().date().isoformat()
    hook = service.call(
        "POST",
        "/v1/webhooks/endpoints",
        "loyalty",
        expect=201,
        json={"url": "http://127.0.0.1:9/x", "events": ["member.inactive", "points.will_expire"]},
    )
    body = {"as_of": as_of, "inactive_days": 90, "expiry_notice_days": 30}
    first = service.call("POST", "/v1/webhooks/scan", "loyalty", json=body)
    assert first == {"points_will_expire": 0, "member_inactive": 1}
    second = service.call("POST", "/v1/webhooks/scan", "loyalty", json=body)
    assert second == {"points_will_expire": 0, "member_inactive": 0}
    # 2026-04-03 + 36 months = 2029-04-03: within 30 days of 2029-03-10.
    from loyalty.webhooks.scan import scan_expiring

    ctx = service.app.state.ctx
    with ctx.engine.begin() as conn:
        n = scan_expiring(
            conn,
            ctx.programme,
            as_of=date(2029, 3, 10),
            days_ahead=30,
            now=datetime(2029, 3, 10, tzinfo=UTC),
        )
        assert n == 1
        assert (
            scan_expiring(
                conn,
                ctx.programme,
                as_of=date(2029, 3, 11),
                days_ahead=30,
                now=datetime(2029, 3, 11, tzinfo=UTC),
            )
            == 0
        )
    log = service.call("GET", "/v1/webhooks/deliveries", "loyalty")
    kinds = sorted(d["type"] for d in log if d["endpoint_id"] == hook["id"])
    assert kinds == ["member.inactive", "points.will_expire"]
    assert all(d["status"] == "pending" for d in log)
    bad = service.call(
        "POST",
        "/v1/webhooks/endpoints",
        "loyalty",
        expect=422,
        json={"url": "http://x.test/", "events": ["points.stolen"]},
    )
    assert bad["error"]["code"] == "unknown_event_type"
    assert service.call("GET", "/v1/webhooks/deliveries", "staff", expect=403)
