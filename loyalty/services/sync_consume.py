"""What central does with each kind of event a room uploads. Called by
`sync_accept.accept` inside the transaction that also writes the event's dedupe record, so
an effect exists exactly when its event is recorded as accepted.

Each consumer first checks everything that could refuse the event (raising `Rejected`
before it writes anything), then writes: a refused event leaves no trace but its
dead letter, without a savepoint.

* `room_spend` (and `minibar`): points through the programme's stay rules, as a folio line
  of the stay it was charged to; the transfer id derives from the event id.
* `preferences`: merged per field into the member's profile by HLC (sync.merge); far-future
  stamps refused; the member's rooms hear the merged profile.
* `room_status`, `housekeeping`, `alert`: what staff see, through the housekeeping board's
  projection (`loyalty.board.projection`, issue 17).
* `arrival` / `departure`: presence recorded for the stay.
* `config_applied`: the config version the room runs.
Everything else is stored (in `agent_events`) and not interpreted.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Any

from pydantic import ValidationError
from sqlalchemy import Connection, select, update

from loyalty.auth import Principal
from loyalty.board import projection as board
from loyalty.context import Context
from loyalty.db.sync_tables import stay_presence, sync_rooms
from loyalty.db.tables import preferences, stay_moves, stays
from loyalty.ledger.errors import LedgerError
from loyalty.services import benefits, folio, spend_pass, sync_feed
from loyalty.services import preferences as prefs_service
from loyalty.services.members import get_member
from sync import faults
from sync.hlc import MAX_SKEW_MS, Stamp
from sync.merge import merge, stamps
from sync.wire import (
    Alert,
    EventKind,
    MemberPreferences,
    RoomSpend,
    RoomStatus,
    SyncEvent,
    new_id,
)

SPEND_STAYS = ("checked_in", "checked_out")


# Only for the meta-test that proves the suite catches a broken dedupe (docs/sync.md): the
# effect's own keys stop being the event id, so a re-sent event is counted again.
UNSAFE_NO_DEDUPE = os.environ.get("SMARTROOM_SYNC_UNSAFE") == "no_dedupe"


def effect_key(event: SyncEvent) -> str:
    return new_id("ev_") if UNSAFE_NO_DEDUPE else event.event_id


class Rejected(Exception):
    """The event can never be applied (bad payload, unknown stay, far-future clock): it goes
    to the dead-letter table with this reason and never blocks the queue."""


def _payload(model: type[Any], event: SyncEvent) -> Any:
    try:
        return model.model_validate(event.payload)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or "payload"
        raise Rejected(f"payload.{where}: {first.get('msg', 'invalid')}") from None


def _not_future(stamp: Stamp, now: datetime, what: str) -> None:
    ahead = stamp.wall_ms - int(now.timestamp() * 1000)
    if ahead > MAX_SKEW_MS:
        raise Rejected(f"clock_skew: {what} is {ahead // 1000} s ahead of central")


def _stay_of(conn: Connection, event: SyncEvent) -> Any:
    if event.stay_id is None:
        raise Rejected("stay_id: required for this kind")
    row = conn.execute(select(stays).where(stays.c.id == event.stay_id)).first()
    here = row is not None and (row.property_id, row.room_id) == (event.property_id, event.room_id)
    if row is not None and not here:
        # Moved out since (a room change): what happened in this room before still counts.
        m = stay_moves.c
        here = (
            conn.execute(
                select(m.id).where(
                    m.stay_id == row.id,
                    m.property_id == event.property_id,
                    m.from_room == event.room_id,
                )
            ).first()
            is not None
        )
    if row is None or not here:
        raise Rejected(f"stay_id: no stay {event.stay_id} in this room")
    return row


def room_spend(conn: Connection, ctx: Context, event: SyncEvent) -> None:
    """Recorded as one of the stay's spends, then the stay's earn is settled
    (`loyalty.services.folio`): the points and qualifying spend the rules give the stay's
    distinct spends, less what it already holds. A spend the folio already billed (same
    reference) or voided changes nothing. Within an accept pass the stay's state is read
    once and the writes go together (`loyalty.services.spend_pass`)."""
    spend: RoomSpend = _payload(RoomSpend, event)
    if event.kind is EventKind.MINIBAR and spend.category != "minibar":
        raise Rejected("payload.category: a minibar event is a minibar spend")
    try:
        with spend_pass.held(conn, ctx) as spends:
            _settle(conn, ctx, spends, event, spend)
    except spend_pass.Collision as exc:  # only when called outside an accept pass
        raise Rejected(exc.reason) from None


def _chargeable(ctx: Context, stay: Any, spend: RoomSpend) -> None:
    if stay.status not in SPEND_STAYS:
        raise Rejected(f"stay_id: the stay is {stay.status}, nothing can be charged to it")
    if spend.currency != ctx.programme.currency:
        raise Rejected(f"payload.currency: the programme counts {ctx.programme.currency}")


def _settle(
    conn: Connection,
    ctx: Context,
    spends: spend_pass.SpendPass,
    event: SyncEvent,
    spend: RoomSpend,
) -> None:
    state = spends.stay(event.stay_id or "", event.property_id, event.room_id)
    if state is None:
        found = _stay_of(conn, event)
        _chargeable(ctx, found, spend)  # before the member's lock, as ever
        state = spends.open(found, event.property_id, event.room_id)
    stay, member = state.row, state.member
    _chargeable(ctx, stay, spend)  # as read under the lock
    key = effect_key(event)
    amount_minor = int(Decimal(spend.amount) * 100)
    tier = stay.earn_tier if stay.status == "checked_out" and stay.earn_tier else member.tier
    arriving = folio.Row(
        folio.FOLIO_CATEGORY[spend.category], Decimal(amount_minor) / 100, spend.reference or key
    )
    target = folio.price(ctx, stay, tier, spends.now, state.lines, [*state.room, arriving])
    points = target.points - state.held["points"]
    transfer_id = f"t_rs_{key}"
    try:
        spends.post(
            state,
            "points",
            points,
            transfer_id=transfer_id,
            code="room_spend",
            event_id=event.event_id,
        )
        faults.point("central.consume.after_earn")  # points planned, the rest not yet
        spends.post(
            state,
            "qualifying",
            folio.qualifying_minor(target) - state.held["qualifying"],
            transfer_id=f"t_rq_{key}",
            code="room_spend",
            event_id=event.event_id,
        )
    except LedgerError as exc:
        raise Rejected(f"ledger: {exc}") from None
    row = {
        "event_id": key,
        "stay_id": stay.id,
        "member_id": member.id,
        "category": spend.category,
        "item": spend.item,
        "amount_minor": amount_minor,
        "currency": spend.currency,
        "points": points,
        "transfer_id": transfer_id if points else None,
        "at": event.at,
        "reference": spend.reference,
    }
    spends.spent(state, arriving, row, event.event_id)


def preference_change(conn: Connection, ctx: Context, event: SyncEvent) -> None:
    incoming: MemberPreferences = _payload(MemberPreferences, event)
    now = ctx.clock.now()
    for where, stamp in stamps(incoming):
        _not_future(stamp, now, where)
    found = conn.execute(
        select(stays.c.id).where(
            stays.c.member_id == incoming.member_id,
            stays.c.property_id == event.property_id,
            stays.c.room_id == event.room_id,
            stays.c.status.in_(("checked_in", "checked_out")),
        )
    ).first()
    if found is None:
        raise Rejected(f"member_id: {incoming.member_id} has no stay in this room")
    member = get_member(conn, incoming.member_id)
    current = prefs_service.load(conn, member)
    merged = merge(current, incoming.model_copy(update={"age_band": None, "gender": None}))
    document = merged.model_copy(update={"age_band": None, "gender": None}).model_dump_json()
    if conn.execute(
        select(preferences.c.member_id).where(preferences.c.member_id == member.id)
    ).first():
        conn.execute(
            update(preferences)
            .where(preferences.c.member_id == member.id)
            .values(document=document, updated_at=now)
        )
    else:
        conn.execute(
            preferences.insert().values(member_id=member.id, document=document, updated_at=now)
        )
    sync_feed.member_changed(conn, ctx, member.id)


def room_status(conn: Connection, ctx: Context, event: SyncEvent) -> None:
    """What staff see: the housekeeping board's projection (i17) takes the status."""
    status: RoomStatus = _payload(RoomStatus, event)
    if (status.property_id, status.room_id) != (event.property_id, event.room_id):
        raise Rejected("payload: the status of another room")
    _not_future(Stamp.parse(event.hlc), ctx.clock.now(), "hlc")
    board.apply_room_status(
        conn, event.property_id, event.room_id, status, received_at=ctx.clock.now()
    )


