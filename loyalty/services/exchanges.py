"""Points leaving a member: member-to-member transfers (annual cap) and partner
conversions (e.g. 3 points → 1 airline mile)."""

from __future__ import annotations

from datetime import UTC, datetime, time

from sqlalchemy import Connection, func, select

from loyalty.context import Context
from loyalty.db.tables import transfers
from loyalty.errors import ApiError
from loyalty.ledger import SYSTEM, TransferSpec, create_transfer, member_account
from loyalty.rules.periods import transfer_window
from loyalty.schemas import (
    ConversionRequest,
    ConversionResult,
    MemberTransferRequest,
    MemberTransferResult,
)
from loyalty.services import rules_adapter
from loyalty.services.members import get_member, member_balance, touch_activity
from sync.wire import new_id


def _need(available: int, points: int, field: str) -> None:
    if points > available:
        raise ApiError(
            409,
            "insufficient_points",
            f"{points} points needed; {available} available",
            field=field,
        )


def member_transfer(
    conn: Connection, ctx: Context, body: MemberTransferRequest
) -> MemberTransferResult:
    if body.from_member_id == body.to_member_id:
        raise ApiError(422, "same_member", "cannot transfer to oneself", field="to_member_id")
    sender = get_member(conn, body.from_member_id)
    receiver = get_member(conn, body.to_member_id)
    from loyalty.ledger import lock_owners

    lock_owners(conn, [sender.pseudonym, receiver.pseudonym])
    now = ctx.clock.now()
    start, end = transfer_window(now.date())
    t = transfers.c
    sent = int(
        conn.execute(
            select(func.coalesce(func.sum(t.amount), 0)).where(
                t.debit_account_id == member_account(sender.pseudonym, "points"),
                t.code == "member_transfer",
                t.created_at >= datetime.combine(start, time(0), tzinfo=UTC),
                t.created_at < datetime.combine(end, time(0), tzinfo=UTC),
            )
        ).scalar_one()
    )
    check = rules_adapter.transfer_allowed(
        ctx.programme,
        body.points,
        sent_this_year=sent,
        balance=member_balance(conn, sender.pseudonym).available,
    )
    transfer_id = new_id("t_")
    create_transfer(
        conn,
        TransferSpec(
            id=transfer_id,
            ledger="points",
            debit=member_account(sender.pseudonym, "points"),
            credit=member_account(receiver.pseudonym, "points"),
            amount=body.points,
            code="member_transfer",
            chain_owner=sender.pseudonym,
        ),
        now=now,
    )
    touch_activity(conn, sender.id, now)
    return MemberTransferResult(
        transfer_id=transfer_id,
        points=body.points,
        from_member_id=sender.id,
        to_member_id=receiver.id,
        sent_this_year=check.sent_this_year + check.points,
        annual_cap=check.annual_cap_points,
    )


def convert(conn: Connection, ctx: Context, body: ConversionRequest) -> ConversionResult:
    conversion = rules_adapter.partner_conversion(ctx.programme, body.partner, body.points)
    member = get_member(conn, body.member_id, for_update=True)
    _need(member_balance(conn, member.pseudonym).available, body.points, "points")
    now = ctx.clock.now()
    transfer_id = new_id("t_")
    create_transfer(
        conn,
        TransferSpec(
            id=transfer_id,
            ledger="points",
            debit=member_account(member.pseudonym, "points"),
            credit=SYSTEM["points:partners"],
            amount=body.points,
            code="partner_conversion",
            reference=body.partner,
            chain_owner=member.pseudonym,
        ),
        now=now,
    )
    touch_activity(conn, member.id, now)
    return ConversionResult(
        transfer_id=transfer_id,
        member_id=member.id,
        partner=body.partner,
        points=body.points,
        units=conversion.units,
        unit_name=conversion.unit_name,
    )
