"""The room's clock against central's (issue 16), mixed into `AgentStore` with `SyncStore`:
the offset measured at every exchange, the wall time the room's hybrid logical clock runs
on, and the one case where the room's stamps move back.

Central's clock is the reference (NTP-synced). Every answer carries central's stamp; the
room measures `offset = central − own wall` (kept in memory: a reboot may change the Pi's
clock, so it is measured again at the first exchange). Central stamped somewhere within the
round trip, so the offset is known only to ± half of it. While the offset is beyond the
60 s central accepts (`sync.hlc.MAX_SKEW_MS`) by more than that, the room stamps with its
wall clock corrected by the part the measurement proves (the offset less half the round
trip: never ahead of central's clock, which would have its stamps refused), raises a
`clock_skew` alert (central's board shows it) and logs `room_clock_skew` at error level;
`/health` shows `central.clock_offset_s`. Within the uncertainty it corrects nothing: on a
slow link, or a rig's clock running thousands of times faster (a 10 ms answer is minutes
of room time), correcting by the noise would stamp the room's events ahead of central's
clock now and then, and central would dead-letter them (`clock_skew`).

A room whose clock ran ahead (a day, say) while offline has stamped its pending events and
its own preference fields a day ahead: central would refuse them (`clock_skew`) and the
guest's changes would be lost. When central's stamp shows the room's clock ahead of it by
more than 60 s, every such stamp the room holds unsent (outbox, stored profiles) moves back
by the same amount in one transaction, so their order among themselves is kept, and the
room's clock continues from there: the only time it steps back, and only when central
proves it ran ahead: the room's newest stamp is beyond central's by more than 60 s plus the
round trip (the room may have stamped events while the request was out).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from agent.store_schema import NewEvent, OutboxRefused
from smartroom.log import get_logger
from sync.hlc import MAX_SKEW_MS, Hlc, Stamp
from sync.wire import Alert, EventKind

if TYPE_CHECKING:
    from agent.sqlite_db import Database
    from smartroom.clock import Clock
    from sync.wire import SyncEvent

log = get_logger("agent.store")


def shift_fields(payload: dict[str, Any], shift: Callable[[str], str]) -> dict[str, Any]:
    """A `MemberPreferences` document with every field's `hlc` passed through `shift`."""
    out = dict(payload)
    for section, fields in payload.items():
        if not isinstance(fields, dict):
            continue
        if isinstance(fields.get("hlc"), str):  # the learned comfort state's own stamp
            out[section] = {**fields, "hlc": shift(fields["hlc"])}
            continue
        out[section] = {
            key: {**value, "hlc": shift(value["hlc"])}
            if isinstance(value, dict) and isinstance(value.get("hlc"), str)
            else value
            for key, value in fields.items()
        }
    return out


