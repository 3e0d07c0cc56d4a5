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
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any


class Database:
    def __init__(self, path: str) -> None:
        # isolation_level=None: no implicit transactions; `atomic()` opens them explicitly.
        self.conn = sqlite3.connect(path, isolation_level=None)

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
        except BaseException:
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
            raise
        if self.conn.in_transaction:  # executescript() commits what was open before it
            self.conn.execute("COMMIT")

    def close(self) -> None:
        self.conn.close()
