"""The writer request handlers queue earns to: group commit for the app's database.

    writer = earn_writer(ctx)                   # create_app does this
    outcome = await writer.submit(EarnJob.of(principal, key, body))

PostgreSQL: `LoopGroupCommit` on the request's event loop, two drain tasks each with its
own psycopg asyncio connection (closed after 60 s idle), running `earn_batch_pg` — HTTP
handling and batching share one thread, with no GIL hand-offs and two round trips per
batch. SQLite (no asyncio driver): `GroupCommit`, a writer thread running `earn_batch`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, Protocol

import psycopg

from loyalty.context import Context
from loyalty.idempotency import Outcome
from loyalty.services.earn_batch import EarnJob, earn_batch
from loyalty.services.earn_pg import earn_batch_pg, prepare
from loyalty.services.group_commit import GroupCommit, LoopGroupCommit, Process


class EarnWriter(Protocol):
    """Where request handlers queue earns (`GroupCommit` or `LoopGroupCommit`)."""

    batches: int
    jobs: int

    async def submit(self, job: EarnJob) -> Outcome: ...

    def close(self) -> None: ...


def earn_writer(
    ctx: Context,
    *,
    max_batch: int = 128,
    concurrency: int = 2,
    observe: Callable[[int], None] | None = None,
) -> EarnWriter:
    if ctx.engine.dialect.name != "postgresql":
        return GroupCommit(
            lambda jobs: earn_batch(ctx, jobs), name="earn", max_batch=max_batch, observe=observe
        )
    url = ctx.engine.url
    dsn = psycopg.conninfo.make_conninfo(
        host=url.host,
        port=url.port,
        user=url.username,
        password=url.password,
        dbname=url.database,
        **{k: str(v) for k, v in url.query.items()},
    )

    @asynccontextmanager
    async def open_worker() -> AsyncIterator[Process[EarnJob, Outcome]]:
        conn: list[psycopg.AsyncConnection[Any]] = []

        async def connected() -> psycopg.AsyncConnection[Any]:
            if not conn or conn[0].broken or conn[0].closed:
                fresh = await psycopg.AsyncConnection.connect(dsn, autocommit=True)
                await fresh.set_isolation_level(psycopg.IsolationLevel.READ_COMMITTED)
                await prepare(fresh)
                conn[:] = [fresh]
            return conn[0]

        async def process(jobs: list[EarnJob]) -> list[Outcome]:
            try:
                return await earn_batch_pg(await connected(), ctx, jobs)
            except psycopg.OperationalError:
                if not conn or not conn[0].broken:
                    raise
                # The connection died (server restart, failover). Once more on a new one:
                # if the batch did commit before the line dropped, its keys are stored and
                # the retry replays them instead of posting twice.
                return await earn_batch_pg(await connected(), ctx, jobs)

        try:
            yield process
        finally:
            if conn:
                await conn[0].close()

    return LoopGroupCommit(
        open_worker,
        name="earn",
        max_batch=max_batch,
        concurrency=concurrency,
        # A drain task that left would cost the next burst a new connection (fork,
        # prepare: tens of ms): keep them for a minute; the loop's end closes them anyway.
        idle_s=60.0,
        observe=observe,
    )
