"""The front desk moves a guest (POST /v1/stays/{id}/room-change): what each room's feed
says (pulled with each room's own agent key), the new room key, what is refused."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from service_harness import PROPERTY, ROOM, Service

OTHER = "1209"
HLC = "1772445600000:0"  # the harness clock's 2026-03-02 10:00 UTC


def _pull(service: Service, key: str) -> dict[str, Any]:
    body = {"agent_id": "agent-test-0001", "hlc": HLC, "epoch": None, "cursors": {}}
    response = service.client.post(
        "/v1/sync/pull", json=body, headers={"Authorization": f"Bearer {key}"}
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


def _stay(service: Service, member: str, room: str | None = None) -> str:
    now = service.clock.now()
    body: dict[str, Any] = {
        "member_id": member,
        "property_id": PROPERTY,
        "arrival": now.isoformat(),
        "departure": (now + timedelta(days=2)).isoformat(),
        "nightly_rate": "800.00",
    }
    if room is not None:
        body["room_id"] = room
    return str(service.call("POST", "/v1/stays", json=body, expect=201)["id"])


def test_room_change_moves_the_stay_key_and_profile_and_refuses_nonsense(
    sqlite_service: Service,
) -> None:
    service = sqlite_service
    keys = {
        ROOM: service.keys["agent"],
        OTHER: service.key_for("agent", property_id=PROPERTY, room_id=OTHER),
    }
    member = service.member(name="Li Wei", consents={"personalisation": True})
    stay = _stay(service, member)
    before = service.call("POST", f"/v1/stays/{stay}/check-in", json={"room_id": ROOM})
    for room in (ROOM, OTHER):
        _pull(service, keys[room])  # each room's first pull: a snapshot
    moved = service.call("POST", f"/v1/stays/{stay}/room-change", json={"room_id": OTHER})
    assert moved["room_id"] == OTHER and moved["status"] == "checked_in"
    assert moved["points_pending"] == before["points_pending"]  # the move earns nothing
    assert moved["room_key"]["room_id"] == OTHER
    assert moved["room_key"]["key_id"] != before["room_key"]["key_id"]

    def page(room: str) -> list[dict[str, Any]]:
        snapshot = _pull(service, keys[room])
        body = {"agent_id": "agent-test-0001", "hlc": HLC, "epoch": snapshot["epoch"]}
        response = service.client.post(
            "/v1/sync/pull", json=body, headers={"Authorization": f"Bearer {keys[room]}"}
        )
        return list(response.json()["items"])

    old, new = page(ROOM), page(OTHER)
    moves = [i for i in old if i["stream"] == "stays" and i["stay"]["event"] == "room_changed"]
    assert moves and moves[-1]["stay"]["stay"]["room_id"] == OTHER
    assert any(i["stream"] == "members" and i["op"] == "delete" and i["key"] == member for i in old)
    revoked = [i for i in old if i["stream"] == "credentials"][-1]["credential"]["revoked"]
    assert {(r["stay_id"], r["reason"]) for r in revoked} == {(stay, "moved")}
    assert any(i["stream"] == "members" and i["op"] == "put" and i["key"] == member for i in new)
    assert [i["stay"]["event"] for i in new if i["stream"] == "stays"][-1] == "room_changed"
    new_creds = [i for i in new if i["stream"] == "credentials"][-1]["credential"]
    assert new_creds["revoked"] == []
    # Each room's feed names only itself, whatever it asks for.
    for room, items in ((ROOM, old), (OTHER, new)):
        for item in items:
            if item["stream"] == "stays" and item["stay"]["event"] != "room_changed":
                assert item["stay"]["stay"]["room_id"] == room

    same = service.call(
        "POST", f"/v1/stays/{stay}/room-change", json={"room_id": OTHER}, expect=409
    )
    assert same["error"]["code"] == "same_room"
    service.call("POST", "/v1/stays/s_nope0000/room-change", json={"room_id": ROOM}, expect=404)
    service.call("POST", f"/v1/stays/{stay}/room-change", json={"room_id": "no room"}, expect=422)
    folio = {"folio": [{"category": "room", "amount": "1600.00"}]}
    service.call("POST", f"/v1/stays/{stay}/check-out", json=folio)
    done = service.call("POST", f"/v1/stays/{stay}/room-change", json={"room_id": ROOM}, expect=409)
    assert done["error"]["code"] == "stay_already_checked_out"
    # A booked stay is re-assigned: its booked room hears it left.
    booked = _stay(service, member, room=ROOM)
    service.call("POST", f"/v1/stays/{booked}/room-change", json={"room_id": OTHER})
    old = page(ROOM)
    events = [i["stay"]["event"] for i in old if i["stream"] == "stays" and i["key"] == booked]
    assert events == ["booked", "room_changed"]


def test_each_stream_carries_only_the_keys_room(sqlite_service: Service) -> None:
    service = sqlite_service
    keys = {
        ROOM: service.keys["agent"],
        OTHER: service.key_for("agent", property_id=PROPERTY, room_id=OTHER),
    }
    here, there = service.member(name="A"), service.member(name="B")
    for member, room in ((here, ROOM), (there, OTHER)):
        stay = _stay(service, member)
        service.call("POST", f"/v1/stays/{stay}/check-in", json={"room_id": room})
    path = f"/v1/sync/rooms/{PROPERTY}/{OTHER}"
    settings = {"settings": {"limits": {"setpoint_max_c": 24}}}
    service.call("PUT", f"{path}/config", "admin", json=settings)
    service.call("POST", f"{path}/commands", json={"action": "make_up_room"})

    def items(room: str) -> list[dict[str, Any]]:
        epoch = _pull(service, keys[room])["epoch"]
        body = {"agent_id": "agent-test-0001", "hlc": HLC, "epoch": epoch}
        reply = service.client.post(
            "/v1/sync/pull", json=body, headers={"Authorization": f"Bearer {keys[room]}"}
        )
        return list(reply.json()["items"])

    mine, theirs = items(ROOM), items(OTHER)
    streams = {i["stream"] for i in mine}
    assert not streams & {"config", "commands"}  # OTHER's config and command stay there
    assert {"config", "commands"} <= {i["stream"] for i in theirs}
    assert {i["key"] for i in mine if i["stream"] == "members"} == {here}
    assert {i["key"] for i in theirs if i["stream"] == "members"} == {there}
    assert {i["stay"]["stay"]["room_id"] for i in mine if i["stream"] == "stays"} == {ROOM}
    secret = {i["credential"]["room_secret_b64"] for i in mine if i["stream"] == "credentials"}
    other = {i["credential"]["room_secret_b64"] for i in theirs if i["stream"] == "credentials"}
    assert secret and other and not secret & other
