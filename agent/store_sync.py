"""The sync half of the agent's store (issue 16), mixed into `AgentStore`: outbox budgets,
the persisted hybrid logical clock, acknowledgements, local preference changes, and the
download streams (applied with their cursors in one transaction, `sync.inbox`).

It never opens the database: it works on the `AgentStore`'s handle, inside its
transactions, so an outbox event still commits with the state change that caused it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from agent.store_clock import ClockStore
from agent.store_schema import NewEvent, OutboxRefused
from smartroom.log import get_logger
from sync import faults, inbox
from sync.hlc import Hlc, Stamp
from sync.merge import fields_changed, merge
from sync.outbox import Budget, BudgetClass, OutboxFull, Usage, budget_class, thin_half
from sync.outbox import relief as budget_relief
from sync.wire import (
    EventAnswer,
    EventKind,
    MemberPreferences,
    RoomConfigDoc,
    RoomCredentials,
    StayAssignment,
    SyncEvent,
    SyncPage,
)

if TYPE_CHECKING:
    from agent.sqlite_db import Database

log = get_logger("agent.store")


class SyncStore(ClockStore):
    """Mixin: expects `db`, `_clock`, `_now()`, `commit()`, `preferences()`, `_put_stay()`,
    `_check_room()`, `property_id`, `room_id` from AgentStore (`_put_stay`, `preferences`
    and `_check_room` from its StayStore half)."""

    db: Database
    budgets: dict[BudgetClass, Budget]
    refused: dict[str, int]
    dropped: int
    property_id: str
    room_id: str

    if TYPE_CHECKING:

        def _now(self) -> str: ...
        def _wall_ms(self) -> int: ...
        def commit(
            self, *, state: dict[str, Any] | None = None, events: Sequence[NewEvent] = ()
        ) -> list[SyncEvent]: ...
        def preferences(self, member_id: str) -> MemberPreferences | None: ...
        def _put_stay(self, stay: StayAssignment, now: str, *, provisional: bool) -> None: ...
        def _check_room(self, stay: StayAssignment) -> None: ...
        def put_room_credentials(self, creds: RoomCredentials) -> None: ...

    # --- budgets ---------------------------------------------------------------------------

    def _usage(self, cls: BudgetClass) -> Usage:
        count, size = self.db.execute(
            "SELECT count(*), coalesce(sum(size), 0) FROM outbox "
            "WHERE sent_at IS NULL AND budget = ?",
            [cls],
        ).fetchone()
        return Usage(int(count), int(size))

    def _make_room(
        self, kind: EventKind, payload: dict[str, Any], known: dict[BudgetClass, Usage]
    ) -> None:
        """Keep the event's class within its budget: thin or drop old telemetry, or refuse
        a never-dropped event (raising rolls the whole change back).

        `known` is the usage this transaction has already counted (`commit` adds each event
        it writes): counting the unsent rows again for every event of a 1,000-event commit
        made filling a large outbox quadratic."""
        cls = budget_class(kind)
        budget = self.budgets[cls]
        size = len(json.dumps(payload, default=str)) + 400  # the envelope's share
        while True:
            usage = known.get(cls)
            if usage is None:
                usage = known[cls] = self._usage(cls)
            seqs: list[int] = []
            if cls == "telemetry" and budget.exceeded_by(usage.events + 1, usage.size + size):
                seqs = [
                    int(r[0])
                    for r in self.db.execute(
                        "SELECT seq FROM outbox WHERE sent_at IS NULL AND budget = ? ORDER BY seq",
                        [cls],
                    ).fetchall()
                ]
            thin = thin_half(seqs) if len(seqs) >= 4 else []
            action = budget_relief(cls, budget, usage, size, len(thin))
            if action == "admit":
                return
            if action == "refuse":
                self.refused[cls] = self.refused.get(cls, 0) + 1
                error = OutboxFull(cls, budget, usage.events, usage.size)
                log.error("outbox_full", budget=cls, kind=str(kind), error=str(error))
                raise OutboxRefused(str(error)) from error
            doomed = thin if action == "thin" else seqs[: max(1, len(seqs) // 10)]
            if not doomed:
                return  # nothing left to drop (a budget below one event): admit
            self.db.conn.executemany("DELETE FROM outbox WHERE seq = ?", [(q,) for q in doomed])
            self.dropped += len(doomed)
            known.pop(cls, None)

    def outbox_report(self) -> dict[str, Any]:
        """Per budget class: unsent events and bytes against the budget; what was thinned
        or refused since start (the agent's /health and metrics)."""
        rows = self.db.execute(
            "SELECT budget, count(*), coalesce(sum(size), 0) FROM outbox "
            "WHERE sent_at IS NULL GROUP BY budget"
        ).fetchall()
        used = {str(cls): (int(n), int(size)) for cls, n, size in rows}
        classes = {}
        for cls, budget in self.budgets.items():
            events, size = used.get(cls, (0, 0))
            share = max(events / budget.max_events, size / budget.max_bytes)
            classes[cls] = {
                "events": events,
                "bytes": size,
                "budget_events": budget.max_events,
                "budget_bytes": budget.max_bytes,
                "used": round(share, 4),
            }
        return {"classes": classes, "dropped": self.dropped, "refused": dict(self.refused)}

    def write_health(self) -> dict[str, Any]:
        """Whether the store can write (disk full shows here first)."""
        db = self.db
        return {
            "writable": db.write_error is None,
            "error": db.write_error,
            "since": db.failing_since,
            "failed_writes": db.failed_writes,
        }

    # --- hybrid logical clock ----------------------------------------------------------------

    def _hlc(self) -> Hlc:
        row = self.db.execute("SELECT value FROM meta WHERE key = 'hlc'").fetchone()
        return Hlc.parse(row[0] if row else None)

    def _save_hlc(self, clock: Hlc) -> str:
        value = str(clock.last)
        self.db.execute(
            "INSERT INTO meta (key, value) VALUES ('hlc', ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            [value],
        )
        return value

    def _next_hlc(self) -> str:
        # Persisted: never goes backwards even when the Pi's wall clock does (no RTC,
        # rebooted offline), so a later change here always wins a merge against our own.
        clock = self._hlc()
        clock.tick(self._hlc_wall_ms())
        return self._save_hlc(clock)

    def hlc_now(self) -> str:
        with self.db.atomic():
            return self._next_hlc()

    def hlc_last(self) -> str:
        return str(self._hlc().last)

    def receive_hlc(self, stamp: str, sent_ms: int | None = None) -> None:
        """Advance past central's clock. Central's clock is the reference (NTP-synced): the
        room adopts its stamp even when its own wall clock is far behind (a Pi rebooted
        without an RTC), so a change made here afterwards still orders after central's; a
        room clock far off either way is measured, alerted and corrected for
        (`agent.store_clock`). Central, the other way round, refuses far-future stamps.
        `sent_ms`: the room's wall time when the request this stamp answers left, so the
        measurement allows for the time the answer took (a long poll, a slow link, a rig's
        scaled clock)."""
        with self.db.atomic():
            self._receive_central(Stamp.parse(stamp), sent_ms)

    # --- outbox -------------------------------------------------------------------------------

    def pending_sized(self, limit: int = 500) -> list[tuple[SyncEvent, int]]:
        return [(SyncEvent.model_validate_json(doc), size) for doc, size in self.pending_raw(limit)]

    def pending_raw(self, limit: int = 500, after_seq: int = 0) -> list[tuple[str, int]]:
        """The oldest unsent events after `after_seq` as stored (document, size), unparsed:
        the upload compares them with a batch it cut ahead (sync/engine.py)."""
        rows = self.db.execute(
            "SELECT doc, size FROM outbox WHERE sent_at IS NULL AND seq > ? ORDER BY seq LIMIT ?",
            [after_seq, limit],
        ).fetchall()
        return [(str(doc), int(size)) for doc, size in rows]

    def acknowledge(self, answers: Sequence[EventAnswer]) -> None:
        """Central's answers: every answered event leaves the queue (a rejected one with its
        reason, kept for the operator; it would fail forever if retried)."""
        now = self._now()
        rows = [(now, a.reason if a.status == "rejected" else None, a.event_id) for a in answers]
        with self.db.atomic():
            self.db.conn.executemany(  # one prepared statement for the whole batch
                "UPDATE outbox SET sent_at = ?, rejected = ? "
                "WHERE event_id = ? AND sent_at IS NULL",
                rows,
            )
            faults.point("agent.ack.before_commit")

    def rejected_events(self) -> list[tuple[str, str]]:
        rows = self.db.execute(
            "SELECT event_id, rejected FROM outbox WHERE rejected IS NOT NULL ORDER BY seq"
        ).fetchall()
        return [(str(a), str(b)) for a, b in rows]

    # --- preferences changed in this room -----------------------------------------------------

    def _local_preferences(self, prefs: MemberPreferences) -> None:
        """Stamp the fields this change sets with the room's clock, merge them into the
        stored profile, and queue a `preferences` event, in one transaction."""
        with self.db.atomic():
            current = self.preferences(prefs.member_id) or MemberPreferences(
                member_id=prefs.member_id
            )
            data = prefs.model_dump(mode="json")
            for name in fields_changed(current, prefs):
                if name == "comfort_offset":
                    continue
                section, key = name.split(".")
                if data[section].get(key) is not None:
                    data[section][key]["hlc"] = self._next_hlc()
            merged = merge(current, MemberPreferences.model_validate(data))
            if prefs.comfort_offset.model_copy(update={"hlc": None}) != (
                current.comfort_offset.model_copy(update={"hlc": None})
            ):
                # Stamped like a field: the room's next version wins over its last one
                # even when the wall clock went back in between (a reboot without an RTC).
                learnt = prefs.comfort_offset.model_copy(update={"hlc": self._next_hlc()})
                merged = merged.model_copy(update={"comfort_offset": learnt})
            self.db.execute(
                "INSERT INTO preferences (member_id, doc, fetched_at, dirty) VALUES (?, ?, ?, 0) "
                "ON CONFLICT(member_id) DO UPDATE SET doc = excluded.doc, "
                "fetched_at = excluded.fetched_at",
                [merged.member_id, merged.model_dump_json(), self._now()],
            )
            payload = merged.model_dump(mode="json")
            self.commit(
                events=[NewEvent(EventKind.PREFERENCES, payload, member_id=merged.member_id)]
            )

    def dirty_preferences(self) -> list[MemberPreferences]:
        """Profiles changed in this room whose change central has not acknowledged yet."""
        rows = self.db.execute(
            "SELECT DISTINCT json_extract(doc, '$.member_id') FROM outbox "
            "WHERE kind = 'preferences' AND sent_at IS NULL"
        ).fetchall()
        found = [self.preferences(str(r[0])) for r in rows]
        return [p for p in found if p is not None]

    # --- download streams -----------------------------------------------------------------------

    def sync_cursors(self) -> dict[str, int]:
        return inbox.cursors(self.db)

    def sync_epoch(self) -> str | None:
        return inbox.epoch(self.db)

    def put_stream_stay(self, stay: StayAssignment) -> None:
        self._check_room(stay)
        self.db.execute("DELETE FROM stays WHERE stay_id = ?", [stay.stay_id])
        self._put_stay(stay, self._now(), provisional=False)

    def drop_stream_stay(self, stay_id: str) -> None:
        self.db.execute("DELETE FROM stays WHERE stay_id = ?", [stay_id])
        self.db.execute("DELETE FROM credentials WHERE name = ?", [f"stay:{stay_id}"])

    def apply_page(self, page: SyncPage) -> inbox.Applied:
        """Apply a downloaded page and advance the cursors, in one transaction."""
        where = (self.property_id, self.room_id)
        if inbox.UNSAFE_CURSOR_FIRST:  # the meta-test's deliberate bug (docs/sync.md)
            with self.db.atomic():
                inbox.store_cursors(self.db, page)
        with self.db.atomic():
            return inbox.apply_page(self.db, page, where, self._now(), self)

    def cached_members(self) -> list[str]:
        """The members whose profiles this room holds (central sends those of its stays)."""
        rows = self.db.execute("SELECT member_id FROM preferences ORDER BY member_id").fetchall()
        return [str(r[0]) for r in rows]

    def room_config(self) -> RoomConfigDoc | None:
        return inbox.room_config(self.db)

    def pending_commands(self) -> list[dict[str, Any]]:
        return inbox.pending_commands(self.db)

    def command_done(self, command_id: str, event: NewEvent) -> None:
        """Mark a staff command done and report it, in one transaction."""
        with self.db.atomic():
            self.db.execute(
                "UPDATE commands SET done_at = ? WHERE command_id = ?", [self._now(), command_id]
            )
            self.commit(events=[event])
