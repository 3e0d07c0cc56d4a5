"""Lifecycle offers: the job that finds what each member is due (`loyalty.rules.offers`),
records it once, and sends it through the signed-webhook outbox outside quiet hours.

    run_offers(conn, ctx, now=now)            # daily (or hourly): {"created": .., "sent": ..}
    tier_changed(conn, ctx, member_id, old, new)   # called in the transaction of a tier change
    redeem(conn, ctx, offer_id, who)          # the member used it: measured by experiments

Consent is checked twice: when an offer is created and again when it is sent, so a marketing
consent withdrawn in between stops a queued offer at once (it is cancelled, not sent).
"""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, func, select, update

from loyalty.auth import Principal
from loyalty.context import Context
from loyalty.db.benefit_tables import offers
from loyalty.db.tables import members, stays
from loyalty.errors import ApiError
from loyalty.rules.benefits import MemberFacts, StayFacts, stay_entitlements
from loyalty.rules.expiry import upcoming_expiries
from loyalty.rules.offers import MARKETING, DueOffer, Snapshot, due_offers, quiet
from loyalty.services.jobs import earn_lots
from loyalty.webhooks.outbox import emit
from sync.wire import new_id


def _today(ctx: Context, now: datetime) -> date:
    return now.astimezone(ZoneInfo(ctx.programme.offers.timezone)).date()


def _snapshot(conn: Connection, ctx: Context, row: Any, today: date) -> Snapshot:
    done = conn.execute(
        select(func.count(), func.min(stays.c.checked_out_at)).where(
            stays.c.member_id == row.id, stays.c.status == "checked_out"
        )
    ).one()
    last = row.last_activity_at.date() if row.last_activity_at else None
    lots = earn_lots(conn, row.pseudonym, today)
    horizon = today.toordinal() + ctx.programme.offers.expiry_notice_days
    expiring: dict[date, int] = {}
    for action in upcoming_expiries(
        ctx.programme,
        lots,
        min(last, today) if last else None,
        today,
        until=date.fromordinal(horizon),
    ):
        expiring[action.expires_on] = expiring.get(action.expires_on, 0) + action.points
    state = json.loads(row.tier_state)
    at_risk_until = None
    if state.get("at_risk"):
        from loyalty.rules.periods import qualification_year_bounds, qualification_year_of

        _start, end = qualification_year_bounds(
            ctx.programme, qualification_year_of(ctx.programme, today)
        )
        at_risk_until = end
    return Snapshot(
        member_id=row.id,
        tier=row.tier,
        birthday=row.birthday,
        last_activity=last,
        stays_completed=int(done[0]),
        first_stay_completed_on=done[1].date() if done[1] else None,
        expiring=tuple(sorted(expiring.items())),
        at_risk_until=at_risk_until,
        keep_tier_message=state.get("reason"),
    )


def _record(conn: Connection, member_id: str, offer: DueOffer, now: datetime) -> bool:
    o = offers.c
    exists = conn.execute(
        select(o.id).where(
            o.member_id == member_id, o.kind == offer.kind, o.occasion == offer.occasion
        )
    ).first()
    if exists is not None:
        return False
    conn.execute(
        offers.insert().values(
            id=new_id("o_"),
            member_id=member_id,
            kind=offer.kind,
            occasion=offer.occasion,
            payload_json=json.dumps(offer.data, sort_keys=True),
            created_at=now,
        )
    )
    return True


def release(conn: Connection, ctx: Context, now: datetime) -> dict[str, int]:
    """Send every recorded, unsent offer, unless it is quiet hours; cancel marketing offers
    whose member withdrew consent (or was erased) since."""
    counts = {"sent": 0, "cancelled": 0, "held": 0}
    pending = conn.execute(
        select(offers, members.c.consent_marketing, members.c.erased_at)
        .join(members, members.c.id == offers.c.member_id)
        .where(offers.c.sent_at.is_(None), offers.c.cancelled_at.is_(None))
        .order_by(offers.c.created_at)
    ).all()
    if quiet(ctx.programme.offers, now):
        counts["held"] = len(pending)
        return counts
    for row in pending:
        if row.erased_at is not None or (row.kind in MARKETING and not row.consent_marketing):
            conn.execute(
                update(offers)
                .where(offers.c.id == row.id)
                .values(cancelled_at=now, cancel_reason="no marketing consent")
            )
            counts["cancelled"] += 1
            continue
        data = {
            "offer_id": row.id,
            "member_id": row.member_id,
            "kind": row.kind,
            **json.loads(row.payload_json),
        }
        emit(conn, f"offer.{row.kind}", data, now=now, event_id=f"evt_{row.id}")
        conn.execute(update(offers).where(offers.c.id == row.id).values(sent_at=now))
        counts["sent"] += 1
    return counts


