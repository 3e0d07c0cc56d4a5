"""Group commit: request handlers queue jobs, one writer thread takes everything queued and
runs it as one batch (one transaction, one fsync), then hands each job its result.

There is no timer: while one batch commits, the next one queues up, so batches grow with
load by themselves and a lone request waits for nobody.

    writer = GroupCommit(lambda jobs: earn_batch(ctx, jobs), name="earn")
    outcome = await writer.submit(job)        # from a request handler
    outcome = writer.run(job)                 # from any other thread
    writer.close()

`process(jobs)` must return one result per job, in order. If it raises for a whole batch,
each job of that batch is retried on its own, so one bad job cannot fail the others.
Results for an event loop are handed over with one wake-up per batch, not one per job.
The writer thread exits after `idle_s` without work and is started again by the next job
(so an app that is built and dropped, as in tests, leaves no thread behind).
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
import weakref
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable
from concurrent.futures import Future
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from smartroom.log import get_logger

J = TypeVar("J")
R = TypeVar("R")

log = get_logger("loyalty.group_commit")

# A job's waiter: an asyncio future with its loop, or a concurrent future for threads.
Waiter = tuple[asyncio.AbstractEventLoop, "asyncio.Future[Any]"] | Future[Any]


class GroupCommit(Generic[J, R]):
    def __init__(
        self,
        process: Callable[[list[J]], list[R]],
        *,
        name: str = "writer",
        max_batch: int = 256,
        idle_s: float = 2.0,
        observe: Callable[[int], None] | None = None,
    ) -> None:
        self._process = process
        self.name = name
        self.max_batch = max_batch
        self.idle_s = idle_s
        self._observe = observe
        self._queue: queue.SimpleQueue[tuple[J, Waiter] | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._closed = False
        self.batches = 0
        self.jobs = 0

    async def submit(self, job: J) -> R:
        """Queue `job` and wait for its result without blocking the event loop. A request
        cancelled before its batch starts is dropped (nothing was written)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[R] = loop.create_future()
        self._put(job, (loop, future))
        return await future

    def run(self, job: J) -> R:
        """Queue `job` and block this thread until its batch has committed."""
        future: Future[R] = Future()
        self._put(job, future)
        return future.result()

    def close(self, timeout: float = 10.0) -> None:
        """Finish what is queued, then stop the writer."""
        with self._lock:
            self._closed = True
            thread = self._thread
            if thread is not None:
                self._queue.put(None)
        if thread is not None:
            thread.join(timeout)

    def _put(self, job: J, waiter: Waiter) -> None:
        with self._lock:
            if self._closed:
                raise RuntimeError(f"{self.name} writer is closed")
            self._queue.put((job, waiter))
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._loop, name=f"group-commit-{self.name}", daemon=True
                )
                self._thread.start()

    def _take(self) -> list[tuple[J, Waiter]] | None:
        """The next batch: block for one job, then drain what else is queued."""
        try:
            item = self._queue.get(timeout=self.idle_s)
        except queue.Empty:
            with self._lock:
                # Submitters enqueue under this lock, so an empty queue here stays empty
                # until a submitter sees no thread and starts a new one.
                if self._queue.empty():
                    self._thread = None
                    return None
            return []
        if item is None:
            return None
        batch = [item]
        while len(batch) < self.max_batch:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is None:
                self._queue.put(None)  # keep the stop signal for after this batch
                break
            batch.append(item)
        return batch

    def _loop(self) -> None:
        try:
            while True:
                batch = self._take()
                if batch is None:
                    return
                live = [(job, w) for job, w in batch if _claim(w)]
                if live:
                    self._deliver(self._run(live))
        finally:
            with self._lock:
                if self._thread is threading.current_thread():
                    self._thread = None

    def _run(self, batch: list[tuple[J, Waiter]]) -> list[tuple[Waiter, Any, bool]]:
        """Process `batch`; (waiter, result or exception, failed) per job."""
        self.batches += 1
        self.jobs += len(batch)
        if self._observe is not None:
            with contextlib.suppress(Exception):  # metrics must never fail a batch
                self._observe(len(batch))
        try:
            results = self._process([job for job, _ in batch])
        except Exception as exc:  # noqa: BLE001 - delivered to the callers
            if len(batch) == 1:
                return [(batch[0][1], exc, True)]
            log.warning("batch failed; retrying its jobs one by one", size=len(batch))
            return [done for one in batch for done in self._run([one])]
        return [(w, r, False) for (_job, w), r in zip(batch, results, strict=True)]

    @staticmethod
    def _deliver(done: list[tuple[Waiter, Any, bool]]) -> None:
        per_loop: defaultdict[asyncio.AbstractEventLoop, list[tuple[Any, Any, bool]]] = defaultdict(
            list
        )
        for waiter, value, failed in done:
            if isinstance(waiter, Future):
                if failed:
                    waiter.set_exception(value)
                else:
                    waiter.set_result(value)
            else:
                loop, future = waiter
                per_loop[loop].append((future, value, failed))
        for loop, items in per_loop.items():
            with contextlib.suppress(RuntimeError):  # that loop has closed: nobody waits
                loop.call_soon_threadsafe(_settle, items)


