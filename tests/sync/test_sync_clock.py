"""Clock skew of a day, both ways, against the real central over HTTP (the room's store and
sync engine in the test process, each side on its own clock).

A room a day ahead that worked offline has stamped its events and its guest's preference
changes a day in the future; central refuses such stamps (more than 60 s ahead). Before its
first upload the room reads central's clock, moves its unsent stamps back by how far ahead
it was, and from then on stamps with central's time: nothing is dead-lettered, the guest's
change is kept where nobody wrote later and loses to a later app change where somebody did,
both sides converge, and the operator sees a `clock_skew` alert on the board until the clock
is fixed. A room a day behind adopts central's stamps and stamps with central's time too; an
earlier room change loses to a later app change, as it should."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sync_harness import Central, engine_for, open_store, room_name, serving, spend, sqlite_url

from smartroom.clock import FakeClock
from sync.hlc import MAX_SKEW_MS, Stamp
from sync.wire import MemberPreferences

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
DAY = timedelta(days=1)
DAY_MS = 86_400_000


class NtpClock(FakeClock):
    """A room clock NTP can step: the wall time moves, the monotonic time does not."""

    def ntp_step(self, when: datetime) -> None:
        self._now = when


@pytest.fixture(scope="module")
def central_clock() -> FakeClock:
    return FakeClock(T0)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, central_clock: FakeClock) -> Iterator[Central]:
    with serving(sqlite_url(tmp_path_factory), central_clock) as svc:
        yield svc


def _room_prefs(member: str, at: datetime, **fields: Any) -> MemberPreferences:
    """A change the room learnt (setpoint and/or light level), as the room writes it."""
    doc: dict[str, Any] = {"member_id": member}
    if "setpoint" in fields:
        doc["climate"] = {"setpoint_c": {"value": fields["setpoint"], "updated_at": at}}
    if "level" in fields:
        doc["lighting"] = {"level_pct": {"value": fields["level"], "updated_at": at}}
    return MemberPreferences.model_validate(doc)


def _app_change(served: Central, member: str, **fields: Any) -> None:
    """The member changes a field in the app, at central's time (no room stamp)."""
    body = _room_prefs(member, served.clock.now(), **fields).model_dump(mode="json")
    served.call("PUT", f"/v1/members/{member}/preferences", json=body)