class ClockStore:
    """Mixin: expects `db`, `_clock`, `_wall_ms()`, `_hlc()`, `_save_hlc()`, `commit()`."""

    db: Database
    _clock: Clock
    clock_offset_ms: int = 0
    _correction_ms: int = 0  # what the room's stamps are moved by (0: its clock is fine)
    _offset_basis: int | None = None  # own wall minus monotonic (ms) when it was measured
    _skew_alert: Alert | None = None

    if TYPE_CHECKING:

        def _wall_ms(self) -> int: ...
        def _hlc(self) -> Hlc: ...
        def _save_hlc(self, clock: Hlc) -> str: ...
        def commit(
            self, *, state: dict[str, Any] | None = None, events: Any = ()
        ) -> list[SyncEvent]: ...

    def _hlc_wall_ms(self) -> int:
        """The wall time the room's stamps use: its own, or central's when they disagree by
        more than central accepts."""
        raw, offset = self._wall_ms(), self._correction_ms
        if offset == 0:
            return raw
        basis = self._offset_basis
        if basis is not None and abs(raw - self._monotonic_ms() - basis) > MAX_SKEW_MS:
            # The wall clock was stepped since central was read (NTP fixed it): the offset
            # is stale; the room's own time until the next exchange measures again.
            return raw
        return raw + offset

    def _monotonic_ms(self) -> int:
        return int(self._clock.monotonic() * 1000)

    def sync_now(self) -> datetime:
        """The time the room's reports carry (`SyncEvent.at`, a status's `at`): its clock,
        corrected, and never before what it already stamped, so a reboot with the clock
        behind does not make central's board take its new reports for old ones."""
        wall = max(self._hlc_wall_ms(), self._hlc().last.wall_ms)
        return datetime.fromtimestamp(wall / 1000, UTC)

    def clock_alerts(self) -> list[Alert]:
        """The skew alert while the room's clock is off (its status carries it)."""
        return [] if self._skew_alert is None else [self._skew_alert]

    def _measure(self, remote: Stamp, raw: int, sent: int) -> None:
        """Take central's stamp as its clock reading; raise or clear the skew alert.

        Central stamped its answer some time between the request leaving (`sent`, the
        room's wall time then, or `raw` when unknown) and the answer arriving (`raw`): as
        NTP does, the offset is taken from the midpoint and only what exceeds half the
        round trip counts as skew. Without it a long poll (stamped when it began, answered
        up to 25 s later) or a rig's clock running 120x (half a second of latency is a
        simulated minute) would read as a clock off."""
        half = (raw - sent) // 2
        offset = remote.wall_ms - (sent + half)
        self.clock_offset_ms = offset
        self._offset_basis = raw - self._monotonic_ms()
        skewed = abs(offset) - half > MAX_SKEW_MS
        # Central's clock is somewhere in offset ± half: correct by its low end only.
        self._correction_ms = offset - half if skewed else 0
        way = "ahead of" if offset < 0 else "behind"
        detail = (
            f"room clock {abs(offset) // 60_000} min {way} central: stamping with central's "
            "time; fix the room's time source (NTP)"
        )
        if skewed and self._skew_alert is None:
            since = datetime.fromtimestamp(self._hlc_wall_ms() / 1000, UTC)
            self._skew_alert = Alert(kind="clock_skew", since=since, detail=detail)
        elif not skewed:
            self._skew_alert = None
        row = self.db.execute("SELECT value FROM meta WHERE key = 'clock_skew'").fetchone()
        if skewed == (row is not None and row[0] == "1"):
            return
        self.db.execute(
            "INSERT INTO meta (key, value) VALUES ('clock_skew', ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            ["1" if skewed else "0"],
        )
        if skewed:
            log.error("room_clock_skew", offset_s=offset // 1000, detail=detail)
        else:
            log.info("room_clock_skew_cleared", offset_s=offset // 1000)
        alert = self._skew_alert or Alert(kind="clock_skew", since=self.sync_now(), detail=detail)
        event: NewEvent = NewEvent(
            EventKind.ALERT, {"alert": alert.model_dump(mode="json"), "raised": skewed}
        )
        # With the records budget full (logged `outbox_full`) the alert still rides on the
        # room's status; refusing it here must not stop the exchange that drains the outbox.
        with contextlib.suppress(OutboxRefused):
            self.commit(events=[event])

    def _rebase(self, clock: Hlc, remote: Stamp) -> Hlc:
        """Our clock ran ahead of central's: move every unsent stamp that is beyond what
        central accepts back by how far ahead we were (see the module's docstring)."""
        delta = max(-self.clock_offset_ms, clock.last.wall_ms - remote.wall_ms)
        above = remote.wall_ms + MAX_SKEW_MS
        newest = remote

        def shift(text: str) -> str:
            nonlocal newest
            stamp = Stamp.parse(text)
            if stamp.wall_ms > above:
                stamp = Stamp(stamp.wall_ms - delta, stamp.counter)
            newest = max(newest, stamp)
            return str(stamp)

        moved = 0
        rows = self.db.execute("SELECT seq, doc FROM outbox WHERE sent_at IS NULL").fetchall()
        for seq, doc in rows:
            event = json.loads(doc)
            event["hlc"] = shift(event["hlc"])
            # The wall times it reports (a status has its own) move alike: central's board
            # orders a room's reports by them.
            for doc_at in (event, event["payload"] if event["kind"] == "room_status" else {}):
                at = datetime.fromisoformat(doc_at.get("at") or "1970-01-01T00:00:00+00:00")
                if at.timestamp() * 1000 > above:
                    doc_at["at"] = (at - timedelta(milliseconds=delta)).isoformat()
            if event["kind"] == EventKind.PREFERENCES.value:
                event["payload"] = shift_fields(event["payload"], shift)
            text = json.dumps(event, separators=(",", ":"))
            if text != doc:
                moved += 1
                self.db.execute(
                    "UPDATE outbox SET doc = ?, size = ? WHERE seq = ?", [text, len(text), seq]
                )
        for member_id, doc in self.db.execute("SELECT member_id, doc FROM preferences").fetchall():
            shifted = json.dumps(shift_fields(json.loads(doc), shift), separators=(",", ":"))
            if shifted != doc:
                self.db.execute(
                    "UPDATE preferences SET doc = ? WHERE member_id = ?", [shifted, member_id]
                )
        last = Stamp(clock.last.wall_ms - delta, clock.last.counter)
        log.error(
            "room_clock_rebased",
            ahead_s=delta // 1000,
            events=moved,
            was=str(clock.last),
            now=str(max(last, newest)),
        )
        rebased = Hlc(max(last, newest))
        self._save_hlc(rebased)
        return rebased

    def _receive_central(self, remote: Stamp, sent_ms: int | None = None) -> None:
        """In the caller's transaction: measure, rebase if we ran ahead, advance."""
        raw = self._wall_ms()
        sent = raw if sent_ms is None else min(sent_ms, raw)
        self._measure(remote, raw, sent)
        clock = self._hlc()
        # With the clocks agreeing, the room's newest stamp is at most its wall time now,
        # which is at most central's stamp plus the round trip: beyond that, it ran ahead.
        if clock.last.wall_ms > remote.wall_ms + (raw - sent) + MAX_SKEW_MS:
            clock = self._rebase(clock, remote)
        # Central's clock is the reference: adopted even far ahead of ours.
        clock.max_skew_ms = 2**62
        clock.receive(remote, self._hlc_wall_ms())
        self._save_hlc(clock)
