"""The ledger writes of in-room spends, held back for one pass of an upload
(`sync_accept._consume`) and written together when the pass ends: the transfers through
`loyalty.ledger.create_transfers` (the same rows, balances and hash chain as posting them
one by one) and the `room_spends` rows in one statement, in the pass's savepoint, so they
still commit exactly with the events' dedupe records.

    with held(conn):               # one pass
        post(conn, spec, now)      # create_transfer now, or held until the pass ends
        insert_spend(conn, row)

Outside a pass, `post` and `insert_spend` write at once. A consumer that may read or write
the ledger (anything but the kinds in `sync_consume.LEDGER_FREE`) first writes what is held
(`flush`), so every effect sees the ledger it would see event by event. A ledger refusal of
held writes raises `HeldRefused`: the caller does not know which event it was, and goes
back event by event.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from loyalty.db.sync_tables import room_spends
from loyalty.errors import ApiError
from loyalty.ledger import TransferSpec, create_transfer, create_transfers
from loyalty.ledger.errors import LedgerError


class HeldRefused(Exception):
    """Held writes of a pass were refused (`cause`: the ledger's error)."""

    def __init__(self, cause: LedgerError | ApiError) -> None:
        super().__init__(str(cause))
        self.cause = cause


@dataclass
class _Held:
    conn: Connection
    transfers: list[tuple[TransferSpec, datetime]] = field(default_factory=list)
    rows: list[dict[str, Any]] = field(default_factory=list)


_current: ContextVar[_Held | None] = ContextVar("sync_held", default=None)


def _of(conn: Connection) -> _Held | None:
    current = _current.get()
    return current if current is not None and current.conn is conn else None


@contextmanager
def held(conn: Connection) -> Iterator[None]:
    """Hold the spends' ledger writes on `conn` until the block ends normally (an exception
    discards them: the caller rolls its savepoint back)."""
    token = _current.set(_Held(conn))
    try:
        yield
        flush(conn)
    finally:
        _current.reset(token)


def flush(conn: Connection) -> None:
    """Write what is held now (no-op outside a pass)."""
    current = _of(conn)
    if current is None:
        return
    transfers, rows = current.transfers, current.rows
    current.transfers, current.rows = [], []
    try:
        if transfers:
            create_transfers(conn, transfers)
    except (LedgerError, ApiError) as exc:
        raise HeldRefused(exc) from exc
    if rows:
        conn.execute(room_spends.insert(), rows)


def post(conn: Connection, spec: TransferSpec, now: datetime) -> None:
    current = _of(conn)
    if current is None:
        create_transfer(conn, spec, now=now)
    else:
        current.transfers.append((spec, now))


def insert_spend(conn: Connection, row: dict[str, Any]) -> None:
    current = _of(conn)
    if current is None:
        conn.execute(room_spends.insert().values(**row))
    else:
        current.rows.append(row)
