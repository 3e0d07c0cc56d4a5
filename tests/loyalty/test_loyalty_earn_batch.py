"""Group-committed earns: a batch gives every earn the outcome it would have had alone.

Each batch path is tested on a real database: the generic one (`earn_batch`, SQLAlchemy
Core; SQLite's and the reference) on SQLite and PostgreSQL, and PostgreSQL's fast path
(`earn_batch_pg`, psycopg asyncio, two round trips). Twins that stored a key first, a
writer we had to wait for, repeats and refusals inside a batch are all covered."""

from __future__ import annotations

import asyncio
import random
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import psycopg
import pytest
from sqlalchemy import text

from loyalty.app import create_app
from loyalty.context import Context
from loyalty.idempotency import Outcome, Record, canonical, claim
from loyalty.ledger import verify_ledger
from loyalty.schemas import EarnRequest, MemberCreate
from loyalty.services import earn_batch as batch_module
from loyalty.services.earn_batch import EarnJob, earn_batch
from loyalty.services.earn_pg import earn_batch_pg, prepare
from loyalty.services.members import create_member
from loyalty.settings import LoyaltySettings
from smartroom.clock import FakeClock

Post = Callable[[list[EarnJob]], list[Outcome]]
PATHS = [
    ("sqlite", "generic"),
    pytest.param(("postgres", "generic"), marks=pytest.mark.postgres),
    pytest.param(("postgres", "fast"), marks=pytest.mark.postgres),
]


def _dsn(url: str) -> str:
    from sqlalchemy.engine import make_url

    u = make_url(url)
    return f"host={u.host} port={u.port} user={u.username} dbname={u.database}"


def _pg_post(ctx: Context, dsn: str) -> Post:
    def post(jobs: list[EarnJob]) -> list[Outcome]:
        async def run() -> list[Outcome]:
            conn = await psycopg.AsyncConnection.connect(dsn, autocommit=True)
            try:
                await prepare(conn)
                return await earn_batch_pg(conn, ctx, jobs)
            finally:
                await conn.close()

        return asyncio.run(run())

    return post


@pytest.fixture(params=PATHS, ids=lambda p: "-".join(p))
def setup(request: pytest.FixtureRequest) -> Iterator[tuple[Context, Post, str]]:
    backend, path = request.param
    url = str(request.getfixturevalue("sqlite_url" if backend == "sqlite" else "pg_fresh"))
    app = create_app(
        LoyaltySettings(database_url=url),
        clock=FakeClock(datetime(2026, 3, 2, 10, 0, tzinfo=UTC)),
        migrate=True,
    )
    ctx: Context = app.state.ctx
    post: Post = (
        (lambda jobs: earn_batch(ctx, jobs)) if path == "generic" else _pg_post(ctx, _dsn(url))
    )
    try:
        yield ctx, post, url
    finally:
        app.state.earn_writer.close()
        ctx.engine.dispose()


def _members(ctx: Context, n: int) -> list[str]:
    with ctx.engine.begin() as conn:
        return [create_member(conn, ctx, MemberCreate()) for _ in range(n)]


def _job(key: str, member: str, amount: str = "100.00", activity: str = "fnb") -> EarnJob:
    body = EarnRequest(member_id=member, activity=activity, amount=Decimal(amount))
    return EarnJob.of("staff-key", key, body)


def _essence(outcome: Outcome) -> tuple[Any, ...]:
    """What must not depend on batching: status, points, balance, flag, error code."""
    body = outcome.body
    if outcome.status != 200:
        return (outcome.status, body["error"]["code"], body["error"].get("field"))
    return (200, body["points"], body["balance"], body["flagged"], len(body["breakdown"]))


def _verified(ctx: Context) -> None:
    with ctx.engine.connect() as conn:
        report = verify_ledger(conn)
    assert report.ok, report.problems


