"""The check-out folio reconciled with the spends the room posted through sync
(`loyalty.services.folio`): a minibar line on both earns once, unmatched lines earn, a
voided room spend is taken back through the ledger, and — the property — whatever order the
folio and the room's events arrive in (events after check-out: a long outage), the stay
holds exactly the earn rules over its distinct spends, in integer points, on a chain that
verifies. Central's real services on a migrated SQLite database; no HTTP (speed)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from itertools import count
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from loyalty.app import create_app
from loyalty.context import Context
from loyalty.db.tables import transfers
from loyalty.ledger.chain import verify_ledger
from loyalty.schemas import CheckOut, FolioLine, MemberCreate, StayCreate
from loyalty.services import folio, rules_adapter, stays
from loyalty.services.members import create_member
from loyalty.services.sync_consume import Rejected, room_spend
from loyalty.settings import LoyaltySettings
from smartroom.clock import FakeClock
from sync.wire import EventKind, SyncEvent

PROPERTY, ROOM = "SHA-01", "1201"
CATEGORY = {"minibar": "minibar", "room_service": "fnb", "in_room_purchase": "minibar"}
ids = count(1)


@pytest.fixture(scope="module")
def ctx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Context]:
    path: Path = tmp_path_factory.mktemp("folio") / "loyalty.db"
    clock = FakeClock(datetime(2026, 3, 2, 10, 0, tzinfo=UTC))
    app = create_app(
        LoyaltySettings(database_url=f"sqlite:///{path}", key_cache_s=0), clock=clock, migrate=True
    )
    context: Context = app.state.ctx
    yield context
    context.engine.dispose()


def _clock(ctx: Context) -> FakeClock:
    assert isinstance(ctx.clock, FakeClock)
    return ctx.clock


def _stay(ctx: Context) -> tuple[str, Any]:
    with ctx.engine.begin() as conn:
        member = create_member(conn, ctx, MemberCreate(name="Li Wei"))
        now = ctx.clock.now()
        body = StayCreate(
            member_id=member,
            property_id=PROPERTY,
            arrival=now,
            departure=now + timedelta(days=2),
            nightly_rate=Decimal("800.00"),
        )
        stay = stays.book(conn, ctx, body)
        stays.check_in(conn, ctx, stay, ROOM)
        row = stays.get_stay(conn, stay)
    return stay, row


@dataclass(frozen=True)
class Spend:
    category: str
    minor: int
    reference: str | None


def _event(ctx: Context, stay: str, member: str, spend: Spend) -> SyncEvent:
    n = next(ids)
    payload: dict[str, Any] = {
        "category": spend.category,
        "item": "cola",
        "amount": f"{spend.minor // 100}.{spend.minor % 100:02d}",
        "currency": "CNY",
    }
    if spend.reference:
        payload["reference"] = spend.reference
    return SyncEvent(
        event_id=f"evt_{n:08d}",
        seq=n,
        hlc=f"{int(ctx.clock.now().timestamp() * 1000)}:0",
        property_id=PROPERTY,
        room_id=ROOM,
        kind=EventKind.ROOM_SPEND,
        at=ctx.clock.now(),
        stay_id=stay,
        member_id=member,
        payload=payload,
    )


def _send(ctx: Context, event: SyncEvent) -> None:
    with ctx.engine.begin() as conn:
        room_spend(conn, ctx, event)


def _check_out(ctx: Context, stay: str, lines: list[FolioLine]) -> None:
    with ctx.engine.begin() as conn:
        stays.check_out(conn, ctx, stay, CheckOut(folio=lines))


def _held(ctx: Context, stay: str) -> tuple[int, int]:
    with ctx.engine.connect() as conn:
        return folio.held(conn, stay, "points"), folio.held(conn, stay, "qualifying")


def _expected(ctx: Context, row: Any, tier: str, lines: list[FolioLine]) -> tuple[int, int]:
    out = row.arrival.date() + timedelta(days=1)
    earn = rules_adapter.stay_earn(
        ctx.programme,
        tier=tier,
        check_in=row.arrival.date(),
        check_out=out,
        channel=row.channel,
        room_type=row.room_type,
        folio=lines,
    )
    return earn.points, int(earn.qualifying_spend * 100)


def _money(minor: int) -> Decimal:
    return Decimal(minor) / 100


def test_a_minibar_line_on_both_earns_once_and_a_void_is_taken_back(ctx: Context) -> None:
    stay, row = _stay(ctx)
    cola = Spend("minibar", 3600, "pos-000001")
    _send(ctx, _event(ctx, stay, row.member_id, cola))
    crisps = _event(ctx, stay, row.member_id, Spend("minibar", 2800, None))
    _send(ctx, crisps)  # no POS reference: the folio names it by its event id
    after_room = _held(ctx, stay)
    assert after_room[0] > 0
    _clock(ctx).advance(days=1)
    room = FolioLine(category="room", amount=Decimal("800.00"))
    lines = [
        room,
        FolioLine(category="minibar", amount=Decimal("36.00"), reference="pos-000001"),
        FolioLine(category="minibar", amount=Decimal("28.00"), reference=crisps.event_id),
        FolioLine(
            category="minibar", amount=Decimal("28.00"), reference=crisps.event_id, void=True
        ),
        FolioLine(category="fnb", amount=Decimal("120.00")),
    ]
    _check_out(ctx, stay, lines)
    distinct = [room, lines[1], lines[4]]  # cola once; crisps voided; dinner on its own
    assert _held(ctx, stay) == _expected(ctx, row, "silver", distinct)
    with ctx.engine.connect() as conn:
        codes = [
            r.code for r in conn.execute(transfers.select().where(transfers.c.reference == stay))
        ]
        assert verify_ledger(conn).ok
    assert "folio_reversal" not in codes  # nothing over-credited: the post absorbed it
    # The cola again after check-out (a long outage, a new event id): matched, nothing.
    _send(ctx, _event(ctx, stay, row.member_id, cola))
    assert _held(ctx, stay) == _expected(ctx, row, "silver", distinct)
    # An unmatched late spend earns, priced with the tier of check-out.
    late = Spend("room_service", 15000, "pos-000002")
    _send(ctx, _event(ctx, stay, row.member_id, late))
    more = [*distinct, FolioLine(category="fnb", amount=Decimal("150.00"))]
    assert _held(ctx, stay) == _expected(ctx, row, "silver", more)
    with ctx.engine.connect() as conn:
        view = stays.stay_view(conn, stays.get_stay(conn, stay))
    assert view.points_posted == _held(ctx, stay)[0]


def test_a_room_spend_voided_after_it_earned_is_reversed_through_the_ledger(
    ctx: Context,
) -> None:
    stay, row = _stay(ctx)
    _clock(ctx).advance(days=1)
    room = FolioLine(category="room", amount=Decimal("100.00"))
    _check_out(
        ctx,
        stay,
        [
            room,
            FolioLine(category="spa", amount=Decimal("1.00"), reference="pos-void-01", void=True),
        ],
    )
    base = _held(ctx, stay)
    # The room's 900.00 spend arrives after check-out: already voided by the folio.
    _send(ctx, _event(ctx, stay, row.member_id, Spend("in_room_purchase", 90000, "pos-void-01")))
    assert _held(ctx, stay) == base == _expected(ctx, row, "silver", [room])
    # A second stay: the spend earns first, the folio voids it: a reversal transfer.
    stay2, row2 = _stay(ctx)
    _send(ctx, _event(ctx, stay2, row2.member_id, Spend("minibar", 50000, "pos-void-02")))
    earned = _held(ctx, stay2)[0]
    _clock(ctx).advance(days=1)
    _check_out(
        ctx,
        stay2,
        [
            FolioLine(category="room", amount=Decimal("1.00")),
            FolioLine(
                category="minibar", amount=Decimal("500.00"), reference="pos-void-02", void=True
            ),
        ],
    )
    with ctx.engine.connect() as conn:
        rows = conn.execute(transfers.select().where(transfers.c.reference == stay2)).all()
        assert verify_ledger(conn).ok
    back = [r for r in rows if r.code == "folio_reversal"]
    assert back and all(isinstance(r.amount, int) and r.amount > 0 for r in back)
    assert sum(r.amount for r in back if r.ledger == "points") <= earned
    room2 = FolioLine(category="room", amount=Decimal("1.00"))
    assert _held(ctx, stay2) == _expected(ctx, row2, "silver", [room2])


SPENDS = st.lists(
    st.builds(
        Spend,
        category=st.sampled_from(sorted(CATEGORY)),
        minor=st.integers(1, 200_000),
        reference=st.none() | st.sampled_from([f"pos-{i:06d}" for i in range(6)]),
    ),
    min_size=0,
    max_size=6,
)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    spends=SPENDS,
    billed=st.lists(st.booleans(), min_size=6, max_size=6),
    voided=st.lists(st.booleans(), min_size=6, max_size=6),
    resend=st.lists(st.booleans(), min_size=6, max_size=6),
    extra=st.lists(st.integers(1, 50_000), max_size=3),
    order=st.randoms(use_true_random=False),
    checkout_at=st.integers(0, 12),
    room_minor=st.integers(100, 100_000),  # small: voids of spends that earned get reversed
)
def test_earn_is_the_rules_over_distinct_spends_in_any_order(
    ctx: Context,
    spends: list[Spend],
    billed: list[bool],
    voided: list[bool],
    resend: list[bool],
    extra: list[int],
    order: Any,
    checkout_at: int,
    room_minor: int,
) -> None:
    stay, row = _stay(ctx)
    events = [_event(ctx, stay, row.member_id, s) for s in spends]
    # The POS re-posts some spends as new events with the same reference: the same spend.
    events += [
        _event(ctx, stay, row.member_id, s)
        for i, s in enumerate(spends)
        if s.reference and resend[i]
    ]
    key = {e.event_id: e.payload.get("reference") or e.event_id for e in events}
    room = FolioLine(category="room", amount=_money(room_minor))
    lines = [room, *(FolioLine(category="fnb", amount=_money(m)) for m in extra)]
    for i, (s, e) in enumerate(zip(spends, events, strict=False)):
        ref = key[e.event_id]
        if billed[i]:
            lines.append(
                FolioLine(category=CATEGORY[s.category], amount=_money(s.minor), reference=ref)
            )
        if voided[i]:
            lines.append(
                FolioLine(category="minibar", amount=_money(s.minor), reference=ref, void=True)
            )
    order.shuffle(events)
    at = min(checkout_at, len(events))
    for event in events[:at]:
        _send(ctx, event)
    _clock(ctx).advance(days=1)
    _check_out(ctx, stay, lines)
    for event in events[at:]:
        _send(ctx, event)  # after check-out: a long outage
    _clock(ctx).set(ctx.clock.now() - timedelta(days=1))  # every example on the same dates

    # The spec, independently: the folio is the bill; a room spend it names (or a second
    # event with the same reference) is not another spend; a void removes the spend.
    gone = {ln.reference for ln in lines if ln.void}
    on_folio = {ln.reference for ln in lines if not ln.void and ln.reference}
    distinct = [ln for ln in lines if not ln.void and ln.reference not in gone]
    seen: set[str] = set()
    for e in events:
        ref = key[e.event_id]
        if ref in gone or ref in on_folio or ref in seen:
            continue
        seen.add(ref)
        distinct.append(
            FolioLine(category=CATEGORY[e.payload["category"]], amount=Decimal(e.payload["amount"]))
        )
    assert _held(ctx, stay) == _expected(ctx, row, "silver", distinct)
    with ctx.engine.connect() as conn:
        amounts = [
            r.amount for r in conn.execute(transfers.select().where(transfers.c.reference == stay))
        ]
        assert all(isinstance(a, int) and a >= 0 for a in amounts)
        assert verify_ledger(conn, check_balances=False).ok


def test_a_spend_for_a_cancelled_stay_is_refused(ctx: Context) -> None:
    stay, row = _stay(ctx)
    with ctx.engine.begin() as conn:
        stays.cancel(conn, ctx, stay, no_show=False)
    with pytest.raises(Rejected, match="cancelled"):
        _send(ctx, _event(ctx, stay, row.member_id, Spend("minibar", 100, None)))


def test_a_void_line_must_name_the_spend_it_cancels() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="a void line needs the reference"):
        FolioLine.model_validate({"category": "minibar", "amount": "36.00", "void": True})
    with pytest.raises(ValidationError, match="reference"):
        FolioLine.model_validate({"category": "minibar", "amount": "1", "reference": "bad ref!"})
