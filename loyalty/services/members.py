"""Members: create, read (balance, tier, progress), consents, export, erasure."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, select, update

from loyalty.context import Context
from loyalty.db.tables import api_keys, members, preferences, stays
from loyalty.errors import ApiError
from loyalty.ledger import (
    SYSTEM,
    TransferSpec,
    balance,
    create_transfer,
    lock_owners,
    member_account,
    open_member_accounts,
)
from loyalty.schemas import Balance, Consents, MemberCreate, MemberView
from sync.wire import new_id


def create_member(conn: Connection, ctx: Context, body: MemberCreate) -> str:
    now = ctx.clock.now()
    member_id = new_id("m_")
    pseudonym = new_id("p_")
    consent = body.consents.personalisation
    if not consent and (body.age_band or body.gender):
        raise ApiError(
            422,
            "consent_required",
            "age_band and gender are kept only with consents.personalisation = true",
            field="consents.personalisation",
        )
    conn.execute(
        members.insert().values(
            id=member_id,
            pseudonym=pseudonym,
            name=body.name,
            email=body.email,
            phone=body.phone,
            tier=ctx.lowest_tier,
            tier_state=json.dumps({"years_below": 0, "since": now.date().isoformat()}),
            consent_personalisation=consent,
            consent_marketing=body.consents.marketing,
            age_band=body.age_band,
            gender=body.gender,
            birthday=body.birthday,
            segments_json=json.dumps(sorted(set(body.segments))) if body.segments else None,
            created_at=now,
            last_activity_at=None,
        )
    )
    open_member_accounts(conn, pseudonym, now)
    return member_id


def get_member(conn: Connection, member_id: str, *, for_update: bool = False) -> Any:
    """The member's row; 404 if unknown or erased."""
    query = select(members).where(members.c.id == member_id)
    row = conn.execute(query).first()
    if row is None or row.erased_at is not None:
        raise ApiError(404, "member_not_found", f"no member {member_id!r}", field="member_id")
    if for_update:
        lock_owners(conn, [row.pseudonym])
    return row


def member_balance(conn: Connection, pseudonym: str) -> Balance:
    b = balance(conn, member_account(pseudonym, "points"))
    return Balance(
        points=b.posted, available=b.available, held=b.debits_pending, incoming=b.credits_pending
    )


def member_view(
    conn: Connection, ctx: Context, row: Any, *, with_progress: bool = True
) -> MemberView:
    from loyalty.services.tiers import progress_for

    return MemberView(
        id=row.id,
        tier=row.tier,
        balance=member_balance(conn, row.pseudonym),
        progress=progress_for(conn, ctx, row) if with_progress else None,
        consents=Consents(
            personalisation=row.consent_personalisation, marketing=row.consent_marketing
        ),
        name=row.name,
        email=row.email,
        phone=row.phone,
        age_band=row.age_band,
        gender=row.gender,
        birthday=row.birthday,
        segments=json.loads(row.segments_json) if row.segments_json else [],
        created_at=row.created_at,
    )


def set_consents(conn: Connection, ctx: Context, member_id: str, body: Consents) -> None:
    get_member(conn, member_id)
    values: dict[str, Any] = {
        "consent_personalisation": body.personalisation,
        "consent_marketing": body.marketing,
    }
    if not body.personalisation:
        # Withdrawing consent deletes what it covered (PIPL art. 15/47).
        values |= {"age_band": None, "gender": None}
    conn.execute(update(members).where(members.c.id == member_id).values(**values))


def touch_activity(conn: Connection, member_id: str, now: datetime) -> None:
    conn.execute(update(members).where(members.c.id == member_id).values(last_activity_at=now))


def erase_member(conn: Connection, ctx: Context, member_id: str) -> tuple[datetime, int]:
    """Erase personal data; forfeit the balance to breakage; keep the ledger verifiable.

    The ledger holds only the pseudonym; after erasure nothing links it to a person (the
    member row keeps its random id and an erased_at stamp, every personal column is
    cleared, preferences and the member's API keys are deleted)."""
    from loyalty.services.redemptions import void_member_holds

    row = get_member(conn, member_id, for_update=True)
    now = ctx.clock.now()
    void_member_holds(conn, ctx, row)
    points = balance(conn, member_account(row.pseudonym, "points")).available
    if points > 0:
        create_transfer(
            conn,
            TransferSpec(
                id=new_id("t_"),
                ledger="points",
                debit=member_account(row.pseudonym, "points"),
                credit=SYSTEM["points:breakage"],
                amount=points,
                code="erasure_forfeit",
                chain_owner=row.pseudonym,
            ),
            now=now,
        )
    conn.execute(delete(preferences).where(preferences.c.member_id == member_id))
    conn.execute(delete(api_keys).where(api_keys.c.member_id == member_id))
    conn.execute(update(stays).where(stays.c.member_id == member_id).values(ble_secret_b64=None))
    conn.execute(
        update(members)
        .where(members.c.id == member_id)
        .values(
            pseudonym=None,
            name=None,
            email=None,
            phone=None,
            age_band=None,
            gender=None,
            birthday=None,
            segments_json=None,
            consent_personalisation=False,
            consent_marketing=False,
            erased_at=now,
        )
    )
    return now, points
