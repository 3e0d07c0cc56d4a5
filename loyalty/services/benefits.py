"""Benefits through the stay: work out what a stay is entitled to (from the programme's
catalogue, `loyalty.rules.benefits`), keep it current when the facts change, sell
experiences for points, and record every fulfilment once with its cost.

    refresh_stay(conn, ctx, stay_id, reason="booked")       # at booking and check-in
    refresh_member(conn, ctx, member_id, reason="tier changed to gold")
    purchase(conn, ctx, stay_id, body)                       # points debited, capacity kept
    fulfil(conn, ctx, who, entitlement_id, key, body)        # staff, or the room's agent
    record(conn, member_id) / costs(conn, ctx, start, end)   # what was promised vs delivered

Entitlements are never deleted: one that no longer applies is `withdrawn` with a reason, and
delivered units are never taken back (the quantity stays at least what was delivered).
"""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, and_, case, func, literal, select, update

from loyalty.auth import Principal
from loyalty.benefit_schemas import (
    BenefitView,
    Catalogue,
    CostReport,
    EntitlementView,
    FulfilmentRequest,
    FulfilmentView,
    MemberBenefitRecord,
    PurchaseRequest,
    TierCost,
)
from loyalty.context import Context
from loyalty.db.benefit_tables import entitlements, fulfilments
from loyalty.db.tables import members, stays, transfers
from loyalty.errors import ApiError
from loyalty.ledger import SYSTEM, TransferSpec, create_transfer, member_account
from loyalty.rules.benefits import (
    Benefit,
    BenefitError,
    Entitlement,
    MemberFacts,
    StayFacts,
    Usage,
    entitlement_of,
    find,
    late_checkout_until,
    stay_entitlements,
)
from loyalty.rules.benefits import purchase as price_purchase
from loyalty.services.members import get_member, member_balance
from sync.wire import EventKind, RoomBenefit, SyncEvent, new_id

OPEN = ("booked", "checked_in")


def _minor(amount: Decimal) -> int:
    return int((amount * 100).to_integral_value())


def _money(minor: int) -> Decimal:
    return Decimal(minor) / 100


def member_facts(row: Any) -> MemberFacts:
    segments = frozenset(json.loads(row.segments_json)) if row.segments_json else frozenset()
    return MemberFacts(tier=row.tier, segments=segments, birthday=row.birthday)


def catalogue(ctx: Context) -> Catalogue:
    return Catalogue(
        programme_version=ctx.programme.version,
        benefits=[_benefit_view(b) for b in ctx.programme.benefits],
    )


def _benefit_view(b: Benefit) -> BenefitView:
    return BenefitView(
        code=b.code,
        name_en=b.names.en,
        name_zh=b.names.zh,
        fulfilment=b.fulfilment,
        tiers=list(b.eligible.tiers),
        segments=list(b.eligible.segments),
        points_price=b.eligible.points_price,
        birthday_only=b.eligible.birthday,
        per_stay=b.limits.per_stay,
        per_night=b.limits.per_night,
        per_year=b.limits.per_year,
        capacity_per_day=b.limits.capacity_per_day,
        unit_cost=b.unit_cost,
        subject_to_availability=b.subject_to_availability,
        room_action=_room_dict(b.room.model_dump(exclude_none=True) if b.room else None),
    )


def _room_dict(data: dict[str, Any] | None) -> dict[str, str] | None:
    return {k: str(v) for k, v in data.items()} if data else None


# --- granting ------------------------------------------------------------------------------


def _usage(conn: Connection, member_id: str, year: int, other_than: str) -> Usage:
    """Units promised on the member's other stays that arrive in `year` (per-year limits)."""
    e, s = entitlements.c, stays.c
    start = datetime(year, 1, 1, tzinfo=UTC)
    end = datetime(year + 1, 1, 1, tzinfo=UTC)
    rows = conn.execute(
        select(e.code, func.sum(e.quantity))
        .join(stays, s.id == e.stay_id)
        .where(
            e.member_id == member_id,
            e.stay_id != other_than,
            e.status == "promised",
            s.arrival >= start,
            s.arrival < end,
        )
        .group_by(e.code)
    ).all()
    return Usage({code: int(total) for code, total in rows})


