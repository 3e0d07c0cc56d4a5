"""Checking a signed room key offline: the service's Ed25519 signature (with the public key
the agent pinned), this property and room, the validity window, and the revocations the
agent knows of.

    verify_room_key(key, public_key, property_id="SHA-01", room_id="1201", now=now)
    # raises KeyRejected(reason) -- the reason names the problem, never a secret
"""

from __future__ import annotations

import base64
import binascii
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Literal

from sync.wire import RoomKey, room_key_payload

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

KeyReason = Literal[
    "bad_signature",
    "wrong_property",
    "wrong_room",
    "expired",
    "not_yet_valid",
    "revoked",
    "no_public_key",
    "stay_unknown_offline",
    "challenge_unknown",
    "challenge_expired",
    "bad_proof",
]
CLOCK_SKEW = timedelta(minutes=2)


class KeyRejected(Exception):
    def __init__(self, reason: KeyReason, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason, self.detail = reason, detail


def load_public_key(b64: str) -> Ed25519PublicKey:
    # cryptography (~6 MB resident) is imported by the first key the room actually checks,
    # not by every agent: a room without room keys or sealed secrets never loads it.
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    try:
        raw = base64.b64decode(b64, validate=True)
    except binascii.Error:
        raise ValueError("the room-signing public key is not base64") from None
    if len(raw) != 32:
        raise ValueError(f"the room-signing public key is {len(raw)} bytes, not 32")
    return Ed25519PublicKey.from_public_bytes(raw)


def verify_room_key(
    key: RoomKey,
    public_key: Ed25519PublicKey | None,
    *,
    property_id: str,
    room_id: str,
    now: datetime,
    skew: timedelta = CLOCK_SKEW,
) -> None:
    if public_key is None:
        raise KeyRejected("no_public_key", "this room has not pinned the service's key yet")
    from cryptography.exceptions import InvalidSignature

    try:
        signature = base64.b64decode(key.signature_b64, validate=True)
        public_key.verify(signature, room_key_payload(key))
    except (binascii.Error, InvalidSignature, ValueError):
        raise KeyRejected("bad_signature", "the signature does not verify") from None
    if key.property_id != property_id:
        raise KeyRejected("wrong_property", f"key is for property {key.property_id}")
    if key.room_id != room_id:
        raise KeyRejected("wrong_room", f"key is for room {key.room_id}")
    if now > key.not_after + skew:
        raise KeyRejected("expired", f"key expired at {key.not_after.isoformat()}")
    if now + skew < key.not_before:
        raise KeyRejected("not_yet_valid", f"key valid from {key.not_before.isoformat()}")