def run_offers(conn: Connection, ctx: Context, *, now: datetime) -> dict[str, int]:
    today = _today(ctx, now)
    counts = {"created": 0, "skipped_no_consent": 0}
    for row in conn.execute(
        select(members).where(members.c.erased_at.is_(None)).order_by(members.c.id)
    ).all():
        for offer in due_offers(ctx.programme.offers, _snapshot(conn, ctx, row, today), today):
            if offer.marketing and not row.consent_marketing:
                counts["skipped_no_consent"] += 1
                continue
            counts["created"] += _record(conn, row.id, offer, now)
    return {**counts, **release(conn, ctx, now)}


def tier_changed(
    conn: Connection, ctx: Context, member_id: str, old: str, new: str, *, reason: str
) -> None:
    """In the transaction of a tier change: refresh the member's open stays' entitlements
    and, on the way up, queue the congratulation with a preview of the new benefits."""
    from loyalty.services import benefits

    benefits.refresh_member(conn, ctx, member_id, reason=reason)
    names = ctx.programme.tier_names
    if names.index(new) <= names.index(old):
        return
    now = ctx.clock.now()
    today = _today(ctx, now)
    preview = stay_entitlements(
        ctx.programme.benefits, MemberFacts(tier=new), StayFacts(today, today)
    )
    snapshot = Snapshot(
        member_id=member_id,
        tier=new,
        previous_tier=old,
        extra={"benefits": sorted({e.code for e in preview})},
    )
    for offer in due_offers(ctx.programme.offers, snapshot, today):
        if offer.kind == "tier_up":
            _record(conn, member_id, offer, now)
    release(conn, ctx, now)


def redeem(conn: Connection, ctx: Context, offer_id: str, who: Principal) -> dict[str, Any]:
    row = conn.execute(select(offers).where(offers.c.id == offer_id)).first()
    if row is None or (who.role == "member" and who.member_id != row.member_id):
        raise ApiError(404, "offer_not_found", f"no offer {offer_id!r}", field="offer_id")
    if row.sent_at is None:
        raise ApiError(409, "offer_not_sent", "the offer was never sent to the member")
    if row.redeemed_at is not None:
        raise ApiError(409, "offer_already_redeemed", f"redeemed at {row.redeemed_at.isoformat()}")
    now = ctx.clock.now()
    conn.execute(update(offers).where(offers.c.id == offer_id).values(redeemed_at=now))
    return offer_view(conn.execute(select(offers).where(offers.c.id == offer_id)).one())


def offer_view(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "member_id": row.member_id,
        "kind": row.kind,
        "occasion": row.occasion,
        "data": json.loads(row.payload_json),
        "created_at": row.created_at.isoformat(),
        "sent_at": row.sent_at.isoformat() if row.sent_at else None,
        "cancelled_at": row.cancelled_at.isoformat() if row.cancelled_at else None,
        "redeemed_at": row.redeemed_at.isoformat() if row.redeemed_at else None,
    }


def member_offers(conn: Connection, member_id: str) -> list[dict[str, Any]]:
    rows = conn.execute(
        select(offers).where(offers.c.member_id == member_id).order_by(offers.c.created_at)
    ).all()
    return [offer_view(r) for r in rows]


def redemption_rates(conn: Connection) -> dict[str, dict[str, int]]:
    """Sent and redeemed counts per kind: what experiments read as the offer's outcome."""
    o = offers.c
    out: dict[str, dict[str, int]] = {}
    for kind, sent, redeemed in conn.execute(
        select(o.kind, func.count(o.sent_at), func.count(o.redeemed_at)).group_by(o.kind)
    ).all():
        out[kind] = {"sent": int(sent), "redeemed": int(redeemed)}
    return out
