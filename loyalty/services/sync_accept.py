"""Accepting a room's upload: durable dedupe, the effect and its dedupe record in one
transaction, one answer per event.

Dedupe is two records that never expire: the event id (the row in `agent_events`, or in
`sync_dead_letters` for a refused one) and, per agent database incarnation, the highest
`seq` seen (`agent_cursors`). An event whose id is known is a `duplicate` (the common case:
central committed, the answer was lost). An event with a new id but a `seq` at or below
the high-water mark means the agent's database went back in time (a restored backup
reusing its incarnation): refused, not counted. Everything else is consumed
(`sync_consume`), in order, in one fast pass under one savepoint; only when a consumer
refuses an event does the pass go back and isolate it (`_consume`): a refusal rolls back
only that event's effect, writes a dead letter and an alert, and the batch goes on. The
dedupe records of the accepted events are then written in one statement, in the same
transaction as their effects.

    result = accept(conn, ctx, property_id, room_id, upload, server_hlc)

On PostgreSQL an upload first takes the room's row lock (`sync_rooms`, which every
upload of the room takes anyway), waiting at most `LOYALTY_SYNC_LOCK_WAIT_MS` (1 s) for
it: longer means another copy of the same batch is still being applied (the room gave up
on it and sent it again), and queueing behind it would only make this copy late too. It
answers a retryable 503 with `Retry-After: LOYALTY_SYNC_RETRY_AFTER_S` (1) instead,
nothing of it committed; by the retry the first copy has committed and this batch comes
back `duplicate`. Only that first wait is bounded: the
rest of the transaction waits as before (a member's ledger lock, say, is not the room's
own queue, and a 503 there would only be retried into the same wait).
"""

from __future__ import annotations

import json
import os
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Connection, String, any_, bindparam, select, text, union_all, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.exc import OperationalError

from loyalty.board import projection as board
from loyalty.context import Context
from loyalty.db.sync_tables import sync_alerts, sync_dead_letters, sync_rooms
from loyalty.db.tables import agent_cursors, agent_events
from loyalty.errors import ApiError
from loyalty.ledger.errors import LedgerError
from loyalty.services import spend_pass, sync_consume, sync_feed
from sync import faults
from sync.wire import EventAnswer, SyncEvent, SyncUpload, SyncUploadResult, new_id

LOCK_NOT_AVAILABLE = "55P03"  # PostgreSQL's SQLSTATE for a lock_timeout

# PostgreSQL: an upload's dedupe records in one statement, the rows as one JSON document
# (encoded in C); an executemany of 500 rows was a sixth of central's time per upload.
_PG_RECORDS = """
INSERT INTO agent_events (event_id, agent_id, property_id, room_id, seq, kind, at, document,
                          received_at)
SELECT r.event_id, r.agent_id, r.property_id, r.room_id, r.seq, r.kind, r.at, r.document,
       r.received_at
FROM json_to_recordset(CAST(%(rows)s AS json))
     AS r(event_id text, agent_id text, property_id text, room_id text, seq bigint, kind text,
          at timestamptz, document text, received_at timestamptz)
"""

# Only for the meta-test that proves the suite catches a broken dedupe (docs/sync.md).
UNSAFE = os.environ.get("SMARTROOM_SYNC_UNSAFE", "")


def _known(conn: Connection, ids: list[str]) -> dict[str, str]:
    """event id → the agent that sent it, for ids already recorded (accepted or refused)."""
    postgres = conn.dialect.name == "postgresql"
    lookups = []
    for n, table in enumerate((agent_events, sync_dead_letters)):
        column = table.c.event_id
        # On PostgreSQL the batch's ids go as one array parameter: an IN list of 500
        # placeholders cost ~3x the CPU and wall time per batch (bench/sync_drain.py).
        match = (
            column == any_(bindparam(f"ids{n}", ids, type_=ARRAY(String)))
            if postgres
            else column.in_(ids)
        )
        lookups.append(select(column, table.c.agent_id).where(match))
    # Both tables in one statement (one round trip).
    return {r.event_id: r.agent_id for r in conn.execute(union_all(*lookups)).all()}


