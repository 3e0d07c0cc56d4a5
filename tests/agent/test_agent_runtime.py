"""Runtime pieces: the supervisor, the sd_notify client, the store, the room file, the
preference seam."""

from __future__ import annotations

import asyncio
import itertools
import os
import socket
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from agent.config import load_room_config, parse_room_config
from agent.preferences import ComfortInputs, PreferenceResolver
from agent.sdnotify import Notifier
from agent.store import MIGRATIONS, AgentStore, NewEvent, StoreError
from agent.supervisor import Supervisor
from smartroom.clock import FakeClock
from smartroom.settings import ConfigError
from sync.wire import (
    ClimatePrefs,
    ComfortOffset,
    EventKind,
    MemberPreferences,
    Stamped,
    StayAssignment,
)

ROOT = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)

# --- supervisor ------------------------------------------------------------------------------


async def test_crashing_task_is_restarted_with_growing_backoff_and_reported() -> None:
    runs: list[float] = []
    reported: list[tuple[str, str]] = []

    async def flaky() -> None:
        runs.append(asyncio.get_running_loop().time())
        if len(runs) < 4:
            raise RuntimeError(f"boom {len(runs)}")
        await asyncio.Event().wait()

    sup = Supervisor(
        on_restart=lambda name, exc, _d: reported.append((name, str(exc))),
        backoff_initial_s=0.05,
        backoff_max_s=1.0,
    )
    sup.add("flaky", flaky)
    sup.start()
    for _ in range(200):
        if len(runs) >= 4:
            break
        await asyncio.sleep(0.02)
    assert len(runs) == 4
    gaps = [b - a for a, b in itertools.pairwise(runs)]
    delays = sup.info()["flaky"]["recent_backoff_s"]
    assert isinstance(delays, list) and len(delays) == 3
    # Half-jittered exponential: 0.05 s, 0.1 s, 0.2 s ceilings; each wait at least its delay.
    assert 0.025 <= delays[0] <= 0.05 and 0.05 <= delays[1] <= 0.1 and 0.1 <= delays[2] <= 0.2
    assert all(gap >= delay - 0.005 for gap, delay in zip(gaps, delays, strict=True))
    assert reported == [("flaky", "boom 1"), ("flaky", "boom 2"), ("flaky", "boom 3")]
    info = sup.info()["flaky"]
    assert info["running"] and info["restarts"] == 3 and "boom 3" in str(info["last_error"])
    await sup.stop()
    assert not sup.info()["flaky"]["running"]


async def test_stop_goes_in_reverse_order_and_waits_for_each() -> None:
    order: list[str] = []

    def task(name: str) -> Any:
        async def run() -> None:
            try:
                await asyncio.Event().wait()
            finally:
                await asyncio.sleep(0.01)  # cleanup takes a moment: the next waits for it
                order.append(name)

        return run

    sup = Supervisor()
    for name in ("controller", "status", "sync"):
        sup.add(name, task(name))
    with pytest.raises(ValueError, match="already supervised"):
        sup.add("sync", task("sync"))
    sup.start()
    await asyncio.sleep(0.01)
    await sup.stop()
    assert order == ["sync", "status", "controller"]


async def test_a_task_that_finishes_is_not_restarted() -> None:
    calls = 0

    async def once() -> None:
        nonlocal calls
        calls += 1

    sup = Supervisor()
    sup.add("once", once)
    sup.start()
    await asyncio.sleep(0.05)
    assert calls == 1 and not sup.info()["once"]["running"]
    await sup.stop()


# --- sd_notify ----------------------------------------------------------------------------------


def test_notify_datagrams_path_and_abstract(tmp_path: Path) -> None:
    path = tmp_path / "n.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(path))
        notifier = Notifier.from_environment(
            {"NOTIFY_SOCKET": str(path), "WATCHDOG_USEC": "30000000"}
        )
        assert notifier.enabled and notifier.watchdog_interval_s == 15.0
        assert notifier.notify("READY=1\nSTATUS=ok")
        assert sock.recv(100) == b"READY=1\nSTATUS=ok"
    name = f"smartroom-test-{os.getpid()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        assert Notifier(f"@{name}").notify("WATCHDOG=1")
        assert sock.recv(100) == b"WATCHDOG=1"
    full = tmp_path / "full.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(full))
        notifier = Notifier(str(full))
        # Nobody drains the socket: once its queue is full, messages are dropped, and the
        # caller (the agent's event loop) is never blocked.
        sent = [notifier.notify("WATCHDOG=1") for _ in range(2000)]
        assert sent[0] and not sent[-1]
    assert not Notifier.from_environment({}).notify("READY=1")  # not under systemd: no-op
    assert not Notifier(str(tmp_path / "gone.sock")).notify("READY=1")  # never raises
    other = Notifier.from_environment({"WATCHDOG_USEC": "1000", "WATCHDOG_PID": "1"})
    assert other.watchdog_interval_s is None  # another process's watchdog


