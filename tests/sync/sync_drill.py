"""A room's sync as a process of its own, for the crash tests: opens the agent store, writes
`--spends` minibar purchases (one committed transaction each, skipping the ones an earlier run
already wrote), then drains the outbox and pulls until central has nothing more. Exits 0 when
done; SMARTROOM_FAULTS makes it SIGKILL itself at a fault point (sync/faults.py).

    python sync_drill.py --db agent.db --url http://127.0.0.1:PORT --key lk... \
        --room R0001 --stay s_... --member m_... --spends 20
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

from agent.presence.sealing import Sealer
from agent.store import AgentStore, NewEvent
from smartroom.clock import SystemClock
from sync.client import SyncClient, SyncError
from sync.engine import SyncEngine
from sync.wire import EventKind, RoomSpend


async def main() -> int:
    parser = argparse.ArgumentParser()
    for name in ("--db", "--url", "--key", "--room", "--stay", "--member"):
        parser.add_argument(name, required=True)
    parser.add_argument("--spends", type=int, required=True)
    args = parser.parse_args()
    path = Path(args.db)
    store = AgentStore(
        path,
        clock=SystemClock(),
        property_id="SHA-01",
        room_id=args.room,
        sealer=Sealer.from_file(path.with_suffix(".key")),
    )
    done = store.db.execute("SELECT count(*) FROM outbox WHERE kind = 'room_spend'").fetchone()[0]
    payload = RoomSpend(category="minibar", item="water", amount="18.00").model_dump(mode="json")
    for _ in range(int(done), args.spends):
        event = NewEvent(EventKind.ROOM_SPEND, payload, stay_id=args.stay, member_id=args.member)
        store.commit(events=[event])
    client = SyncClient(args.url, args.key, timeout_s=5)
    engine = SyncEngine(store, client, batch_events=4)
    failures = 0
    while store.outbox_depth() > 0 or failures == 0:
        try:
            await engine.push()
            await engine.pull_all()
            failures = -1 if store.outbox_depth() == 0 else 0
            if failures == -1:
                break
        except SyncError:
            failures += 1
            if failures >= 15:  # central is down: give up, the test restarts it
                break
            await asyncio.sleep(0.2)
    await client.aclose()
    ok = store.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    store.close()
    if not ok:
        return 3
    return 0 if failures == -1 else 4


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