def board_event(conn: Connection, ctx: Context, event: SyncEvent) -> None:
    """DND/MUR changes and alerts raised or cleared: the board's projection applies them."""
    if event.kind is EventKind.ALERT:
        try:
            Alert.model_validate(event.payload.get("alert"))
        except ValidationError:
            raise Rejected("payload.alert: not an Alert") from None
        if not isinstance(event.payload.get("raised"), bool):
            raise Rejected("payload.raised: must be true or false")
    board.apply_event(conn, event, received_at=ctx.clock.now())


def presence(conn: Connection, ctx: Context, event: SyncEvent) -> None:
    if event.stay_id is None:
        return  # presence without a stay (staff, unknown guest): kept as an event only
    stay = _stay_of(conn, event)
    conn.execute(
        stay_presence.insert().values(
            event_id=event.event_id, stay_id=stay.id, kind=str(event.kind), at=event.at
        )
    )


def _version(value: Any, where: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise Rejected(f"payload.{where}: a config version (integer >= 0)")
    return value


def config_applied(conn: Connection, ctx: Context, event: SyncEvent) -> None:
    """The version the room runs; with `refused` and `error`, a newer version it refused
    (its previous config stays in force): what staff see at GET /v1/sync/rooms/{p}/{r}."""
    version = _version(event.payload.get("version"), "version")
    values: dict[str, Any] = {"config_applied": version}
    if "refused" in event.payload:
        error = event.payload.get("error")
        if not isinstance(error, str) or not error:
            raise Rejected("payload.error: why the room refused the config (text)")
        values.update(config_refused=_version(event.payload["refused"], "refused"))
        values.update(config_error=error[:512])
    row = sync_feed.room_row(conn, ctx.clock.now(), event.property_id, event.room_id)
    if version >= (row.config_refused or 0):
        values.setdefault("config_refused", None)  # a later version applied: no refusal
        values.setdefault("config_error", None)
    conn.execute(
        update(sync_rooms)
        .where(sync_rooms.c.property_id == event.property_id, sync_rooms.c.room_id == event.room_id)
        .values(**values)
    )


def benefit(conn: Connection, ctx: Context, event: SyncEvent) -> None:
    """A room-delivered benefit (issue 18): recorded once as the fulfilment."""
    who = Principal(
        key_id="sync", role="agent", property_id=event.property_id, room_id=event.room_id
    )
    reason = benefits.from_room_event(conn, ctx, who, event)
    if reason is not None:
        raise Rejected(reason)


CONSUMERS: dict[EventKind, Callable[[Connection, Context, SyncEvent], None]] = {
    EventKind.ROOM_SPEND: room_spend,
    EventKind.MINIBAR: room_spend,
    EventKind.PREFERENCES: preference_change,
    EventKind.ROOM_STATUS: room_status,
    EventKind.ALERT: board_event,
    EventKind.HOUSEKEEPING: board_event,
    EventKind.ARRIVAL: presence,
    EventKind.DEPARTURE: presence,
    EventKind.CONFIG_APPLIED: config_applied,
    EventKind.BENEFIT: benefit,
}


# Consumers that touch only the board and the room's sync row: the spends an accept pass
# planned (spend_pass) need not be written before them.
APART_FROM_SPENDS = frozenset(
    {EventKind.ROOM_STATUS, EventKind.ALERT, EventKind.HOUSEKEEPING, EventKind.CONFIG_APPLIED}
)


def consume(conn: Connection, ctx: Context, event: SyncEvent) -> None:
    handler = CONSUMERS.get(event.kind)
    if handler is None:
        return
    if handler is not room_spend and event.kind not in APART_FROM_SPENDS:
        spend_pass.settle_now(conn)  # it may read the ledger or the stays the spends change
    handler(conn, ctx, event)