def _dead_letter(
    conn: Connection, ctx: Context, agent_id: str, event: SyncEvent, reason: str
) -> None:
    now = ctx.clock.now()
    conn.execute(
        sync_dead_letters.insert().values(
            event_id=event.event_id,
            agent_id=agent_id,
            property_id=event.property_id,
            room_id=event.room_id,
            seq=event.seq,
            kind=str(event.kind),
            reason=reason[:256],
            document=event.model_dump_json(),
            received_at=now,
        )
    )
    conn.execute(
        sync_alerts.insert().values(
            id=new_id("al_"),
            property_id=event.property_id,
            room_id=event.room_id,
            kind="dead_letter",
            detail=f"{event.kind} event {event.event_id} refused: {reason}"[:512],
            source_event_id=event.event_id,
            created_at=now,
        )
    )


def _cursor(conn: Connection, upload: SyncUpload, property_id: str, room_id: str) -> int:
    row = conn.execute(
        select(agent_cursors).where(agent_cursors.c.agent_id == upload.agent_id)
    ).first()
    if row is None:
        return 0
    if (row.property_id, row.room_id) != (property_id, room_id):
        raise ApiError(
            403, "forbidden", f"agent {upload.agent_id} belongs to another room", field="agent_id"
        )
    return int(row.high_water_seq)


def _record(ctx: Context, agent_id: str, event: SyncEvent) -> dict[str, Any]:
    return {
        "event_id": event.event_id,
        "agent_id": agent_id,
        "property_id": event.property_id,
        "room_id": event.room_id,
        "seq": event.seq,
        "kind": str(event.kind),
        "at": event.at,
        "document": event.model_dump_json(),
        "received_at": ctx.clock.now(),
    }


def _write_records(conn: Connection, records: list[dict[str, Any]]) -> None:
    if conn.dialect.name != "postgresql":
        conn.execute(agent_events.insert(), records)
        return
    rows = [
        {**r, "at": r["at"].isoformat(), "received_at": r["received_at"].isoformat()}
        for r in records
    ]
    conn.exec_driver_sql(_PG_RECORDS, {"rows": json.dumps(rows)})


class _Refused(Exception):
    """An event's consumer refused it during a pass."""

    def __init__(self, index: int, reason: str) -> None:
        super().__init__(reason)
        self.index, self.reason = index, reason


def _reason(exc: Exception) -> str:
    return f"{getattr(exc, 'code', 'refused')}: {exc}"


def _consume_one(conn: Connection, ctx: Context, event: SyncEvent) -> str | None:
    """Apply one event's effect; why it is refused, or None (the caller owns the savepoint)."""
    try:
        sync_consume.consume(conn, ctx, event)
    except sync_consume.Rejected as exc:
        return str(exc)
    except (ApiError, LedgerError) as exc:
        return _reason(exc)
    faults.point("central.accept.after_effect")
    return None


def _pass(
    conn: Connection, ctx: Context, events: list[SyncEvent], lo: int, hi: int
) -> tuple[int, str] | None:
    """Apply events[lo:hi] in order under one savepoint, the board's row and the in-room
    spends' writes held until the end. None when all were applied; else everything is
    rolled back and the answer is (index, reason) of the refused event."""
    try:
        # Exits in reverse: the pass's spends are written, then the board, in the savepoint.
        with conn.begin_nested(), board.held(conn), spend_pass.held(conn, ctx):
            for i in range(lo, hi):
                reason = _consume_one(conn, ctx, events[i])
                if reason is not None:
                    raise _Refused(i, reason)
    except _Refused as stop:
        return stop.index, stop.reason
    except spend_pass.Collision as stop:  # found when the pass's spends were written
        at = next(i for i in range(lo, hi) if events[i].event_id == stop.event_id)
        return at, stop.reason
    return None


def _consume(conn: Connection, ctx: Context, events: list[SyncEvent]) -> dict[int, str]:
    """Apply the effects of `events` in order; the reasons of the refused ones by index.

    One pass for the whole batch. A refusal is rare (a dead letter), so only then does the
    pass roll back and go again: the events before the refused one in a pass of their own,
    the refused one alone (rolled back: only its dead letter stays), then the rest the same
    way. Every accepted effect is thus the one it would be with a savepoint per event,
    without two statements per event for it, and with the board's row written once per
    pass."""
    refused: dict[int, str] = {}
    at, end = 0, len(events)
    while at < len(events):
        if at < end:
            stop = _pass(conn, ctx, events, at, end)
            if stop is not None:
                end = stop[0]  # again: the pass before it, then it alone
                continue
        if end == len(events):
            break
        alone = _pass(conn, ctx, events, end, end + 1)
        if alone is not None:
            refused[end] = alone[1]
        at, end = end + 1, len(events)
    return refused


