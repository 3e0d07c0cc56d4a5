"""Stays: book, check in (pending points, BLE secret, signed room key), change room, check
out (post from the folio), cancel, no-show."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, func, select, update

from loyalty.board import frontdesk
from loyalty.context import Context
from loyalty.db.tables import stay_moves, stays, transfers
from loyalty.errors import ApiError
from loyalty.ledger import SYSTEM, TransferSpec, create_transfer, get_transfer, member_account
from loyalty.schemas import CheckOut, FolioLine, RuleLine, StayCreate, StayView
from loyalty.services import benefits, folio, rules_adapter, sync_feed
from loyalty.services.agent import WIRE_TIERS
from loyalty.services.members import get_member, touch_activity
from loyalty.services.presence import derived_stay_secret_b64
from loyalty.services.tiers import qualification_totals, upgrade, year_window
from loyalty.webhooks import emit
from sync.wire import RoomKey, new_id


def _nights(row: Any) -> int:
    return max(1, int((row.departure.date() - row.arrival.date()).days))


def stay_missing(stay_id: str) -> ApiError:
    return ApiError(404, "stay_not_found", f"no stay {stay_id!r}", field="stay_id")


def get_stay(conn: Connection, stay_id: str) -> Any:
    row = conn.execute(select(stays).where(stays.c.id == stay_id)).first()
    if row is None:
        raise stay_missing(stay_id)
    return row


def stay_view(conn: Connection, row: Any, **extra: Any) -> StayView:
    pending = posted = 0
    if row.pending_transfer_id:
        held = get_transfer(conn, row.pending_transfer_id)
        pending = held.amount if held and row.status == "checked_in" else 0
    if row.status == "checked_out":
        t = transfers.c
        for code, amount in conn.execute(
            select(t.code, func.coalesce(func.sum(t.amount), 0))
            .where(t.reference == row.id, t.ledger == "points", t.flags.in_(("single", "post")))
            .group_by(t.code)
        ).all():
            posted += -int(amount) if code == folio.REVERSAL else int(amount)  # voided spends
    room_key = RoomKey.model_validate_json(row.room_key_json) if row.room_key_json else None
    return StayView(
        id=row.id,
        member_id=row.member_id,
        property_id=row.property_id,
        room_id=row.room_id,
        room_type=row.room_type,
        channel=row.channel,
        nightly_rate=Decimal(row.nightly_rate_minor) / 100,
        arrival=row.arrival,
        departure=row.departure,
        nights=row.nights,
        status=row.status,
        points_pending=pending,
        points_posted=posted,
        room_key=room_key,
        **extra,
    )


def book(conn: Connection, ctx: Context, body: StayCreate) -> str:
    get_member(conn, body.member_id)
    if body.departure <= body.arrival:
        raise ApiError(422, "invalid_dates", "departure must be after arrival", field="departure")
    if (body.departure - body.arrival).days > 365:
        raise ApiError(422, "invalid_dates", "a stay may not exceed 365 nights", field="departure")
    stay_id = new_id("s_")
    conn.execute(
        stays.insert().values(
            id=stay_id,
            member_id=body.member_id,
            property_id=body.property_id,
            room_id=body.room_id,
            room_type=body.room_type,
            channel=body.channel,
            nightly_rate_minor=int(body.nightly_rate * 100),
            arrival=body.arrival.astimezone(UTC),
            departure=body.departure.astimezone(UTC),
            nights=max(1, (body.departure.date() - body.arrival.date()).days),
            status="booked",
            created_at=ctx.clock.now(),
        )
    )
    frontdesk.stay_changed(conn, body.property_id, body.room_id, ctx.clock.now())
    if not benefits.refresh_stay(conn, ctx, stay_id, reason="booked"):
        sync_feed.stay_changed(conn, ctx, stay_id, "booked")  # the booked room hears of it
    benefits.refresh_room(conn, ctx, stay_id)
    return stay_id


def _require(row: Any, *allowed: str, action: str) -> None:
    if row.status not in allowed:
        raise ApiError(
            409,
            f"stay_already_{row.status}" if row.status != "booked" else "stay_not_checked_in",
            f"cannot {action}: the stay is {row.status.replace('_', ' ')}",
            field="status",
        )


def check_in(conn: Connection, ctx: Context, stay_id: str, room_id: str) -> list[RuleLine]:
    row = get_stay(conn, stay_id)
    member = get_member(conn, row.member_id, for_update=True)
    row = get_stay(conn, stay_id)  # re-read under the member's lock
    _require(row, "booked", action="check in")
    frontdesk.require_ready(conn, row.property_id, room_id)
    now = ctx.clock.now()
    estimate = rules_adapter.stay_earn(
        ctx.programme,
        tier=member.tier,
        check_in=row.arrival.date(),
        check_out=row.departure.date(),
        channel=row.channel,
        room_type=row.room_type,
        folio=[
            FolioLine(category="room", amount=Decimal(row.nightly_rate_minor * _nights(row)) / 100)
        ],
    )
    pending_id = None
    if estimate.points > 0:
        pending_id = new_id("t_")
        create_transfer(
            conn,
            TransferSpec(
                id=pending_id,
                ledger="points",
                debit=SYSTEM["points:issuance"],
                credit=member_account(member.pseudonym, "points"),
                amount=estimate.points,
                flags="pending",
                code="stay_pending",
                reference=stay_id,
                chain_owner=member.pseudonym,
            ),
            now=now,
        )
    key = _room_key(ctx, row, room_id, member.tier, now)
    conn.execute(
        update(stays)
        .where(stays.c.id == stay_id)
        .values(
            room_id=room_id,
            status="checked_in",
            checked_in_at=now,
            # Derived from the room's secret: the room can check it offline (issue 15).
            ble_secret_b64=derived_stay_secret_b64(conn, row.property_id, room_id, stay_id, now),
            pending_transfer_id=pending_id,
            room_key_json=key.model_dump_json(),
        )
    )
    frontdesk.stay_changed(conn, row.property_id, room_id, now)
    if row.room_id not in (None, room_id):
        frontdesk.stay_changed(conn, row.property_id, row.room_id, now)
    benefits.refresh_stay(conn, ctx, stay_id, reason="checked in", withdraw=False)
    # Checked in elsewhere than booked: the booked room hears the stay left it.
    sync_feed.stay_changed(conn, ctx, stay_id, "checked_in", old_room=row.room_id)
    benefits.refresh_room(conn, ctx, stay_id)
    return rules_adapter.breakdown_lines(estimate)


def _room_key(ctx: Context, row: Any, room_id: str, tier: str, now: datetime) -> RoomKey:
    return ctx.signer.sign(
        stay_id=row.id,
        property_id=row.property_id,
        room_id=room_id,
        not_before=min(now, row.arrival),
        not_after=max(row.departure, now),
        member_id=row.member_id,
        tier=tier if tier in WIRE_TIERS else None,
    )


def change_room(conn: Connection, ctx: Context, stay_id: str, room_id: str) -> None:
    """The front desk moves a guest (or re-assigns a booked stay's room). Checked in: the
    new room must be ready, the stay gets a room key and BLE secret for the new room, and
    the old room's key is revoked there (`stay_moves`, listed by that room's credentials
    until it expires). Both rooms hear `room_changed`: the old one drops the stay, its
    per-stay state and (when no other stay of theirs is left) the member's profile; the
    new one takes the stay with the member's preferences."""
    row = get_stay(conn, stay_id)
    member = get_member(conn, row.member_id, for_update=True)
    row = get_stay(conn, stay_id)
    _require(row, "booked", "checked_in", action="change the room")
    old = row.room_id
    if old == room_id:
        raise ApiError(409, "same_room", f"the stay is already in room {room_id}", field="room_id")
    now = ctx.clock.now()
    values: dict[str, Any] = {"room_id": room_id}
    if row.status == "checked_in":
        frontdesk.require_ready(conn, row.property_id, room_id)
        key = _room_key(ctx, row, room_id, member.tier, now)
        values.update(
            room_key_json=key.model_dump_json(),
            ble_secret_b64=derived_stay_secret_b64(conn, row.property_id, room_id, stay_id, now),
        )
    if old is not None:
        conn.execute(
            stay_moves.insert().values(
                id=new_id("mv_"),
                stay_id=stay_id,
                property_id=row.property_id,
                from_room=old,
                to_room=room_id,
                old_key_json=row.room_key_json,
                moved_at=now,
            )
        )
    conn.execute(update(stays).where(stays.c.id == stay_id).values(**values))
    if row.status == "checked_in":
        frontdesk.checked_out(conn, row.property_id, old, now)  # the room left needs service
    frontdesk.stay_changed(conn, row.property_id, old, now)
    frontdesk.stay_changed(conn, row.property_id, room_id, now)
    sync_feed.stay_changed(conn, ctx, stay_id, "room_changed", old_room=old)
    benefits.refresh_room(conn, ctx, stay_id)


