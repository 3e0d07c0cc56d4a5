"""What one step of the room writes, and when: the memory, the step's outbox events and the
preferences it learnt, in ONE store transaction (`AgentStore.commit_step`).

    writer = StepWriter(store, clock, memory)       # the memory as loaded counts as written
    writer.hold(event)                              # e.g. a scene result, for the next step
    writer.commit(memory, events, learnt)           # once per step

The memory is written at once when something durable changed, telemetry alone at a steady
rate. When the store cannot write (disk full) the room keeps running on its memory and the
step's records wait here for the next commit, bounded.
"""

from __future__ import annotations

import sqlite3

from agent.room_memory import Memory
from agent.sqlite_db import is_write_failure
from agent.store import AgentStore, NewEvent
from smartroom.clock import Clock
from smartroom.log import get_logger
from sync.outbox import budget_class
from sync.wire import MemberPreferences

log = get_logger("agent.room")

TELEMETRY_WRITE_S = 300.0  # telemetry-only memory changes are written this often
HELD_MAX = 1_000  # records held in memory while the store cannot write (disk full)


class StepWriter:
    def __init__(self, store: AgentStore, clock: Clock, memory: Memory) -> None:
        self.store = store
        self.clock = clock
        self._written = (memory.durable_key(), clock.monotonic())
        self._pending: list[NewEvent] = []  # records waiting for the next commit
        self._held_since_failure = 0  # > 0 while the store cannot write

    def hold(self, event: NewEvent) -> None:
        """An event produced between steps (a scene result): written with the next step."""
        self._pending.append(event)

    def commit(
        self, memory: Memory, events: list[NewEvent], learnt: MemberPreferences | None
    ) -> None:
        events = [*events, *self._pending]
        self._pending.clear()
        key = memory.durable_key()
        mono = self.clock.monotonic()
        due = key != self._written[0] or mono - self._written[1] >= TELEMETRY_WRITE_S
        if not (due or events or learnt is not None):
            return
        try:
            self.store.commit_step(memory.to_json() if due else None, events, learnt)
        except sqlite3.OperationalError as exc:
            if not is_write_failure(exc):
                raise
            self._unwritten(events, exc)
            return
        if self._held_since_failure:
            log.info("store_writable_again", events=self._held_since_failure)
            self._held_since_failure = 0
        if due:
            self._written = (key, mono)

    def _unwritten(self, events: list[NewEvent], exc: sqlite3.OperationalError) -> None:
        """The store cannot write (disk full): the step's records wait in memory for the
        next commit (bounded; telemetry is let go first, since its outbox class is the one
        that may be thinned anyway)."""
        keep = [e for e in events if budget_class(e.kind) != "telemetry"][-HELD_MAX:]
        if not self._held_since_failure:
            log.error("store_write_failed", error=str(exc), holding=len(keep))
        self._held_since_failure = max(1, len(keep))
        self._pending[:0] = keep
