"""The app path's core: room-key verification, challenge/proof, revocation, offline take-in,
rate limits, sealed secrets at rest, and the attacks on it."""

from __future__ import annotations

import base64
import os
import stat
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from structlog.testing import capture_logs

from agent.presence import PresenceHub, PresenceSignal
from agent.presence.app_key import KeyDesk
from agent.presence.challenge import ChallengeBook
from agent.presence.config import PresenceSection
from agent.presence.ratelimit import RateLimiter
from agent.presence.room_key import KeyRejected
from agent.presence.sealing import Sealer, SealError
from agent.presence.service import RoomPresence
from agent.store import AgentStore
from smartroom.clock import FakeClock
from smartroom.credentials import key_proof, stay_secret
from sync.wire import (
    KeyPresentation,
    RevokedKey,
    RoomCredentials,
    RoomKey,
    StayAssignment,
    room_key_payload,
)

PROPERTY, ROOM = "SHA-01", "1201"
ROOM_SECRET = os.urandom(32)
SIGNER = Ed25519PrivateKey.generate()
PUBLIC_B64 = base64.b64encode(
    SIGNER.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
).decode()


def sign(clock: FakeClock, signer: Ed25519PrivateKey = SIGNER, **fields: object) -> RoomKey:
    now = clock.now()
    data: dict[str, object] = {
        "key_id": "key_0123456789",
        "stay_id": "s_guest_0001",
        "property_id": PROPERTY,
        "room_id": ROOM,
        "not_before": now - timedelta(hours=1),
        "not_after": now + timedelta(days=2),
        "member_id": "m_member_0001",
        "tier": "gold",
        **fields,
    }
    draft = RoomKey.model_validate({**data, "signature_b64": "A" * 88})
    signature = base64.b64encode(signer.sign(room_key_payload(draft))).decode()
    return draft.model_copy(update={"signature_b64": signature})


class Room:
    def __init__(self, tmp_path: Path, clock: FakeClock) -> None:
        self.clock = clock
        self.sealer = Sealer.from_file(tmp_path / "device.key")
        self.store = AgentStore(
            tmp_path / "agent.db",
            clock=clock,
            property_id=PROPERTY,
            room_id=ROOM,
            sealer=self.sealer,
        )
        self.hub = PresenceHub()
        self.seen: list[PresenceSignal] = []
        self.hub.subscribe(self.seen.append)
        self.stays_changes = 0
        self.presence = RoomPresence(
            PresenceSection(), self.store, self.hub, clock, on_stays_changed=self._changed
        )
        self.desk: KeyDesk = self.presence.desk

    def _changed(self) -> None:
        self.stays_changes += 1

    def sync(self, revoked: list[RevokedKey] | None = None, stays: bool = True) -> None:
        now = self.clock.now()
        if stays:
            self.store.replace_stays(
                [
                    StayAssignment(
                        stay_id="s_guest_0001",
                        member_id="m_member_0001",
                        property_id=PROPERTY,
                        room_id=ROOM,
                        tier="gold",
                        arrival=now - timedelta(hours=1),
                        departure=now + timedelta(days=2),
                        status="checked_in",
                        ble_secret_b64=base64.b64encode(
                            stay_secret(ROOM_SECRET, "s_guest_0001")
                        ).decode(),
                    )
                ]
            )
        self.presence.wallet.vault.put_room_credentials(
            RoomCredentials(
                signing_key_id="rk_0123456789",
                signing_public_key_b64=PUBLIC_B64,
                room_secret_b64=base64.b64encode(ROOM_SECRET).decode(),
                revoked=revoked or [],
            )
        )
        self.presence.refresh()

    def answer(
        self, key: RoomKey, secret: bytes | None = None, nonce_b64: str | None = None
    ) -> KeyPresentation:
        if nonce_b64 is None:
            nonce_b64, _ = self.desk.challenge()
        nonce = base64.urlsafe_b64decode(nonce_b64 + "=" * (-len(nonce_b64) % 4))
        secret = secret or stay_secret(ROOM_SECRET, key.stay_id)
        proof = key_proof(secret, nonce, key.key_id, ROOM)
        return KeyPresentation(
            room_key=key,
            nonce_b64=nonce_b64,
            proof_b64=base64.b64encode(proof).decode(),
        )


@pytest.fixture
def room(tmp_path: Path, clock: FakeClock) -> Room:
    return Room(tmp_path, clock)


