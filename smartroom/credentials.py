"""The member-credential contract that central, the room agent and the member's app share.

Three HMAC-SHA256 constructions, each with its own label so a value made for one purpose is
never valid for another:

    secret = stay_secret(room_secret, stay_id)      # central at check-in; the agent offline
    eid = rotating_id(secret, window_of(now))       # the phone's BLE identifier (8 bytes)
    mac = key_proof(secret, nonce, key_id, room_id) # the app's answer to the agent's challenge

`room_secret` is one random 32-byte value per room, known only to central and to that
room's agent, so the agent can work out the secret of a stay it has not heard of yet (the
link to central is down) from the stay id in a signed room key, and nothing about any
other room. Pure functions, no I/O; docs/presence.md explains the scheme.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime

EID_PERIOD_S = 256  # 2^8 s: a new identifier every ~4 minutes (Eddystone-EID uses 2^K s)
EID_BYTES = 8
SECRET_MIN_BYTES = 16


def _mac(key: bytes, label: bytes, *parts: bytes) -> bytes:
    if len(key) < SECRET_MIN_BYTES:
        raise ValueError(f"a credential secret needs at least {SECRET_MIN_BYTES} bytes")
    return hmac.new(key, b"\0".join((label, *parts)), hashlib.sha256).digest()


def stay_secret(room_secret: bytes, stay_id: str) -> bytes:
    return _mac(room_secret, b"smartroom/stay-secret/1", stay_id.encode())


def window_of(at: datetime, period_s: int = EID_PERIOD_S) -> int:
    return int(at.timestamp()) // period_s


def rotating_id(secret: bytes, window: int) -> bytes:
    return _mac(secret, b"smartroom/eid/1", window.to_bytes(8, "big", signed=True))[:EID_BYTES]


def key_proof(secret: bytes, nonce: bytes, key_id: str, room_id: str) -> bytes:
    return _mac(secret, b"smartroom/key-proof/1", nonce, key_id.encode(), room_id.encode())
