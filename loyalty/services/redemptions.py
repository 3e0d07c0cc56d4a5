"""Award redemptions: quote (dynamic price), hold (pending transfer with a timeout),
confirm (post), cancel (void, or refund once confirmed), expire holds."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, select, update

from loyalty.context import Context
from loyalty.db.tables import members, redemptions
from loyalty.errors import ApiError
from loyalty.ledger import SYSTEM, TransferSpec, create_transfer, member_account
from loyalty.rules.errors import RulesError
from loyalty.rules.redemption import RedemptionQuote, quote_redemption
from loyalty.schemas import (
    Quote,
    QuoteOption,
    QuoteRequest,
    RedeemRequest,
    RedemptionView,
    RuleLine,
)
from loyalty.services.calendar import check_award_nights, property_today
from loyalty.services.members import get_member, member_balance, touch_activity
from loyalty.webhooks import emit
from sync.wire import new_id


def _price(ctx: Context, body: QuoteRequest, available: int | None) -> RedemptionQuote:
    nights = [body.check_in + timedelta(days=i) for i in range(body.nights)]
    try:
        return quote_redemption(
            ctx.programme, body.cash_rate, nights, body.occupancy_forecast, balance=available
        )
    except RulesError as exc:
        field = {"below_minimum": "nights", "bad_cash_rate": "cash_rate"}.get(exc.code, "nights")
        status = 409 if exc.code == "insufficient_points" else 422
        raise ApiError(status, exc.code, str(exc), field=field) from None


def quote(conn: Connection, ctx: Context, body: QuoteRequest) -> Quote:
    member = get_member(conn, body.member_id)
    check_award_nights(conn, ctx, body.property_id, body.check_in, body.nights)
    available = member_balance(conn, member.pseudonym).available
    priced = _price(ctx, body, None)
    return Quote(
        member_id=member.id,
        points=priced.total_points,
        cash_equivalent=priced.cash_value,
        options=[QuoteOption(points=o.points, cash=o.cash) for o in priced.options],
        breakdown=[
            RuleLine(rule=str(n.night), points=n.points, detail=n.explanation[:256])
            for n in priced.nights
        ],
        available=available,
    )


def view(row: Any) -> RedemptionView:
    return RedemptionView(
        id=row.id,
        member_id=row.member_id,
        property_id=row.property_id,
        check_in=row.check_in,
        nights=row.nights,
        points=row.points,
        cash=Decimal(row.cash_minor) / 100,
        status=row.status,
        hold_until=row.hold_until,
        transfer_id=row.transfer_id,
    )


def hold(conn: Connection, ctx: Context, body: RedeemRequest) -> RedemptionView:
    member = get_member(conn, body.member_id, for_update=True)
    check_award_nights(conn, ctx, body.property_id, body.check_in, body.nights)
    priced = _price(ctx, body, None)
    points, cash = priced.total_points, Decimal(0)
    if body.option_points is not None:
        chosen = [o for o in priced.options if o.points == body.option_points]
        if not chosen:
            raise ApiError(
                422,
                "unknown_option",
                f"{body.option_points} points is not one of the quoted points+cash options",
                field="option_points",
            )
        points, cash = chosen[0].points, chosen[0].cash
    available = member_balance(conn, member.pseudonym).available
    if points > available:
        raise ApiError(
            409,
            "insufficient_points",
            f"this award needs {points} points; {available} are available",
            field="option_points" if body.option_points else "nights",
        )
    now = ctx.clock.now()
    transfer_id = new_id("t_")
    create_transfer(
        conn,
        TransferSpec(
            id=transfer_id,
            ledger="points",
            debit=member_account(member.pseudonym, "points"),
            credit=SYSTEM["points:redemption"],
            amount=points,
            flags="pending",
            timeout_s=ctx.settings.hold_timeout_s,
            code="redeem_hold",
            chain_owner=member.pseudonym,
        ),
        now=now,
    )
    redemption_id = new_id("r_")
    conn.execute(
        redemptions.insert().values(
            id=redemption_id,
            member_id=member.id,
            property_id=body.property_id,
            check_in=body.check_in.isoformat(),
            nights=body.nights,
            points=points,
            cash_minor=int(cash * 100),
            status="held",
            transfer_id=transfer_id,
            hold_until=now + timedelta(seconds=ctx.settings.hold_timeout_s),
            created_at=now,
        )
    )
    return get_view(conn, redemption_id)


def _get(conn: Connection, redemption_id: str) -> Any:
    row = conn.execute(select(redemptions).where(redemptions.c.id == redemption_id)).first()
    if row is None:
        raise missing(redemption_id)
    return row


def missing(redemption_id: str) -> ApiError:
    return ApiError(404, "redemption_not_found", f"no redemption {redemption_id!r}")


def get_view(conn: Connection, redemption_id: str) -> RedemptionView:
    return view(_get(conn, redemption_id))


def confirm(conn: Connection, ctx: Context, redemption_id: str) -> RedemptionView:
    row = _get(conn, redemption_id)
    member = get_member(conn, row.member_id, for_update=True)
    row = _get(conn, redemption_id)
    now = ctx.clock.now()
    if row.status == "held" and now >= row.hold_until:
        raise ApiError(409, "hold_expired", f"the hold expired at {row.hold_until.isoformat()}")
    if row.status != "held":
        raise ApiError(409, f"redemption_{row.status}", f"the redemption is {row.status}")
    today = property_today(conn, ctx, row.property_id)
    if date.fromisoformat(row.check_in) < today:
        raise ApiError(
            409,
            "check_in_passed",
            f"the award's check-in {row.check_in} is before today at {row.property_id} "
            f"({today}); cancel the hold instead",
        )
    create_transfer(
        conn,
        TransferSpec(
            id=new_id("t_"),
            ledger="points",
            flags="post",
            pending_id=row.transfer_id,
            code="redeem_post",
            reference=row.id,
        ),
        now=now,
    )
    conn.execute(update(redemptions).where(redemptions.c.id == row.id).values(status="confirmed"))
    data = {
        "member_id": member.id,
        "redemption_id": row.id,
        "property_id": row.property_id,
        "check_in": row.check_in,
        "nights": row.nights,
        "points": row.points,
        "cash": str(Decimal(row.cash_minor) / 100),
    }
    emit(conn, "redemption.booked", data, now=now)
    touch_activity(conn, member.id, now)
    return get_view(conn, row.id)


def _void(conn: Connection, ctx: Context, row: Any, status: str) -> None:
    create_transfer(
        conn,
        TransferSpec(
            id=new_id("t_"),
            ledger="points",
            flags="void",
            pending_id=row.transfer_id,
            code="redeem_void",
            reference=row.id,
        ),
        now=ctx.clock.now(),
    )
    conn.execute(update(redemptions).where(redemptions.c.id == row.id).values(status=status))


def cancel(conn: Connection, ctx: Context, redemption_id: str) -> RedemptionView:
    row = _get(conn, redemption_id)
    member = get_member(conn, row.member_id, for_update=True)
    row = _get(conn, redemption_id)
    if row.status == "held":
        _void(conn, ctx, row, "cancelled")
    elif row.status == "confirmed":
        create_transfer(
            conn,
            TransferSpec(
                id=new_id("t_"),
                ledger="points",
                debit=SYSTEM["points:redemption"],
                credit=member_account(member.pseudonym, "points"),
                amount=row.points,
                code="redeem_refund",
                reference=row.id,
                chain_owner=member.pseudonym,
            ),
            now=ctx.clock.now(),
        )
        conn.execute(
            update(redemptions).where(redemptions.c.id == row.id).values(status="refunded")
        )
    else:
        raise ApiError(409, f"redemption_{row.status}", f"the redemption is already {row.status}")
    return get_view(conn, row.id)


def void_member_holds(conn: Connection, ctx: Context, member: Any) -> None:
    for row in conn.execute(
        select(redemptions).where(
            redemptions.c.member_id == member.id, redemptions.c.status == "held"
        )
    ).all():
        _void(conn, ctx, row, "cancelled")


def expire_holds(conn: Connection, ctx: Context, as_of: datetime) -> int:
    """Void every hold past its timeout (the job; confirm also refuses expired holds)."""
    rows = conn.execute(
        select(redemptions).where(redemptions.c.status == "held", redemptions.c.hold_until <= as_of)
    ).all()
    pseudonyms = conn.execute(
        select(members.c.pseudonym).where(members.c.id.in_({r.member_id for r in rows}))
    ).scalars()
    from loyalty.ledger import lock_owners

    lock_owners(conn, [p for p in pseudonyms if p])
    for row in rows:
        _void(conn, ctx, row, "expired")
    return len(rows)