def _delivered(conn: Connection, entitlement_ids: list[str]) -> dict[str, dict[str, int]]:
    f = fulfilments.c
    done: dict[str, dict[str, int]] = defaultdict(lambda: {"delivered": 0, "not_delivered": 0})
    if not entitlement_ids:
        return done
    for eid, outcome, total in conn.execute(
        select(f.entitlement_id, f.outcome, func.sum(f.quantity))
        .where(f.entitlement_id.in_(entitlement_ids))
        .group_by(f.entitlement_id, f.outcome)
    ).all():
        done[eid][outcome] = int(total)
    return done


def refresh_stay(
    conn: Connection, ctx: Context, stay_id: str, *, reason: str, withdraw: bool = True
) -> bool:
    """See `_refresh_stay`; the stay's room hears of a change in what it delivers (a tier
    change, a late check-out withdrawn) through sync at once. True when it told the room."""
    before = room_benefits(conn, [stay_id]).get(stay_id, [])
    _refresh_stay(conn, ctx, stay_id, reason=reason, withdraw=withdraw)
    after = room_benefits(conn, [stay_id]).get(stay_id, [])
    if before != after:
        from loyalty.services import sync_feed  # it reads room_benefits from here

        late = {b.until for b in before if b.action == "late_checkout"} != {
            b.until for b in after if b.action == "late_checkout"
        }
        status = conn.execute(select(stays.c.status).where(stays.c.id == stay_id)).scalar_one()
        event = "late_checkout" if late else status
        if event in ("booked", "checked_in", "late_checkout"):
            sync_feed.stay_changed(conn, ctx, stay_id, event)
            return True
    return False


def _refresh_stay(
    conn: Connection, ctx: Context, stay_id: str, *, reason: str, withdraw: bool = True
) -> None:
    """Bring a stay's granted entitlements in line with today's facts. Purchases are kept;
    a checked-out stay is left as it was (its record is history).

    `withdraw=False` (check-in) only adds or raises: what the member was promised at
    booking is honoured at the property even if the catalogue changed since. Promises are
    withdrawn only for a reason about the member (a tier change) or the stay."""
    stay = conn.execute(select(stays).where(stays.c.id == stay_id)).one()
    if stay.status == "checked_out":
        return
    now = ctx.clock.now()
    existing = conn.execute(
        select(entitlements).where(
            entitlements.c.stay_id == stay_id, entitlements.c.source != "purchase"
        )
    ).all()
    by_code = {row.code: row for row in existing}
    grants: dict[str, Entitlement] = {}
    if stay.status in OPEN:
        member = conn.execute(select(members).where(members.c.id == stay.member_id)).one()
        facts = StayFacts(stay.arrival.date(), stay.departure.date())
        usage = _usage(conn, stay.member_id, stay.arrival.year, other_than=stay_id)
        granted = stay_entitlements(ctx.programme.benefits, member_facts(member), facts, usage)
        grants = {g.code: g for g in _with_experiments(conn, ctx, member.id, granted)}
        late = grants.get("late_checkout")
        clash = _late_checkout_clash(conn, ctx, stay, late)
        if late is not None and clash is not None:
            # The room's next booking needs the room: recorded as withdrawn with what the
            # next booking allows, so the member and the desk see why.
            grants.pop("late_checkout")
            _refuse_late_checkout(conn, ctx, stay, late, by_code.get("late_checkout"), clash)
            by_code.pop("late_checkout", None)
    delivered = _delivered(conn, [row.id for row in existing])
    for code, grant in grants.items():
        row = by_code.get(code)
        if row is None:
            _insert(conn, ctx, stay, grant, now)
            continue
        quantity = max(grant.quantity, delivered[row.id]["delivered"])
        if not withdraw and row.status == "promised":
            quantity = max(quantity, row.quantity)
        if (row.status, row.quantity, row.source) != ("promised", quantity, grant.source):
            conn.execute(
                update(entitlements)
                .where(entitlements.c.id == row.id)
                .values(
                    status="promised",
                    reason=None,
                    quantity=quantity,
                    source=grant.source,
                    unit_cost_minor=_minor(grant.unit_cost),
                    programme_version=ctx.programme.version,
                    updated_at=now,
                )
            )
    for code, row in by_code.items():
        if code in grants or row.status != "promised" or not withdraw:
            continue
        done = delivered[row.id]["delivered"]
        values: dict[str, Any] = {"updated_at": now, "reason": reason[:256]}
        if done:
            values["quantity"] = done  # what was delivered stays delivered
        else:
            values["status"] = "withdrawn"
        conn.execute(update(entitlements).where(entitlements.c.id == row.id).values(**values))


