"""The in-room spends of one accept pass, kept in memory and written together.

A room's backlog charges its spends to a few stays, many in one upload. Settling each
spend on its own (`loyalty.services.folio`) read the stay, locked the member, read the
folio, the room's spends and the stay's holdings, then wrote two hash-chained transfers
(six statements each) and the spend: about nineteen statements per spend, most of an
upload's time. Within one accept pass (`sync_accept._pass`, one savepoint) the same
state is read once per stay instead, after the member's chain lock:

* the stay (read again under the lock, as check-out does), the member and its chain head;
* the folio, the room's spends and what the stay's earn transfers hold.

Each spend then prices the stay's distinct spends in memory, plans its credits with
`TransferBatch` (hashes, chain sequence and balances exactly as `create_transfer` makes
them) and adds itself to the rows it read. The pass's writes go at its end in one
statement on PostgreSQL (`PG_FLUSH_CTES` and the spends' rows), or before any consumer
that might read what they change (`settle_now`). A reversal (the target fell: rare, a
folio's void) is not a batched credit: the planned writes go first, then
`folio.post_difference` as before. The pass's savepoint still holds all of it, so a
refusal rolls the writes and this memory back together (the pass is discarded).

    with spend_pass.held(conn, ctx):          # sync_accept, around a pass
        ...sync_consume.room_spend(conn, ctx, event) for each spend...
    # every planned transfer and spend row is written when the block ends
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import Connection, String, any_, bindparam, select, union_all
from sqlalchemy.dialects.postgresql import ARRAY

from loyalty.context import Context
from loyalty.db.sync_tables import room_spends
from loyalty.db.tables import accounts, chains, stays, transfers
from loyalty.ledger import SYSTEM, member_account
from loyalty.ledger.batch import PG_FLUSH_CTES, TransferBatch
from loyalty.ledger.errors import LedgerError
from loyalty.services import folio
from loyalty.services.members import get_member

Ledger = Literal["points", "qualifying"]

_SPENDS = """
INSERT INTO room_spends (event_id, stay_id, member_id, category, item, amount_minor,
                         currency, points, transfer_id, at, reference)
SELECT s.event_id, s.stay_id, s.member_id, s.category, s.item, s.amount_minor, s.currency,
       s.points, s.transfer_id, s.at, s.reference
FROM json_to_recordset(CAST(%(spend_rows)s AS json))
     AS s(event_id text, stay_id text, member_id text, category text, item text,
          amount_minor bigint, currency text, points bigint, transfer_id text,
          at timestamptz, reference text)
"""
_FLUSH = f"WITH {PG_FLUSH_CTES}\n{_SPENDS}"


class Collision(Exception):
    """A planned transfer or spend row already exists: the event's effect is already
    there (only a damaged dedupe record can lead here). Its event is refused."""

    def __init__(self, event_id: str, reason: str) -> None:
        super().__init__(reason)
        self.event_id, self.reason = event_id, reason


@dataclass
class StayState:
    """A stay as this pass knows it, kept current by the pass's own spends."""

    row: Any
    member: Any
    lines: list[folio.Row]  # the folio's (after check-out)
    room: list[folio.Row]
    held: dict[str, int]


