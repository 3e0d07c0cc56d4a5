"""The stays half of the agent's store, mixed into `AgentStore`: central's stays for this
room (and the ones a room key vouched for while central was unreachable), the sealed
secrets that come with them, and the cached member preferences.

It never opens the database: it works on the `AgentStore`'s handle, inside its
transactions.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from typing import TYPE_CHECKING

from agent.store_schema import StoreError
from sync.wire import MemberPreferences, StayAssignment

if TYPE_CHECKING:
    from agent.presence.sealing import Sealer
    from agent.sqlite_db import Database


class StayStore:
    """Mixin: expects `db`, `_sealer`, `_now()`, `_local_preferences()`,
    `dirty_preferences()`, `property_id`, `room_id` from AgentStore."""

    db: Database
    _sealer: Sealer | None
    property_id: str
    room_id: str

    if TYPE_CHECKING:

        def _now(self) -> str: ...
        def _local_preferences(self, prefs: MemberPreferences) -> None: ...
        def dirty_preferences(self) -> list[MemberPreferences]: ...

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