def _refuse_late_checkout(
    conn: Connection, ctx: Context, stay: Any, grant: Entitlement, row: Any, why: str
) -> None:
    now = ctx.clock.now()
    if row is None:
        entitlement_id = _insert(conn, ctx, stay, grant, now)
        row = conn.execute(select(entitlements).where(entitlements.c.id == entitlement_id)).one()
    if row.status == "promised" and not _delivered(conn, [row.id])[row.id]["delivered"]:
        conn.execute(
            update(entitlements)
            .where(entitlements.c.id == row.id)
            .values(status="withdrawn", reason=why[:256], updated_at=now)
        )


def _next_arrival(conn: Connection, stay: Any) -> datetime | None:
    """When the room's next stay arrives (the first booked or checked-in one after this)."""
    if stay.room_id is None:
        return None
    s = stays.c
    nxt = conn.execute(
        select(s.arrival)
        .where(
            s.property_id == stay.property_id,
            s.room_id == stay.room_id,
            s.id != stay.id,
            s.status.in_(OPEN),
            s.arrival >= stay.arrival,
        )
        .order_by(s.arrival)
        .limit(1)
    ).first()
    return nxt.arrival if nxt else None


def _late_checkout_clash(
    conn: Connection, ctx: Context, stay: Any, grant: Entitlement | None
) -> str | None:
    """Why the room's next booking does not allow this late check-out, or None."""
    if grant is None or grant.room is None:
        return None
    from loyalty.services.calendar import property_zone

    zone = property_zone(conn, ctx, stay.property_id)
    try:
        late_checkout_until(
            grant, stay.departure.astimezone(zone).date(), _next_arrival(conn, stay), tz=zone
        )
    except BenefitError as exc:
        return str(exc)
    return None


def _with_experiments(
    conn: Connection, ctx: Context, member_id: str, granted: list[Entitlement]
) -> list[Entitlement]:
    """A running benefit experiment swaps the benefit under test for the member's arm's
    (`loyalty.analytics.experiments`: sticky, by hash). The source names experiment and
    arm, so the fulfilment logs the exposure with its cost."""
    from loyalty.analytics.experiments import assign, load
    from loyalty.db.economics_tables import experiments

    now = ctx.clock.now()
    x = experiments.c
    running = conn.execute(
        select(x.id, x.benefit).where(x.starts_at <= now, x.ends_at > now).order_by(x.id)
    ).all()
    out = list(granted)
    for experiment_id, tested in running:
        index = next((i for i, g in enumerate(out) if g.code == tested), None)
        if index is None:
            continue
        arm = assign(conn, experiment_id, member_id, now=now)
        if arm is None:
            continue
        spec, _ = load(conn, experiment_id)
        code = next(a.benefit for a in spec.arms if a.name == arm)
        try:
            benefit = find(ctx.programme.benefits, code)
        except BenefitError:
            continue  # an arm naming no catalogue code (free text) is not applied to stays
        source = f"experiment:{experiment_id}:{arm}"[:48]
        out[index] = entitlement_of(benefit, out[index].quantity, source)
    return out


def refresh_room(conn: Connection, ctx: Context, stay_id: str) -> None:
    """A stay was booked or checked in to a room: the room's other open stays may have to
    give up a late check-out the new arrival does not leave time for."""
    stay = conn.execute(select(stays).where(stays.c.id == stay_id)).one()
    if stay.room_id is None:
        return
    s = stays.c
    for (other,) in conn.execute(
        select(s.id).where(
            s.property_id == stay.property_id,
            s.room_id == stay.room_id,
            s.id != stay.id,
            s.status.in_(OPEN),
            s.departure <= stay.arrival + timedelta(days=1),
        )
    ).all():
        refresh_stay(conn, ctx, other, reason="the room's next booking", withdraw=False)