def test_mixed_batch_matches_one_earn_per_transaction(setup: tuple[Context, Post, str]) -> None:
    ctx, post, _url = setup
    a, b, c = _members(ctx, 3)
    jobs = [
        _job("k-0001", a, "100.00"),
        _job("k-0002", a, "250.00"),
        _job("k-0003", "m_nobody_at_all_0001"),
        _job("k-0004", b, "10.00", activity="bowling"),
        _job("k-0001", a, "100.00"),  # the same key again, same body: replays the first
        _job("k-0002", a, "999.00"),  # the same key, another body: 409 naming the field
        _job("k-0005", c, "0.00"),
        _job("k-0006", b, "2000000.00"),  # refused by the rules (over the per-request cap)
    ]
    out = post(jobs)
    assert [o.status for o in out] == [200, 200, 404, 422, 200, 409, 200, 422]
    assert out[4].replayed and out[4].body == out[0].body
    assert out[5].body["error"]["field"] == "amount"
    first, second = out[0].body, out[1].body
    assert second["balance"]["points"] == first["points"] + second["points"]
    assert out[6].body["points"] == 0 and out[6].body["transfer_id"] is None
    # The same jobs one per transaction, for fresh members, give the same outcomes.
    fresh = dict(zip((a, b, c), _members(ctx, 3), strict=True))
    firsts = [0, 1, 2, 3, 6, 7]
    alone = []
    for i in firsts:
        j = jobs[i]
        member = fresh.get(j.body.member_id, j.body.member_id)
        alone += post([_job(f"solo-{j.key}", member, str(j.body.amount), j.body.activity)])
    assert [_essence(out[i]) for i in firsts] == [_essence(o) for o in alone]
    # Failures are recorded too: a retry of a refused key replays the refusal.
    again = post([_job("k-0003", "m_nobody_at_all_0001")])[0]
    assert again.replayed and again.status == 404
    _verified(ctx)


def test_random_batches_equal_sequential_earns(setup: tuple[Context, Post, str]) -> None:
    """Limits, velocity flags and balances accumulate inside a batch exactly as across
    transactions (F&B is capped at 50,000 points a year; >5 earns in 10 min is flagged)."""
    ctx, post, _url = setup
    rng = random.Random(7)
    batched_members = _members(ctx, 3)
    solo_members = _members(ctx, 3)
    plan = [
        (rng.randrange(3), rng.choice(["100.00", "9000.00", "20000.00", "5.50"])) for _ in range(24)
    ]
    batched: list[Outcome] = []
    for start in range(0, len(plan), 8):
        chunk = plan[start : start + 8]
        batched += post(
            [
                _job(f"b-{start + n:04d}", batched_members[m], amount)
                for n, (m, amount) in enumerate(chunk)
            ]
        )
    alone = [
        post([_job(f"s-{n:04d}", solo_members[m], amount)])[0] for n, (m, amount) in enumerate(plan)
    ]
    assert [_essence(o) for o in batched] == [_essence(o) for o in alone]
    assert any(o.body["flagged"] for o in batched)  # velocity flags did happen
    capped = [o.body["points"] for o in batched if o.status == 200]
    assert sum(capped) <= 3 * 50_000
    _verified(ctx)


def test_key_a_twin_stored_first_replays_it_and_the_rest_posts(
    setup: tuple[Context, Post, str],
) -> None:
    ctx, post, _url = setup
    a, b = _members(ctx, 2)
    twin = _job("twin-0001", a, "300.00")
    stored = Outcome(200, {"stored": "by the twin"})
    with ctx.engine.begin() as conn:
        claim(
            conn, [Record("staff-key", "twin-0001", "earn", twin.request, stored)], ctx.clock.now()
        )
    out = post([_job("other-0001", b, "100.00"), twin, _job("other-0002", a, "50.00")])
    assert out[1].replayed and out[1].body == {"stored": "by the twin"}
    assert out[0].status == out[2].status == 200
    # The twin's earn was not posted: member a holds only the 50.00 earn.
    assert out[2].body["balance"]["points"] == out[2].body["points"]
    _verified(ctx)


@pytest.mark.postgres
def test_fast_path_waits_for_an_in_flight_twin_then_replays(pg_fresh: str) -> None:
    app = create_app(LoyaltySettings(database_url=pg_fresh), migrate=True)
    ctx: Context = app.state.ctx
    a, b = _members(ctx, 2)
    twin = _job("twin-0002", a, "300.00")
    holder = psycopg.connect(_dsn(pg_fresh))
    try:
        # The twin's transaction has stored the key but not committed yet.
        holder.execute(
            "INSERT INTO idempotency VALUES (%s, %s, 'earn', %s, 200, %s, now())",
            ("staff-key", "twin-0002", canonical(twin.request), canonical({"twin": True})),
        )
        result: list[list[Outcome]] = []
        runner = threading.Thread(
            target=lambda: result.append(
                _pg_post(ctx, _dsn(pg_fresh))([twin, _job("other-0003", b, "100.00")])
            )
        )
        runner.start()
        _wait_for_lock_wait(pg_fresh)
        holder.commit()
        runner.join(10)
    finally:
        holder.close()
    out = result[0]
    assert out[0].replayed and out[0].body == {"twin": True}
    assert out[1].status == 200 and out[1].body["points"] > 0
    _verified(ctx)
    app.state.earn_writer.close()
    ctx.engine.dispose()


