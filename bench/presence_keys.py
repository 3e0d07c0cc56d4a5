"""App room keys: how long the room takes to check a presentation (p50/p99).

    ./dev smartroom bench presence_keys
    ./dev python -m bench.presence_keys --presentations 3000 --no-record

Each presentation goes through `KeyDesk.present` as the local API calls it: the challenge
is consumed, the Ed25519 signature checked with the pinned key, room/property/validity,
revocations and the stay secret read from the agent's SQLite store (unsealed with the
device key), the HMAC proof compared, the presence reported. Baseline in the same run: one
bare Ed25519 verification of the same key (the floor the check cannot go under).
"""

from __future__ import annotations

import argparse
import base64
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from agent.presence import PresenceHub
from agent.presence.config import PresenceSection
from agent.presence.sealing import Sealer
from agent.presence.service import RoomPresence
from agent.presence.vault import CredentialVault
from agent.store import AgentStore
from bench.record import record
from smartroom.clock import FakeClock
from smartroom.credentials import key_proof, stay_secret
from sync.wire import KeyPresentation, RoomCredentials, RoomKey, StayAssignment, room_key_payload

ROOM_SECRET = bytes(range(32))
T0 = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)


def _p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def run(n: int) -> tuple[list[float], list[float]]:
    signer = Ed25519PrivateKey.generate()
    public = signer.public_key()
    public_b64 = base64.b64encode(public.public_bytes(Encoding.Raw, PublicFormat.Raw)).decode()
    clock = FakeClock(T0)
    draft = RoomKey(
        key_id="key_0123456789",
        stay_id="s_000000000000",
        property_id="SHA-01",
        room_id="1201",
        not_before=T0 - timedelta(hours=1),
        not_after=T0 + timedelta(days=2),
        member_id="m_000000000000",
        tier="gold",
        signature_b64="A" * 88,
    )
    signature = signer.sign(room_key_payload(draft))
    key = draft.model_copy(update={"signature_b64": base64.b64encode(signature).decode()})
    secret = stay_secret(ROOM_SECRET, key.stay_id)
    with tempfile.TemporaryDirectory() as tmp:
        store = AgentStore(
            Path(tmp) / "agent.db",
            clock=clock,
            property_id="SHA-01",
            room_id="1201",
            sealer=Sealer.from_file(Path(tmp) / "device.key"),
        )
        store.replace_stays(
            [
                StayAssignment(
                    stay_id=key.stay_id,
                    member_id="m_000000000000",
                    property_id="SHA-01",
                    room_id="1201",
                    tier="gold",
                    arrival=key.not_before,
                    departure=key.not_after,
                    status="checked_in",
                    ble_secret_b64=base64.b64encode(secret).decode(),
                )
            ]
        )
        CredentialVault(store).put_room_credentials(
            RoomCredentials(
                signing_key_id="rk_0123456789",
                signing_public_key_b64=public_b64,
                room_secret_b64=base64.b64encode(ROOM_SECRET).decode(),
            )
        )
        presence = RoomPresence(PresenceSection(), store, PresenceHub(), clock)
        checks: list[float] = []
        bare: list[float] = []
        payload = room_key_payload(key)
        for _ in range(n):
            nonce_b64, _expires = presence.desk.challenge()
            nonce = base64.urlsafe_b64decode(nonce_b64 + "=" * (-len(nonce_b64) % 4))
            body = KeyPresentation(
                room_key=key,
                nonce_b64=nonce_b64,
                proof_b64=base64.b64encode(key_proof(secret, nonce, key.key_id, "1201")).decode(),
            )
            started = time.perf_counter()
            presence.desk.present(body)
            checks.append(time.perf_counter() - started)
            started = time.perf_counter()
            public.verify(signature, payload)
            bare.append(time.perf_counter() - started)
        store.close()
    return checks, bare


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presentations", type=int, default=3000)
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args()
    import structlog

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(30))  # quiet
    checks, bare = run(args.presentations)
    ms = 1000.0
    ratio = statistics.median(checks) / statistics.median(bare)
    body = "\n".join(
        [
            f"`./dev smartroom bench presence_keys` ({args.presentations:,} presentations, "
            "one process, the agent's SQLite store on local disk).",
            "",
            "| | p50 (ms) | p99 (ms) | max (ms) |",
            "|---|---:|---:|---:|",
            f"| full check (`KeyDesk.present`) | {statistics.median(checks) * ms:.3f} | "
            f"{_p(checks, 0.99) * ms:.3f} | {max(checks) * ms:.3f} |",
            f"| baseline: bare Ed25519 verify | {statistics.median(bare) * ms:.3f} | "
            f"{_p(bare, 0.99) * ms:.3f} | {max(bare) * ms:.3f} |",
            "",
            f"Full check / bare verify at p50: {ratio:.1f}x "
            "(the rest is the store reads, unsealing, pydantic dumps for the payload and the "
            "log line).",
        ]
    )
    print(body)
    if not args.no_record:
        record("presence-keys", "Presence: app room-key verification", body)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