def refused(room: Room, presentation: KeyPresentation) -> tuple[str, str]:
    with capture_logs() as logs, pytest.raises(KeyRejected) as caught:
        room.desk.present(presentation)
    line = next(e for e in logs if e["event"] == "room_key_refused")
    text = str(line)
    # The line helps staff (reason, key id) and carries no proof, nonce or secret.
    assert line["reason"] == caught.value.reason and line["key_id"]
    assert presentation.proof_b64 not in text and presentation.nonce_b64 not in text
    assert base64.b64encode(ROOM_SECRET).decode() not in text
    assert room.seen == []
    return caught.value.reason, text


def test_good_key_with_fresh_proof_is_the_member(room: Room) -> None:
    room.sync()
    accepted = room.desk.present(room.answer(sign(room.clock)))
    assert accepted.stay_id == "s_guest_0001" and not accepted.provisional
    assert [(s.stay_id, s.present, s.via) for s in room.seen] == [
        ("s_guest_0001", True, "room_key")
    ]


def test_offline_room_takes_in_a_stay_it_never_heard_of(room: Room) -> None:
    room.sync(stays=False)  # the room knows its secret and the service key, not this stay
    accepted = room.desk.present(room.answer(sign(room.clock)))
    assert accepted.provisional and room.stays_changes == 1
    [stay] = room.store.stays()
    assert (stay.stay_id, stay.member_id, stay.tier, stay.status) == (
        "s_guest_0001",
        "m_member_0001",
        "gold",
        "checked_in",
    )
    assert room.store.provisional_stays() == ["s_guest_0001"]
    # Its BLE identifier now resolves too.
    assert [c.ref for c in room.presence.ble.resolver.candidates] == ["s_guest_0001"]
    room.sync()  # central answers: reconciled, no longer provisional
    assert room.store.provisional_stays() == []


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"room_id": "1202"}, "wrong_room"),
        ({"property_id": "PEK-02"}, "wrong_property"),
        ({"not_after_days": -1}, "expired"),
        ({"not_before_days": 1}, "not_yet_valid"),
    ],
)
def test_attack_key_for_another_room_expired_or_not_yet_valid(
    room: Room, fields: dict[str, object], reason: str
) -> None:
    room.sync()
    now = room.clock.now()
    if "not_after_days" in fields:
        fields = {"not_before": now - timedelta(days=3), "not_after": now - timedelta(hours=1)}
    elif "not_before_days" in fields:
        fields = {"not_before": now + timedelta(days=1), "not_after": now + timedelta(days=3)}
    assert refused(room, room.answer(sign(room.clock, **fields)))[0] == reason


def test_attack_forged_or_altered_signature(room: Room) -> None:
    room.sync()
    forged = sign(room.clock, signer=Ed25519PrivateKey.generate())
    assert refused(room, room.answer(forged))[0] == "bad_signature"
    good = sign(room.clock)
    for change in (
        {"room_id": "1201"},  # unchanged field, then the ones an attacker would move
        {"not_after": good.not_after + timedelta(days=30)},
        {"stay_id": "s_guest_0002"},
        {"tier": "diamond"},
    ):
        altered = good.model_copy(update=change)
        if altered == good:
            continue
        assert refused(room, room.answer(altered))[0] == "bad_signature"
    garbage = good.model_copy(update={"signature_b64": "!" * 88})
    assert refused(room, room.answer(garbage))[0] == "bad_signature"


def test_attack_replayed_or_late_challenge_response(room: Room) -> None:
    room.sync()
    answer = room.answer(sign(room.clock))
    room.desk.present(answer)
    room.seen.clear()
    assert refused(room, answer)[0] == "challenge_unknown"  # replayed
    late = room.answer(sign(room.clock))
    room.clock.advance(31)
    assert refused(room, late)[0] == "challenge_expired"
    made_up = room.answer(sign(room.clock), nonce_b64=base64.b64encode(os.urandom(16)).decode())
    assert refused(room, made_up)[0] == "challenge_unknown"


def test_attack_proof_without_the_stay_secret(room: Room) -> None:
    room.sync()
    stolen_key = sign(room.clock)  # a screenshot of the key, without the phone's secret
    reason, _ = refused(room, room.answer(stolen_key, secret=os.urandom(32)))
    assert reason == "bad_proof"


def test_attack_key_of_a_stay_cancelled_while_the_room_was_offline(room: Room) -> None:
    room.sync(stays=False)
    key = sign(room.clock)
    assert room.desk.present(room.answer(key)).provisional  # offline: the key is honoured
    room.seen.clear()
    # Sync returns: central says the stay was cancelled while the room was offline.
    room.sync(
        stays=False,
        revoked=[RevokedKey(stay_id=key.stay_id, not_after=key.not_after, reason="cancelled")],
    )
    assert room.store.stays() == []  # the provisional stay leaves at once
    reason, text = refused(room, room.answer(key))
    assert reason == "revoked" and "cancelled" in text


