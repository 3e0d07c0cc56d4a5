"""The agent's sync worker notices a healed link within about a second, without more
requests during the outage: with a backoff of 2-4 s then 4-8 s, only the TCP probe (a
connect, no request) can bring the upload back that fast after central returns."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime
from pathlib import Path

from sync_harness import Central, engine_for, open_store, room_name, spend

from smartroom.clock import SystemClock
from smartroom.services import AppServer, free_port
from sync.client import SyncClient
from sync.worker import Hooks, SyncWorker


async def _drained(store: object, within_s: float) -> bool:
    for _ in range(int(within_s / 0.05)):
        if store.outbox_depth() == 0:  # type: ignore[attr-defined]
            return True
        await asyncio.sleep(0.05)
    return False


async def test_a_healed_link_is_noticed_by_the_probe_not_the_backoff(tmp_path: Path) -> None:
    clock = SystemClock()
    central = Central(f"sqlite:///{tmp_path / 'central.db'}", clock)
    port = free_port()
    server = AppServer(central.app, port=port).start()
    central.base_url = server.url
    room = room_name()
    member, stay = central.checked_in_member(room)
    store = open_store(tmp_path / "agent.db", clock, room)
    engine = engine_for(store, server.url, central.agent_key(room), timeout_s=5)
    client = engine.client
    assert isinstance(client, SyncClient)
    worker = SyncWorker(
        engine,
        store,
        Hooks(),
        clock,
        backoff_initial_s=4.0,
        backoff_max_s=30.0,
        probe=client.probe,
    )
    server.stop()
    assert not await client.probe()
    tasks = [asyncio.create_task(worker.run_upload()), asyncio.create_task(worker.run_download())]
    try:
        spend(store, stay, member)
        await asyncio.sleep(5.0)  # the outage: tries at 0 s, 2-4 s, then 6-12 s; probes between
        assert worker.online is False and store.outbox_depth() == 1
        # Requests follow the backoff, not the probe (one upload and one pull each time).
        assert worker.uploads_failed <= 2 and worker.pulls_failed <= 2
        server = AppServer(central.app, port=port).start()
        healed = datetime.now(UTC)
        # The backoff alone would try again 1-7 s from now; the probe sees it in ~0.5 s.
        assert await _drained(store, within_s=2.5), "not noticed within 2.5 s of healing"
        took = (datetime.now(UTC) - healed).total_seconds()
        assert central.spend_points(member)[0] == 1 and worker.online is True
        print(f"noticed and drained {took:.2f} s after central returned")
    finally:
        for task in tasks:
            task.cancel()
        done, stuck = await asyncio.wait(tasks, timeout=10)
        assert not stuck, "a sync task ignored its cancellation (the agent could not stop)"
        for task in done:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await client.aclose()
        server.stop()
        store.close()
        central.engine.dispose()
