"""Group commit: request handlers queue jobs, one writer thread takes everything queued and
runs it as one batch (one transaction, one fsync), then hands each job its result.

There is no timer: while one batch commits, the next one queues up, so batches grow with
load by themselves and a lone request waits for nobody.

    writer = GroupCommit(lambda jobs: earn_batch(ctx, jobs), name="earn")
    outcome = await writer.submit(job)        # from a request handler
    outcome = writer.run(job)                 # from any other thread
    writer.close()

`process(jobs)` must return one result per job, in order. If it raises for a whole batch,
each job of that batch is retried on its own, so one bad job cannot fail the others. The
writer thread exits after `idle_s` without work and is started again by the next job (so
an app that is built and dropped, as in tests, leaves no thread behind).
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Generic, TypeVar

from smartroom.log import get_logger

J = TypeVar("J")
R = TypeVar("R")

log = get_logger("loyalty.group_commit")


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
        self._queue: queue.SimpleQueue[tuple[J, Future[R]] | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._closed = False
        self.batches = 0
        self.jobs = 0

    def submit_future(self, job: J) -> Future[R]:
        future: Future[R] = Future()
        with self._lock:
            if self._closed:
                raise RuntimeError(f"{self.name} writer is closed")
            self._queue.put((job, future))
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._loop, name=f"group-commit-{self.name}", daemon=True
                )
                self._thread.start()
        return future

    async def submit(self, job: J) -> R:
        """Queue `job` and wait for its result without blocking the event loop. A request
        cancelled before its batch starts is dropped (nothing was written)."""
        return await asyncio.wrap_future(self.submit_future(job))

    def run(self, job: J) -> R:
        return self.submit_future(job).result()

    def close(self, timeout: float = 10.0) -> None:
        """Finish what is queued, then stop the writer."""
        with self._lock:
            self._closed = True
            thread = self._thread
            if thread is not None:
                self._queue.put(None)
        if thread is not None:
            thread.join(timeout)

    def _take(self) -> list[tuple[J, Future[R]]] | None:
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
                # A future its caller already cancelled is dropped before any work is done.
                live = [(job, fut) for job, fut in batch if fut.set_running_or_notify_cancel()]
                if live:
                    self._run(live)
        finally:
            with self._lock:
                if self._thread is threading.current_thread():
                    self._thread = None

    def _run(self, batch: list[tuple[J, Future[R]]]) -> None:
        self.batches += 1
        self.jobs += len(batch)
        if self._observe is not None:
            with contextlib.suppress(Exception):  # metrics must never fail a batch
                self._observe(len(batch))
        try:
            results = self._process([job for job, _ in batch])
        except Exception as exc:  # noqa: BLE001 - delivered to the callers below
            if len(batch) == 1:
                batch[0][1].set_exception(exc)
                return
            log.warning("batch failed; retrying its jobs one by one", size=len(batch))
            for one in batch:
                self._run([one])
            return
        for (_job, future), result in zip(batch, results, strict=True):
            future.set_result(result)
