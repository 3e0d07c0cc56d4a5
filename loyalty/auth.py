"""API keys and roles.

A key looks like `lk.<id>.<secret>`; only sha256(secret) is stored (the secret has 256 bits
of entropy, so a slow hash adds nothing) and compared in constant time. Keys are never
logged. Roles: `admin`, `staff`, `agent` (scoped to one property+room), `member` (scoped
to one member id), `loyalty` (the loyalty team: programme KPIs, experiments, webhooks).
Every route declares who may call it with `Allow(...)`:

    @router.get("/members/{member_id}")
    def read(member_id: str, who: Principal = Depends(Allow("admin", "staff", "member"))): ...

    key_id, plaintext = create_key(conn, role="agent", property_id="sh01", room_id="1208",
                                   now=clock.now())
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from fastapi import Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import Connection, Engine, select, update
from starlette.concurrency import run_in_threadpool

from loyalty.db.tables import api_keys, members
from loyalty.errors import ApiError

Role = Literal["admin", "staff", "agent", "member", "loyalty"]
ROLES: tuple[Role, ...] = ("admin", "staff", "agent", "member", "loyalty")


@dataclass(frozen=True)
class Principal:
    key_id: str
    role: Role
    property_id: str | None = None
    room_id: str | None = None
    member_id: str | None = None

    def require_member(self, member_id: str) -> None:
        """A member key may only touch its own member; other roles pass."""
        if self.role == "member" and self.member_id != member_id:
            raise ApiError(403, "forbidden", "a member key can only access its own member")

    def require_owner(self, member_id: str, missing: ApiError) -> None:
        """For a thing found by its own id (a stay, a redemption): a member key that does not
        own it gets `missing`, the very answer for an id that does not exist, so the answer
        never tells whether someone else's id exists."""
        if self.role == "member" and self.member_id != member_id:
            raise missing


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create_key(
    conn: Connection,
    *,
    role: Role,
    now: datetime,
    property_id: str | None = None,
    room_id: str | None = None,
    member_id: str | None = None,
    label: str | None = None,
) -> tuple[str, str]:
    """Store a new key (hashed) and return (key_id, plaintext). The plaintext is shown once."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    if role == "agent" and not (property_id and room_id):
        raise ValueError("an agent key needs --property and --room")
    if role == "member" and not member_id:
        raise ValueError("a member key needs --member")
    if role not in ("agent",) and (property_id or room_id):
        raise ValueError("only agent keys take --property/--room")
    if role != "member" and member_id:
        raise ValueError("only member keys take --member")
    if member_id is not None:
        known = conn.execute(
            select(members.c.id).where(members.c.id == member_id, members.c.erased_at.is_(None))
        ).first()
        if known is None:
            raise ValueError(f"no member {member_id!r} (or the member was erased)")
    key_id = secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    conn.execute(
        api_keys.insert().values(
            id=key_id,
            secret_hash=_hash(secret),
            role=role,
            property_id=property_id,
            room_id=room_id,
            member_id=member_id,
            label=label,
            created_at=now,
        )
    )
    return key_id, f"lk.{key_id}.{secret}"


def revoke_key(conn: Connection, key_id: str, now: datetime) -> bool:
    result = conn.execute(
        update(api_keys)
        .where(api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    return result.rowcount == 1


class KeyStore:
    """Looks keys up, with a short cache so the hot path does not query per request
    (a revoked key stops working within `ttl_s`)."""

    def __init__(self, engine: Engine, ttl_s: float = 10.0) -> None:
        self._engine = engine
        self._ttl = ttl_s
        self._cache: dict[str, tuple[float, str, Principal | None]] = {}
        self._lock = threading.Lock()

    def authenticate(self, token: str) -> Principal:
        parts = token.split(".")
        if len(parts) != 3 or parts[0] != "lk" or not parts[1] or not parts[2]:
            raise ApiError(401, "unauthenticated", "malformed API key (expected lk.<id>.<secret>)")
        key_id, secret = parts[1], parts[2]
        if len(key_id) > 32 or len(secret) > 128:
            raise ApiError(401, "unauthenticated", "malformed API key")
        entry = self._cache.get(key_id)
        if entry is None or entry[0] < time.monotonic():
            entry = self._load(key_id)
        _expires, secret_hash, principal = entry
        if principal is None or not hmac.compare_digest(secret_hash, _hash(secret)):
            raise ApiError(401, "unauthenticated", "unknown or revoked API key")
        return principal

    def cached(self, token: str) -> bool:
        """Whether `authenticate(token)` answers without the database (a malformed token, or
        a key looked up less than `ttl_s` ago)."""
        parts = token.split(".")
        if len(parts) != 3:
            return True
        entry = self._cache.get(parts[1])
        return entry is not None and entry[0] >= time.monotonic()

    def _load(self, key_id: str) -> tuple[float, str, Principal | None]:
        with self._engine.connect() as conn:
            row = conn.execute(select(api_keys).where(api_keys.c.id == key_id)).first()
        if row is None or row.revoked_at is not None:
            entry: tuple[float, str, Principal | None] = (
                time.monotonic() + self._ttl,
                "",
                None,
            )
        else:
            entry = (
                time.monotonic() + self._ttl,
                row.secret_hash,
                Principal(row.id, row.role, row.property_id, row.room_id, row.member_id),
            )
        with self._lock:
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[key_id] = entry
        return entry

    def forget(self, key_id: str) -> None:
        with self._lock:
            self._cache.pop(key_id, None)


_bearer = HTTPBearer(auto_error=False, description="Authorization: Bearer lk.<id>.<secret>")


class Allow:
    """A dependency that authenticates the caller and checks their role."""

    def __init__(self, *roles: Role) -> None:
        if not roles or any(r not in ROLES for r in roles):
            raise ValueError(f"roles must be among {ROLES}")
        self.roles = roles

    async def __call__(self, request: Request) -> Principal:
        credentials: HTTPAuthorizationCredentials | None = await _bearer(request)
        if credentials is None:
            raise ApiError(401, "unauthenticated", "send Authorization: Bearer <API key>")
        store: KeyStore = request.app.state.keys
        token = credentials.credentials
        if store.cached(token):
            principal = store.authenticate(token)
        else:
            # The lookup waits for a database connection: never on the event loop, where a
            # pool emptied by requests queued on row locks froze every request for the pool
            # timeout (30 s; found by the network chaos test, tests/sync/test_sync_chaos.py).
            principal = await run_in_threadpool(store.authenticate, token)
        if principal.role not in self.roles:
            raise ApiError(
                403,
                "forbidden",
                f"role {principal.role} may not call this; allowed: {', '.join(self.roles)}",
            )
        return principal
