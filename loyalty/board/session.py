"""Staff sign in to the board with their staff API key once; the tablet then holds a session
cookie (HttpOnly, SameSite=Strict, random, stored only as its sha256), not the key.

Only a staff key with a board profile (`loyalty board staff-add`) signs in: the profile
says which property the person sees and whether they are an attendant, a supervisor or the
front desk. Member, agent and admin keys are refused with 403.

    BOARD = BoardSession()          # a dependency, like Allow("staff")
    def page(request: Request, who: Principal = Depends(BOARD)): staff = staff_of(request)
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from fastapi import Request
from sqlalchemy import Connection, delete, insert, select

from loyalty.auth import Allow, Principal
from loyalty.board.workflow import Staff
from loyalty.db.board_tables import board_sessions, board_staff
from loyalty.db.tables import api_keys
from loyalty.errors import ApiError

COOKIE = "board_session"
LIFETIME = timedelta(hours=12)  # one shift and some
CSRF_HEADER = "x-board"  # a custom header: a cross-site form cannot send it


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def sign_in(conn: Connection, principal: Principal, now: datetime) -> tuple[str, Staff]:
    """A session for the key's owner (authenticated by the caller, outside this
    transaction: the key store reads on a connection of its own)."""
    if principal.role != "staff":
        raise ApiError(
            403,
            "forbidden",
            f"a {principal.role} key cannot sign in to the housekeeping board; use a staff key",
        )
    staff = load_staff(conn, principal.key_id)
    if staff is None:
        raise ApiError(
            403,
            "no_board_profile",
            "this staff key has no housekeeping profile (fix: loyalty board staff-add)",
        )
    token = secrets.token_urlsafe(32)
    conn.execute(delete(board_sessions).where(board_sessions.c.expires_at < now))
    conn.execute(
        insert(board_sessions).values(
            id_hash=_hash(token), staff_id=staff.id, created_at=now, expires_at=now + LIFETIME
        )
    )
    return token, staff


def sign_out(conn: Connection, token: str) -> None:
    conn.execute(delete(board_sessions).where(board_sessions.c.id_hash == _hash(token)))


def load_staff(conn: Connection, staff_id: str) -> Staff | None:
    row = conn.execute(select(board_staff).where(board_staff.c.id == staff_id)).first()
    if row is None:
        return None
    return Staff(id=row.id, property_id=row.property_id, name=row.name, role=row.role)


def _session_staff(conn: Connection, token: str, now: datetime) -> Staff | None:
    s, k = board_sessions.c, api_keys.c
    row = conn.execute(
        select(s.staff_id)
        .join(api_keys, k.id == s.staff_id)
        .where(s.id_hash == _hash(token), s.expires_at > now, k.revoked_at.is_(None))
    ).first()  # a revoked key ends its sessions too
    return load_staff(conn, row.staff_id) if row else None


class BoardSession(Allow):
    """The board's dependency: a valid session cookie of a staff member (role `staff`).
    Writes must also carry the `X-Board: 1` header."""

    def __init__(self) -> None:
        super().__init__("staff")

    async def __call__(self, request: Request) -> Principal:
        token = request.cookies.get(COOKIE)
        if not token or len(token) > 64:
            raise ApiError(401, "unauthenticated", "sign in to the board first")
        if request.method not in ("GET", "HEAD") and request.headers.get(CSRF_HEADER) != "1":
            raise ApiError(403, "forbidden", "board writes need the X-Board: 1 header")
        ctx = request.app.state.ctx
        with ctx.engine.connect() as conn:
            staff = _session_staff(conn, token, ctx.clock.now())
        if staff is None:
            raise ApiError(401, "unauthenticated", "the board session expired; sign in again")
        request.state.board_staff = staff
        return Principal(key_id=staff.id, role="staff", property_id=staff.property_id)


def staff_of(request: Request) -> Staff:
    staff: Staff = request.state.board_staff
    return staff
