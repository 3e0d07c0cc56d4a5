"""Central's side: the member API (member role, own member only) and the agent credentials
endpoint (agent role, own room only), against the real app on a real socket."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from presence_stack import PROPERTY, ROOM, Central

from smartroom.credentials import stay_secret
from sync.wire import MemberCredential, RoomCredentials, room_key_payload


@pytest.fixture(scope="module")
def central(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Central]:
    service = Central(Path(tmp_path_factory.mktemp("central")))
    service.start()
    try:
        yield service
    finally:
        service.close()


def get(central: Central, path: str, key: str) -> httpx.Response:
    return httpx.get(central.url + path, headers={"Authorization": f"Bearer {key}"}, timeout=10)


def test_member_gets_own_key_and_secret_and_the_room_can_check_both(central: Central) -> None:
    member, stay, key = central.checked_in_member_with_key()
    reply = get(central, f"/v1/members/{member}/room-keys", key)
    assert reply.status_code == 200
    [credential] = [MemberCredential.model_validate(c) for c in reply.json()]
    room_key = credential.room_key
    assert (room_key.stay_id, room_key.member_id, room_key.room_id) == (stay, member, ROOM)
    assert room_key.property_id == PROPERTY and room_key.tier == "silver"

    creds = RoomCredentials.model_validate(
        get(central, "/v1/agent/credentials", central.keys["agent"]).json()
    )
    public = Ed25519PublicKey.from_public_bytes(base64.b64decode(creds.signing_public_key_b64))
    public.verify(base64.b64decode(room_key.signature_b64), room_key_payload(room_key))
    room_secret = base64.b64decode(creds.room_secret_b64)
    assert base64.b64decode(credential.stay_secret_b64) == stay_secret(room_secret, stay)


def test_member_api_is_member_only_and_self_only(central: Central) -> None:
    member, _stay, key = central.checked_in_member_with_key()
    other, _stay2, other_key = central.checked_in_member_with_key()
    assert get(central, f"/v1/members/{member}/room-keys", other_key).status_code == 403
    assert get(central, f"/v1/members/{member}/room-keys", central.keys["staff"]).status_code == 403
    assert get(central, f"/v1/members/{member}/room-keys", central.keys["agent"]).status_code == 403
    assert get(central, f"/v1/members/{member}/room-keys", "lk.nope.nope").status_code == 401
    assert get(central, f"/v1/members/{other}/room-keys", other_key).status_code == 200
    assert get(central, "/v1/agent/credentials", key).status_code == 403
    assert get(central, "/v1/agent/credentials", central.keys["staff"]).status_code == 403


def test_each_room_gets_only_its_own_secret_and_revocations(central: Central) -> None:
    member, stay, key = central.checked_in_member_with_key()
    other_room = central.key("agent", property_id=PROPERTY, room_id="1202")
    mine = RoomCredentials.model_validate(
        get(central, "/v1/agent/credentials", central.keys["agent"]).json()
    )
    theirs = RoomCredentials.model_validate(
        get(central, "/v1/agent/credentials", other_room).json()
    )
    assert mine.room_secret_b64 != theirs.room_secret_b64
    assert stay not in {r.stay_id for r in mine.revoked}
    central.call("POST", f"/v1/stays/{stay}/cancel")
    mine = RoomCredentials.model_validate(
        get(central, "/v1/agent/credentials", central.keys["agent"]).json()
    )
    assert {(r.stay_id, r.reason) for r in mine.revoked} >= {(stay, "cancelled")}
    assert stay not in {r.stay_id for r in theirs.revoked}
    # The cancelled stay's key is no longer handed to the member's app.
    assert get(central, f"/v1/members/{member}/room-keys", key).json() == []
