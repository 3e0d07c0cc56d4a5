"""The service's Ed25519 room-key signing key and signed room keys.

The key pair is generated on first start and kept in the database (`service_keys`), so
every worker signs with the same key; agents fetch the public key from
`GET /v1/keys/room-signing` and verify offline. The signature covers the canonical JSON
(sorted keys, no spaces, UTF-8) of every RoomKey field except `signature_b64`:

    payload = room_key_payload(key)     # bytes
    Ed25519PublicKey.from_public_bytes(pub).verify(base64.b64decode(key.signature_b64), payload)
"""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)
from sqlalchemy import Connection, select
from sqlalchemy.exc import IntegrityError

from loyalty.db.tables import service_keys
from sync.wire import RoomKey, new_id, room_key_payload

__all__ = ["PURPOSE", "RoomSigner", "room_key_payload"]

PURPOSE = "room-signing"


class RoomSigner:
    def __init__(self, key_id: str, private: Ed25519PrivateKey) -> None:
        self.key_id = key_id
        self._private = private

    @property
    def public_b64(self) -> str:
        raw = self._private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        return base64.b64encode(raw).decode()

    @classmethod
    def load_or_create(cls, conn: Connection, now: datetime) -> RoomSigner:
        row = conn.execute(select(service_keys).where(service_keys.c.purpose == PURPOSE)).first()
        if row is None:
            private = Ed25519PrivateKey.generate()
            raw = private.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
            key_id = new_id("rk_")
            try:
                with conn.begin_nested():
                    conn.execute(
                        service_keys.insert().values(
                            id=key_id,
                            purpose=PURPOSE,
                            private_b64=base64.b64encode(raw).decode(),
                            public_b64=base64.b64encode(
                                private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
                            ).decode(),
                            created_at=now,
                        )
                    )
                return cls(key_id, private)
            except IntegrityError:  # another worker created it first: use theirs
                row = conn.execute(
                    select(service_keys).where(service_keys.c.purpose == PURPOSE)
                ).one()
        private = Ed25519PrivateKey.from_private_bytes(base64.b64decode(row.private_b64))
        return cls(row.id, private)

    def sign(
        self,
        *,
        stay_id: str,
        property_id: str,
        room_id: str,
        not_before: datetime,
        not_after: datetime,
        member_id: str | None = None,
        tier: str | None = None,
    ) -> RoomKey:
        unsigned: dict[str, Any] = {
            "schema_version": 1,
            "key_id": new_id("key_"),
            "stay_id": stay_id,
            "property_id": property_id,
            "room_id": room_id,
            "not_before": not_before,
            "not_after": not_after,
            "member_id": member_id,
            "tier": tier,
        }
        # Round-trip through the model so the signed JSON is exactly what a reader re-dumps.
        draft = RoomKey.model_validate({**unsigned, "signature_b64": "A" * 88})
        signature = self._private.sign(room_key_payload(draft))
        return draft.model_copy(update={"signature_b64": base64.b64encode(signature).decode()})
