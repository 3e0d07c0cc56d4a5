"""The local API's presence endpoints (merged into agent/api.py's routes by the agent):

    POST /presence/challenge   -> {"nonce_b64", "expires_at", "property_id", "room_id"}
    POST /presence/key         KeyPresentation -> {"accepted": true, "provisional": bool}
                               403 {"detail": {"reason", "message"}} when refused

No bearer key: the signed room key and the proof are the credential. Each client address
gets a token bucket, checked before the body is read, so a flood costs the room a dict
lookup per request and a 429 (docs/presence.md).
"""

from __future__ import annotations

from agent.api import (
    Handler,
    HttpError,
    Receive,
    Reply,
    Scope,
    json_reply,
    parse_body,
    read_body,
)
from agent.presence.room_key import KeyRejected
from agent.presence.service import RoomPresence
from smartroom.clock import Clock
from sync.wire import KeyPresentation

MAX_PRESENTATION = 2048


def presence_routes(presence: RoomPresence, clock: Clock) -> dict[str, dict[str, Handler]]:
    def limit(scope: Scope) -> None:
        client = scope.get("client")
        address = str(client[0]) if client else "unknown"
        if not presence.limits.allow(address, clock.monotonic()):
            wait = max(1, round(presence.limits.retry_after_s(address)))
            raise HttpError(429, "too many requests; slow down", {"Retry-After": str(wait)})

    async def challenge(scope: Scope, receive: Receive, _p: dict[str, str]) -> Reply:
        limit(scope)
        await read_body(scope, receive, limit=256)
        nonce, expires = presence.desk.challenge()
        return json_reply(
            {
                "nonce_b64": nonce,
                "expires_at": expires,
                "property_id": presence.store.property_id,
                "room_id": presence.store.room_id,
            }
        )

    async def present(scope: Scope, receive: Receive, _p: dict[str, str]) -> Reply:
        limit(scope)
        body = parse_body(KeyPresentation, await read_body(scope, receive, MAX_PRESENTATION))
        try:
            accepted = presence.desk.present(body)
        except KeyRejected as exc:
            raise HttpError(403, {"reason": exc.reason, "message": exc.detail}) from None
        return json_reply({"accepted": True, "provisional": accepted.provisional})

    return {"/presence/challenge": {"POST": challenge}, "/presence/key": {"POST": present}}