def refresh_member(conn: Connection, ctx: Context, member_id: str, *, reason: str) -> None:
    """After a tier, segment or birthday change: refresh every open stay of the member."""
    for (stay_id,) in conn.execute(
        select(stays.c.id).where(stays.c.member_id == member_id, stays.c.status.in_(OPEN))
    ).all():
        refresh_stay(conn, ctx, stay_id, reason=reason)


def withdraw_stay(conn: Connection, ctx: Context, stay_id: str, *, reason: str) -> None:
    """A cancelled or no-show stay: nothing it was promised stands. Points paid for a
    purchase nobody received go back to the member (a new ledger entry, never an edit)."""
    now = ctx.clock.now()
    bought = conn.execute(
        select(entitlements).where(
            entitlements.c.stay_id == stay_id,
            entitlements.c.status == "promised",
            entitlements.c.points_paid > 0,
        )
    ).all()
    delivered = _delivered(conn, [row.id for row in bought])
    for row in bought:
        if delivered[row.id]["delivered"]:
            continue
        member = conn.execute(select(members).where(members.c.id == row.member_id)).one()
        create_transfer(
            conn,
            TransferSpec(
                id=new_id("t_"),
                ledger="points",
                debit=SYSTEM["points:redemption"],
                credit=member_account(member.pseudonym, "points"),
                amount=row.points_paid,
                code="benefit_refund",
                chain_owner=member.pseudonym,
                reference=row.id,
            ),
            now=now,
        )
    conn.execute(
        update(entitlements)
        .where(entitlements.c.stay_id == stay_id, entitlements.c.status == "promised")
        .values(status="withdrawn", reason=reason[:256], updated_at=now)
    )


def _insert(
    conn: Connection,
    ctx: Context,
    stay: Any,
    grant: Entitlement,
    now: datetime,
    service_day: date | None = None,
) -> str:
    entitlement_id = new_id("e_")
    names = next((b.names for b in ctx.programme.benefits if b.code == grant.code), None)
    conn.execute(
        entitlements.insert().values(
            id=entitlement_id,
            stay_id=stay.id,
            member_id=stay.member_id,
            property_id=stay.property_id,
            code=grant.code,
            name_en=names.en if names else grant.code,
            name_zh=names.zh if names else grant.code,
            quantity=grant.quantity,
            source=grant.source,
            fulfilment=grant.fulfilment,
            unit_cost_minor=_minor(grant.unit_cost),
            points_paid=grant.points_paid,
            subject_to_availability=int(grant.subject_to_availability),
            room_json=grant.room.model_dump_json(exclude_none=True) if grant.room else None,
            status="promised",
            reason=None,
            service_day=service_day,
            programme_version=ctx.programme.version,
            created_at=now,
            updated_at=now,
        )
    )
    return entitlement_id


# --- buying with points -------------------------------------------------------------------


def _refuse(exc: BenefitError, field: str = "code") -> ApiError:
    status = 409 if exc.code in ("capacity_exhausted", "limit_per_year", "limit_per_stay") else 422
    return ApiError(status, exc.code, str(exc), field=field)


