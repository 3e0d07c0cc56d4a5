"""The room agent's endpoints: stays for its room only (with the BLE secret), preferences
merged per field by timestamp, idempotent event upload with a high-water seq, and the
signed room key verifiable with the published public key."""

from __future__ import annotations

import base64
from datetime import timedelta

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from service_harness import PROPERTY, ROOM, Service

from loyalty.signing import room_key_payload
from sync.wire import RoomKey, StayAssignment


def _checked_in(service: Service, room: str = ROOM) -> tuple[str, str]:
    member = service.member()
    now = service.clock.now()
    stay = service.call(
        "POST",
        "/v1/stays",
        expect=201,
        json={
            "member_id": member,
            "property_id": PROPERTY,
            "arrival": now.isoformat(),
            "departure": (now + timedelta(days=2)).isoformat(),
            "nightly_rate": "800.00",
        },
    )["id"]
    service.call("POST", f"/v1/stays/{stay}/check-in", json={"room_id": room})
    return member, stay


def test_agent_sees_its_room_and_verifies_room_key(service: Service) -> None:
    member, stay = _checked_in(service)
    _checked_in(service, room="0101")  # another room: invisible
    stays = [
        StayAssignment.model_validate(s) for s in service.call("GET", "/v1/agent/stays", "agent")
    ]
    assert [s.stay_id for s in stays] == [stay]
    assert stays[0].ble_secret_b64 and stays[0].member_id == member
    public = service.call("GET", "/v1/keys/room-signing", "agent")
    key = RoomKey.model_validate(service.call("GET", f"/v1/stays/{stay}")["room_key"])
    verifier = Ed25519PublicKey.from_public_bytes(base64.b64decode(public["public_key_b64"]))
    verifier.verify(base64.b64decode(key.signature_b64), room_key_payload(key))


def test_preferences_merge_per_field_last_writer_wins(service: Service) -> None:
    member, _stay = _checked_in(service)
    t0 = service.clock.now() - timedelta(minutes=10)
    t1 = t0 + timedelta(minutes=5)
    first = {
        "member_id": member,
        "climate": {"setpoint_c": {"value": 21.5, "updated_at": t1.isoformat(), "source": "agent"}},
        "lighting": {"level_pct": {"value": 40, "updated_at": t0.isoformat()}},
    }
    service.call("PUT", f"/v1/agent/preferences/{member}", "agent", json=first)
    second = {
        "member_id": member,
        "climate": {"setpoint_c": {"value": 25.0, "updated_at": t0.isoformat()}},
        "lighting": {"level_pct": {"value": 70, "updated_at": t1.isoformat()}},
    }
    merged = service.call("PUT", f"/v1/agent/preferences/{member}", "agent", json=second)
    assert merged["climate"]["setpoint_c"]["value"] == 21.5
    assert merged["lighting"]["level_pct"]["value"] == 70
    assert service.call("GET", f"/v1/agent/preferences/{member}", "agent") == merged
    future = {
        **first,
        "climate": {
            "setpoint_c": {
                "value": 20.0,
                "updated_at": (service.clock.now() + timedelta(hours=1)).isoformat(),
            }
        },
    }
    skew = service.call("PUT", f"/v1/agent/preferences/{member}", "agent", json=future, expect=422)
    assert skew["error"]["code"] == "clock_skew"


def test_event_upload_is_idempotent_with_high_water(service: Service) -> None:
    now = service.clock.now()
    hlc = f"{int(now.timestamp() * 1000)}:0"

    def event(seq: int, room: str = ROOM, tag: str = "abc") -> dict[str, object]:
        return {
            "event_id": f"ev{seq:08d}{tag}",
            "seq": seq,
            "hlc": f"{int(now.timestamp() * 1000)}:{seq}",
            "property_id": PROPERTY,
            "room_id": room,
            "kind": "arrival",
            "at": now.isoformat(),
        }

    def upload(*events: dict[str, object], expect: int = 200) -> dict[str, object]:
        body = {"agent_id": "agent-sh01-1208", "hlc": hlc, "events": list(events)}
        return dict(service.call("POST", "/v1/sync/upload", "agent", json=body, expect=expect))

    def statuses(answer: dict[str, object]) -> list[str]:
        return [r["status"] for r in answer["results"]]  # type: ignore[attr-defined]

    first = upload(event(1), event(2))
    assert statuses(first) == ["accepted", "accepted"] and first["high_water_seq"] == 2
    again = upload(event(2), event(4))
    assert statuses(again) == ["duplicate", "accepted"] and again["high_water_seq"] == 4
    reused = upload(event(3, tag="new"))  # a new id below the high-water mark: refused
    assert statuses(reused) == ["rejected"]
    assert "reused" in reused["results"][0]["reason"]  # type: ignore[index]
    foreign = upload(event(5, "0101"), expect=403)  # a key for another room: nothing taken
    assert foreign["error"]["code"] == "forbidden"  # type: ignore[index]