# --- store ------------------------------------------------------------------------------------


def make_store(path: Path, clock: FakeClock) -> AgentStore:
    return AgentStore(path, clock=clock, property_id="SHA-01", room_id="1201")


def stay(room: str = "1201", status: str = "checked_in") -> StayAssignment:
    return StayAssignment(
        stay_id="stay_cccccccccccc",
        member_id="mem_cccccccccccc",
        property_id="SHA-01",
        room_id=room,
        tier="gold",
        arrival=T0,
        departure=T0 + timedelta(days=1),
        status=status,
    )


def test_store_is_wal_full_sync_and_versioned(tmp_path: Path) -> None:
    store = make_store(tmp_path / "a.db", FakeClock(T0))
    assert store.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store.db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    assert store.schema_version == len(MIGRATIONS)
    agent_id = store.agent_id
    store.close()
    again = make_store(tmp_path / "a.db", FakeClock(T0))
    assert again.agent_id == agent_id and again.schema_version == len(MIGRATIONS)
    again.db.execute("INSERT INTO schema_version (version) VALUES (99)")
    again.db.conn.commit()
    again.close()
    with pytest.raises(StoreError, match="newer than this agent"):
        make_store(tmp_path / "a.db", FakeClock(T0))


def test_state_and_outbox_commit_together_or_not_at_all(tmp_path: Path) -> None:
    store = make_store(tmp_path / "a.db", FakeClock(T0))
    created = store.commit(
        state={"dnd": True},
        events=[
            NewEvent(EventKind.HOUSEKEEPING, {"dnd": True}),
            NewEvent(EventKind.ALERT, {}, sync=False),
        ],
    )
    assert [e.seq for e in created] == [1] and store.get_state("dnd") is True
    assert store.recent_events(5)[0]["kind"] == "alert"  # logged locally, not synced

    with pytest.raises(ValidationError):
        # An event that cannot be written rolls back the state change made before it.
        store.commit(
            state={"dnd": False},
            events=[NewEvent(EventKind.HOUSEKEEPING, {"x": 1}, stay_id=object())],  # type: ignore[arg-type]
        )
    assert store.get_state("dnd") is True and store.outbox_depth() == 1


@settings(max_examples=30, deadline=None)
@given(jumps=st.lists(st.integers(-3_600_000, 3_600_000), min_size=1, max_size=20))
def test_seq_and_hlc_only_go_forwards_even_when_the_wall_clock_does_not(
    tmp_path_factory: pytest.TempPathFactory, jumps: list[int]
) -> None:
    clock = FakeClock(T0)
    store = make_store(tmp_path_factory.mktemp("hlc") / "a.db", clock)
    seen: list[tuple[int, tuple[int, int]]] = []
    for ms in jumps:
        clock.set(clock.now() + timedelta(milliseconds=ms))
        (event,) = store.commit(events=[NewEvent(EventKind.ENERGY, {"ms": ms})])
        wall, count = event.hlc.split(":")
        seen.append((event.seq, (int(wall), int(count))))
    store.close()
    assert [s for s, _ in seen] == sorted({s for s, _ in seen})
    stamps = [h for _, h in seen]
    assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps)


def test_outbox_pending_sent_and_pruned_never_unsent(tmp_path: Path) -> None:
    clock = FakeClock(T0)
    store = make_store(tmp_path / "a.db", clock)
    events = store.commit(events=[NewEvent(EventKind.ARRIVAL, {"n": i}) for i in range(3)])
    assert [e.event_id for e in store.pending()] == [e.event_id for e in events]
    store.mark_sent([events[0].event_id])
    assert store.outbox_depth() == 2
    clock.advance(days=8)
    store.prune()
    (newer,) = store.commit(events=[NewEvent(EventKind.ARRIVAL, {})])
    assert newer.seq == 4  # AUTOINCREMENT: pruning never reuses a sequence number
    assert store.outbox_depth() == 3


def test_stays_for_another_room_are_refused_and_profiles_minimised(tmp_path: Path) -> None:
    store = make_store(tmp_path / "a.db", FakeClock(T0))
    with pytest.raises(StoreError, match="not this room"):
        store.replace_stays([stay(room="0101")])
    store.replace_stays([stay()])
    assert store.stays()[0].stay_id == "stay_cccccccccccc"
    prefs = MemberPreferences(member_id="mem_dddddddddddd")
    store.put_preferences(prefs)
    store.put_preferences(MemberPreferences(member_id="mem_cccccccccccc"), dirty=True)
    store.forget_members({"mem_cccccccccccc"})
    assert store.preferences("mem_dddddddddddd") is None
    assert store.dirty_preferences()[0].member_id == "mem_cccccccccccc"


