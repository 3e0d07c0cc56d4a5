"""The board's API edges: bad actions and photos are refused with a clear error and change
nothing; writes need the session and the X-Board header; a photo is served back only to
the property's staff, with its checked type."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
from board_harness import PROPERTY, Board
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from loyalty.board.problems import MAX_PHOTO
from loyalty.board.views import latest_change

JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 200
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 200


@contextmanager
def _session(board: Board, role: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=board.url, timeout=10) as client:
        r = client.post("/board/api/session", json={"api_key": board.staff[role]})
        assert r.status_code == 200, r.text
        yield client


def _post(client: httpx.Client, path: str, body: Any, key: str) -> httpx.Response:
    return client.post(path, json=body, headers={"Idempotency-Key": key, "X-Board": "1"})


def test_bad_actions_are_refused_and_change_nothing(tmp_path: Path) -> None:
    with Board(tmp_path) as board, _session(board, "supervisor") as boss:
        with board.engine.begin() as conn:
            before = latest_change(conn, PROPERTY)
        cases = [
            ({"kind": "inspect", "room_id": "1201", "passed": True}, 409, "only a clean room"),
            ({"kind": "inspect", "room_id": "1201", "passed": "yes"}, 422, "passed"),
            ({"kind": "clean_everything", "room_id": "1201"}, 422, "kind"),
            ({"kind": "start_cleaning", "room_id": "9999"}, 404, "no room '9999'"),
            ({"kind": "finish_cleaning", "room_id": "1201"}, 409, "not started"),
            (
                {
                    "kind": "set_out_of_order",
                    "room_id": "1201",
                    "out_of_order": "ooo",
                    "reason": "leak",
                    "from": "2026-03-05",
                    "until": "2026-03-04",
                },
                422,
                "until is before from",
            ),
            (
                {"kind": "assign", "room_id": "1201", "attendant_id": "nobody", "cleaning": "deep"},
                404,
                "no attendant",
            ),
            ({"kind": "start_cleaning", "room_id": "1201", "extra": 1}, 422, "extra"),
        ]
        for n, (body, status, text) in enumerate(cases):
            r = _post(boss, "/board/api/actions", body, f"bad-action-{n}")
            assert r.status_code == status and text in r.text, (body, r.status_code, r.text)
        # Without the X-Board header (a cross-site form could not add it): refused.
        r = boss.post(
            "/board/api/actions",
            json={"kind": "start_cleaning", "room_id": "1201"},
            headers={"Idempotency-Key": "no-header-1"},
        )
        assert r.status_code == 403 and "X-Board" in r.text, r.text
        # A front desk clerk may not clean; an attendant may not inspect.
        with _session(board, "front_desk") as desk:
            r = _post(
                desk,
                "/board/api/actions",
                {"kind": "start_cleaning", "room_id": "1201"},
                "front-desk-1",
            )
            assert r.status_code == 403
        with board.engine.begin() as conn:
            assert latest_change(conn, PROPERTY) == before
        # Signed out, the session no longer works.
        assert boss.delete("/board/api/session", headers={"X-Board": "1"}).status_code == 204
        assert boss.get("/board/api/rooms").status_code == 401
        # A staff key without a board profile cannot sign in.
        r = httpx.post(f"{board.url}/board/api/session", json={"api_key": board.plain_staff})
        assert r.status_code == 403 and "no housekeeping profile" in r.text


def test_photos_are_checked_and_served_only_to_the_property(tmp_path: Path) -> None:
    with Board(tmp_path) as board, _session(board, "attendant") as maid:
        path = "/board/api/rooms/1201/problems"

        def report(key: str, **photo: Any) -> httpx.Response:
            return _post(maid, path, {"text": "basin tap drips", **photo}, key)

        big = base64.b64encode(b"\xff\xd8\xff" + b"\x00" * MAX_PHOTO).decode()
        refused = [
            (
                report(
                    "photo-1-key", photo_type="image/jpeg", photo_b64=base64.b64encode(PNG).decode()
                ),
                422,
            ),
            (report("photo-2-key", photo_type="image/png", photo_b64="not base64!"), 422),
            (
                report(
                    "photo-3-key", photo_type="image/gif", photo_b64=base64.b64encode(JPEG).decode()
                ),
                422,
            ),
            (report("photo-4-key", photo_b64=base64.b64encode(JPEG).decode()), 422),
            (report("photo-5-key", photo_type="image/jpeg", photo_b64=big), 413),
            (
                report(
                    "p-6",
                    photo_type="image/png",
                    photo_b64=base64.b64encode(b"<svg onload=alert(1)>").decode(),
                ),
                422,
            ),
        ]
        for r, status in refused:
            assert r.status_code == status, r.text
        with board.engine.begin() as conn:
            assert conn.exec_driver_sql("select count(*) from board_problems").scalar() == 0
        ok = report(
            "photo-7-key", photo_type="image/jpeg", photo_b64=base64.b64encode(JPEG).decode()
        )
        assert ok.status_code == 201, ok.text
        problem = ok.json()["id"]
        photo = maid.get(f"/board/api/problems/{problem}/photo")
        assert photo.status_code == 200 and photo.content == JPEG
        assert photo.headers["content-type"] == "image/jpeg"
        assert photo.headers["x-content-type-options"] == "nosniff"
        assert httpx.get(f"{board.url}/board/api/problems/{problem}/photo").status_code == 401
        rooms = maid.get("/board/api/rooms").json()["rooms"]
        assert next(r for r in rooms if r["room_id"] == "1201")["open_problems"] == 1


def test_check_in_waits_for_an_inspected_room_and_check_out_dirties_it(tmp_path: Path) -> None:
    with Board(tmp_path) as board, _session(board, "supervisor") as boss:
        stay = board.stay("1202", arrive_in=timedelta(hours=-1), check_in=False)
        headers = {"Authorization": f"Bearer {board.admin}", "Idempotency-Key": "check-in-1"}
        r = httpx.post(
            f"{board.url}/v1/stays/{stay}/check-in", json={"room_id": "1202"}, headers=headers
        )
        assert r.status_code == 409 and "only to inspected rooms" in r.text
        # The front desk may drop the rule for the property (the setting is on the board).
        with _session(board, "front_desk") as desk:
            r = desk.put(
                "/board/api/settings", json={"require_inspected": False}, headers={"X-Board": "1"}
            )
            assert r.status_code == 200
        headers["Idempotency-Key"] = "check-in-2"
        r = httpx.post(
            f"{board.url}/v1/stays/{stay}/check-in", json={"room_id": "1202"}, headers=headers
        )
        assert r.status_code == 200, r.text
        board.call(
            "POST",
            f"/v1/stays/{stay}/check-out",
            json={"folio": [{"category": "room", "amount": "800.00"}]},
        )
        rooms = boss.get("/board/api/rooms").json()["rooms"]
        room = next(r for r in rooms if r["room_id"] == "1202")
        assert room["condition"] == "dirty" and room["stay"] == "departed"
        assert rooms and boss.get("/board/api/rooms").json()["priority"][0] == "1202"


actions = st.fixed_dictionaries(
    {
        "kind": st.sampled_from(
            [
                "start_cleaning",
                "finish_cleaning",
                "inspect",
                "set_condition",
                "assign",
                "unassign",
                "set_out_of_order",
                "clear_out_of_order",
                "deliver_benefit",
                "nonsense",
            ]
        ),
        "room_id": st.sampled_from(["1201", "1302", "nope", "", "../x"]),
    },
    optional={
        "passed": st.one_of(st.booleans(), st.integers(), st.text(max_size=3)),
        "condition": st.sampled_from(["dirty", "clean", "inspected", "sparkling"]),
        "cleaning": st.sampled_from(["departure", "deep", "quick"]),
        "attendant_id": st.text(max_size=40),
        "reason": st.text(max_size=300),
        "from": st.sampled_from(["2026-03-02", "2026-13-01", "tomorrow"]),
        "until": st.sampled_from(["2026-03-04", "2026-03-01"]),
        "out_of_order": st.sampled_from(["ooo", "oos", "broken"]),
        "benefit_id": st.text(max_size=70),
    },
)


def test_any_action_body_is_answered_and_refusals_change_nothing(tmp_path: Path) -> None:
    with Board(tmp_path) as board, _session(board, "supervisor") as boss:
        counter = iter(range(10**6))

        @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
        @given(body=actions)
        def check(body: dict[str, Any]) -> None:
            with board.engine.begin() as conn:
                before = latest_change(conn, PROPERTY)
            r = _post(boss, "/board/api/actions", body, f"fuzz-{next(counter)}")
            assert r.status_code in (200, 403, 404, 409, 422), (body, r.status_code, r.text)
            assert "error" in r.json() or r.status_code == 200
            if r.status_code != 200:
                with board.engine.begin() as conn:
                    assert latest_change(conn, PROPERTY) == before, json.dumps(body)

        check()