def test_no_pinned_key_refuses_and_a_different_key_is_not_repinned(room: Room) -> None:
    assert refused(room, room.answer(sign(room.clock)))[0] == "no_public_key"
    room.sync()
    other = base64.b64encode(os.urandom(32)).decode()
    with pytest.raises(Exception, match="other than the one this room pinned"):
        room.presence.wallet.vault.put_room_credentials(
            RoomCredentials(
                signing_key_id="rk_9999999999",
                signing_public_key_b64=other,
                room_secret_b64=base64.b64encode(ROOM_SECRET).decode(),
            )
        )


def test_secrets_are_sealed_at_rest_and_the_files_private(room: Room, tmp_path: Path) -> None:
    room.sync()
    raw = (tmp_path / "agent.db").read_bytes() + (tmp_path / "agent.db-wal").read_bytes()
    for secret in (ROOM_SECRET, stay_secret(ROOM_SECRET, "s_guest_0001")):
        assert secret not in raw and base64.b64encode(secret) not in raw
    for name in ("agent.db", "device.key"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o600
    assert room.store.stays()[0].ble_secret_b64 is None
    assert room.presence.wallet.vault.stay_secret("s_guest_0001") == stay_secret(
        ROOM_SECRET, "s_guest_0001"
    )
    wrong = Sealer(os.urandom(32))
    with pytest.raises(SealError):
        wrong.open(room.sealer.seal(b"x" * 32, name="room"), name="room")
    with pytest.raises(SealError):  # a blob moved to another row does not open
        room.sealer.open(room.sealer.seal(b"x" * 32, name="room"), name="stay:s_x")
    os.chmod(tmp_path / "device.key", 0o644)
    with pytest.raises(SealError, match="chmod 600"):
        Sealer.from_file(tmp_path / "device.key")


def test_challenge_book_is_bounded_under_a_flood(clock: FakeClock) -> None:
    book = ChallengeBook(max_open=100)
    first, _ = book.issue(clock.now())
    for _ in range(10_000):
        book.issue(clock.now())
    assert len(book) == 100
    with pytest.raises(KeyRejected, match="challenge_unknown"):
        book.redeem(first, clock.now())  # pushed out: its holder asks again


def test_rate_limiter_per_client_and_bounded(clock: FakeClock) -> None:
    limits = RateLimiter(rate_per_s=2, burst=5, max_clients=1000)
    assert [limits.allow("10.0.0.9", 0.0) for _ in range(7)] == [True] * 5 + [False] * 2
    assert limits.allow("10.0.0.10", 0.0)  # another client is not affected
    assert limits.allow("10.0.0.9", 0.5)  # refilled at 2/s
    for i in range(5000):
        limits.allow(f"10.1.{i // 256}.{i % 256}", 1.0)
    assert len(limits._buckets) == 1000


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    body=st.one_of(
        st.binary(max_size=600), st.dictionaries(st.text(max_size=12), st.text(max_size=30))
    )
)
def test_malformed_presentation_bodies_are_refused_by_validation(body: object) -> None:
    raw = body if isinstance(body, bytes) else str(body).encode()
    with pytest.raises(ValidationError):
        KeyPresentation.model_validate_json(raw)


def test_unpin_command_lets_the_next_sync_pin_a_rotated_key(room: Room, tmp_path: Path) -> None:
    import subprocess
    import sys

    room.sync()
    room.store.close()
    config = tmp_path / "room.toml"
    config.write_text(
        f'[room]\nproperty_id = "{PROPERTY}"\nroom_id = "{ROOM}"\ntimezone = "Asia/Shanghai"\n'
        f'[store]\npath = "{tmp_path / "agent.db"}"\n'
    )
    agent = Path(sys.executable).parent / "smartroom-agent"
    done = subprocess.run(
        [str(agent), "unpin-signing-key", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert "unpinned" in done.stdout
    again = Room(tmp_path, room.clock)
    assert again.presence.wallet.vault.pinned_signing_key() is None


async def test_candidates_follow_the_store_without_being_told(room: Room) -> None:
    import asyncio

    room.sync()
    assert [c.ref for c in room.presence.ble.resolver.candidates] == ["s_guest_0001"]
    task = asyncio.create_task(room.presence.run(interval_s=0.01, refresh_every=2))
    try:
        room.store.replace_stays([])  # a sync writer that does not call refresh()
        for _ in range(500):
            if not room.presence.ble.resolver.candidates:
                break
            await asyncio.sleep(0.01)
        assert room.presence.ble.resolver.candidates == []
    finally:
        task.cancel()