def check_out(conn: Connection, ctx: Context, stay_id: str, body: CheckOut) -> list[RuleLine]:
    """Post the folio. Its lines are kept and reconciled with the spends the room already
    posted (`loyalty.services.folio`): the stay earns the rules over its distinct spends,
    the pending points are posted towards that and the rest credited (or, when the folio
    voids room spends that already earned, taken back)."""
    row = get_stay(conn, stay_id)
    member = get_member(conn, row.member_id, for_update=True)
    row = get_stay(conn, stay_id)
    _require(row, "checked_in", action="check out")
    now = ctx.clock.now()
    conn.execute(
        update(stays)
        .where(stays.c.id == stay_id)
        .values(
            status="checked_out", checked_out_at=now, ble_secret_b64=None, earn_tier=member.tier
        )
    )
    folio.record_folio(conn, stay_id, body.folio, now)
    row = get_stay(conn, stay_id)
    breakdown = folio.target(ctx, conn, row, member.tier, now)
    owner = member.pseudonym
    held_now = folio.holdings(conn, stay_id)
    due = breakdown.points - held_now["points"]
    held = get_transfer(conn, row.pending_transfer_id) if row.pending_transfer_id else None
    posted = 0
    if held is not None:
        posted = min(max(due, 0), held.amount)
        create_transfer(
            conn,
            TransferSpec(
                id=new_id("t_"),
                ledger="points",
                flags="post" if posted > 0 else "void",
                pending_id=held.id,
                amount=posted if posted > 0 else None,
                code="stay_post" if posted > 0 else "stay_void",
                reference=stay_id,
            ),
            now=now,
        )
    folio.post_difference(
        conn,
        stay_id,
        owner,
        "points",
        due - posted,
        transfer_id=new_id("t_"),
        code="stay_earn",
        now=now,
    )
    spend_due = folio.qualifying_minor(breakdown) - held_now["qualifying"]
    folio.post_difference(
        conn,
        stay_id,
        owner,
        "qualifying",
        spend_due,
        transfer_id=new_id("t_"),
        code="stay_spend",
        now=now,
    )
    points = breakdown.points
    create_transfer(
        conn,
        TransferSpec(
            id=new_id("t_"),
            ledger="nights",
            debit=SYSTEM["nights:issuance"],
            credit=member_account(owner, "nights"),
            amount=breakdown.qualifying_nights or _nights(row),
            code="stay_nights",
            reference=stay_id,
            chain_owner=owner,
        ),
        now=now,
    )
    frontdesk.checked_out(conn, row.property_id, row.room_id, now)
    if points > 0:
        data = {
            "member_id": member.id,
            "points": points,
            "code": "stay",
            "stay_id": stay_id,
            "property_id": row.property_id,
        }
        emit(conn, "points.posted", data, now=now)
    sync_feed.stay_changed(conn, ctx, stay_id, "checked_out")
    touch_activity(conn, member.id, now)
    upgrade_if_qualified(conn, ctx, member)
    return rules_adapter.breakdown_lines(breakdown)