def purchase(conn: Connection, ctx: Context, stay_id: str, body: PurchaseRequest) -> str:
    stay = conn.execute(select(stays).where(stays.c.id == stay_id)).first()
    if stay is None:
        raise ApiError(404, "stay_not_found", f"no stay {stay_id!r}", field="stay_id")
    if stay.status not in OPEN:
        raise ApiError(409, f"stay_{stay.status}", f"the stay is {stay.status}")
    if not stay.arrival.date() <= body.service_day <= stay.departure.date():
        raise ApiError(
            422,
            "service_day_outside_stay",
            f"{body.service_day} is outside the stay ({stay.arrival.date()} to "
            f"{stay.departure.date()})",
            field="service_day",
        )
    member = get_member(conn, stay.member_id, for_update=True)
    e = entitlements.c
    booked_day = conn.execute(
        select(func.coalesce(func.sum(e.quantity), 0)).where(
            e.property_id == stay.property_id,
            e.code == body.code,
            e.service_day == body.service_day,
            e.status == "promised",
        )
    ).scalar_one()
    already = conn.execute(
        select(e.id).where(e.stay_id == stay_id, e.code == body.code, e.source == "purchase")
    ).first()
    if already is not None:
        raise ApiError(
            409,
            "already_purchased",
            f"{body.code!r} was already bought for this stay (entitlement {already.id})",
            field="code",
        )
    try:
        grant = price_purchase(
            ctx.programme.benefits,
            body.code,
            member_facts(member),
            StayFacts(stay.arrival.date(), stay.departure.date()),
            quantity=body.quantity,
            usage=_usage(conn, member.id, stay.arrival.year, other_than=stay_id),
            booked_on_day=int(booked_day),
        )
    except BenefitError as exc:
        raise _refuse(exc, "quantity" if exc.code == "bad_quantity" else "code") from None
    available = member_balance(conn, member.pseudonym).available
    if available < grant.points_paid:
        raise ApiError(
            409,
            "insufficient_points",
            f"{grant.points_paid:,} points needed, {available:,} available",
            field="code",
        )
    now = ctx.clock.now()
    entitlement_id = _insert(conn, ctx, stay, grant, now, service_day=body.service_day)
    create_transfer(
        conn,
        TransferSpec(
            id=new_id("t_"),
            ledger="points",
            debit=member_account(member.pseudonym, "points"),
            credit=SYSTEM["points:redemption"],
            amount=grant.points_paid,
            code="benefit_buy",
            chain_owner=member.pseudonym,
            reference=entitlement_id,
        ),
        now=now,
    )
    return entitlement_id


# --- fulfilment ---------------------------------------------------------------------------


def get_entitlement(conn: Connection, entitlement_id: str, who: Principal) -> Any:
    """The entitlement, if `who` may see it; otherwise the same 404 as for an unknown id
    (no existence oracle)."""
    row = conn.execute(select(entitlements).where(entitlements.c.id == entitlement_id)).first()
    missing = ApiError(
        404, "entitlement_not_found", f"no entitlement {entitlement_id!r}", field="entitlement_id"
    )
    if row is None:
        raise missing
    if who.role == "member" and who.member_id != row.member_id:
        raise missing
    if who.role in ("staff", "agent") and who.property_id and who.property_id != row.property_id:
        raise missing
    if who.role == "agent":
        stay = conn.execute(select(stays.c.room_id).where(stays.c.id == row.stay_id)).one()
        if stay.room_id != who.room_id:
            raise missing
    return row


def fulfil(
    conn: Connection,
    ctx: Context,
    who: Principal,
    entitlement_id: str,
    key: str,
    body: FulfilmentRequest,
) -> FulfilmentView:
    return fulfil_at(conn, who, entitlement_id, key, body, now=ctx.clock.now())