@dataclass
class SpendPass:
    conn: Connection
    ctx: Context
    now: datetime
    stays: dict[tuple[str, str, str], StayState] = field(default_factory=dict)
    batch: TransferBatch = field(init=False)
    rows: list[dict[str, Any]] = field(default_factory=list)  # room_spends rows to write
    events: dict[str, str] = field(default_factory=dict)  # transfer/spend key → event id

    def __post_init__(self) -> None:
        self.batch = TransferBatch({}, now=self.now)

    def stay(self, stay_id: str, property_id: str, room_id: str) -> StayState | None:
        """The stay as read earlier in this pass for this room; None: read it (`open`)."""
        return self.stays.get((stay_id, property_id, room_id))

    def open(self, row: Any, property_id: str, room_id: str) -> StayState:
        """Lock the stay's member (its chain: every writer of the member's ledger takes it
        first), then read what settling its spends needs. `row`: the stay as the caller
        found it in this room."""
        member = get_member(self.conn, row.member_id)
        owner = member.pseudonym
        if owner not in self.batch.heads:
            self.batch.heads[owner] = self._lock_head(owner)
            self._check_accounts(owner)
        row = self.conn.execute(select(stays).where(stays.c.id == row.id)).one()
        state = StayState(
            row=row,
            member=member,
            lines=folio.stay_folio(self.conn, row),
            room=folio.room_rows(self.conn, row.id),
            held=folio.holdings(self.conn, row.id),
        )
        self.stays[(row.id, property_id, room_id)] = state
        return state

    def _lock_head(self, owner: str) -> tuple[int, str]:
        query = select(chains.c.seq, chains.c.head).where(chains.c.owner == owner)
        if self.conn.dialect.name == "postgresql":  # SQLite: the writer's lock serialises
            query = query.with_for_update()
        head = self.conn.execute(query).first()
        if head is None:
            raise LedgerError("chain_not_found", f"no chain for owner {owner}", status=404)
        return int(head.seq), str(head.head)

    def _check_accounts(self, owner: str) -> None:
        """What `create_transfer` checks of the accounts, once per member and pass."""
        wanted = {member_account(owner, ledger): ledger for ledger in ("points", "qualifying")}
        found = {
            r.id: r.ledger
            for r in self.conn.execute(
                select(accounts.c.id, accounts.c.ledger).where(accounts.c.id.in_(list(wanted)))
            )
        }
        for account, ledger in wanted.items():
            if account not in found:
                raise LedgerError("credit_account_not_found", f"no account {account}", status=404)
            if found[account] != ledger:
                raise LedgerError(
                    "accounts_must_have_the_same_ledger",
                    f"{account} is on ledger {found[account]}, not {ledger}",
                )

    def post(
        self,
        state: StayState,
        ledger: Ledger,
        delta: int,
        *,
        transfer_id: str,
        code: str,
        event_id: str,
    ) -> None:
        """`folio.post_difference`, planned: a credit joins the batch; a reversal (rare)
        is written at once, after everything planned before it."""
        owner = state.member.pseudonym
        if delta > 0:
            self.batch.credit(
                id=transfer_id,
                ledger=ledger,
                debit=SYSTEM[f"{ledger}:issuance"],
                credit=member_account(owner, ledger),
                amount=delta,
                code=code,
                owner=owner,
                reference=state.row.id,
            )
            self.events[transfer_id] = event_id
        elif delta < 0:
            self.flush()
            folio.post_difference(
                self.conn,
                state.row.id,
                owner,
                ledger,
                delta,
                transfer_id=transfer_id,
                code=code,
                now=self.now,
            )
            # create_transfer moved the chain's head (the lock is still ours).
            self.batch.heads[owner] = self._lock_head(owner)
        state.held[ledger] += delta

    def spent(
        self, state: StayState, arriving: folio.Row, row: dict[str, Any], event_id: str
    ) -> None:
        """The spend is settled: it joins the stay's rows, its own row is written later."""
        state.room.append(arriving)
        self.rows.append(row)
        self.events[str(row["event_id"])] = event_id

    def flush(self) -> None:
        """Write every planned transfer, chain head, account total and spend row."""
        if not self.rows and not self.batch.rows:
            return
        self._collisions()
        if self.conn.dialect.name == "postgresql":
            spend_rows = [{**r, "at": r["at"].isoformat()} for r in self.rows]
            params = {**self.batch.pg_params(), "spend_rows": json.dumps(spend_rows)}
            self.conn.exec_driver_sql(_FLUSH, params)
            self.batch.clear()
        else:
            self.batch.flush(self.conn)
            if self.rows:
                self.conn.execute(room_spends.insert(), self.rows)
        self.rows = []
        self.events.clear()

    def _collisions(self) -> None:
        """One look for any planned transfer or spend row that already exists."""
        planned = [r["id"] for r in self.batch.rows], [r["event_id"] for r in self.rows]
        postgres = self.conn.dialect.name == "postgresql"
        found = [
            select(column).where(
                column == any_(bindparam(name, ids, type_=ARRAY(String)))
                if postgres
                else column.in_(ids)
            )
            for column, name, ids in (
                (transfers.c.id, "transfer_ids", planned[0]),
                (room_spends.c.event_id, "spend_ids", planned[1]),
            )
            if ids
        ]
        hit = self.conn.execute(union_all(*found).limit(1)).scalar()
        if hit is not None:
            raise Collision(self.events[hit], f"ledger: the effect {hit} already exists")

    def forget(self) -> None:
        """Write what is planned and forget what was read (another consumer may change it)."""
        self.flush()
        self.stays.clear()
        self.batch.heads.clear()


_current: ContextVar[SpendPass | None] = ContextVar("spend_pass", default=None)


@contextmanager
def held(conn: Connection, ctx: Context) -> Iterator[SpendPass]:
    """Within the block, spends on `conn` settle through one pass, written when the block
    ends normally (an exception discards them: the caller rolls its savepoint back)."""
    outer = _current.get()
    if outer is not None and outer.conn is conn:
        yield outer  # already inside a pass on this connection
        return
    spends = SpendPass(conn, ctx, ctx.clock.now())
    token = _current.set(spends)
    try:
        yield spends
        spends.flush()
    finally:
        _current.reset(token)


def settle_now(conn: Connection) -> None:
    """Before a consumer that may read the ledger or the stays: write the pass's planned
    spends and forget its reads."""
    spends = _current.get()
    if spends is not None and spends.conn is conn:
        spends.forget()
