"""The room's member credentials, kept in the agent store: the pinned room-signing key, the
room secret and the stay secrets (sealed with the device key), and the revocations.

    vault = CredentialVault(store)
    vault.put_room_credentials(creds)          # after each sync with central
    vault.stay_secret("s_abc"), vault.room_secret(), vault.revocation("s_abc")

Uses the store's connection (agent/store.py stays the only module that opens the file);
each write is one transaction.
"""

from __future__ import annotations

import base64

from agent.store import AgentStore, StoreError
from sync.wire import RoomCredentials

UNPIN_HINT = (
    "if the service key was rotated on purpose, run "
    "`smartroom-agent unpin-signing-key --config ROOM.toml` on this room"
)


class CredentialVault:
    def __init__(self, store: AgentStore) -> None:
        self.store = store
        self.db = store.db

    def stay_secret(self, stay_id: str) -> bytes | None:
        """The secret central sent with the stay, if any (else the caller derives it from
        the room secret)."""
        return self.store.sealed(f"stay:{stay_id}")

    def room_secret(self) -> bytes | None:
        return self.store.sealed("room")

    def pinned_signing_key(self) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = 'room_signing_key'").fetchone()
        return None if row is None else str(row[0])

    def put_room_credentials(self, creds: RoomCredentials) -> None:
        """Pin the service's room-signing key on first sight (a different key later is
        refused: re-pinning is an operator's decision), keep the room secret sealed, and
        replace the revocation list."""
        if not self.store.can_seal:
            raise StoreError("no device key: the agent cannot keep member credentials")
        pinned = self.pinned_signing_key()
        if pinned is not None and pinned != creds.signing_public_key_b64:
            raise StoreError(
                f"central offers a room-signing key other than the one this room pinned "
                f"(fix: {UNPIN_HINT})"
            )
        with self.db.atomic():
            self.db.execute(
                "INSERT OR IGNORE INTO meta (key, value) VALUES ('room_signing_key', ?)",
                [creds.signing_public_key_b64],
            )
            self.store.put_sealed("room", base64.b64decode(creds.room_secret_b64))
            self.db.execute("DELETE FROM revoked_keys")
            for revoked in creds.revoked:
                self.db.execute(
                    "INSERT OR REPLACE INTO revoked_keys (stay_id, not_after, reason) "
                    "VALUES (?, ?, ?)",
                    [revoked.stay_id, revoked.not_after.isoformat(), revoked.reason],
                )
                # A provisional stay central says is over leaves at once.
                self.db.execute(
                    "DELETE FROM stays WHERE stay_id = ? AND provisional = 1", [revoked.stay_id]
                )

    def unpin_signing_key(self) -> bool:
        with self.db.atomic():
            cursor = self.db.execute("DELETE FROM meta WHERE key = 'room_signing_key'")
        return bool(cursor.rowcount)

    def revocation(self, stay_id: str) -> str | None:
        row = self.db.execute(
            "SELECT reason FROM revoked_keys WHERE stay_id = ?", [stay_id]
        ).fetchone()
        return None if row is None else str(row[0])