@pytest.mark.parametrize("skew", [DAY, -DAY], ids=["a_day_ahead", "a_day_behind"])
async def test_a_day_of_clock_skew_converges_without_losing_data(
    served: Central, central_clock: FakeClock, tmp_path: Path, skew: timedelta
) -> None:
    room = room_name()
    member, stay = served.checked_in_member(room)
    room_clock = NtpClock(central_clock.now() + skew)
    store = open_store(tmp_path / "agent.db", room_clock, room)
    engine = engine_for(store, served.base_url, served.agent_key(room), timeout_s=10)
    try:
        await engine.pull_all()  # the room has its stay (its clock is measured here too)
        assert len(store.stays()) == 1
        # Offline: the room restarts (its offset is measured again at the first exchange),
        # the guest buys, and changes the setpoint and the light in the room.
        store.close()
        store = open_store(tmp_path / "agent.db", room_clock, room)
        engine.store = store
        engine.clock_checked = False
        spend(store, stay, member)
        store.put_preferences(
            _room_prefs(member, room_clock.now(), setpoint=24.0, level=30), dirty=True
        )
        stamped = Stamp.parse(store.hlc_last())
        if skew > timedelta(0):
            assert stamped.wall_ms > _ms(central_clock.now()) + MAX_SKEW_MS  # a day ahead
        # Ten minutes later (real time) the member sets 21 °C in the app.
        central_clock.advance(600)
        room_clock.advance(600)
        _app_change(served, member, setpoint=21.0)
        central_clock.advance(5)
        room_clock.advance(5)

        await engine.push()
        await engine.pull_all()

        assert store.rejected_events() == []  # nothing dead-lettered: no data lost
        assert served.spend_points(member)[0] == 1
        ours = {r[0] for r in store.db.execute("SELECT event_id FROM outbox").fetchall()}
        assert served.event_ids(store.agent_id) == ours
        at_central = served.call("GET", f"/v1/members/{member}/preferences")
        in_room = store.preferences(member)
        assert in_room is not None
        # Converged: the later app change won the setpoint; nobody else wrote the light.
        assert at_central["climate"]["setpoint_c"]["value"] == 21.0
        assert at_central["lighting"]["level_pct"]["value"] == 30
        assert in_room.climate.setpoint_c is not None and in_room.climate.setpoint_c.value == 21.0
        assert in_room.lighting.level_pct is not None and in_room.lighting.level_pct.value == 30
        # The room's clock now follows central's, within what central accepts.
        now_ms = _ms(central_clock.now())
        assert abs(Stamp.parse(store.hlc_last()).wall_ms - now_ms) <= MAX_SKEW_MS
        assert abs(store.clock_offset_ms + int(skew.total_seconds() * 1000)) < 5_000
        # The operator sees it: a clock_skew alert on the board, in the room's status.
        assert "clock_skew" in served.board(room)["alerts"]
        assert [a.kind for a in store.clock_alerts()] == ["clock_skew"]

        # A change in the room after the exchange orders after the app's (central's time).
        store.put_preferences(_room_prefs(member, room_clock.now(), setpoint=22.5), dirty=True)
        central_clock.advance(5)
        room_clock.advance(5)
        await engine.push()
        await engine.pull_all()
        profile = served.call("GET", f"/v1/members/{member}/preferences")
        assert profile["climate"]["setpoint_c"]["value"] == 22.5

        # The clock is fixed (NTP): the alert clears at the next exchange.
        room_clock.ntp_step(central_clock.now())
        spend(store, stay, member)
        # The room sees its offset is stale (its wall clock moved, its monotonic clock did
        # not) and stamps with its own, now right, time at once, not a day off.
        assert Stamp.parse(store.hlc_last()).wall_ms <= _ms(central_clock.now()) + 1000
        engine.clock_checked = False
        await engine.push()
        assert store.clock_alerts() == [] and "clock_skew" not in served.board(room)["alerts"]
        assert store.rejected_events() == [] and served.spend_points(member)[0] == 2
    finally:
        await engine.client.aclose()  # type: ignore[attr-defined]
        store.close()


def _ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)


def test_a_full_records_budget_does_not_stop_the_clock_exchange(tmp_path: Path) -> None:
    """The skew alert is a records event; with that budget full it is refused, but the
    exchange that would drain the outbox goes on and the status still carries the alert."""
    from sync.outbox import DEFAULT_BUDGETS, Budget

    room_clock = FakeClock(T0 - DAY)
    budgets = {**DEFAULT_BUDGETS, "records": Budget(max_events=1, max_bytes=1 << 20)}
    store = open_store(tmp_path / "agent.db", room_clock, room_name(), budgets=budgets)
    try:
        store.put_preferences(_room_prefs("m_full_records", room_clock.now(), level=40), dirty=True)
        central_stamp = Stamp(_ms(T0), 0)
        store.receive_hlc(str(central_stamp))  # raises nothing
        assert Stamp.parse(store.hlc_last()) > central_stamp
        assert [a.kind for a in store.clock_alerts()] == ["clock_skew"]
        assert store.refused == {"records": 1}
    finally:
        store.close()


