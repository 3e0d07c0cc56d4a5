"""A 3-day outage on an accelerated clock: a real `smartroom-agent run` process runs a room for
three simulated days with its link to central down, then the link heals.

Central (in the test process) and the agent share one scaled time (`--clock-speed`,
`--clock-start`, `--clock-anchor`: the same simulated instant at the same real instant), so
the room's stamps are not a skewed clock's. During the outage the room takes purchases,
preference changes (the guest's setpoint through the app) and housekeeping requests, its
status changes as telemetry, and staff check the guest out at central. The telemetry budget
is set small (`[store.outbox.telemetry] max_events`) so three days overflow it.

Checked: during the outage /health, /metrics and the journal say the link is down (one
`central_unreachable` line, not one per try), the outbox grows and telemetry stays within
its budget by thinning (the oldest events survive at half resolution); after the link
heals the outbox drains, every purchase earns once, every record arrives, the check-out
reaches the room, no task restarted, and central's room view shows the room's high-water
mark and no dead letters. Last, the issue's sizing claim, from this run's own outbox rows:
seven days at the planned rate fit the default budgets."""

from __future__ import annotations

import json
import sqlite3
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from room_process import RoomProcess, central_behind_link
from sync_harness import PROPERTY, room_name

from loyalty.services import folio
from loyalty.services import stays as stays_service
from smartroom.clock import ScaledClock
from smartroom.services import MosquittoBroker
from sync.outbox import DEFAULT_BUDGETS

pytestmark = [pytest.mark.mqtt, pytest.mark.timeout(150)]

SPEED = 34_560.0  # a simulated day every 2.5 real seconds
OUTAGE_DAYS = 3
TELEMETRY_BUDGET = 16
# What the room does per simulated day during the outage (each on its own hour).
SPENDS_PER_DAY = 4
PREFERENCES_PER_DAY = 3
HOUSEKEEPING_PER_DAY = 8
# The planned rate per room per day (docs/sync.md): ~1,200 telemetry, ~100 records, ~10 spends.
PLANNED = {"telemetry": 1_200, "records": 100, "ledger": 10}


