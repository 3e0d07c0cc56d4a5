"""The agent's local SQLite: the only module that opens it.

Holds the cached stays and member preferences for this room (so the room keeps working when
head office is unreachable), the room state (DND/MUR, first entries, manual changes), an
event log, and the sync outbox. A state change and the events it causes are written in ONE
transaction (`commit`), so a crash can never leave a change without its outbox entry or an
outbox entry without its change. WAL with `synchronous=FULL`: survives power loss, not only
application crashes (the Pi has no UPS).

    store = AgentStore(Path("agent.db"), clock=clock, property_id="SHA-01", room_id="1201")
    events = store.commit(state={"dnd": True}, events=[NewEvent(EventKind.HOUSEKEEPING,
                                                               {"dnd": True, "via": "button"})])
    store.pending(limit=500)          # SyncEvents not yet acknowledged by central
    store.mark_sent([e.event_id for e in events])
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from agent.presence.sealing import Sealer
from agent.sqlite_db import Database
from agent.store_schema import MEMORY_KEY, MIGRATIONS, NewEvent, OutboxRefused, StoreError, migrate
from agent.store_stays import StayStore
from agent.store_sync import SyncStore
from smartroom.clock import Clock
from sync import faults
from sync.outbox import DEFAULT_BUDGETS, Budget, BudgetClass, Usage, budget_class
from sync.wire import MemberPreferences, RoomCredentials, SyncEvent, new_id

# The schema's names, where the store's callers have always found them.
__all__ = [
    "MEMORY_KEY",
    "MIGRATIONS",
    "AgentStore",
    "NewEvent",
    "OutboxRefused",
    "StoreError",
    "parse_time",
]


class AgentStore(StayStore, SyncStore):
    def __init__(
        self,
        path: Path,
        *,
        clock: Clock,
        property_id: str,
        room_id: str,
        sealer: Sealer | None = None,
        budgets: dict[BudgetClass, Budget] | None = None,
    ) -> None:
        self.path = path
        self._clock = clock
        self._sealer = sealer
        self.budgets = budgets or DEFAULT_BUDGETS  # outbox budgets per class (sync.outbox)
        self.refused: dict[str, int] = {}  # never-dropped events refused, per class
        self.dropped = 0  # telemetry events thinned or dropped under disk pressure
        self.property_id, self.room_id = property_id, room_id
        path.parent.mkdir(parents=True, exist_ok=True)
        # Private at rest: SQLite gives its -wal and -shm files the database file's mode.
        os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
        os.chmod(path, 0o600)
        self.db = Database(str(path), now=self._now)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.execute("PRAGMA busy_timeout=5000")
        migrate(self.db, path)
        self.agent_id = self._meta_default("agent_id", new_id("agt_"))

    # --- lifecycle -----------------------------------------------------------------------

    @property
    def schema_version(self) -> int:
        return int(self.db.execute("SELECT max(version) FROM schema_version").fetchone()[0])

    def close(self) -> None:
        self.db.close()

    def _now(self) -> str:
        return self._clock.now().isoformat()

    def _meta_default(self, key: str, value: str) -> str:
        with self.db.atomic():
            self.db.execute("INSERT OR IGNORE INTO meta (key, value) VALUES (?, ?)", [key, value])
        return str(self.db.execute("SELECT value FROM meta WHERE key = ?", [key]).fetchone()[0])

    # --- room state + events, in one transaction ------------------------------------------

    def get_state(self, key: str, default: Any = None) -> Any:
        row = self.db.execute("SELECT value FROM room_state WHERE key = ?", [key]).fetchone()
        return default if row is None else json.loads(row[0])

    def load_memory(self) -> dict[str, Any] | None:
        """The room's memory document as last written (None on a new box)."""
        value = self.get_state(MEMORY_KEY)
        return value if isinstance(value, dict) else None

    def commit_step(
        self,
        memory: dict[str, Any] | None,
        events: Sequence[NewEvent],
        preferences: MemberPreferences | None = None,
    ) -> list[SyncEvent]:
        """One step of the room: its new memory, the outbox events it produced and the
        member preferences it learnt, in one transaction (memory None: unchanged)."""
        with self.db.atomic():
            created = self.commit(
                state=None if memory is None else {MEMORY_KEY: memory}, events=events
            )
            if preferences is not None:
                self.put_preferences(preferences, dirty=True)
        return created

    def events_since(self, since: int, limit: int = 100) -> list[dict[str, Any]]:
        """The room's event log after position `since`, oldest first, with each event's
        sync state: "local" (never leaves the box), "pending" or "sent"."""
        rows = self.db.execute(
            "SELECT l.id, l.at, l.kind, l.event_id, l.payload, o.sent_at, o.seq "
            "FROM event_log l LEFT JOIN outbox o ON o.event_id = l.event_id "
            "WHERE l.id > ? ORDER BY l.id LIMIT ?",
            [since, limit],
        ).fetchall()
        out = []
        for row_id, at, kind, eid, payload, sent_at, seq in rows:
            if eid is None:
                sync = "local"
            elif seq is None or sent_at is not None:
                sync = "sent"  # acknowledged (pruned from the outbox after a week)
            else:
                sync = "pending"
            out.append(
                {
                    "id": row_id,
                    "at": at,
                    "kind": kind,
                    "event_id": eid,
                    "sync": sync,
                    "sent_at": sent_at,
                    "payload": json.loads(payload),
                }
            )
        return out

    def commit(
        self, *, state: dict[str, Any] | None = None, events: Sequence[NewEvent] = ()
    ) -> list[SyncEvent]:
        """Write state keys and their events atomically; returns the outbox events created."""
        now = self._now()
        created: list[SyncEvent] = []
        usage: dict[BudgetClass, Usage] = {}  # unsent rows per class, counted once
        with self.db.atomic():
            for key, value in (state or {}).items():
                self.db.execute(
                    "INSERT INTO room_state (key, value, updated_at) VALUES (?, ?, ?) "
                    "ON CONFLICT(key) DO UPDATE SET value = excluded.value, "
                    "updated_at = excluded.updated_at",
                    [key, json.dumps(value, default=str), now],
                )
            for event in events:
                if event.sync:
                    self._make_room(event.kind, event.payload, usage)
                event_id = new_id("evt_") if event.sync else None
                self.db.execute(
                    "INSERT INTO event_log (at, kind, event_id, payload) VALUES (?, ?, ?, ?)",
                    [now, event.kind.value, event_id, json.dumps(event.payload, default=str)],
                )
                if event_id is None:
                    continue
                cursor = self.db.execute(
                    "INSERT INTO outbox (event_id, kind, doc, created_at) VALUES (?, ?, '', ?)",
                    [event_id, event.kind.value, now],
                )
                seq = int(cursor.lastrowid or 0)
                doc = SyncEvent(
                    event_id=event_id,
                    seq=seq,
                    hlc=self._next_hlc(),
                    property_id=self.property_id,
                    room_id=self.room_id,
                    kind=event.kind,
                    at=self.sync_now(),
                    stay_id=event.stay_id,
                    member_id=event.member_id,
                    payload=json.loads(json.dumps(event.payload, default=str)),
                )
                text = doc.model_dump_json()
                cls = budget_class(event.kind)
                self.db.execute(
                    "UPDATE outbox SET doc = ?, size = ?, budget = ? WHERE seq = ?",
                    [text, len(text), cls, seq],
                )
                counted = usage[cls]
                usage[cls] = Usage(counted.events + 1, counted.size + len(text))
                created.append(doc)
            faults.point("agent.commit.after_outbox")
        return created

    def _wall_ms(self) -> int:
        return int(self._clock.now().timestamp() * 1000)

    def wall_ms(self) -> int:
        """The room's wall clock in Unix ms (the sync engine notes when a request left)."""
        return self._wall_ms()

    def recent_events(self, limit: int = 50) -> list[dict[str, Any]]:
        rows = self.db.execute(
            "SELECT at, kind, event_id, payload FROM event_log ORDER BY id DESC LIMIT ?", [limit]
        ).fetchall()
        return [
            {"at": at, "kind": kind, "event_id": eid, "payload": json.loads(payload)}
            for at, kind, eid, payload in rows
        ]

    # --- outbox ---------------------------------------------------------------------------

    def pending(self, limit: int = 500) -> list[SyncEvent]:
        rows = self.db.execute(
            "SELECT doc FROM outbox WHERE sent_at IS NULL ORDER BY seq LIMIT ?", [limit]
        ).fetchall()
        return [SyncEvent.model_validate_json(r[0]) for r in rows]

    def outbox_depth(self) -> int:
        return int(
            self.db.execute("SELECT count(*) FROM outbox WHERE sent_at IS NULL").fetchone()[0]
        )

    def mark_sent(self, event_ids: Iterable[str]) -> int:
        ids = list(event_ids)
        now = self._now()
        with self.db.atomic():
            for event_id in ids:
                self.db.execute(
                    "UPDATE outbox SET sent_at = ? WHERE event_id = ? AND sent_at IS NULL",
                    [now, event_id],
                )
        return len(ids)

    def prune(self, *, keep_sent: timedelta = timedelta(days=7), keep_log: int = 50_000) -> None:
        """Drop acknowledged outbox rows older than `keep_sent` and old log lines. Unsent
        events are never dropped (AUTOINCREMENT keeps `seq` increasing regardless)."""
        cutoff = (self._clock.now() - keep_sent).isoformat()
        with self.db.atomic():
            self.db.execute(
                "DELETE FROM outbox WHERE sent_at IS NOT NULL AND sent_at < ?", [cutoff]
            )
            self.db.execute(
                "DELETE FROM event_log WHERE id <= (SELECT max(id) FROM event_log) - ?",
                [keep_log],
            )

    def put_room_credentials(self, creds: RoomCredentials) -> None:
        """Sync's writer for the room's credentials (agent/presence/vault.py does the work)."""
        from agent.presence.vault import CredentialVault  # the vault builds on this module

        CredentialVault(self).put_room_credentials(creds)


def parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value)
