"""`smartroom phone`: a member's hotel app, played against a running central and room.

1. fetch the member's room key and stay secret from central (member API, member's own key);
2. walk in over BLE: the phone simulator's adverts go to the room's BLE proxy port;
3. at the door: ask the room for a challenge and present the key with its proof;
4. print what the room says (`member_present`, the scene).

    app = MemberApp(central_url, member_key, member_id)
    credential = app.credential()                 # MemberCredential
    await app.walk_in(credential, "127.0.0.1", 8790, profile=ANDROID_FOREGROUND)
    app.present(credential, "http://127.0.0.1:8780")
"""

from __future__ import annotations

import base64
import random
from typing import Any

import httpx
from pydantic import TypeAdapter

from firmware_mocks.phone import Leg, Phone, Profile, UdpSink, play, walk_in
from smartroom.clock import SystemClock
from smartroom.credentials import key_proof
from sync.wire import KeyPresentation, MemberCredential

_CREDENTIALS = TypeAdapter(list[MemberCredential])


class AppError(RuntimeError):
    pass


def _check(response: httpx.Response, what: str) -> Any:
    if response.status_code >= 400:
        raise AppError(f"{what}: HTTP {response.status_code} {response.text[:300]}")
    return response.json()


class MemberApp:
    def __init__(self, central_url: str, member_key: str, member_id: str) -> None:
        self.central_url = central_url.rstrip("/")
        self.member_key, self.member_id = member_key, member_id

    def credentials(self) -> list[MemberCredential]:
        response = httpx.get(
            f"{self.central_url}/v1/members/{self.member_id}/room-keys",
            headers={"Authorization": f"Bearer {self.member_key}"},
            timeout=10,
        )
        return _CREDENTIALS.validate_python(_check(response, "fetching the room key"))

    def credential(self, stay_id: str | None = None) -> MemberCredential:
        found = [c for c in self.credentials() if stay_id in (None, c.room_key.stay_id)]
        if not found:
            raise AppError("no checked-in stay with a room key for this member")
        return found[-1]

    @staticmethod
    def phone(credential: MemberCredential, profile: Profile, seed: int | None = None) -> Phone:
        secret = base64.b64decode(credential.stay_secret_b64)
        return Phone(secret, profile=profile, rng=random.Random(seed))

    async def walk_in(
        self,
        credential: MemberCredential,
        host: str,
        port: int,
        *,
        profile: Profile,
        walk: list[Leg] | None = None,
        seed: int | None = None,
    ) -> int:
        sink = UdpSink(host, port)
        try:
            phone = self.phone(credential, profile, seed)
            walk = walk or walk_in(corridor_s=3.0, door_s=1.0, inside_s=4.0)
            return await play(phone, walk, sink, SystemClock())
        finally:
            sink.close()

    @staticmethod
    def present(credential: MemberCredential, room_url: str) -> dict[str, Any]:
        """Challenge, then key + proof. Returns the room's answer (raises AppError if
        refused, with the room's reason)."""
        with httpx.Client(base_url=room_url.rstrip("/"), timeout=10) as room:
            challenge = _check(room.post("/presence/challenge"), "asking for a challenge")
            nonce_b64 = str(challenge["nonce_b64"])
            nonce = base64.urlsafe_b64decode(nonce_b64 + "=" * (-len(nonce_b64) % 4))
            key = credential.room_key
            secret = base64.b64decode(credential.stay_secret_b64)
            proof = key_proof(secret, nonce, key.key_id, str(challenge["room_id"]))
            body = KeyPresentation(
                room_key=key, nonce_b64=nonce_b64, proof_b64=base64.b64encode(proof).decode()
            )
            answer: dict[str, Any] = _check(
                room.post("/presence/key", content=body.model_dump_json()),
                "presenting the room key",
            )
            return answer

    @staticmethod
    def room_status(room_url: str) -> dict[str, Any]:
        status: dict[str, Any] = _check(
            httpx.get(f"{room_url.rstrip('/')}/status", timeout=10), "reading the room status"
        )
        return status
