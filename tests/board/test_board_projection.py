"""The room-state projection: what agents report (status, events) reaches the board's views,
in order, once; and the pure rules for stay state, discrepancies, staleness and priority."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
from board_harness import PROPERTY, Board
from hypothesis import given
from hypothesis import strategies as st

from loyalty.board.model import RoomView, StayFacts, priority_list, stay_state
from loyalty.board.projection import apply_event, apply_room_status
from loyalty.board.views import changes_since, latest_change, load_board
from smartroom.clock import FakeClock
from sync.wire import Alert, EventKind, SyncEvent, new_id

TZ = ZoneInfo("Asia/Shanghai")


def _view(board: Board, room: str) -> RoomView:
    with board.engine.begin() as conn:
        return next(v for v in load_board(conn, PROPERTY, board.clock.now()) if v.room_id == room)


def test_status_reaches_the_view_in_order_and_heartbeats_are_not_changes(tmp_path: Path) -> None:
    with Board(tmp_path) as board:
        clock = board.clock
        assert isinstance(clock, FakeClock)
        key = board.agent_key("1201")
        assert _view(board, "1201").stale  # never reported
        with board.engine.begin() as conn:
            before = latest_change(conn, PROPERTY)
        newer = board.status("1201", key, occupied=True, dnd=True)
        view = _view(board, "1201")
        assert view.occupied and view.dnd and not view.stale
        assert view.discrepancy == "sleep"  # nobody checked in, people inside
        with board.engine.begin() as conn:
            seq, rooms = changes_since(conn, PROPERTY, before)
            assert rooms == {"1201"}
            # The same status again (a heartbeat) changes nothing; an older one is ignored.
            assert not apply_room_status(conn, PROPERTY, "1201", newer, clock.now())
            old = newer.model_copy(update={"at": newer.at - timedelta(seconds=5), "dnd": False})
            assert not apply_room_status(conn, PROPERTY, "1201", old, clock.now())
            assert latest_change(conn, PROPERTY) == seq
        assert _view(board, "1201").dnd
        # Another room's status with this key is refused, and changes nothing.
        other = newer.model_copy(update={"room_id": "1202"})
        r = httpx.post(
            f"{board.url}/v1/agent/status",
            content=other.model_dump_json(),
            headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
        )
        assert r.status_code == 403 and "another room" in r.text
        assert _view(board, "1202").occupied is None
        # Silence makes the room stale (with its last report's time), never a confident state.
        clock.advance(121)
        view = _view(board, "1201")
        assert view.stale and view.discrepancy is None and view.last_report_at == newer.at


def test_uploaded_events_set_dnd_mur_and_alerts(tmp_path: Path) -> None:
    with Board(tmp_path) as board:
        now = board.clock.now()

        def event(kind: EventKind, seq: int, payload: dict[str, object]) -> SyncEvent:
            return SyncEvent(
                event_id=new_id(),
                seq=seq,
                hlc=f"{int(now.timestamp() * 1000)}:{seq}",
                property_id=PROPERTY,
                room_id="1202",
                kind=kind,
                at=now + timedelta(seconds=seq),
                payload=payload,
            )

        door = Alert(kind="door_left_open", since=now, detail="door open 5 min")
        with board.engine.begin() as conn:
            assert apply_event(conn, event(EventKind.HOUSEKEEPING, 1, {"mur": True}), now)
            assert apply_event(
                conn,
                event(EventKind.ALERT, 2, {"alert": door.model_dump(mode="json"), "raised": True}),
                now,
            )
            assert not apply_event(conn, event(EventKind.ENERGY, 3, {"kwh": 1}), now)
        view = _view(board, "1202")
        assert view.mur and [a.kind for a in view.alerts] == ["door_left_open"]
        with board.engine.begin() as conn:
            cleared = {"alert": door.model_dump(mode="json"), "raised": False}
            apply_event(conn, event(EventKind.ALERT, 4, cleared), now)
        assert _view(board, "1202").alerts == []


def test_skip_when_a_checked_in_room_shows_no_life_for_a_day(tmp_path: Path) -> None:
    with Board(tmp_path) as board:
        key = board.agent_key("1301")
        alert = Alert(kind="no_motion_24h", since=board.clock.now())
        with board.engine.begin() as conn:
            from loyalty.board.projection import update_room

            update_room(conn, PROPERTY, "1301", board.clock.now(), condition="inspected")
        board.stay("1301", arrive_in=timedelta(hours=-1), check_in=True)
        board.status("1301", key, rented=True, alerts=[alert])
        assert _view(board, "1301").discrepancy == "skip"


def _stay(status: str, arrival: datetime, departure: datetime, **kw: object) -> StayFacts:
    return StayFacts(status, arrival, departure, **kw)  # type: ignore[arg-type]


def test_stay_states_follow_the_front_office() -> None:
    now = datetime(2026, 3, 2, 4, 0, tzinfo=UTC)  # 12:00 local
    day = timedelta(days=1)
    assert stay_state([], now=now, tz=TZ).name == "vacant"
    arriving = _stay("booked", now + timedelta(hours=2), now + 2 * day)
    assert stay_state([arriving], now=now, tz=TZ).name == "expected_arrival"
    assert not stay_state([arriving], now=now, tz=TZ).queued
    waiting = _stay("booked", now - timedelta(hours=1), now + 2 * day)
    assert stay_state([waiting], now=now, tz=TZ).queued
    inside = _stay("checked_in", now - 2 * day, now + day, checked_in_at=now - 2 * day)
    assert stay_state([inside], now=now, tz=TZ).name == "in_house"
    due = _stay("checked_in", now - 2 * day, now + timedelta(hours=1), checked_in_at=now - day)
    assert stay_state([due], now=now, tz=TZ).name == "expected_departure"
    new = _stay("checked_in", now - timedelta(hours=1), now + day, checked_in_at=now)
    assert stay_state([new], now=now, tz=TZ).name == "checked_in"
    gone = _stay("checked_out", now - day, now, checked_out_at=now - timedelta(hours=1))
    assert stay_state([gone], now=now, tz=TZ).name == "departed"
    day_use = _stay(
        "checked_in", now - timedelta(hours=2), now + timedelta(hours=3), checked_in_at=now
    )
    assert stay_state([day_use], now=now, tz=TZ).name == "day_use"


rooms = st.builds(
    RoomView,
    property_id=st.just(PROPERTY),
    room_id=st.text("0123456789", min_size=4, max_size=4),
    floor=st.integers(1, 30),
    room_type=st.just("standard"),
    condition=st.sampled_from(["dirty", "pickup", "clean", "inspected"]),
    out_of_order=st.sampled_from([None, "ooo", "oos"]),
    stay=st.sampled_from(["vacant", "expected_arrival", "in_house", "departed"]),
    queued=st.booleans(),
    occupied=st.sampled_from([None, True, False]),
    dnd=st.booleans(),
    mur=st.booleans(),
    stale=st.booleans(),
)


@given(st.lists(rooms, max_size=20))
def test_priority_list_never_holds_dnd_or_occupied_rooms_and_is_ordered(
    views: list[RoomView],
) -> None:
    ordered = priority_list(views)
    for room in ordered:
        assert not room.dnd and room.needs_cleaning
        assert not (room.occupied and not room.stale and room.stay not in ("vacant", "departed"))
    ranks = [0 if r.queued else 1 if r.mur else 2 if r.stay == "departed" else 3 for r in ordered]
    assert ranks == sorted(ranks)
