"""The agent store's schema and what its callers hand it: the migrations (append only),
the event a step produces (`NewEvent`) and the store's errors. No I/O beyond the migration
functions, which run inside `AgentStore`'s transaction.

    migrate(db, path)        # brings a store file up to `len(MIGRATIONS)`, refusing a newer one
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent.sqlite_db import Database
from sync import inbox
from sync.wire import EventKind


@dataclass(frozen=True, slots=True)
class NewEvent:
    kind: EventKind
    payload: dict[str, Any] = field(default_factory=dict)
    stay_id: str | None = None
    member_id: str | None = None
    sync: bool = True  # False: local event log only (never leaves the box)


class StoreError(RuntimeError):
    pass


class OutboxRefused(StoreError):
    """A never-dropped event did not fit its budget: the whole change was refused."""


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


def migrate(db: Database, path: Path) -> None:
    """Run the migrations this file has not had, each in its own transaction."""
    db.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
    row = db.execute("SELECT max(version) FROM schema_version").fetchone()
    current = row[0] or 0
    if current > len(MIGRATIONS):
        raise StoreError(
            f"{path} has schema version {current}, newer than this agent knows "
            f"({len(MIGRATIONS)}): upgrade the agent, do not downgrade it"
        )
    for version in range(current + 1, len(MIGRATIONS) + 1):
        with db.atomic():
            MIGRATIONS[version - 1](db)
            db.execute("INSERT INTO schema_version (version) VALUES (?)", [version])
