"""A room's sync as the agent runs it, as a process of its own, for the network chaos test:
the room file (validated like the agent's, `agent.config.load_room_config`), the agent's
SQLite store, and the agent's sync worker (`agent.sync_link.make_worker`: upload, long-poll
download and status tasks with the `[central]` timeouts and backoff) — plus a guest who keeps
buying from the minibar, changing the setpoint and pressing DND/MUR.

    python chaos_room.py --config room.toml --changes changes.jsonl --summary summary.json

SIGUSR1: the guest stops (sync goes on). SIGTERM: sync stops, `--summary` gets the worker's
counters, and the process exits 0. Every preference change made here is appended to
`--changes` (its stamped field, as stored) so the test can tell which change must win.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import signal
import sys
import traceback
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from agent.config import load_room_config
from agent.presence.sealing import Sealer
from agent.store import AgentStore, NewEvent
from agent.sync_link import make_worker, status_event
from smartroom.clock import SystemClock
from sync.inbox import Applied
from sync.wire import EventKind, MemberPreferences, RoomSpend, RoomStatus
from sync.worker import Hooks

AMOUNTS = ("6.00", "18.00", "36.00", "88.50")


class Guest:
    """What happens in the room: spends on the stay the room knows is checked in, setpoint
    changes for its member, DND/MUR presses (the status the sync-status task reports)."""

    def __init__(self, store: AgentStore, changes: Path, seed: int) -> None:
        self.store, self.changes, self.rng = store, changes, random.Random(seed)
        room = store.room_id
        self.status = RoomStatus(
            property_id=store.property_id,
            room_id=room,
            at=datetime.now(UTC),
            rented=True,
            occupied=True,
            member_present=True,
            scene="welcome",
        )
        self.spends = self.preference_changes = self.presses = 0

    def _stay(self) -> Any:
        stays = [s for s in self.store.stays() if s.status == "checked_in"]
        return stays[-1] if stays else None

    def act(self) -> None:
        stay, roll = self._stay(), self.rng.random()
        if stay is not None and roll < 0.5:
            amount = self.rng.choice(AMOUNTS)
            payload = RoomSpend(category="minibar", item="cola", amount=amount)
            event = NewEvent(
                EventKind.ROOM_SPEND,
                payload.model_dump(mode="json"),
                stay_id=stay.stay_id,
                member_id=stay.member_id,
            )
            self.store.commit(events=[event])
            self.spends += 1
        elif stay is not None and roll < 0.75:
            self._setpoint(stay.member_id)
        else:
            dnd = self.rng.random() < 0.5
            self.status = self.status.model_copy(
                update={"dnd": dnd, "mur": not dnd and self.rng.random() < 0.5}
            )
            self.presses += 1

    def _setpoint(self, member_id: str) -> None:
        value = round(self.rng.uniform(18.0, 27.0), 1)
        doc = {
            "member_id": member_id,
            "climate": {"setpoint_c": {"value": value, "updated_at": datetime.now(UTC)}},
        }
        self.store.put_preferences(MemberPreferences.model_validate(doc), dirty=True)
        stored = self.store.preferences(member_id)
        assert stored is not None and stored.climate.setpoint_c is not None
        assert stored.climate.setpoint_c.value == value, "the room's own change must win here"
        field = stored.climate.setpoint_c.model_dump(mode="json")
        with self.changes.open("a", encoding="utf-8") as out:
            out.write(json.dumps({"member_id": member_id, "field": field}) + "\n")
        self.preference_changes += 1


async def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--config", type=Path, required=True)
    parser.add_argument("--changes", type=Path, required=True)
    parser.add_argument("--summary", type=Path, required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--pause-s", type=float, default=0.3, help="between guest actions")
    args = parser.parse_args()
    config = load_room_config(args.config)
    clock = SystemClock()
    store = AgentStore(
        config.store.path,
        clock=clock,
        property_id=config.room.property_id,
        room_id=config.room.room_id,
        sealer=Sealer.from_file(config.store.path.parent / "device.key"),
    )
    guest = Guest(store, args.changes, args.seed)
    hooks = Hooks(
        status=lambda: guest.status,
        # As agent.sync_link stamps it: central orders a room's reports by this time.
        status_event=lambda s: status_event(s.model_copy(update={"at": store.sync_now()})),
    )
    worker = make_worker(config, store, hooks, clock)
    assert worker is not None, "the room file has no [central]"

    async def applied(page: Applied) -> None:  # as agent.sync_link.SyncLink.applied reports
        if page.config_version is not None:
            event = NewEvent(EventKind.CONFIG_APPLIED, {"version": page.config_version})
            store.commit(events=[event])

    hooks.applied = applied
    loop = asyncio.get_running_loop()
    guest_stops, sync_stops = asyncio.Event(), asyncio.Event()
    loop.add_signal_handler(signal.SIGUSR1, guest_stops.set)
    loop.add_signal_handler(signal.SIGTERM, sync_stops.set)

    async def play() -> None:
        while not guest_stops.is_set():
            guest.act()
            await asyncio.sleep(args.pause_s * guest.rng.uniform(0.5, 1.5))

    tasks = [
        asyncio.create_task(coro)
        for coro in (worker.run_upload(), worker.run_download(), worker.run_status(), play())
    ]

    def died(task: asyncio.Task[None]) -> None:
        # A sync task that ends with an error would leave the room silently behind (the
        # agent's runtime restarts it; this process has no supervisor): say so in the log
        # at once and stop, so the stage reports it instead of waiting to converge.
        if not task.cancelled() and task.exception() is not None:
            traceback.print_exception(task.exception(), file=sys.stderr)
            sys.stderr.flush()
            os._exit(3)

    for task in tasks:
        task.add_done_callback(died)
    await sync_stops.wait()
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError):
            await task
    await worker.engine.client.aclose()  # type: ignore[attr-defined]
    engine = worker.engine
    summary = {
        "spends": guest.spends,
        "preference_changes": guest.preference_changes,
        "status_presses": guest.presses,
        "uploads_failed": worker.uploads_failed,
        "pulls_failed": worker.pulls_failed,
        "accepted": engine.accepted,
        "duplicates": engine.duplicates,
        "rejected": engine.rejected,
        "pages": engine.pages,
        "outbox_pending": store.outbox_depth(),
    }
    store.close()
    args.summary.write_text(json.dumps(summary), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