@pytest.mark.postgres
def test_fast_path_recounts_after_waiting_for_a_writer(
    pg_fresh: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batch that waited for another writer's lock sees that writer's earns: the yearly
    F&B limit caps the second earn (counts read before the wait would not)."""
    app = create_app(
        LoyaltySettings(database_url=pg_fresh),
        clock=FakeClock(datetime(2026, 6, 2, 10, 0, tzinfo=UTC)),  # no off-peak bonus
        migrate=True,
    )
    ctx: Context = app.state.ctx
    (member,) = _members(ctx, 1)
    paused, release = threading.Event(), threading.Event()
    real_flush = batch_module.Plan.flush

    def slow_flush(self: Any, conn: Any) -> None:
        real_flush(self, conn)
        paused.set()
        release.wait(10)

    monkeypatch.setattr(batch_module.Plan, "flush", slow_flush)
    first: list[list[Outcome]] = []
    writer = threading.Thread(
        target=lambda: first.append(earn_batch(ctx, [_job("w-0001", member, "49000.00")]))
    )
    writer.start()
    assert paused.wait(10)
    second: list[list[Outcome]] = []
    waiter = threading.Thread(
        target=lambda: second.append(
            _pg_post(ctx, _dsn(pg_fresh))([_job("w-0002", member, "2000.00")])
        )
    )
    waiter.start()
    _wait_for_lock_wait(pg_fresh)
    release.set()
    writer.join(10)
    waiter.join(10)
    assert first[0][0].body["points"] == 49_000
    assert second[0][0].body["points"] == 1_000  # capped at 50,000 for the year
    assert second[0][0].body["balance"]["points"] == 50_000
    _verified(ctx)
    app.state.earn_writer.close()
    ctx.engine.dispose()


def _wait_for_lock_wait(url: str) -> None:
    """Until some backend of this database waits for a lock (bounded)."""
    with psycopg.connect(_dsn(url), autocommit=True) as conn:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            waiting = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock'"
            ).fetchone()
            if waiting and waiting[0]:
                return
            time.sleep(0.02)
    raise AssertionError("no backend started waiting for the lock")


def test_the_app_writer_groups_concurrent_earns(db_url: str) -> None:
    """Through the app's writer (what the API uses): concurrent submits share batches."""
    app = create_app(LoyaltySettings(database_url=db_url), migrate=True)
    ctx: Context = app.state.ctx
    writer = app.state.earn_writer
    members = _members(ctx, 4)

    async def burst() -> list[Outcome]:
        return list(
            await asyncio.gather(
                *(writer.submit(_job(f"burst-{n:04d}", members[n % 4])) for n in range(40))
            )
        )

    try:
        out = asyncio.run(burst())
        assert all(o.status == 200 for o in out)
        assert writer.jobs == 40 and writer.batches < 40
        with ctx.engine.connect() as conn:
            earned = conn.execute(
                text("SELECT count(*) FROM transfers WHERE ledger = 'points' AND code = 'earn_fnb'")
            ).scalar_one()
        assert earned == 40
        _verified(ctx)
    finally:
        writer.close()
        ctx.engine.dispose()


@pytest.mark.postgres
def test_writer_survives_its_connection_dying(pg_fresh: str) -> None:
    """A batch on a connection the server has dropped is retried on a new one."""
    app = create_app(LoyaltySettings(database_url=pg_fresh), migrate=True)
    ctx: Context = app.state.ctx
    writer = app.state.earn_writer
    (member,) = _members(ctx, 1)

    async def scenario() -> tuple[Outcome, Outcome]:
        first = await writer.submit(_job("live-0001", member))
        with psycopg.connect(_dsn(pg_fresh), autocommit=True) as admin:
            killed = admin.execute(
                "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid() "
                "AND query LIKE 'EXECUTE earn_%%'"
            ).fetchone()
        assert killed is not None and killed[0] >= 1  # the writer's connection is gone
        return first, await writer.submit(_job("live-0002", member))

    try:
        first, second = asyncio.run(scenario())
        assert first.status == second.status == 200
        assert second.body["balance"]["points"] == first.body["points"] + second.body["points"]
        _verified(ctx)
    finally:
        writer.close()
        ctx.engine.dispose()