def _metric(text: str, name: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            total += float(line.rsplit(" ", 1)[1])
    return total


async def test_three_day_outage_then_heal(tmp_path: Path, mqtt_broker: MosquittoBroker) -> None:
    started = time.monotonic()
    sim_start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
    anchor = time.time()
    clock = ScaledClock(SPEED, sim_start, anchor=anchor)
    room_id = room_name()
    clock_args = (
        "--clock-speed",
        str(SPEED),
        "--clock-start",
        sim_start.isoformat(),
        "--clock-anchor",
        repr(anchor),
    )
    room_file = {"store": {"outbox": {"telemetry": {"max_events": TELEMETRY_BUDGET, "max_mib": 1}}}}
    async with central_behind_link(tmp_path, clock) as (central, link):
        member, stay = central.checked_in_member(room_id, nights=OUTAGE_DAYS + 14)
        async with RoomProcess(
            tmp_path, mqtt_broker, link.url, central.agent_key(room_id), room_id, extra=room_file
        ) as room:
            await room.start(*clock_args)
            await room.until(room.spend, 15, "the stay reaching the room")
            spends = 1
            await room.until(
                lambda: central.spend_points(member)[0] == 1, 15, "the first purchase uploaded"
            )

            # --- the outage ----------------------------------------------------------------
            await link.cut()
            cut_at = clock.now()
            # The outage's own lines: on a loaded machine a try before it may also time out
            # (the room file's 2 s), a blip logged once on its own (and, when the room has
            # not been answered since, this outage then adds no line).
            log_before = len(room.log())
            outage_started = time.monotonic()
            start_s = outage_started - started
            setpoints = [22.0, 23.0, 24.0, 21.5, 22.5, 23.5, 24.5, 21.0, 25.0]
            samples: list[dict[str, Any]] = []
            last_setpoint = None
            for hour in range(1, OUTAGE_DAYS * 24 + 1):
                due = cut_at + timedelta(hours=hour)
                while clock.now() < due:
                    await _sleep_sim(clock, due)
                slot = hour % 24
                if slot in _slots(SPENDS_PER_DAY):
                    spends += await room.spend()
                if slot in _slots(PREFERENCES_PER_DAY, offset=1):
                    last_setpoint = setpoints[hour % len(setpoints)]
                    reply = await room.api(
                        "POST", "/devices/hvac/override", json={"setpoint_c": last_setpoint}
                    )
                    assert reply.status_code == 200, reply.text
                if slot in _slots(HOUSEKEEPING_PER_DAY, offset=2):
                    on = (hour // 3) % 2 == 0
                    reply = await room.api("PUT", "/housekeeping", json={"dnd": on})
                    assert reply.status_code == 200, reply.text
                if hour == OUTAGE_DAYS * 24 - 6:  # staff check the guest out at central
                    central.call(
                        "POST",
                        f"/v1/stays/{stay}/check-out",
                        json={"folio": [{"category": "room", "amount": "2400.00"}]},
                    )
                if hour % 6 == 0:
                    samples.append(await room.get("/health"))
            during = await room.get("/health")
            metrics = (await room.api("GET", "/metrics")).text
            outage_real_s = time.monotonic() - outage_started

            # What an operator sees during the outage.
            assert during["central"]["online"] is False and during["central"]["last_error"]
            pending = [s["central"]["outbox_pending"] for s in samples]
            assert pending[-1] > pending[0] > 0, pending
            for sample in samples:
                assert sample["outbox"]["classes"]["telemetry"]["events"] <= TELEMETRY_BUDGET
            assert during["outbox"]["dropped"] > 0  # three days overflowed the budget
            assert during["outbox"]["refused"] == {}  # nothing points-bearing refused
            assert _metric(metrics, "smartroom_central_online") == 0
            assert _metric(metrics, "smartroom_outbox_telemetry_dropped") > 0
            assert _metric(metrics, "smartroom_sync_failures_total") > 3
            # One line for the outage, not one per try (the failures above: more than 3).
            assert room.log()[log_before:].count("central_unreachable") <= 1
            assert "central_unreachable" in room.log()

            # --- the link heals ------------------------------------------------------------
            healed = time.monotonic()
            await link.heal()
            await room.until(room.drained, 20, "the outbox drained", every=0.2)
            await room.until(lambda: _rented(room, False), 10, "the check-out reaching the room")
            # The check-out may reach the room after the drain: what it wrote (the stay's
            # alerts cleared, say) goes up too. The room keeps writing (at this speed an
            # alert's hourly update is 0.1 s apart): what it wrote after the last time its
            # outbox was seen empty may still be unsent when it stops, nothing before.
            empty_since: list[datetime] = []

            async def drained_now() -> bool:
                asked = clock.now()
                if await room.drained():
                    empty_since.append(asked)
                    return True
                return False

            await room.until(drained_now, 10, "the check-out's events uploaded", every=0.2)
            drain_s = time.monotonic() - healed
            after = await room.get("/health")
            assert after["central"]["online"] is True
            assert "central_reachable" in room.log()
            # Room and central share one clock: at 34,560x an answer's latency is minutes of
            # room time, which must not read as a clock off (it used to: the room stepped
            # its stamps back hours, 3-5 times a run, or ahead, and central refused them).
            assert "room_clock_rebased" not in room.log()
            assert "room_clock_skew" not in room.log()
            restarts = {name: t["restarts"] for name, t in after["tasks"].items()}
            assert all(n == 0 for n in restarts.values()), restarts  # nothing stalled
            profile = central.call("GET", f"/v1/members/{member}/preferences")
            room.stop()
        view = central.call("GET", f"/v1/sync/rooms/{PROPERTY}/{room_id}")

        db = sqlite3.connect(tmp_path / "agent.db")
        try:
            rows = db.execute(
                "SELECT event_id, kind, budget, size, rejected, created_at FROM outbox"
            ).fetchall()
            detail = {
                r[0]: r[1:]
                for r in db.execute(
                    "SELECT event_id, seq, kind, created_at, sent_at, rejected, "
                    "substr(doc, 1, 400) FROM outbox"
                )
            }
            agent_id = db.execute("SELECT value FROM meta WHERE key = 'agent_id'").fetchone()[0]
            max_seq = db.execute("SELECT max(seq) FROM outbox").fetchone()[0]
            max_sent = db.execute(
                "SELECT max(seq) FROM outbox WHERE sent_at IS NOT NULL"
            ).fetchone()[0]
            unsent = {
                (r[0], r[1])
                for r in db.execute("SELECT event_id, kind FROM outbox WHERE sent_at IS NULL")
            }
            unsent_before = [
                (e, kind, at)
                for e, kind, at in db.execute(
                    "SELECT event_id, kind, created_at FROM outbox WHERE sent_at IS NULL"
                )
                if datetime.fromisoformat(at) < empty_since[-1]
            ]
            prefs_docs = [
                r[0]
                for r in db.execute(
                    "SELECT doc FROM outbox WHERE kind = 'preferences' ORDER BY seq"
                )
            ]
            logged_ids = db.execute(
                "SELECT event_id, at FROM event_log "
                "WHERE kind IN ('room_status', 'scene_applied') ORDER BY id"
            ).fetchall()
            logged = len(logged_ids)
        finally:
            db.close()

    # Every purchase once, every record there, telemetry thinned across the whole outage.
    ours = {r[0]: r[1] for r in rows}
    theirs = central.event_ids(agent_id)
    # Only what the agent wrote after its outbox was last seen empty may be unsent (and
    # never a purchase: those were all made during the outage).
    assert unsent_before == [], {e: detail[e] for e, _k, _at in unsent_before}
    assert "room_spend" not in {kind for _e, kind in unsent}, unsent
    missing = set(ours) - {e for e, _k in unsent} - theirs
    assert not missing, ({e: detail.get(e) for e in missing}, central.dead_letters(agent_id))
    # Central may hold telemetry the room thinned while its upload was in flight (the
    # answer then acknowledges a row that is gone): telemetry only, never anything else.
    extra = theirs - set(ours)
    assert {k for e, k in central.event_kinds(agent_id).items() if e in extra} <= {
        "room_status",
        "scene_applied",
        "energy",
    }
    assert [r for r in rows if r[4] is not None] == []  # nothing dead-lettered
    count, points = central.spend_points(member)
    # Once each (a duplicate would count twice); the purchases that arrived after the
    # check-out are reconciled with its folio: the stay holds the earn rules over the room
    # line and every purchase, exactly (loyalty.services.folio).
    assert count == spends and points > 0
    assert central.points(member) > points
    with central.engine.connect() as conn:
        row = stays_service.get_stay(conn, stay)
        want = folio.target(central.app.state.ctx, conn, row, row.earn_tier, row.checked_out_at)
        assert folio.held(conn, stay, "points") == want.points
    assert want.eligible_amount == Decimal("2400.00") + Decimal("36.00") * spends
    kinds = [r[1] for r in rows]
    assert kinds.count("preferences") >= OUTAGE_DAYS  # a change equal to the last is none
    assert kinds.count("housekeeping") >= HOUSEKEEPING_PER_DAY * OUTAGE_DAYS - 1
    # The guest's setpoint changes taught the member's comfort offset: central has the
    # room's last word.
    last_prefs = json.loads(prefs_docs[-1])["payload"]
    assert profile["comfort_offset"] == last_prefs["comfort_offset"], (profile, last_prefs)
    assert last_setpoint is not None
    # Thinned, not truncated: dropping oldest first would have kept a run of the newest;
    # thinning leaves gaps (a kept event older than a dropped one) and the oldest one.
    made = [e for e, at in logged_ids if datetime.fromisoformat(at) >= cut_at]
    kept = [e for e in made if e in ours]
    assert 0 < len(kept) < len(made) and kept != made[len(made) - len(kept) :], (kept, made)
    # Central's high-water mark is the room's: every acknowledged event, and at most the
    # status written as the agent stopped.
    assert view["dead_letters"] == 0 and max_sent <= view["high_water_seq"][agent_id] <= max_seq

    # The sizing claim from this run's real rows: 7 days at the planned rate vs the budgets.
    sizes: dict[str, list[int]] = {}
    for _eid, _kind, budget, size, _rej, _at in rows:
        sizes.setdefault(str(budget), []).append(int(size))
    fits = {}
    for cls, per_day in PLANNED.items():
        mean = sum(sizes.get(cls, [0])) / max(1, len(sizes.get(cls, [])))
        events, size = 7 * per_day, int(7 * per_day * mean)
        budget = DEFAULT_BUDGETS[cls]  # type: ignore[index]
        assert events <= budget.max_events and size <= budget.max_bytes, (cls, events, size)
        fits[cls] = (events, round(mean), size)
    kept_telemetry = sum(1 for r in rows if r[2] == "telemetry")
    print(
        f"3-day outage: {spends} purchases, {kinds.count('preferences')} preference changes, "
        f"{len(extra)} thinned in flight; {logged} telemetry events logged, {kept_telemetry} kept "
        f"(budget {TELEMETRY_BUDGET}); outage {outage_real_s:.1f} s real, drain + check-out "
        f"{drain_s:.1f} s; start-up {start_s:.1f} s; 7 days at the planned rate "
        f"(events, mean B, total B): {json.dumps(fits)}; test {time.monotonic() - started:.1f} s"
    )


def _slots(per_day: int, offset: int = 0) -> set[int]:
    return {(offset + i * 24 // per_day) % 24 for i in range(per_day)}


async def _sleep_sim(clock: ScaledClock, until: datetime) -> None:
    import asyncio

    gap = (until - clock.now()).total_seconds() / clock.speed
    await asyncio.sleep(max(0.005, gap))


async def _rented(room: RoomProcess, want: bool) -> bool:
    return bool((await room.get("/status"))["rented"] == want)