def accept(
    conn: Connection,
    ctx: Context,
    property_id: str,
    room_id: str,
    upload: SyncUpload,
    server_hlc: str,
) -> SyncUploadResult:
    """Accept the upload in the caller's transaction; a 503 (the caller rolls back) when the
    room's row is not granted within `sync_lock_wait_ms` on PostgreSQL (see above)."""
    if conn.dialect.name != "postgresql":
        return _accept(conn, ctx, property_id, room_id, upload, server_hlc)
    wait_ms = ctx.settings.sync_lock_wait_ms  # an int (validated): safe in the SQL text
    conn.execute(text(f"SET LOCAL lock_timeout = '{wait_ms}ms'"))
    try:
        sync_feed.room_row(conn, ctx.clock.now(), property_id, room_id)
    except OperationalError as exc:
        if getattr(exc.orig, "sqlstate", None) != LOCK_NOT_AVAILABLE:
            raise
        raise ApiError(
            503,
            "room_busy",
            f"another upload of this room holds its row for over {wait_ms} ms; retry",
            retry_after=ctx.settings.sync_retry_after_s,
        ) from None
    conn.execute(text("SET LOCAL lock_timeout TO DEFAULT"))  # the rest waits as before
    return _accept(conn, ctx, property_id, room_id, upload, server_hlc)


def _accept(
    conn: Connection,
    ctx: Context,
    property_id: str,
    room_id: str,
    upload: SyncUpload,
    server_hlc: str,
) -> SyncUploadResult:
    for event in upload.events:
        # A key for another room is a misconfigured agent: refuse the whole batch (the
        # room keeps its events and shows the error) rather than dead-letter them all.
        if (event.property_id, event.room_id) != (property_id, room_id):
            raise ApiError(
                403,
                "forbidden",
                f"this key is for {property_id}/{room_id}; event {event.event_id} is for "
                f"{event.property_id}/{event.room_id}",
                field="events",
            )
    unsafe = UNSAFE == "no_dedupe"
    high = _cursor(conn, upload, property_id, room_id)
    start = high
    ids = [e.event_id for e in upload.events]
    known = {} if unsafe else _known(conn, ids)
    # First decide each event's fate from the dedupe records alone (set-based, in memory),
    # then apply the effects of the new ones in order, then write every dedupe record.
    answers: list[EventAnswer | None] = []
    fresh: list[tuple[int, SyncEvent]] = []  # (position in the batch, event) to accept
    reused: list[tuple[SyncEvent, str]] = []
    seen: set[str] = set()
    for event in upload.events:
        faults.point("central.accept.event")
        owner = known.get(event.event_id)
        if event.event_id in seen or owner == upload.agent_id:
            answers.append(EventAnswer(event_id=event.event_id, status="duplicate"))
            continue
        seen.add(event.event_id)
        if owner is not None:
            answers.append(
                EventAnswer(
                    event_id=event.event_id,
                    status="rejected",
                    reason="event_id already used by another agent",
                )
            )
            continue
        if not unsafe and event.seq <= high:
            reason = f"seq {event.seq} reused: this incarnation already sent up to {high}"
            reused.append((event, reason))
            answers.append(EventAnswer(event_id=event.event_id, status="rejected", reason=reason))
        else:
            fresh.append((len(answers), event))
            answers.append(None)
        high = max(high, event.seq)
    consumed = [(i, e) for i, e in fresh if e.kind in sync_consume.CONSUMERS]
    refused = _consume(conn, ctx, [e for _, e in consumed])
    refused_at = {consumed[k][0]: reason for k, reason in refused.items()}
    records: list[dict[str, Any]] = []
    for i, event in fresh:
        if i in refused_at:
            reason = refused_at[i]
            reused.append((event, reason))
            answers[i] = EventAnswer(
                event_id=event.event_id, status="rejected", reason=reason[:256]
            )
        else:
            if event.kind not in sync_consume.CONSUMERS:
                # Nothing to apply (telemetry, scene changes): only its record.
                faults.point("central.accept.after_effect")
            records.append(_record(ctx, upload.agent_id, event))
            answers[i] = EventAnswer(event_id=event.event_id, status="accepted")
    for event, reason in reused:
        _dead_letter(conn, ctx, upload.agent_id, event, reason)
    if unsafe:
        stored = _known(conn, [str(r["event_id"]) for r in records])
        records = [r for r in records if r["event_id"] not in stored]
    if records:
        # The effects above and these dedupe records commit in this one transaction.
        _write_records(conn, records)
    faults.point("central.accept.before_commit")
    now = ctx.clock.now()
    if (
        start == 0
        and not conn.execute(
            select(agent_cursors.c.agent_id).where(agent_cursors.c.agent_id == upload.agent_id)
        ).first()
    ):
        conn.execute(
            agent_cursors.insert().values(
                agent_id=upload.agent_id,
                property_id=property_id,
                room_id=room_id,
                high_water_seq=high,
                updated_at=now,
            )
        )
    elif high != start:
        conn.execute(
            update(agent_cursors)
            .where(agent_cursors.c.agent_id == upload.agent_id)
            .values(high_water_seq=high, updated_at=now)
        )
    sync_feed.room_row(conn, now, property_id, room_id)
    board.touch(conn, property_id, room_id, now)  # the room is not stale on the board
    conn.execute(
        update(sync_rooms)
        .where(sync_rooms.c.property_id == property_id, sync_rooms.c.room_id == room_id)
        .values(last_seen_at=now)
    )
    results = [a for a in answers if a is not None]
    return SyncUploadResult(results=results, high_water_seq=high, hlc=server_hlc)