def test_a_slow_answer_is_not_read_as_a_clock_off(tmp_path: Path) -> None:
    """Central stamps an answer somewhere between the request leaving and the answer coming
    back: a long poll stamped when it began and answered 25 s later, or a rig running 120x
    (a few seconds of latency are minutes of room time), is not a skewed clock; a room a day
    off still is, however long the answer took."""
    clock = FakeClock(T0)
    store = open_store(tmp_path / "room.db", clock, room_name())
    try:
        sent = store.wall_ms()
        clock.advance(25)  # a long poll, stamped by central as it began
        store.receive_hlc(str(Stamp(sent, 0)), sent)
        assert store.clock_alerts() == [] and abs(store.clock_offset_ms) <= 12_500
        sent = store.wall_ms()
        clock.advance(3 * 120)  # 3 s of latency on a 120x rig clock, stamped mid-way
        store.receive_hlc(str(Stamp(sent + 180_000, 0)), sent)
        assert store.clock_alerts() == [] and store.clock_offset_ms == 0
        # Without the send time the same answer reads as three minutes off (the old reading).
        sent = store.wall_ms()
        clock.advance(3 * 120)
        store.receive_hlc(str(Stamp(sent + 180_000, 0)))
        assert [a.kind for a in store.clock_alerts()] == ["clock_skew"]
        sent = store.wall_ms()  # a prompt answer clears it ...
        store.receive_hlc(str(Stamp(sent, 0)), sent)
        assert store.clock_alerts() == []
        # ... and a day off is a day off, even over a slow answer.
        sent = store.wall_ms()
        clock.advance(25)
        store.receive_hlc(str(Stamp(sent + 86_400_000, 0)), sent)
        assert [a.kind for a in store.clock_alerts()] == ["clock_skew"]
        assert store.clock_offset_ms > 86_400_000 - 13_000
    finally:
        store.close()


def test_a_slow_answer_moves_no_stamp(tmp_path: Path) -> None:
    """On a rig clock running thousands of times faster (the outage test's 34,560x), a
    10-30 ms answer is a quarter of an hour of room time: where within it central stamped is
    noise. The room's stamps neither jump ahead by that noise (central would dead-letter
    them as `clock_skew`: seen as a lost status in the 3-day outage test under load) nor
    step back because the room stamped events while its request was out."""
    clock = FakeClock(T0)
    store = open_store(tmp_path / "room.db", clock, room_name())
    minute = 60_000
    try:
        # Central stamped late in a 20-minute round trip: +5 min from the midpoint, ±10.
        sent = store.wall_ms()
        clock.advance(20 * 60)
        store.receive_hlc(str(Stamp(sent + 15 * minute, 0)), sent)
        assert store.clock_alerts() == []
        stamp = Stamp.parse(store.hlc_now())
        # Central refuses a stamp more than MAX_SKEW_MS ahead of its clock (== the room's).
        assert stamp.wall_ms <= store.wall_ms() + MAX_SKEW_MS, stamp.wall_ms - store.wall_ms()

        # The room stamps a purchase while its request is out; central stamped early.
        sent = store.wall_ms()
        clock.advance(20 * 60)
        event_id = spend(store, "stay_slow_answer", "mem_slow_answer")
        (doc,) = store.db.execute(
            "SELECT doc FROM outbox WHERE event_id = ?", [event_id]
        ).fetchone()
        stamped = json.loads(doc)["hlc"]
        store.receive_hlc(str(Stamp(sent + 2 * minute, 0)), sent)
        (doc,) = store.db.execute(
            "SELECT doc FROM outbox WHERE event_id = ?", [event_id]
        ).fetchone()
        assert json.loads(doc)["hlc"] == stamped  # not moved back: nothing ran ahead
        assert Stamp.parse(store.hlc_now()) > Stamp.parse(stamped)  # and no step back

        # A clock a day behind is still corrected, never beyond central's clock.
        sent = store.wall_ms()
        clock.advance(20 * 60)
        store.receive_hlc(str(Stamp(sent + DAY_MS + 15 * minute, 0)), sent)
        assert [a.kind for a in store.clock_alerts()] == ["clock_skew"]
        corrected = Stamp.parse(store.hlc_now()).wall_ms - store.wall_ms()
        assert DAY_MS - 10 * minute <= corrected <= DAY_MS + MAX_SKEW_MS, corrected
    finally:
        store.close()