def fulfil_at(
    conn: Connection,
    who: Principal,
    entitlement_id: str,
    key: str,
    body: FulfilmentRequest,
    *,
    now: datetime,
) -> FulfilmentView:
    """Record one fulfilment (`fulfil`, with the time given: the board passes its own)."""
    row = get_entitlement(conn, entitlement_id, who)
    if who.role == "agent" and row.fulfilment != "room":
        raise ApiError(
            403,
            "forbidden",
            f"{row.code!r} is fulfilled by {row.fulfilment}, not by the room's agent",
        )
    earlier = conn.execute(
        select(fulfilments).where(
            fulfilments.c.entitlement_id == entitlement_id, fulfilments.c.key == key
        )
    ).first()
    if earlier is not None:
        return _fulfilment_view(earlier, row.code)
    if body.outcome == "not_delivered" and body.reason is None:
        raise ApiError(
            422, "reason_required", "say why the benefit was not delivered", field="reason"
        )
    if row.status != "promised":
        raise ApiError(
            409,
            "entitlement_withdrawn",
            f"{row.code!r} was withdrawn ({row.reason or 'no reason recorded'})",
        )
    done = _delivered(conn, [row.id])[row.id]
    recorded = done["delivered"] + done["not_delivered"]
    if recorded + body.quantity > row.quantity:
        raise ApiError(
            409,
            "already_fulfilled",
            f"{row.code!r}: {row.quantity} promised, {recorded} already recorded "
            f"({done['delivered']} delivered); {body.quantity} more would exceed it",
            field="quantity",
        )
    cost = row.unit_cost_minor * body.quantity if body.outcome == "delivered" else 0
    fulfilment_id = new_id("f_")
    conn.execute(
        fulfilments.insert().values(
            id=fulfilment_id,
            entitlement_id=entitlement_id,
            key=key,
            quantity=body.quantity,
            outcome=body.outcome,
            reason=body.reason,
            by_role=who.role,
            by_key=who.key_id,
            cost_minor=cost,
            at=now,
        )
    )
    if body.outcome == "delivered" and row.source.startswith("experiment:"):
        from loyalty.analytics.experiments import record_exposure

        experiment_id = row.source.split(":")[1]
        record_exposure(conn, experiment_id, row.member_id, now=now, cost_minor=cost)
    created = conn.execute(select(fulfilments).where(fulfilments.c.id == fulfilment_id)).one()
    return _fulfilment_view(created, row.code)


def _fulfilment_view(row: Any, code: str) -> FulfilmentView:
    return FulfilmentView(
        id=row.id,
        entitlement_id=row.entitlement_id,
        code=code,
        quantity=row.quantity,
        outcome=row.outcome,
        reason=row.reason,
        by_role=row.by_role,
        cost=_money(row.cost_minor),
        at=row.at,
    )


# --- reading ------------------------------------------------------------------------------


def entitlement_views(conn: Connection, ctx: Context, where: Any) -> list[EntitlementView]:
    rows = conn.execute(
        select(entitlements).where(where).order_by(entitlements.c.created_at, entitlements.c.code)
    ).all()
    done = _delivered(conn, [r.id for r in rows])
    views = []
    for r in rows:
        views.append(
            EntitlementView(
                id=r.id,
                stay_id=r.stay_id,
                member_id=r.member_id,
                property_id=r.property_id,
                code=r.code,
                name_en=r.name_en,  # as promised, whatever the catalogue says now
                name_zh=r.name_zh,
                quantity=r.quantity,
                delivered=done[r.id]["delivered"],
                not_delivered=done[r.id]["not_delivered"],
                source=r.source,
                fulfilment=r.fulfilment,
                unit_cost=_money(r.unit_cost_minor),
                points_paid=r.points_paid,
                subject_to_availability=bool(r.subject_to_availability),
                room_action=_room_dict(json.loads(r.room_json)) if r.room_json else None,
                status=r.status,
                reason=r.reason,
                service_day=r.service_day,
                updated_at=r.updated_at,
            )
        )
    return views


def for_stay(conn: Connection, ctx: Context, stay_id: str) -> list[EntitlementView]:
    return entitlement_views(conn, ctx, entitlements.c.stay_id == stay_id)


def record(conn: Connection, ctx: Context, member_id: str) -> MemberBenefitRecord:
    views = entitlement_views(conn, ctx, entitlements.c.member_id == member_id)
    codes = {v.id: v.code for v in views}
    rows = conn.execute(
        select(fulfilments)
        .where(fulfilments.c.entitlement_id.in_(list(codes)))
        .order_by(fulfilments.c.at)
    ).all()
    return MemberBenefitRecord(
        member_id=member_id,
        entitlements=views,
        fulfilments=[_fulfilment_view(r, codes[r.entitlement_id]) for r in rows],
    )


def _start(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=UTC)