# --- room file ------------------------------------------------------------------------------


def test_example_room_files_are_valid() -> None:
    config = load_room_config(ROOT / "examples" / "agent" / "room-1201.toml")
    assert config.room.room_id == "1201" and config.roles.window == ["balcony"]
    assert config.energy.policy(config.limits).away_setback_c == 2.5


def test_config_errors_say_setting_value_and_fix(tmp_path: Path) -> None:
    bad = {
        "room": {"property_id": "SHA 01", "room_id": "1201", "timezone": "Mars/Base"},
        "energy": {"away_setback_c": 1.5, "away_after_min": 45},
        "limits": {"setpoint_min_c": 24, "default_setpoint_c": 22},
        "api": {"host": "0.0.0.0"},
        "central": {"url": "https://loyalty.example.com"},
        "color": "blue",
    }
    with pytest.raises(ConfigError) as info:
        parse_room_config(bad, source="room.toml")
    text = str(info.value)
    for expected in (
        "room.property_id = 'SHA 01'",
        "room.timezone = 'Mars/Base'",
        "energy.away_setback_c = 1.5",
        "IECC C403.7.4 needs at least 2.2",
        "energy.away_after_min = 45",
        "setpoint_min_c <= default_setpoint_c",
        "api.token_file",
        "central.credential_file",
        "color = 'blue'",
    ):
        assert expected in text, (expected, text)
    central = {"backoff_initial_s": 5, "backoff_max_s": 1}
    with pytest.raises(ConfigError, match=r"backoff_initial_s <= central\.backoff_max_s"):
        parse_room_config(
            {"room": {"property_id": "P", "room_id": "1"}, "central": central}, source="room.toml"
        )
    with pytest.raises(ConfigError, match="not a sensor device"):
        parse_room_config(
            {"room": {"property_id": "P", "room_id": "1"}, "roles": {"window": ["nope"]}},
            source="room.toml",
        )
    with pytest.raises(ConfigError, match="names no device"):
        parse_room_config(
            {
                "room": {"property_id": "P", "room_id": "1"},
                "scenes": {"overrides": {"sleep": {"devices": {"lamp": {"on": True}}}}},
            },
            source="room.toml",
        )
    for key, why in (("abc", "smartroom-model keygen"), ("A" * 42 + "==", "pattern")):
        with pytest.raises(ConfigError, match=why) as bad_key:
            parse_room_config(
                {
                    "room": {"property_id": "P", "room_id": "1"},
                    "comfort": {"model_signing_key": key},
                },
                source="room.toml",
            )
        assert f"comfort.model_signing_key = '{key}'" in str(bad_key.value)
    (tmp_path / "broken.toml").write_text("[room\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_room_config(tmp_path / "broken.toml")


def test_environment_overrides_the_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMARTROOM_AGENT_API__PORT", "8999")
    monkeypatch.setenv("SMARTROOM_AGENT_STORE__PATH", "/tmp/elsewhere.db")
    config = load_room_config(ROOT / "examples" / "agent" / "room-1201.toml")
    assert config.api.port == 8999 and str(config.store.path) == "/tmp/elsewhere.db"
    monkeypatch.setenv("SMARTROOM_AGENT_API__PORT", "eighty")
    with pytest.raises(ConfigError, match=r"api\.port"):
        load_room_config(ROOT / "examples" / "agent" / "room-1201.toml")


# --- preferences seam (without the comfort model) ---------------------------------------------


def test_explicit_then_learned_then_default_clamped_to_limits() -> None:
    config = parse_room_config({"room": {"property_id": "P", "room_id": "1"}}, source="t")
    resolver = PreferenceResolver(config, advisor=None)
    inputs = ComfortInputs(T0, indoor_c=24.0)
    assert resolver.values(None, inputs).setpoint_c == 22.0
    hot = MemberPreferences(
        member_id="mem_eeeeeeeeeeee",
        climate=ClimatePrefs(setpoint_c=Stamped[float](value=29.0, updated_at=T0)),
    )
    values = resolver.values(hot, inputs)
    assert (values.setpoint_c, values.origin("setpoint_c")) == (27.0, "preference")
    learned = MemberPreferences(
        member_id="mem_eeeeeeeeeeee",
        comfort_offset=ComfortOffset(offset_c=-1.3, observations=3, updated_at=T0),
    )
    values = resolver.values(learned, inputs)
    assert (values.setpoint_c, values.origin("setpoint_c")) == (20.5, "learned")
    after = resolver.learn(learned, inputs, suggested_c=20.5, chosen_c=19.0)
    assert after.comfort_offset.observations == 4 and after.comfort_offset.offset_c < -1.3


def test_with_the_shipped_comfort_model() -> None:
    config = parse_room_config(
        {"room": {"property_id": "P", "room_id": "1", "climate": "Cfa"}}, source="t"
    )
    resolver = PreferenceResolver.create(config)
    assert resolver.has_model
    inputs = ComfortInputs(T0, indoor_c=24.0, humidity_pct=50.0, outdoor_c=5.0)
    values = resolver.values(MemberPreferences(member_id="mem_ffffffffffff"), inputs)
    assert values.origin("setpoint_c") == "model"
    assert 18.0 <= values.setpoint_c <= 27.0 and values.setpoint_c * 2 == int(values.setpoint_c * 2)
    learned = resolver.learn(
        MemberPreferences(member_id="mem_ffffffffffff"),
        inputs,
        suggested_c=values.setpoint_c,
        chosen_c=values.setpoint_c - 2,
    )
    assert learned.comfort_offset.observations == 1 and learned.comfort_offset.offset_c < 0
    # Explicit preferences still win over the model.
    explicit = MemberPreferences(
        member_id="mem_ffffffffffff",
        climate=ClimatePrefs(setpoint_c=Stamped[float](value=25.0, updated_at=T0)),
    )
    assert resolver.values(explicit, inputs).setpoint_c == 25.0


# --- alerts (pure) ------------------------------------------------------------------------------


def test_alert_rules() -> None:
    from agent.alerts import RoomFacts, room_alerts
    from agent.config import AlertsSection
    from drivers.base import AvailabilityState, ClimateAction, ClimateMode, ClimateState, FanMode
    from sync.wire import Availability

    cfg, grace = AlertsSection(), timedelta(seconds=20)
    quiet = RoomFacts(now=T0, checked_in_since=T0 - timedelta(hours=2), last_motion_at=T0)
    assert room_alerts(quiet, cfg, window_grace=grace) == {}
    cold = ClimateState(ClimateMode.HEAT, 22.0, FanMode.AUTO, 19.0, ClimateAction.HEATING)
    warm = ClimateState(ClimateMode.HEAT, 22.0, FanMode.AUTO, 25.0, ClimateAction.IDLE)
    busy = RoomFacts(
        now=T0,
        door_open_since=T0 - timedelta(minutes=6),
        window_open_since={"balcony": T0 - timedelta(seconds=25)},
        availability={
            "lamp": AvailabilityState(
                Availability.UNAVAILABLE, "timeout", T0 - timedelta(minutes=2)
            ),
            "speaker": AvailabilityState(Availability.UNAVAILABLE, "timeout", T0),
        },
        states={"hvac": cold, "hvac2": warm},
        setpoint_since={
            "hvac": (22.0, T0 - timedelta(hours=2)),
            "hvac2": (22.0, T0 - timedelta(hours=2)),
        },
        reception_since=T0,
        checked_in_since=T0 - timedelta(days=2),
        last_motion_at=T0 - timedelta(hours=25),
    )
    keys = set(room_alerts(busy, cfg, window_grace=grace))
    # The window being open explains the HVAC gap, so that alert waits; HEAT cannot cool hvac2.
    assert keys == {
        "door_left_open",
        "window_open",
        "device_unavailable",
        "contact_reception",
        "no_motion_24h",
    }
    shut = RoomFacts(
        now=T0, states={"hvac": cold, "hvac2": warm}, setpoint_since=busy.setpoint_since
    )
    assert set(room_alerts(shut, cfg, window_grace=grace)) == {"hvac_not_reaching_setpoint"}


def test_one_alert_per_kind_naming_every_source() -> None:
    # The balcony contact and the thermostat's own window input report the same window.
    from agent.alerts import RoomFacts, room_alerts
    from agent.config import AlertsSection
    from drivers.base import AvailabilityState
    from sync.wire import Availability

    cfg, grace = AlertsSection(), timedelta(seconds=20)
    down = AvailabilityState(Availability.UNAVAILABLE, "timeout", T0 - timedelta(minutes=5))
    facts = RoomFacts(
        now=T0,
        window_open_since={
            "hvac.window": T0 - timedelta(seconds=30),
            "balcony": T0 - timedelta(seconds=40),
        },
        availability={
            "lamp": down,
            "speaker": AvailabilityState(
                Availability.UNAVAILABLE, "offline", T0 - timedelta(minutes=2)
            ),
        },
    )
    alerts = room_alerts(facts, cfg, window_grace=grace)
    assert [a.kind for a in alerts.values()].count("window_open") == 1
    window = alerts["window_open"]
    assert window.since == T0 - timedelta(seconds=40)
    assert "balcony" in window.detail and "hvac.window" in window.detail
    unavailable = alerts["device_unavailable"]
    assert unavailable.since == down.since
    assert "lamp: timeout" in unavailable.detail and "speaker: offline" in unavailable.detail
