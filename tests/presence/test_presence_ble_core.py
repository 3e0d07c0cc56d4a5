"""The BLE path's pure core: identifier derivation, frame parsing, resolution, hysteresis,
and the attacks on it (replay, foreign and ended stays, floods, malformed frames)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from structlog.testing import capture_logs

from agent.presence import PresenceHub, PresenceSignal
from agent.presence.advert import (
    EDDYSTONE_UUID,
    AdvertError,
    build_advertising_data,
    build_hci_report,
    parse_advertising_data,
    parse_hci_reports,
    read_eid,
)
from agent.presence.ble import BleRecogniser
from agent.presence.resolver import Candidate, Match, Refusal, Resolver
from agent.presence.tracker import Tracker, TrackPolicy
from smartroom.clock import FakeClock
from smartroom.credentials import EID_PERIOD_S, rotating_id, stay_secret, window_of

ROOM_SECRET = bytes(range(32))
OTHER_ROOM_SECRET = bytes(range(1, 33))
SECRET = stay_secret(ROOM_SECRET, "s_guest_0001")


def advert(secret: bytes, clock: FakeClock, offset: int = 0) -> bytes:
    return build_advertising_data(rotating_id(secret, window_of(clock.now()) + offset))


@pytest.fixture
def hub_log() -> tuple[PresenceHub, list[PresenceSignal]]:
    hub = PresenceHub()
    seen: list[PresenceSignal] = []
    hub.subscribe(seen.append)
    return hub, seen


def recogniser(clock: FakeClock, hub: PresenceHub, **policy: float) -> BleRecogniser:
    ble = BleRecogniser(hub, clock, tracker=Tracker(TrackPolicy(**policy)))  # type: ignore[arg-type]
    ble.set_candidates(
        [Candidate("s_guest_0001", SECRET), Candidate("badge:anna", bytes(32), "staff")]
    )
    return ble


def walk_in(ble: BleRecogniser, clock: FakeClock, secret: bytes, n: int = 6) -> list[str]:
    outcomes = []
    for _ in range(n):
        outcomes.append(ble.on_raw(advert(secret, clock), rssi=-60))
        clock.advance(0.25)
    return outcomes


def test_identifier_rotates_per_window_and_differs_per_stay() -> None:
    ids = {rotating_id(SECRET, w) for w in range(100)}
    assert len(ids) == 100 and all(len(i) == 8 for i in ids)
    assert rotating_id(SECRET, 7) != rotating_id(stay_secret(ROOM_SECRET, "s_guest_0002"), 7)
    with pytest.raises(ValueError):
        rotating_id(b"short", 1)


def test_frame_round_trips_through_the_raw_parser_and_bleak_shape() -> None:
    eid = rotating_id(SECRET, 5)
    raw = build_advertising_data(eid, tx_power=-59)
    assert len(raw) <= 31  # fits a legacy advertising PDU
    frame = read_eid(parse_advertising_data(raw))
    assert frame is not None and frame.eid == eid and frame.tx_power == -59
    assert read_eid({EDDYSTONE_UUID: bytes([0x30, 0xC5]) + eid}) == frame
    assert read_eid({EDDYSTONE_UUID: bytes([0x10, 0x00]) + b"url"}) is None  # Eddystone-URL
    assert read_eid({"0000fe9f-0000-1000-8000-00805f9b34fb": b"x"}) is None  # somebody else


def test_arrival_needs_dwell_and_strength_and_reports_the_stay(
    clock: FakeClock, hub_log: tuple[PresenceHub, list[PresenceSignal]]
) -> None:
    hub, seen = hub_log
    ble = recogniser(clock, hub)
    assert walk_in(ble, clock, SECRET) == ["seen", "seen", "seen", "arrived", "seen", "seen"]
    assert [(s.stay_id, s.present, s.via, s.who) for s in seen] == [
        ("s_guest_0001", True, "ble", "member")
    ]


def test_corridor_signal_is_not_an_arrival_and_departure_needs_the_timeout(
    clock: FakeClock, hub_log: tuple[PresenceHub, list[PresenceSignal]]
) -> None:
    hub, seen = hub_log
    ble = recogniser(clock, hub, timeout_s=60)
    for _ in range(20):  # walking past in the corridor: weak
        ble.on_raw(advert(SECRET, clock), rssi=-88)
        clock.advance(0.25)
    assert seen == []
    walk_in(ble, clock, SECRET)
    assert len(seen) == 1
    # Hysteresis: readings between exit and enter keep the member present.
    for _ in range(40):
        ble.on_raw(advert(SECRET, clock), rssi=-80)
        clock.advance(1)
        ble.tick()
    assert len(seen) == 1
    clock.advance(58)
    ble.tick()
    assert len(seen) == 1
    clock.advance(2)
    ble.tick()
    assert [s.present for s in seen] == [True, False]


def test_staff_badge_is_staff_not_the_guest(
    clock: FakeClock, hub_log: tuple[PresenceHub, list[PresenceSignal]]
) -> None:
    hub, seen = hub_log
    ble = recogniser(clock, hub)
    walk_in(ble, clock, bytes(32))
    assert [(s.stay_id, s.who) for s in seen] == [("badge:anna", "staff")]


def test_clock_drift_of_one_window_is_tolerated(clock: FakeClock) -> None:
    resolver = Resolver()
    resolver.set_candidates([Candidate("s_guest_0001", SECRET)])
    now_w = window_of(clock.now())
    for offset in (-1, 0, 1):
        match = resolver.resolve(rotating_id(SECRET, now_w + offset), clock.now())
        assert isinstance(match, Match) and match.offset == offset
    assert resolver.resolve(rotating_id(SECRET, now_w + 2), clock.now()) == Refusal("unknown")


def test_attack_replayed_identifier_outside_its_window(
    clock: FakeClock,
    hub_log: tuple[PresenceHub, list[PresenceSignal]],
) -> None:
    hub, seen = hub_log
    ble = recogniser(clock, hub)
    recorded = advert(SECRET, clock)  # captured in the corridor
    clock.advance(3 * EID_PERIOD_S)
    with capture_logs() as logs:
        outcomes = [ble.on_raw(recorded, rssi=-50) for _ in range(10)]
    assert set(outcomes) == {"stale_window"} and seen == []
    line = str(next(e for e in logs if e["event"] == "ble_adverts_refused"))
    assert "stale_window" in line and "recording" in line
    assert recorded.hex() not in line and SECRET.hex() not in line


def test_attack_identifier_of_another_room_or_an_ended_stay(
    clock: FakeClock,
    hub_log: tuple[PresenceHub, list[PresenceSignal]],
) -> None:
    hub, seen = hub_log
    ble = recogniser(clock, hub)
    other_room = stay_secret(OTHER_ROOM_SECRET, "s_guest_0001")  # same stay id, other room
    with capture_logs() as logs:
        assert set(walk_in(ble, clock, other_room)) == {"unknown"}
        ble.set_candidates([])  # central: the stay checked out
        assert set(walk_in(ble, clock, SECRET)) == {"stay_not_current"}
    assert seen == []
    text = str(logs)
    assert "stay_not_current" in text and "ended" in text and "unknown" in text


@settings(max_examples=300, deadline=None)
@given(raw=st.binary(max_size=300), rssi=st.integers(-200, 100))
def test_malformed_adverts_never_raise_nor_resolve(raw: bytes, rssi: int) -> None:
    clock = FakeClock()
    hub = PresenceHub()
    seen: list[PresenceSignal] = []
    hub.subscribe(seen.append)
    ble = recogniser(clock, hub)
    assert ble.on_raw(raw, rssi) in ("ignored", "malformed", "unknown")
    assert seen == []


@settings(max_examples=200, deadline=None)
@given(data=st.binary(max_size=40))
def test_malformed_eid_service_data_is_refused_cleanly(data: bytes) -> None:
    is_eid = len(data) > 0 and data[0] == 0x30
    if is_eid and len(data) != 10:
        with pytest.raises(AdvertError, match="Eddystone-EID frame of"):
            read_eid({EDDYSTONE_UUID: data})
        return
    frame = read_eid({EDDYSTONE_UUID: data})
    assert (frame is not None) == is_eid


def test_attack_flood_of_forged_adverts_stays_bounded(
    clock: FakeClock,
    hub_log: tuple[PresenceHub, list[PresenceSignal]],
) -> None:
    hub, seen = hub_log
    ble = recogniser(clock, hub)
    with capture_logs() as logs:
        for i in range(20_000):
            ble.on_raw(build_advertising_data(i.to_bytes(8, "big")), rssi=-40)
    refused = [e for e in logs if e["event"] == "ble_adverts_refused"]
    assert len(refused) == 1  # one summary line, not twenty thousand
    assert seen == [] and len(ble.tracker.present()) == 0
    # The real guest is still recognised in the middle of the flood.
    assert "arrived" in walk_in(ble, clock, SECRET)


def test_resolution_table_is_built_once_per_window(clock: FakeClock) -> None:
    resolver = Resolver()
    resolver.set_candidates(
        [Candidate(f"s_{i:010d}", stay_secret(ROOM_SECRET, str(i))) for i in range(100)]
    )
    eid = rotating_id(stay_secret(ROOM_SECRET, "42"), window_of(clock.now()))
    first = resolver.resolve(eid, clock.now())
    assert isinstance(first, Match) and first.candidate.ref == "s_0000000042"
    table = resolver._live
    clock.advance(1)
    resolver.resolve(eid, clock.now())
    assert resolver._live is table  # same window: no recomputation
    clock.advance(timedelta(seconds=EID_PERIOD_S).total_seconds())
    resolver.resolve(eid, clock.now())
    assert resolver._live is not table


@settings(max_examples=300, deadline=None)
@given(packet=st.binary(max_size=300))
def test_malformed_hci_reports_are_refused_cleanly(packet: bytes) -> None:
    clock = FakeClock()
    hub = PresenceHub()
    seen: list[PresenceSignal] = []
    hub.subscribe(seen.append)
    outcomes = recogniser(clock, hub).on_hci(packet)
    assert outcomes and set(outcomes) <= {"ignored", "malformed", "unknown"}
    assert seen == []


def test_hci_report_round_trip_drops_the_address() -> None:
    ad = build_advertising_data(rotating_id(SECRET, 3))
    packet = build_hci_report(ad, rssi=-61, address=bytes.fromhex("c0ffee123456"))
    assert parse_hci_reports(packet) == [(ad, -61)]
    with pytest.raises(AdvertError, match="parameter length"):
        parse_hci_reports(packet[:-1])