def costs(conn: Connection, ctx: Context, start: date, end: date) -> CostReport:
    """Delivered benefit cost per tier (the member's tier now) against the qualifying spend
    the same members brought in the period, both from central's own records."""
    if end <= start:
        raise ApiError(422, "invalid_period", "end must be after start", field="end")
    f, e, m = fulfilments.c, entitlements.c, members.c
    window = and_(f.at >= _start(start), f.at < _start(end), f.outcome == "delivered")
    by_tier: dict[str, dict[str, Any]] = defaultdict(
        lambda: {"deliveries": 0, "cost": 0, "revenue": 0, "members": 0}
    )
    by_benefit: dict[str, Decimal] = {}
    for tier, code, count, cost in conn.execute(
        select(m.tier, e.code, func.sum(f.quantity), func.sum(f.cost_minor))
        .join(entitlements, e.id == f.entitlement_id)
        .join(members, m.id == e.member_id)
        .where(window)
        .group_by(m.tier, e.code)
    ).all():
        by_tier[tier]["deliveries"] += int(count)
        by_tier[tier]["cost"] += int(cost)
        by_benefit[code] = by_benefit.get(code, Decimal(0)) + _money(int(cost))
    t = transfers.c
    account = m.pseudonym + literal(":qualifying")
    signed = case((t.credit_account_id == account, t.amount), else_=-t.amount)
    for tier, revenue in conn.execute(
        select(m.tier, func.coalesce(func.sum(signed), 0))
        .join(
            transfers,
            (t.credit_account_id == account) | (t.debit_account_id == account),
        )
        .where(t.created_at >= _start(start), t.created_at < _start(end), t.flags == "single")
        .group_by(m.tier)
    ).all():
        by_tier[tier]["revenue"] += int(revenue)
    for tier, count in conn.execute(
        select(m.tier, func.count()).where(m.erased_at.is_(None)).group_by(m.tier)
    ).all():
        by_tier[tier]["members"] = int(count)
    order = ctx.programme.tier_names
    rows = []
    for tier in sorted(by_tier, key=lambda n: order.index(n) if n in order else len(order)):
        data = by_tier[tier]
        revenue = _money(data["revenue"])
        cost = _money(data["cost"])
        rows.append(
            TierCost(
                tier=tier,
                members=data["members"],
                deliveries=data["deliveries"],
                benefit_cost=cost,
                revenue=revenue,
                cost_share=(cost / revenue).quantize(Decimal("0.0001")) if revenue else None,
            )
        )
    return CostReport(start=start, end=end, by_tier=rows, by_benefit=by_benefit)


def find_benefit(ctx: Context, code: str) -> Benefit:
    try:
        return find(ctx.programme.benefits, code)
    except BenefitError as exc:
        raise _refuse(exc) from None


def room_benefits(conn: Connection, stay_ids: list[str]) -> dict[str, list[RoomBenefit]]:
    """The promised room-fulfilled entitlements of these stays, as their agent receives
    them with the stay (so the room honours them while its link is down)."""
    out: dict[str, list[RoomBenefit]] = defaultdict(list)
    if not stay_ids:
        return out
    e = entitlements.c
    for row in conn.execute(
        select(entitlements)
        .where(e.stay_id.in_(stay_ids), e.fulfilment == "room", e.status == "promised")
        .order_by(e.created_at, e.code)
    ).all():
        action = json.loads(row.room_json) if row.room_json else {}
        if "action" not in action:
            continue
        out[row.stay_id].append(
            RoomBenefit(
                entitlement_id=row.id,
                code=row.code,
                action=action["action"],
                until=action.get("until"),
                scene=action.get("scene"),
                amenity=action.get("amenity"),
            )
        )
    return out


def from_room_event(
    conn: Connection, ctx: Context, agent: Principal, event: SyncEvent
) -> str | None:
    """A `benefit` event from a room's outbox: the room delivered a room benefit. Recorded
    once (the event id is the fulfilment's key, so a re-sent event is the same record);
    returns why it is refused, or None. Other event kinds pass through untouched."""
    if event.kind != EventKind.BENEFIT:
        return None
    entitlement_id = event.payload.get("entitlement_id")
    if not isinstance(entitlement_id, str):
        return "benefit event without entitlement_id"
    body = FulfilmentRequest(outcome="delivered", quantity=1)
    try:
        with conn.begin_nested():
            fulfil(conn, ctx, agent, entitlement_id, event.event_id, body)
    except ApiError as exc:
        return f"{exc.code}: {exc.message}"[:256]
    return None
