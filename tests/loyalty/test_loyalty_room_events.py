"""Staff read a room's events at central (issue 13): what the room sent, in the order central
received it, accepted and rejected (with the reason), page by page; agents may not."""

from __future__ import annotations

from service_harness import PROPERTY, ROOM, Service


def _event(service: Service, n: int, kind: str, payload: dict[str, object]) -> dict[str, object]:
    return {
        "event_id": f"ev_room_{n:05d}",
        "seq": n,
        "hlc": f"{int(service.clock.now().timestamp() * 1000)}:{n}",
        "property_id": PROPERTY,
        "room_id": ROOM,
        "kind": kind,
        "at": service.clock.now().isoformat(),
        "payload": payload,
    }


def test_staff_read_a_rooms_events_page_by_page(service: Service) -> None:
    batch = {
        "agent_id": "agent_events_01",
        "hlc": f"{int(service.clock.now().timestamp() * 1000)}:0",
        "events": [
            _event(service, 1, "housekeeping", {"dnd": True, "mur": False, "via": "app"}),
            _event(service, 2, "benefit", {"entitlement_id": "e_nosuchthing1", "code": "x"}),
            _event(service, 3, "housekeeping", {"dnd": False, "mur": True, "via": "app"}),
        ],
    }
    answers = service.call("POST", "/v1/sync/upload", "agent", json=batch)["results"]
    assert [a["status"] for a in answers] == ["accepted", "rejected", "accepted"]
    path = f"/v1/sync/rooms/{PROPERTY}/{ROOM}/events"
    first = service.call("GET", path, params={"limit": 2})
    assert [e["event_id"] for e in first["events"]] == ["ev_room_00001", "ev_room_00002"]
    rejected = first["events"][1]
    assert rejected["status"] == "rejected" and "entitlement" in rejected["reason"]
    assert first["next"] == "ev_room_00002"
    rest = service.call("GET", path, params={"limit": 2, "after": first["next"]})
    assert [e["event_id"] for e in rest["events"]] == ["ev_room_00003"]
    assert rest["next"] is None and rest["events"][0]["event"]["payload"]["mur"] is True
    unknown = service.call("GET", path, params={"after": "ev_not_there_1"}, expect=422)
    assert unknown["error"]["field"] == "after"
    service.call("GET", path, "agent", expect=403)
