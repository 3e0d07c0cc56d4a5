"""An idempotent write that loses a real PostgreSQL deadlock is run again, not answered 500:
the network chaos test (tests/sync/test_sync_chaos.py) found check-ins failing that way
when they deadlocked with a room's upload. Here the deadlock is made on purpose: the write
locks row 1 and then row 2 while another session holds row 2 and waits for row 1; the
write's session detects the cycle first (shorter deadlock_timeout) and is the victim."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import psycopg
import pytest
from sqlalchemy import Connection, create_engine, text

from loyalty.db.migrate import upgrade
from loyalty.idempotency import Outcome, run_idempotent
from smartroom.clock import FakeClock
from smartroom.services import TemporaryPostgres

pytestmark = [pytest.mark.postgres, pytest.mark.timeout(60)]


@pytest.fixture
def pg() -> Iterator[TemporaryPostgres]:
    server = TemporaryPostgres(prefix="smartroom_deadlock").start()
    try:
        upgrade(server.url)
        with psycopg.connect(server.dsn, autocommit=True) as conn:
            conn.execute("CREATE TABLE rows_ (id int PRIMARY KEY, n int NOT NULL)")
            conn.execute("INSERT INTO rows_ VALUES (1, 0), (2, 0)")
        yield server
    finally:
        server.close()


def test_a_deadlocked_write_runs_again_and_commits_once(pg: TemporaryPostgres) -> None:
    engine = create_engine(pg.url)
    clock = FakeClock()
    calls = 0
    holder_has_row_2, holder_done = threading.Event(), threading.Event()

    def holder() -> None:  # the other session: row 2, then row 1
        with psycopg.connect(pg.dsn) as conn:
            conn.execute("SET deadlock_timeout = '5s'")
            conn.execute("SELECT n FROM rows_ WHERE id = 2 FOR UPDATE")
            holder_has_row_2.set()
            conn.execute("UPDATE rows_ SET n = n + 1 WHERE id = 1")
            conn.commit()
        holder_done.set()

    def work(conn: Connection) -> Outcome:
        nonlocal calls
        calls += 1
        conn.execute(text("SET LOCAL deadlock_timeout = '50ms'"))
        conn.execute(text("UPDATE rows_ SET n = n + 10 WHERE id = 1"))  # row 1 first
        if calls == 1:
            thread = threading.Thread(target=holder)
            thread.start()
            assert holder_has_row_2.wait(10)
        conn.execute(text("UPDATE rows_ SET n = n + 10 WHERE id = 2"))  # then row 2
        return Outcome(200, {"ok": True})

    outcome = run_idempotent(
        engine,
        principal="k_test",
        key="deadlock-0001",
        operation="test",
        request={},
        now=clock.now,
        work=work,
    )
    assert outcome.status == 200 and outcome.body == {"ok": True}
    assert calls == 2  # the first run was the deadlock's victim, the second committed
    assert holder_done.wait(10)
    with engine.connect() as conn:
        rows = dict(conn.execute(text("SELECT id, n FROM rows_")).all())
    assert rows == {1: 11, 2: 10}  # the write's effect once, the other session's once
    engine.dispose()
