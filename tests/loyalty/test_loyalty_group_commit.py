"""The group-commit executors, without a database: batches form under load, a failing
batch is retried job by job, callers who gave up are dropped, idle writers go away."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

from loyalty.services.group_commit import GroupCommit, LoopGroupCommit, Process


def _doubler(seen: list[list[int]]) -> Process[int, int]:
    async def process(jobs: list[int]) -> list[int]:
        seen.append(list(jobs))
        await asyncio.sleep(0.01)  # a commit's worth of waiting
        if 13 in jobs:
            raise ValueError("thirteen")
        return [j * 2 for j in jobs]

    return process


def _loop_writer(
    seen: list[list[int]], opened: list[str], *, concurrency: int, idle_s: float
) -> LoopGroupCommit[int, int]:
    @asynccontextmanager
    async def open_worker() -> AsyncIterator[Process[int, int]]:
        opened.append("open")
        try:
            yield _doubler(seen)
        finally:
            opened.append("close")

    return LoopGroupCommit(open_worker, name="test", concurrency=concurrency, idle_s=idle_s)


def test_loop_writer_batches_retries_and_goes_idle() -> None:
    seen: list[list[int]] = []
    opened: list[str] = []
    writer = _loop_writer(seen, opened, concurrency=2, idle_s=0.05)

    async def scenario() -> tuple[list[int | BaseException], list[str]]:
        results = await asyncio.gather(
            *(writer.submit(n) for n in range(1, 41)), return_exceptions=True
        )
        await asyncio.sleep(0.2)  # longer than idle_s: the drain tasks leave
        idle = list(opened)
        assert await writer.submit(5) == 10  # and come back when work does
        return results, idle

    results, idle = asyncio.run(scenario())
    assert [r for r in results if not isinstance(r, BaseException)] == [
        n * 2 for n in range(1, 41) if n != 13
    ]
    assert isinstance(results[12], ValueError)  # only job 13 failed
    assert writer.batches < 40 + 13  # batches formed (and one was retried job by job)
    assert [13] in seen and any(13 in b and len(b) > 1 for b in seen)
    assert idle.count("open") == idle.count("close") >= 1
    assert opened[-1] == "close"  # the loop's shutdown closed the last worker


def test_loop_writer_drops_jobs_whose_caller_gave_up() -> None:
    seen: list[list[int]] = []
    writer = _loop_writer(seen, [], concurrency=1, idle_s=0.05)

    async def scenario() -> int:
        first = asyncio.create_task(writer.submit(1))  # occupies the only drain task
        await asyncio.sleep(0)
        impatient = asyncio.create_task(writer.submit(2))
        await asyncio.sleep(0)
        impatient.cancel()
        return await first

    assert asyncio.run(scenario()) == 2
    assert all(2 not in batch for batch in seen)


def test_loop_writer_tells_callers_when_the_worker_cannot_start() -> None:
    @asynccontextmanager
    async def broken() -> AsyncIterator[Process[int, int]]:
        raise ConnectionError("no database")
        yield  # pragma: no cover

    writer: LoopGroupCommit[int, int] = LoopGroupCommit(broken, name="broken")
    with pytest.raises(ConnectionError):
        asyncio.run(writer.submit(1))


def test_thread_writer_batches_retries_and_exits_when_idle() -> None:
    seen: list[list[int]] = []
    gate = threading.Event()

    def process(jobs: list[int]) -> list[int]:
        gate.wait(5)  # hold the first batch so that the others queue behind it
        seen.append(list(jobs))
        if 13 in jobs:
            raise ValueError("thirteen")
        return [j * 2 for j in jobs]

    writer: GroupCommit[int, int] = GroupCommit(process, name="test", idle_s=0.05)
    results: dict[int, int | BaseException] = {}

    def call(n: int) -> None:
        try:
            results[n] = writer.run(n)
        except ValueError as exc:
            results[n] = exc

    threads = [threading.Thread(target=call, args=(n,)) for n in range(1, 21)]
    for t in threads:
        t.start()
    time.sleep(0.1)
    gate.set()
    for t in threads:
        t.join(5)
    assert {n: r for n, r in results.items() if n != 13} == {
        n: n * 2 for n in range(1, 21) if n != 13
    }
    assert isinstance(results[13], ValueError)
    assert len(seen) < 20 + 13
    deadline = time.monotonic() + 2
    while writer._thread is not None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert writer._thread is None  # idle: the thread is gone
    assert writer.run(4) == 8  # and a new one starts with the next job
    writer.close()
    with pytest.raises(RuntimeError):
        writer.run(1)
