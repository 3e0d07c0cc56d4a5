"""The outbox's rules, without I/O: which budget an event counts against, what to do when
a budget is full, and how pending events are cut into upload batches.

Budgets (per class of event, over unsent events only):

* `ledger` — points-bearing events (in-room spend, surveys). Never dropped: when the budget
  is exhausted a new one is refused with `OutboxFull` (the purchase is declined at the till,
  loudly, with an alert) rather than accepted and lost.
* `records` — stays, presence, preference changes, alerts, housekeeping, acknowledgements.
  Never dropped either; refused the same way.
* `telemetry` — energy samples, room status snapshots, scene changes. Downsampled first
  (every second event of the oldest half is dropped), then dropped oldest first.

Planned rate (docs/sync.md): ~1,300 events a day per room, of which ~1,200 telemetry; seven
days offline are ~9,170 events, ~7.7 MB as measured by the 3-day outage test (telemetry
~880 B an event). Each class's default holds more than four times its share.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from sync.wire import POINTS_BEARING, EventKind, SyncEvent

BudgetClass = Literal["ledger", "records", "telemetry"]
TELEMETRY = frozenset({EventKind.ENERGY, EventKind.ROOM_STATUS, EventKind.SCENE_APPLIED})


def budget_class(kind: EventKind) -> BudgetClass:
    if kind in POINTS_BEARING:
        return "ledger"
    if kind in TELEMETRY:
        return "telemetry"
    return "records"


@dataclass(frozen=True, slots=True)
class Budget:
    max_events: int
    max_bytes: int

    def exceeded_by(self, events: int, size: int) -> bool:
        return events > self.max_events or size > self.max_bytes


DEFAULT_BUDGETS: dict[BudgetClass, Budget] = {
    "ledger": Budget(max_events=20_000, max_bytes=16 * 1024 * 1024),
    "records": Budget(max_events=50_000, max_bytes=32 * 1024 * 1024),
    "telemetry": Budget(max_events=50_000, max_bytes=32 * 1024 * 1024),
}


class OutboxFull(RuntimeError):
    """A never-dropped event does not fit its budget: the change that caused it is refused."""

    def __init__(self, cls: BudgetClass, budget: Budget, events: int, size: int) -> None:
        super().__init__(
            f"outbox budget '{cls}' exhausted ({events} unsent events, {size} bytes; budget "
            f"{budget.max_events} events, {budget.max_bytes} bytes): refusing the new event "
            "until central is reachable again"
        )
        self.budget_class = cls


@dataclass(frozen=True, slots=True)
class Usage:
    events: int
    size: int


Relief = Literal["admit", "thin", "drop_oldest", "refuse"]


def relief(cls: BudgetClass, budget: Budget, usage: Usage, new_size: int, thinnable: int) -> Relief:
    """What to do before adding an event of `new_size` bytes to class `cls`.

    `thinnable` is how many events the next thinning pass would drop (every second event
    in the oldest half). Telemetry is thinned while that still helps, then dropped oldest
    first; the other classes are refused."""
    if not budget.exceeded_by(usage.events + 1, usage.size + new_size):
        return "admit"
    if cls != "telemetry":
        return "refuse"
    return "thin" if thinnable > 0 else "drop_oldest"


def thin_half(seqs: Sequence[int]) -> list[int]:
    """The seqs a thinning pass drops: every second one of the oldest half (so old
    telemetry keeps half its resolution and recent telemetry all of it)."""
    ordered = sorted(seqs)
    oldest = ordered[: len(ordered) // 2]
    return oldest[1::2]


def cut_batch(
    pending: Sequence[tuple[SyncEvent, int]], *, max_events: int = 500, max_bytes: int = 512_000
) -> list[SyncEvent]:
    """The longest prefix of (event, encoded size) that fits one upload; at least one
    event, so an event larger than `max_bytes` still goes (central's limit is higher)."""
    batch: list[SyncEvent] = []
    size = 0
    for event, event_size in pending:
        if batch and (len(batch) >= max_events or size + event_size > max_bytes):
            break
        batch.append(event)
        size += event_size
    return batch
