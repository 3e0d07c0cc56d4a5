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

import base64
import json
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from agent.presence.sealing import Sealer
from agent.sqlite_db import Database
from agent.store_sync import SyncStore
from smartroom.clock import Clock
from sync import faults, inbox
from sync.outbox import DEFAULT_BUDGETS, Budget, BudgetClass, Usage, budget_class
from sync.wire import (
    EventKind,
    MemberPreferences,
    RoomCredentials,
    StayAssignment,
    SyncEvent,
    new_id,
)


@dataclass(frozen=True, slots=True)
class NewEvent:
    kind: EventKind
    payload: dict[str, Any] = field(default_factory=dict)
    stay_id: str | None = None
    member_id: str | None = None
    sync: bool = True  # False: local event log only (never leaves the box)


def _m1(db: Database) -> None:
    db.executescript(
        """
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        CREATE TABLE stays (
            stay_id TEXT PRIMARY KEY, member_id TEXT NOT NULL, status TEXT NOT NULL,
            arrival TEXT NOT NULL, departure TEXT NOT NULL, doc TEXT NOT NULL,
            fetched_at TEXT NOT NULL);
        CREATE TABLE preferences (
            member_id TEXT PRIMARY KEY, doc TEXT NOT NULL, fetched_at TEXT NOT NULL,
            dirty INTEGER NOT NULL DEFAULT 0);
        CREATE TABLE room_state (key TEXT PRIMARY KEY, value TEXT NOT NULL,
            updated_at TEXT NOT NULL);
        CREATE TABLE event_log (
            id INTEGER PRIMARY KEY AUTOINCREMENT, at TEXT NOT NULL, kind TEXT NOT NULL,
            event_id TEXT, payload TEXT NOT NULL);
        CREATE TABLE outbox (
            seq INTEGER PRIMARY KEY AUTOINCREMENT, event_id TEXT NOT NULL UNIQUE,
            kind TEXT NOT NULL, doc TEXT NOT NULL, created_at TEXT NOT NULL, sent_at TEXT);
        CREATE INDEX outbox_unsent ON outbox (seq) WHERE sent_at IS NULL;
        """
    )


def _m2(db: Database) -> None:
    # Issue 15: secrets leave the stay documents for sealed rows; revocations; stays taken
    # in from a room key while central was unreachable (`provisional`, until sync answers).
    db.executescript(
        """
        CREATE TABLE credentials (name TEXT PRIMARY KEY, sealed BLOB NOT NULL,
            updated_at TEXT NOT NULL);
        CREATE TABLE revoked_keys (stay_id TEXT PRIMARY KEY, not_after TEXT NOT NULL,
            reason TEXT NOT NULL);
        ALTER TABLE stays ADD COLUMN provisional INTEGER NOT NULL DEFAULT 0;
        UPDATE stays SET doc = json_remove(doc, '$.ble_secret_b64');
        """
    )


def _m3(db: Database) -> None:
    # The room's memory is one typed document now (agent.room_memory); the per-key state
    # and its per-stay keys (first_entry:<stay>, outings:<stay>) that grew with every stay
    # are gone. The event log gets an index for `GET /events?since=`.
    db.execute("DELETE FROM room_state WHERE key <> 'memory'")
    db.execute("CREATE INDEX IF NOT EXISTS event_log_event_id ON event_log (event_id)")


# Append only: a released migration is never edited; a new one is added at the end.
def _m4(db: Database) -> None:
    db.executescript(inbox.MIGRATION)  # issue 16: cursors, inbox tables, outbox budgets


MIGRATIONS: tuple[Callable[[Database], None], ...] = (_m1, _m2, _m3, _m4)
MEMORY_KEY = "memory"


class StoreError(RuntimeError):
    pass


class OutboxRefused(StoreError):
    """A never-dropped event did not fit its budget: the whole change was refused."""


