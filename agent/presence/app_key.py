"""The app path: challenge, then the signed room key with a proof made with the stay secret.

    desk = KeyDesk(hub, clock, wallet, property_id="SHA-01", room_id="1201")
    nonce_b64, expires = desk.challenge()
    accepted = desk.present(KeyPresentation(room_key=key, nonce_b64=..., proof_b64=...))

Order of checks: the challenge is consumed first (single use, whatever follows), then the
key (Ed25519 signature with the pinned public key, property, room, validity window), then
the revocations this room knows of, then the proof (HMAC-SHA256 with the stay secret over
nonce, key id and room, compared in constant time). A good key for a stay the room has not
heard of (central unreachable) is taken in as a provisional stay, made from the signed
fields only, and reconciled when sync answers. Each refusal is logged with its reason and
the key id (a public, random identifier), never the proof, nonce or any secret.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from agent.presence.challenge import ChallengeBook
from agent.presence.hub import PresenceHub, PresenceSignal
from agent.presence.metrics import PresenceMetrics
from agent.presence.room_key import KeyRejected, verify_room_key
from smartroom.clock import Clock
from smartroom.credentials import key_proof
from smartroom.log import get_logger
from sync.wire import KeyPresentation, RoomKey, StayAssignment

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

log = get_logger("agent.presence.app_key")


class Wallet(Protocol):
    """What the room knows about credentials (backed by the agent store)."""

    def public_key(self) -> Ed25519PublicKey | None: ...

    def secret_for(self, stay_id: str) -> bytes | None: ...

    def revocation(self, stay_id: str) -> str | None: ...

    def knows(self, stay_id: str) -> bool: ...

    def take_in(self, stay: StayAssignment, secret: bytes) -> None: ...


@dataclass(frozen=True, slots=True)
class Accepted:
    stay_id: str
    provisional: bool  # True: the room had not heard of the stay; sync will reconcile it


def _b64(value: str, what: str) -> bytes:
    try:
        return base64.b64decode(value + "=" * (-len(value) % 4), altchars=b"-_", validate=True)
    except (binascii.Error, ValueError):
        raise KeyRejected("bad_proof", f"{what} is not base64") from None


def provisional_stay(key: RoomKey) -> StayAssignment | None:
    """A stay made only of what the service signed; None for an older key without the
    member (the room then waits for sync)."""
    if key.member_id is None or key.tier is None:
        return None
    return StayAssignment(
        stay_id=key.stay_id,
        member_id=key.member_id,
        property_id=key.property_id,
        room_id=key.room_id,
        tier=key.tier,
        arrival=key.not_before,
        departure=key.not_after,
        status="checked_in",
    )


class KeyDesk:
    def __init__(
        self,
        hub: PresenceHub,
        clock: Clock,
        wallet: Wallet,
        *,
        property_id: str,
        room_id: str,
        challenges: ChallengeBook | None = None,
        metrics: PresenceMetrics | None = None,
    ) -> None:
        self.hub, self.clock, self.wallet = hub, clock, wallet
        self.property_id, self.room_id = property_id, room_id
        self.challenges = challenges or ChallengeBook()
        self.metrics = metrics or PresenceMetrics()

    def challenge(self) -> tuple[str, datetime]:
        nonce, expires = self.challenges.issue(self.clock.now())
        return base64.urlsafe_b64encode(nonce).decode().rstrip("="), expires

    def present(self, presentation: KeyPresentation) -> Accepted:
        key = presentation.room_key
        try:
            accepted = self._check(presentation)
        except KeyRejected as exc:
            self.metrics.keys.labels(outcome=exc.reason).inc()
            log.warning("room_key_refused", reason=exc.reason, detail=exc.detail, key_id=key.key_id)
            raise
        self.metrics.keys.labels(outcome="accepted").inc()
        log.info("room_key_accepted", key_id=key.key_id, provisional=accepted.provisional)
        self.hub.report(
            PresenceSignal(stay_id=key.stay_id, present=True, via="room_key", at=self.clock.now())
        )
        return accepted

    def _check(self, presentation: KeyPresentation) -> Accepted:
        now = self.clock.now()
        key = presentation.room_key
        nonce = _b64(presentation.nonce_b64, "nonce_b64")
        self.challenges.redeem(nonce, now)
        verify_room_key(
            key,
            self.wallet.public_key(),
            property_id=self.property_id,
            room_id=self.room_id,
            now=now,
        )
        reason = self.wallet.revocation(key.stay_id)
        if reason is not None:
            raise KeyRejected("revoked", f"central revoked this stay's key ({reason})")
        secret = self.wallet.secret_for(key.stay_id)
        if secret is None:
            raise KeyRejected(
                "stay_unknown_offline",
                "the room has neither this stay nor its room secret yet; it needs one sync",
            )
        expected = key_proof(secret, nonce, key.key_id, self.room_id)
        if not hmac.compare_digest(expected, _b64(presentation.proof_b64, "proof_b64")):
            raise KeyRejected("bad_proof", "the proof was not made with this stay's secret")
        if self.wallet.knows(key.stay_id):
            return Accepted(key.stay_id, provisional=False)
        stay = provisional_stay(key)
        if stay is None:
            raise KeyRejected(
                "stay_unknown_offline", "an older key without its member; the room needs a sync"
            )
        self.wallet.take_in(stay, secret)
        return Accepted(key.stay_id, provisional=True)
