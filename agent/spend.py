"""In-room spending (minibar, room service, in-room purchases) charged to the stay checked
in to this room: one `room_spend` outbox event, written in its own transaction, that earns
points at central exactly once whenever the link allows (docs/sync.md).

    event = record_spend(room.store, room_stays, RoomSpend(category="minibar", item="cola",
                                                          amount="36.00"))

Refusals are loud and change nothing: no stay checked in (409); the points-bearing outbox
budget is exhausted after a very long outage, or the store cannot write (disk full) (507):
the till must decline the charge to the room rather than take a purchase that earns nothing.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from agent.decide import active_stay
from agent.sqlite_db import is_write_failure
from agent.store import AgentStore, NewEvent, OutboxRefused
from smartroom.log import get_logger
from sync.wire import EventKind, RoomSpend, StayAssignment, SyncEvent

log = get_logger("agent.spend")


class SpendRefused(Exception):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status, self.detail = status, detail


def record_spend(store: AgentStore, stays: Sequence[StayAssignment], spend: RoomSpend) -> SyncEvent:
    stay = active_stay(stays)
    if stay is None:
        raise SpendRefused(409, "no stay is checked in to this room: nothing to charge to")
    event = NewEvent(
        EventKind.ROOM_SPEND,
        spend.model_dump(mode="json"),
        stay_id=stay.stay_id,
        member_id=stay.member_id,
    )
    try:
        (created,) = store.commit(events=[event])
    except OutboxRefused as exc:  # logged `outbox_full` by the store
        raise SpendRefused(507, f"purchase refused: {exc}") from None
    except sqlite3.OperationalError as exc:
        if not is_write_failure(exc):
            raise
        log.error("spend_refused_store_full", error=str(exc), item=spend.item)
        raise SpendRefused(
            507,
            f"purchase refused: the room's store cannot write ({exc}); nothing was charged. "
            "Free space on the agent's disk (journal, old logs); the room keeps running.",
        ) from None
    log.info("room_spend", item=spend.item, amount=str(spend.amount), stay=stay.stay_id)
    return created