def _claim(waiter: Waiter) -> bool:
    """False if the caller gave up before the batch started (its job is dropped)."""
    if isinstance(waiter, Future):
        return waiter.set_running_or_notify_cancel()
    return not waiter[1].cancelled()


def _settle(items: list[tuple[asyncio.Future[Any], Any, bool]]) -> None:
    for future, value, failed in items:
        if future.done():  # cancelled while its batch ran
            continue
        if failed:
            future.set_exception(value)
        else:
            future.set_result(value)


Process = Callable[[list[J]], Awaitable[list[R]]]


@dataclass
class _LoopState(Generic[J]):
    queue: deque[tuple[J, asyncio.Future[Any]]] = field(default_factory=deque)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    tasks: set[asyncio.Task[None]] = field(default_factory=set)
    waiting: int = 0


class LoopGroupCommit(Generic[J, R]):
    """Group commit for an asyncio database driver: batches run on the event loop itself,
    so there is no writer thread and no GIL hand-off per batch. Batches grow with load and
    a failed batch is retried job by job, as with `GroupCommit`.

        writer = LoopGroupCommit(open_worker, concurrency=2)
        outcome = await writer.submit(job)

    Up to `concurrency` drain tasks per event loop each run one batch at a time, so one
    batch can read while another commits. A drain task starts when work arrives, enters
    `open_worker()` (an async context manager that yields its `process(jobs)`, e.g. over a
    database connection of its own) and leaves it when it has been idle for `idle_s` or
    its loop shuts down, so no connection outlives its loop."""

    def __init__(
        self,
        open_worker: Callable[[], AbstractAsyncContextManager[Process[J, R]]],
        *,
        name: str = "writer",
        max_batch: int = 256,
        concurrency: int = 2,
        idle_s: float = 2.0,
        observe: Callable[[int], None] | None = None,
    ) -> None:
        self._open_worker = open_worker
        self.name = name
        self.max_batch = max_batch
        self.concurrency = concurrency
        self.idle_s = idle_s
        self._observe = observe
        self._loops: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopState[J]] = (
            weakref.WeakKeyDictionary()
        )
        self._closed = False
        self.batches = 0
        self.jobs = 0

    async def submit(self, job: J) -> R:
        if self._closed:
            raise RuntimeError(f"{self.name} writer is closed")
        loop = asyncio.get_running_loop()
        state = self._loops.get(loop)
        if state is None:
            state = self._loops[loop] = _LoopState()
        future: asyncio.Future[R] = loop.create_future()
        state.queue.append((job, future))
        if state.waiting:
            state.wake.set()  # an idle drain task takes it
        elif len(state.tasks) < self.concurrency:
            task = loop.create_task(self._drain(state), name=f"group-commit-{self.name}")
            state.tasks.add(task)
            task.add_done_callback(state.tasks.discard)
        # else: a busy drain task takes it with its next batch
        return await future

    def close(self) -> None:
        """Refuse new jobs (drain tasks finish what is queued and end when idle)."""
        self._closed = True

    async def _drain(self, state: _LoopState[J]) -> None:
        error: Exception = RuntimeError(f"{self.name} writer stopped")
        try:
            async with self._open_worker() as process:
                await self._work(state, process)
        except Exception as exc:  # e.g. no database: tell the callers
            log.error("writer failed", error=type(exc).__name__, exc_info=exc)
            error = exc
        finally:
            state.tasks.discard(asyncio.current_task())
            if not state.tasks:  # the last drain task is gone: nobody else runs these
                while state.queue:
                    _job, future = state.queue.popleft()
                    if not future.done():
                        future.set_exception(error)

    async def _work(self, state: _LoopState[J], process: Process[J, R]) -> None:
        """Run batches until the queue has stayed empty for `idle_s`."""
        while True:
            if not state.queue:
                state.wake.clear()
                state.waiting += 1
                try:
                    await asyncio.wait_for(state.wake.wait(), self.idle_s)
                except TimeoutError:
                    if not state.queue:
                        # Leave the count now (closing the worker awaits), so that work
                        # arriving meanwhile starts a new drain task.
                        state.tasks.discard(asyncio.current_task())
                        return
                finally:
                    state.waiting -= 1
                continue
            batch: list[tuple[J, asyncio.Future[Any]]] = []
            while state.queue and len(batch) < self.max_batch:
                job, future = state.queue.popleft()
                if not future.cancelled():  # the caller gave up: drop the job
                    batch.append((job, future))
            for future, value, failed in await self._run(process, batch):
                if future.done():
                    continue
                if failed:
                    future.set_exception(value)
                else:
                    future.set_result(value)

    async def _run(
        self, process: Process[J, R], batch: list[tuple[J, asyncio.Future[Any]]]
    ) -> list[tuple[asyncio.Future[Any], Any, bool]]:
        if not batch:
            return []
        self.batches += 1
        self.jobs += len(batch)
        if self._observe is not None:
            with contextlib.suppress(Exception):
                self._observe(len(batch))
        try:
            results = await process([job for job, _ in batch])
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - delivered to the callers
            if len(batch) == 1:
                return [(batch[0][1], exc, True)]
            log.warning("batch failed; retrying its jobs one by one", size=len(batch))
            return [done for one in batch for done in await self._run(process, [one])]
        return [(f, r, False) for (_job, f), r in zip(batch, results, strict=True)]