def upgrade_if_qualified(conn: Connection, ctx: Context, member: Any) -> None:
    """Upgrades happen as soon as the member qualifies; downgrades only at year end."""
    start, end = year_window(ctx, ctx.clock.now().date())
    spend, nights, count = qualification_totals(conn, member.pseudonym, start, end)
    earned = rules_adapter.qualified_tier(ctx.programme, spend, nights, count)
    names = ctx.programme.tier_names
    if names.index(earned) > names.index(member.tier):
        upgrade(conn, ctx, member.id, member.tier, earned)


def cancel(conn: Connection, ctx: Context, stay_id: str, *, no_show: bool) -> None:
    row = get_stay(conn, stay_id)
    get_member(conn, row.member_id, for_update=True)
    row = get_stay(conn, stay_id)
    if no_show:
        _require(row, "booked", action="mark a no-show")
    else:
        _require(row, "booked", "checked_in", action="cancel")
    now = ctx.clock.now()
    if row.pending_transfer_id:
        create_transfer(
            conn,
            TransferSpec(
                id=new_id("t_"),
                ledger="points",
                flags="void",
                pending_id=row.pending_transfer_id,
                code="stay_void",
                reference=stay_id,
            ),
            now=now,
        )
    conn.execute(
        update(stays)
        .where(stays.c.id == stay_id)
        .values(status="no_show" if no_show else "cancelled", ble_secret_b64=None)
    )
    frontdesk.stay_changed(conn, row.property_id, row.room_id, now)
    benefits.withdraw_stay(
        conn, ctx, stay_id, reason="stay no-show" if no_show else "stay cancelled"
    )
    sync_feed.stay_changed(conn, ctx, stay_id, "cancelled")
