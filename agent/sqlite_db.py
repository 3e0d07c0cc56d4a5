"""The few things the agent's store needs from SQLite, on the standard library.

    db = Database(path)           # autocommit: a write outside `atomic()` commits at once
    with db.atomic():             # one transaction (nested: a savepoint)
        db.execute("INSERT ...", [...])
    db.execute("SELECT ...").fetchone()

It replaces sqlite-utils here: that package pulls in click, pluggy, tabulate and dateutil,
about 10 MB of resident memory on a box that must stay under 80 MB, for three methods.
"""

from __future__ import annotations

import secrets
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any


def is_write_failure(exc: BaseException) -> bool:
    """SQLite could not write: the disk (or the file size limit) is full, or the write
    itself failed. The transaction was rolled back; what was committed before is intact."""
    if not isinstance(exc, sqlite3.OperationalError):
        return False
    code = getattr(exc, "sqlite_errorcode", 0) & 0xFF  # the primary result code
    return code in (sqlite3.SQLITE_FULL, sqlite3.SQLITE_IOERR)


class Database:
    def __init__(self, path: str, now: Callable[[], str] | None = None) -> None:
        # isolation_level=None: no implicit transactions; `atomic()` opens them explicitly.
        self.conn = sqlite3.connect(path, isolation_level=None)
        # The last failed write (disk full, I/O error) and since when writes fail; cleared
        # by the next transaction that commits. The agent's health and metrics show it.
        self.write_error: str | None = None
        self.failing_since: str | None = None
        self.failed_writes = 0
        self._now = now or (lambda: "")

    def execute(self, sql: str, parameters: Sequence[Any] | None = None) -> sqlite3.Cursor:
        return self.conn.execute(sql, parameters or ())

    def executescript(self, sql: str) -> sqlite3.Cursor:
        return self.conn.executescript(sql)

    @contextmanager
    def atomic(self) -> Iterator[Database]:
        if self.conn.in_transaction:
            savepoint = f"sp_{secrets.token_hex(8)}"
            self.conn.execute(f"SAVEPOINT {savepoint}")
            try:
                yield self
            except BaseException:
                if self.conn.in_transaction:
                    self.conn.execute(f"ROLLBACK TO SAVEPOINT {savepoint}")
                    self.conn.execute(f"RELEASE SAVEPOINT {savepoint}")
                raise
            self.conn.execute(f"RELEASE SAVEPOINT {savepoint}")
            return
        self.conn.execute("BEGIN")
        try:
            yield self
            if self.conn.in_transaction:  # executescript() commits what was open before it
                self.conn.execute("COMMIT")
        except BaseException as exc:
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
            if is_write_failure(exc):
                self._write_failed(exc)
            raise
        if self.write_error is not None:
            self.write_error = self.failing_since = None

    def _write_failed(self, exc: BaseException) -> None:
        self.failed_writes += 1
        if self.write_error is None:
            self.failing_since = self._now()
        self.write_error = str(exc)

    def close(self) -> None:
        self.conn.close()
