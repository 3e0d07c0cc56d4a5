"""Engines set up for a ledger on each backend.

SQLite: WAL, `synchronous=FULL` (a committed point survives power loss), a busy timeout,
foreign keys, and every transaction opened with `BEGIN IMMEDIATE` so writers serialise
up front instead of failing on lock upgrade. PostgreSQL: READ COMMITTED plus row locks
taken in sorted order by the ledger.

    db = Database.connect("sqlite:///loyalty.db")
    with db.engine.begin() as conn: ...
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool


def make_engine(url: str, *, pool_size: int = 10) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        memory = database in ("", ":memory:")
        if memory:
            raise ValueError("an in-memory SQLite database is lost between connections")
        engine = create_engine(
            parsed,
            connect_args={"timeout": 30, "check_same_thread": False},
            poolclass=NullPool if pool_size == 0 else None,
        )

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn: Any, _record: Any) -> None:
            # Hand transaction control to SQLAlchemy's events below.
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=FULL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Any) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    return create_engine(
        parsed,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=False,
        isolation_level="READ COMMITTED",
    )


@dataclass
class Database:
    engine: Engine

    @classmethod
    def connect(cls, url: str, *, pool_size: int = 10) -> Database:
        return cls(make_engine(url, pool_size=pool_size))

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    def close(self) -> None:
        self.engine.dispose()