def room_events(
    conn: Connection, property_id: str, room_id: str, *, after: str | None, limit: int
) -> RoomEvents:
    """One page of a room's events as central received them (accepted, then dead-lettered
    ones with their reason, merged in arrival order), for staff and integrators."""
    tables = ((agent_events, "accepted"), (sync_dead_letters, "rejected"))
    start: tuple[Any, str] | None = None
    if after is not None:
        for table, _status in tables:
            found = conn.execute(
                select(table.c.received_at).where(
                    table.c.event_id == after,
                    table.c.property_id == property_id,
                    table.c.room_id == room_id,
                )
            ).first()
            if found is not None:
                start = (found.received_at, after)
        if start is None:
            raise ApiError(422, "unknown_cursor", f"no event {after!r} in this room", field="after")
    rows: list[tuple[Any, str, RoomEvent]] = []
    for table, status in tables:
        c = table.c
        query = select(table).where(c.property_id == property_id, c.room_id == room_id)
        if start is not None:
            query = query.where(
                (c.received_at > start[0]) | ((c.received_at == start[0]) & (c.event_id > start[1]))
            )
        for r in conn.execute(query.order_by(c.received_at, c.event_id).limit(limit + 1)).all():
            document = json.loads(r.document)
            event = RoomEvent(
                event_id=r.event_id,
                agent_id=r.agent_id,
                seq=r.seq,
                kind=r.kind,
                at=document.get("at"),
                received_at=r.received_at,
                status=status,
                reason=getattr(r, "reason", None),
                event=document,
            )
            rows.append((r.received_at, r.event_id, event))
    rows.sort(key=lambda row: (row[0], row[1]))
    page = [row[2] for row in rows[:limit]]
    more = len(rows) > limit
    return RoomEvents(events=page, next=page[-1].event_id if more and page else None)


class RoomEvent(BaseModel):
    model_config = ConfigDict(extra="forbid")
    event_id: str
    agent_id: str
    seq: int
    kind: str
    at: Any
    received_at: Any
    status: str = Field(description='"accepted", or "rejected" (dead-lettered, with the reason)')
    reason: str | None = None
    event: dict[str, Any]


class RoomEvents(BaseModel):
    model_config = ConfigDict(extra="forbid")
    events: list[RoomEvent]
    next: str | None = Field(description="pass as `after` for the next page; null: no more")
