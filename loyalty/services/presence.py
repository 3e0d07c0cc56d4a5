"""Member credentials (issue 15): each room's secret, the stay secrets derived from it, what
a member's app receives after check-in and what a room's agent needs to check them offline.

    secret = room_secret(conn, "SHA-01", "1201", now)          # created on first use
    member_credentials(conn, ctx, member_id)                   # the app: key + stay secret
    room_credentials(conn, ctx, principal)                     # the agent: pubkey, room
                                                               # secret, revocations
"""

from __future__ import annotations

import base64
import secrets
from datetime import datetime, timedelta

from sqlalchemy import Connection, select
from sqlalchemy.exc import IntegrityError

from loyalty.auth import Principal
from loyalty.context import Context
from loyalty.db.tables import room_secrets, stay_moves, stays
from smartroom.credentials import EID_PERIOD_S, stay_secret
from sync.wire import MemberCredential, RevokedKey, RoomCredentials, RoomKey

ENDED = ("cancelled", "checked_out", "no_show")
SKEW = timedelta(minutes=5)  # revocations outlive a key's end by the agent's clock tolerance


def room_secret(conn: Connection, property_id: str, room_id: str, now: datetime) -> bytes:
    t = room_secrets.c
    where = (t.property_id == property_id) & (t.room_id == room_id)
    row = conn.execute(select(t.secret_b64).where(where)).first()
    if row is None:
        value = base64.b64encode(secrets.token_bytes(32)).decode()
        try:
            with conn.begin_nested():
                conn.execute(
                    room_secrets.insert().values(
                        property_id=property_id, room_id=room_id, secret_b64=value, created_at=now
                    )
                )
        except IntegrityError:  # another worker made it first: use theirs
            pass
        row = conn.execute(select(t.secret_b64).where(where)).one()
    return base64.b64decode(row.secret_b64)


def derived_stay_secret_b64(
    conn: Connection, property_id: str, room_id: str, stay_id: str, now: datetime
) -> str:
    secret = stay_secret(room_secret(conn, property_id, room_id, now), stay_id)
    return base64.b64encode(secret).decode()


def member_credentials(conn: Connection, member_id: str) -> list[MemberCredential]:
    rows = conn.execute(
        select(stays.c.room_key_json, stays.c.ble_secret_b64)
        .where(
            stays.c.member_id == member_id,
            stays.c.status == "checked_in",
            stays.c.room_key_json.is_not(None),
            stays.c.ble_secret_b64.is_not(None),
        )
        .order_by(stays.c.arrival)
    ).all()
    return [
        MemberCredential(
            room_key=RoomKey.model_validate_json(r.room_key_json),
            stay_secret_b64=r.ble_secret_b64,
            eid_period_s=EID_PERIOD_S,
        )
        for r in rows
    ]


def moved_out(conn: Connection, property_id: str, room_id: str, now: datetime) -> list[RevokedKey]:
    """Keys of stays moved out of this room (and not back into it), until they expire."""
    m = stay_moves.c
    rows = conn.execute(
        select(m.stay_id, m.old_key_json, stays.c.room_id)
        .join(stays, stays.c.id == m.stay_id)
        .where(m.property_id == property_id, m.from_room == room_id, m.old_key_json.is_not(None))
    ).all()
    out: dict[str, RevokedKey] = {}
    for stay_id, old_key, current_room in rows:
        key = RoomKey.model_validate_json(old_key)
        if current_room != room_id and key.not_after + SKEW >= now:
            out[stay_id] = RevokedKey(stay_id=stay_id, not_after=key.not_after, reason="moved")
    return list(out.values())


def room_credentials(conn: Connection, ctx: Context, principal: Principal) -> RoomCredentials:
    assert principal.property_id is not None and principal.room_id is not None
    now = ctx.clock.now()
    rows = conn.execute(
        select(stays.c.id, stays.c.status, stays.c.room_key_json).where(
            stays.c.property_id == principal.property_id,
            stays.c.room_id == principal.room_id,
            stays.c.status.in_(ENDED),
            stays.c.room_key_json.is_not(None),
        )
    ).all()
    revoked = []
    for r in rows:
        key = RoomKey.model_validate_json(r.room_key_json)
        if key.not_after + SKEW >= now:
            revoked.append(RevokedKey(stay_id=r.id, not_after=key.not_after, reason=r.status))
    revoked.extend(moved_out(conn, principal.property_id, principal.room_id, now))
    secret = room_secret(conn, principal.property_id, principal.room_id, now)
    return RoomCredentials(
        signing_key_id=ctx.signer.key_id,
        signing_public_key_b64=ctx.signer.public_b64,
        room_secret_b64=base64.b64encode(secret).decode(),
        revoked=revoked,
    )
