"""BLE recognition: adverts parsed and resolved per second, and first advert to welcome.

    ./dev smartroom bench presence_ble                 # records in docs/benchmarks.md
    ./dev python -m bench.presence_ble --adverts 20000 --trials 300 --no-record

1. Throughput: HCI advertising reports through `BleRecogniser.on_hci` (parse -> resolve ->
   RSSI/dwell tracker) with 1, 10 and 100 candidate stays, half the adverts from the
   candidates' phones and half from strangers', against a parse-only baseline (HCI report ->
   AD structures -> Eddystone-EID frame) over the same frames in the same run. The goal:
   resolution is never the bottleneck of a scanner's ~100 adverts/s.
2. First advert to welcome: a phone steps in at the door with a realistic advertising
   interval (the phone simulator: Android BALANCED 250 ms, LOW_LATENCY 100 ms, LOW_POWER
   1 s; lost packets, RSSI noise); the time from the first advert the room receives to the
   room controller choosing the member's welcome, in simulated time plus the measured CPU
   time of the recognition and of the controller's step (a real RoomController, store and
   scene book, no devices). Goal p95 <= 1.5 s.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from agent.config import parse_room_config
from agent.preferences import PreferenceResolver
from agent.presence import PresenceHub, PresenceSignal
from agent.presence.advert import parse_advertising_data, parse_hci_reports, read_eid
from agent.presence.ble import BleRecogniser
from agent.presence.resolver import Candidate
from agent.room import RoomController
from agent.store import AgentStore
from bench.record import record
from firmware_mocks.phone import (
    ANDROID_BACKGROUND,
    ANDROID_FOREGROUND,
    ANDROID_LOW_POWER,
    Leg,
    Phone,
    Profile,
)
from scenes.loader import load_scenes
from smartroom.clock import FakeClock
from smartroom.credentials import stay_secret
from sync.wire import StayAssignment

ROOM_SECRET = bytes(range(32))
T0 = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
AT_THE_DOOR = [Leg(1.5, 3.0, 2.5), Leg(30.0, 2.5, 2.0)]


def frames(n: int, candidates: int, seed: int) -> list[bytes]:
    rng = random.Random(seed)
    phones = [
        Phone(stay_secret(ROOM_SECRET, f"s_{i:012d}"), rng=random.Random(i))
        for i in range(candidates)
    ]
    strangers = [Phone(stay_secret(bytes(range(1, 33)), f"x_{i}"), rng=rng) for i in range(50)]
    out: list[bytes] = []
    while len(out) < n:
        pool = phones if rng.random() < 0.5 else strangers
        phone = rng.choice(pool)
        out.extend(p for _t, p in phone.adverts(AT_THE_DOOR, start=T0, seconds=0.5))
    return out[:n]


def throughput(n: int) -> list[tuple[int, float, float]]:
    rows = []
    for count in (1, 10, 100):
        packets = frames(n, count, seed=count)
        started = time.perf_counter()
        for packet in packets:
            for ad, _rssi in parse_hci_reports(packet):
                read_eid(parse_advertising_data(ad))
        parse_only = n / (time.perf_counter() - started)
        clock = FakeClock(T0)
        ble = BleRecogniser(PresenceHub(), clock)
        ble.set_candidates(
            Candidate(f"s_{i:012d}", stay_secret(ROOM_SECRET, f"s_{i:012d}")) for i in range(count)
        )
        started = time.perf_counter()
        for packet in packets:
            clock.advance(0.01)  # 100 adverts/s on the air
            ble.on_hci(packet)
        resolved = n / (time.perf_counter() - started)
        rows.append((count, parse_only, resolved))
    return rows


def _room(tmp: Path, clock: FakeClock) -> tuple[RoomController, AgentStore]:
    config = parse_room_config(
        {
            "room": {"property_id": "SHA-01", "room_id": "1201", "timezone": "Asia/Shanghai"},
            "store": {"path": str(tmp / "agent.db")},
        },
        source="bench",
    )
    store = AgentStore(config.store.path, clock=clock, property_id="SHA-01", room_id="1201")
    room = RoomController(
        config,
        store=store,
        devices={},
        scenes=load_scenes(),
        resolver=PreferenceResolver(config),
        clock=clock,
    )
    store.replace_stays(
        [
            StayAssignment(
                stay_id="s_000000000000",
                member_id="m_000000000000",
                property_id="SHA-01",
                room_id="1201",
                tier="gold",
                arrival=clock.now() - timedelta(hours=1),
                departure=clock.now() + timedelta(days=2),
                status="checked_in",
            )
        ]
    )
    room.stays_changed()
    room.step()
    return room, store


def to_welcome(profile: Profile, trials: int) -> list[float]:
    secret = stay_secret(ROOM_SECRET, "s_000000000000")
    out: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        for trial in range(trials):
            clock = FakeClock(T0 + timedelta(minutes=trial))
            room, store = _room(Path(tmp) / str(trial), clock)
            hub = PresenceHub()
            hub.subscribe(room.on_presence)
            signals: list[PresenceSignal] = []
            hub.subscribe(signals.append)
            ble = BleRecogniser(hub, clock)
            ble.set_candidates([Candidate("s_000000000000", secret)])
            phone = Phone(secret, profile=profile, rng=random.Random(trial))
            first: float | None = None
            elapsed = cpu = 0.0
            for t, packet in phone.adverts(AT_THE_DOOR, start=clock.now()):
                clock.advance(t - elapsed)
                elapsed = t
                first = t if first is None else first
                started = time.perf_counter()
                ble.on_hci(packet)
                if signals:
                    room.step()
                    cpu += time.perf_counter() - started
                    assert room.choice is not None and room.choice.name == "welcome"
                    out.append(t - first + cpu)
                    break
                cpu += time.perf_counter() - started
            else:
                out.append(float("inf"))  # never recognised within the walk
            store.close()
    return out


def _p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--adverts", type=int, default=50_000)
    parser.add_argument("--trials", type=int, default=300)
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args()
    rows = throughput(args.adverts)
    lines = [
        "| candidate stays | parse only (adverts/s) | parse + resolve + track (adverts/s) | "
        "ratio | headroom over 100 adverts/s |",
        "|---:|---:|---:|---:|---:|",
    ]
    for count, parse_only, resolved in rows:
        lines.append(
            f"| {count} | {parse_only:,.0f} | {resolved:,.0f} | {resolved / parse_only:.2f} | "
            f"{resolved / 100:,.0f}x |"
        )
    welcome = [
        "",
        f"First advert to the member's welcome ({args.trials} arrivals per profile; phone "
        "simulator at the door, 10% of adverts lost, RSSI noise 4 dB; simulated time plus the "
        "measured CPU time of recognition and the controller's step):",
        "",
        "| phone advertising | p50 (s) | p95 (s) | max (s) | goal p95 |",
        "|---|---:|---:|---:|---|",
    ]
    for profile in (ANDROID_FOREGROUND, ANDROID_BACKGROUND, ANDROID_LOW_POWER):
        values = to_welcome(profile, args.trials)
        p95 = _p(values, 0.95)
        welcome.append(
            f"| {profile.name} ({profile.interval_s * 1000:.0f} ms) | "
            f"{statistics.median(values):.2f} | {p95:.2f} | {max(values):.2f} | "
            f"{'met' if p95 <= 1.5 else 'NOT met'} (<= 1.5 s) |"
        )
    body = "\n".join(
        [
            f"`./dev smartroom bench presence_ble` ({args.adverts:,} adverts per row; half "
            "from the candidates' phones, half from 50 strangers' phones).",
            "",
            *lines,
            *welcome,
            "",
            "Arrival needs 3 strong adverts over at least 0.6 s (dwell hysteresis), so the "
            "advertising interval, not the CPU, sets the latency; iOS in the background puts "
            "no identifier on air at all (docs/presence.md: the room key and the lock cover it).",
        ]
    )
    print(body)
    if not args.no_record:
        record("presence-ble", "Presence: BLE recognition throughput and arrival latency", body)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