class AgentStore(SyncStore):
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
        self._migrate()
        self.agent_id = self._meta_default("agent_id", new_id("agt_"))

    # --- lifecycle -----------------------------------------------------------------------

    def _migrate(self) -> None:
        db = self.db
        db.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
        row = db.execute("SELECT max(version) FROM schema_version").fetchone()
        current = row[0] or 0
        if current > len(MIGRATIONS):
            raise StoreError(
                f"{self.path} has schema version {current}, newer than this agent knows "
                f"({len(MIGRATIONS)}): upgrade the agent, do not downgrade it"
            )
        for version in range(current + 1, len(MIGRATIONS) + 1):
            with db.atomic():
                MIGRATIONS[version - 1](db)
                db.execute("INSERT INTO schema_version (version) VALUES (?)", [version])

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

    # --- stays and preferences ------------------------------------------------------------

    def _check_room(self, stay: StayAssignment) -> None:
        if stay.room_id != self.room_id or stay.property_id != self.property_id:
            raise StoreError(
                f"stay {stay.stay_id} is for {stay.property_id}/{stay.room_id}, "
                f"not this room ({self.property_id}/{self.room_id})"
            )

    def _put_stay(self, stay: StayAssignment, now: str, *, provisional: bool) -> None:
        # The secret never goes into the document: it is sealed in `credentials`.
        doc = stay.model_copy(update={"ble_secret_b64": None}).model_dump_json(exclude_none=True)
        self.db.execute(
            "INSERT INTO stays (stay_id, member_id, status, arrival, departure, doc, "
            "fetched_at, provisional) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT(stay_id) DO NOTHING",
            [
                stay.stay_id,
                stay.member_id,
                stay.status,
                stay.arrival.isoformat(),
                stay.departure.isoformat(),
                doc,
                now,
                int(provisional),
            ],
        )
        if stay.ble_secret_b64 and self._sealer is not None:
            self.put_sealed(f"stay:{stay.stay_id}", base64.b64decode(stay.ble_secret_b64), now)

    def put_sealed(self, name: str, value: bytes, now: str | None = None) -> None:
        assert self._sealer is not None
        self.db.execute(
            "INSERT INTO credentials (name, sealed, updated_at) VALUES (?, ?, ?) "
            "ON CONFLICT(name) DO UPDATE SET sealed = excluded.sealed, "
            "updated_at = excluded.updated_at",
            [name, self._sealer.seal(value, name=name), now or self._now()],
        )

    def replace_stays(self, stays: Sequence[StayAssignment]) -> None:
        """Central's current list for this room replaces the cache (foreign rooms refused),
        including stays taken in provisionally from a room key: central's answer wins."""
        for stay in stays:
            self._check_room(stay)
        now = self._now()
        with self.db.atomic():
            self.db.execute("DELETE FROM stays")
            self.db.execute("DELETE FROM credentials WHERE name LIKE 'stay:%'")
            for stay in stays:
                self._put_stay(stay, now, provisional=False)

    def put_provisional_stay(self, stay: StayAssignment) -> bool:
        """A stay vouched for by a valid room key while central is unreachable; False if
        the room already knows it (central's copy is kept)."""
        self._check_room(stay)
        with self.db.atomic():
            cursor = self.db.execute(
                "SELECT status FROM stays WHERE stay_id = ?", [stay.stay_id]
            ).fetchone()
            if cursor is not None and cursor[0] == "checked_in":
                return False
            # A cached booking the room has not seen checked in yet: the key says it is.
            self.db.execute("DELETE FROM stays WHERE stay_id = ?", [stay.stay_id])
            self._put_stay(stay, self._now(), provisional=True)
        return True

    def provisional_stays(self) -> list[str]:
        rows = self.db.execute("SELECT stay_id FROM stays WHERE provisional = 1").fetchall()
        return [r[0] for r in rows]

    def stays(self) -> list[StayAssignment]:
        rows = self.db.execute("SELECT doc FROM stays ORDER BY arrival").fetchall()
        return [StayAssignment.model_validate_json(r[0]) for r in rows]

    # --- sealed values (member credentials: agent/presence/vault.py) ----------------------

    def sealed(self, name: str) -> bytes | None:
        row = self.db.execute("SELECT sealed FROM credentials WHERE name = ?", [name]).fetchone()
        if row is None or self._sealer is None:
            return None
        return self._sealer.open(bytes(row[0]), name=name)

    @property
    def can_seal(self) -> bool:
        return self._sealer is not None

    def put_room_credentials(self, creds: RoomCredentials) -> None:
        """Sync's writer for the room's credentials (agent/presence/vault.py does the work)."""
        from agent.presence.vault import CredentialVault  # the vault builds on this module

        CredentialVault(self).put_room_credentials(creds)

    def put_preferences(self, prefs: MemberPreferences, *, dirty: bool = False) -> None:
        """`dirty=True`: a change made in this room, stamped, merged and queued for central
        in one transaction (`SyncStore._local_preferences`)."""
        if dirty:
            self._local_preferences(prefs)
            return
        with self.db.atomic():
            self.db.execute(
                "INSERT INTO preferences (member_id, doc, fetched_at, dirty) VALUES (?, ?, ?, ?) "
                "ON CONFLICT(member_id) DO UPDATE SET doc = excluded.doc, "
                "fetched_at = excluded.fetched_at, dirty = max(preferences.dirty, excluded.dirty)",
                [prefs.member_id, prefs.model_dump_json(), self._now(), int(dirty)],
            )

    def preferences(self, member_id: str) -> MemberPreferences | None:
        row = self.db.execute(
            "SELECT doc FROM preferences WHERE member_id = ?", [member_id]
        ).fetchone()
        return None if row is None else MemberPreferences.model_validate_json(row[0])

    def forget_members(self, keep: set[str]) -> None:
        """Drop cached profiles of members no longer staying here (data minimisation)."""
        rows = self.db.execute("SELECT member_id FROM preferences").fetchall()
        pending = {p.member_id for p in self.dirty_preferences()}  # not yet sent: kept
        with self.db.atomic():
            for (member_id,) in rows:
                if member_id not in keep and member_id not in pending:
                    self.db.execute("DELETE FROM preferences WHERE member_id = ?", [member_id])


def parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value)
