"""One watcher per worker process for all its open boards.

Every open board waits on the hub, not on the database: the hub asks the change feed
(`board_changes`, shared by every worker process) for the newest change of each property
someone is watching, once per `poll_s`, in one query, off the event loop; and it loads a
property's room views once per (change, few seconds) however many boards show them. So the
database sees one cheap query per process every 0.3 s, whatever the number of tablets.

    hub = BoardHub(engine, clock)
    newest = await hub.wait("SHA-01", after=412, within_s=3.0)   # 412 if nothing changed
    rooms = await hub.views("SHA-01", newest)                    # list[RoomView], shared
"""

from __future__ import annotations

import asyncio
from collections import defaultdict

from sqlalchemy import Engine, func, select

from loyalty.board.model import RoomView
from loyalty.board.views import load_board
from loyalty.db.board_tables import board_changes
from smartroom.clock import Clock

VIEW_TTL_S = 2.0  # staleness is a matter of time too: views older than this are reloaded


class BoardHub:
    def __init__(self, engine: Engine, clock: Clock, *, poll_s: float = 0.3) -> None:
        self.engine, self.clock, self.poll_s = engine, clock, poll_s
        self._newest: dict[str, int] = {}
        self._changed: dict[str, asyncio.Event] = defaultdict(asyncio.Event)
        self._watchers: dict[str, int] = defaultdict(int)
        self._poller: asyncio.Task[None] | None = None
        self._views: dict[str, tuple[int, float, list[RoomView]]] = {}
        self._loading: dict[str, asyncio.Lock] = defaultdict(asyncio.Lock)

    def _newest_of(self, properties: list[str]) -> dict[str, int]:
        c = board_changes.c
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(c.property_id, func.max(c.seq))
                .where(c.property_id.in_(properties))
                .group_by(c.property_id)
            ).all()
        return {pid: int(seq) for pid, seq in rows}

    async def _poll(self) -> None:
        while any(self._watchers.values()):
            watched = sorted(p for p, n in self._watchers.items() if n)
            newest = await asyncio.to_thread(self._newest_of, watched)
            for pid, seq in newest.items():
                if seq != self._newest.get(pid):
                    self._newest[pid] = seq
                    self._changed.pop(pid, asyncio.Event()).set()  # wake, then a fresh one
            await asyncio.sleep(self.poll_s)
        self._poller = None

    async def wait(self, property_id: str, after: int, within_s: float) -> int:
        """The newest change number once it is above `after`; `after` if nothing changed
        within `within_s`."""
        if self._newest.get(property_id, -1) > after:
            return self._newest[property_id]
        self._watchers[property_id] += 1
        try:
            if self._poller is None or self._poller.done():
                self._poller = asyncio.create_task(self._poll())
            event = self._changed[property_id]
            try:
                async with asyncio.timeout(within_s):
                    while self._newest.get(property_id, -1) <= after:
                        await event.wait()
                        event = self._changed[property_id]
            except TimeoutError:
                return after
            return self._newest[property_id]
        finally:
            self._watchers[property_id] -= 1

    async def views(self, property_id: str, seq: int) -> list[RoomView]:
        """The property's rooms as of change `seq` (or later), shared by every board."""
        loop = asyncio.get_running_loop()
        async with self._loading[property_id]:
            cached = self._views.get(property_id)
            if cached and cached[0] >= seq and loop.time() - cached[1] < VIEW_TTL_S:
                return cached[2]

            def load() -> list[RoomView]:
                with self.engine.connect() as conn:
                    return load_board(conn, property_id, self.clock.now())

            rooms = await asyncio.to_thread(load)
            self._views[property_id] = (seq, loop.time(), rooms)
            return rooms
