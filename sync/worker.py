"""The agent's sync tasks: upload, download (long poll) and room status.

    worker = SyncWorker(engine, store, hooks, clock=clock)
    supervisor.add("sync-up", worker.run_upload)
    supervisor.add("sync-down", worker.run_download)
    supervisor.add("sync-status", worker.run_status)

* Upload looks at the outbox every `tick_s` and drains it whenever it is not empty; a
  failure backs off exponentially with jitter (capped) and tries again on its own, never
  only on the next local write (several PowerSync bugs stalled queues that way).
* Noticing a healed link within a second, without hammering central during an outage: a
  wait ends early when the other direction got through (a pull that succeeds wakes a
  waiting upload, and the other way round), and, after a connection-level failure, when a
  TCP connect probe (`probe`, every ~`probe_s`) that failed during this wait connects again.
  A probe is a SYN and a close, no request; answers from central (429, 503, 5xx) never
  shorten the backoff (nor Retry-After), and a probe that connects from the start (the
  failure was above TCP: a reset, a proxy) does not either.
* Download long-polls central (`wait_s`), so a change at central reaches the room as soon
  as central has it; on failure it backs off the same way. Polling is the fallback: the
  same request with `wait_s=0` when long polls keep failing.
* Status commits a `room_status` event when the room's status changes (ignoring its
  timestamp), at most every `tick_s`; the upload loop sends it at once.
* Online or not (`online`, logged once per change): upload and download report on their
  own, so an answer to a request sent before a failure was seen can arrive after it (an
  upload answered just before the link went down, read after the long poll's reset).
  Such an answer says nothing about the link since (`LinkState`): the room stays offline
  until a request sent after the failure is answered.
"""

from __future__ import annotations

import asyncio
import random
import sqlite3
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from drivers.availability import Backoff
from smartroom.clock import Clock
from smartroom.log import get_logger
from sync.client import SyncError
from sync.engine import SyncEngine
from sync.inbox import Applied
from sync.wire import RoomStatus

log = get_logger("sync.worker")


class Store(Protocol):
    def outbox_depth(self) -> int: ...
    def commit(self, *, state: dict[str, Any] | None = None, events: Any = ()) -> Any: ...


@dataclass
class Hooks:
    """What the worker tells the room (all optional)."""

    applied: Callable[[Applied], Awaitable[None]] | None = None
    status: Callable[[], RoomStatus] | None = None
    status_event: Callable[[RoomStatus], Any] | None = None  # -> the NewEvent to commit
    models: Callable[[], Any] | None = None  # async: check the model offers
    failed: Callable[[str], None] | None = None  # "upload" / "pull" failed (a metric)


@dataclass
class LinkState:
    """Whether central is reachable, from the outcomes of requests that overlap in time
    (pure: times are the caller's monotonic clock). A failure counts when it is seen; an
    answer counts only for a request sent at or after the last failure was seen."""

    online: bool | None = None
    failed_at: float | None = None

    def observe(self, ok: bool, sent_at: float, now: float) -> bool | None:
        """Record an outcome; the new state when it changed, else None."""
        if not ok:
            self.failed_at = now
        elif self.failed_at is not None and sent_at < self.failed_at:
            return None  # answered, but sent before the link was seen failing
        if ok == self.online:
            return None
        self.online = ok
        return ok


@dataclass
class SyncWorker:
    engine: SyncEngine
    store: Store
    hooks: Hooks
    clock: Clock
    tick_s: float = 0.25
    wait_s: float = 20.0
    # Small enough that a healed link is noticed within seconds (the convergence goal is
    # 5 s); jitter keeps a fleet of rooms from retrying in step.
    backoff_max_s: float = 4.0
    backoff_initial_s: float = 0.5
    probe: Callable[[], Awaitable[bool]] | None = None  # can central be reached (TCP)?
    probe_s: float = 0.5
    last_error: str | None = None
    uploads_failed: int = 0
    pulls_failed: int = 0
    _backoff_up: Backoff = field(init=False)
    _backoff_down: Backoff = field(init=False)
    _link: LinkState = field(init=False, default_factory=LinkState)

    def __post_init__(self) -> None:
        self._backoff_up = Backoff(initial=self.backoff_initial_s, maximum=self.backoff_max_s)
        self._backoff_down = Backoff(initial=self.backoff_initial_s, maximum=self.backoff_max_s)
        self._wake_up = asyncio.Event()  # set when a pull got through: retry the upload now
        self._wake_down = asyncio.Event()  # set when an upload got through: pull now
        self._rng = random.Random()  # probe jitter, not security

    @property
    def pulls(self) -> int:
        return self.engine.pages

    @property
    def online(self) -> bool | None:
        """Whether central is reachable (None: not tried yet)."""
        return self._link.online

    def _state(self, ok: bool, sent_at: float, error: str | None = None) -> None:
        changed = self._link.observe(ok, sent_at, self.clock.monotonic())
        if changed is True:
            log.info("central_reachable")
        elif changed is False:
            log.warning("central_unreachable", error=error)  # once per outage, not per try
        if self.online is ok:
            self.last_error = error

    def _failed(self, op: str) -> None:
        if self.hooks.failed is not None:
            self.hooks.failed(op)

    async def _sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)

    def _delay(self, backoff: Backoff, exc: SyncError) -> float:
        delay = backoff.next()
        if exc.retry_after is not None:
            delay = max(delay, exc.retry_after)
        return delay

    async def _woken(self, wake: asyncio.Event, seconds: float) -> bool:
        """Wait up to `seconds`; True when `wake` was set meanwhile."""
        if wake.is_set():
            return True
        # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation that
        # arrives as the event is set, and this loop would then never stop.
        try:
            async with asyncio.timeout(seconds):
                await wake.wait()
        except TimeoutError:
            return False
        return True

    async def _retry_wait(self, delay: float, exc: SyncError, wake: asyncio.Event) -> None:
        """The backoff's wait, ended early when the link is seen to be back (see above)."""
        if exc.status is not None or exc.retry_after is not None:
            await self._sleep(delay)  # central answered: its backoff, its Retry-After
            return
        if self.probe is None:
            await self._woken(wake, delay)
            return
        left, failed = delay, False
        while left > 0:
            step = min(left, self._rng.uniform(self.probe_s / 2, self.probe_s))
            if await self._woken(wake, step):
                return
            left -= step
            if left <= 0:
                return
            if await self.probe():
                if failed:
                    return  # it did not connect a moment ago: the link has healed
            else:
                failed = True

    async def run_upload(self) -> None:
        while True:
            if self.store.outbox_depth() == 0:
                await self._sleep(self.tick_s)
                continue
            sent_at = self.clock.monotonic()
            try:
                await self.engine.push()
            except SyncError as exc:
                self.uploads_failed += 1
                self._failed("upload")
                self._state(False, sent_at, str(exc))
                self._wake_up.clear()
                await self._retry_wait(self._delay(self._backoff_up, exc), exc, self._wake_up)
                continue
            if self._backoff_up.attempt:
                self._wake_down.set()  # back after failures: the download may still wait
            self._backoff_up.reset()
            self._state(True, sent_at)

    async def run_download(self) -> None:
        failures = 0
        while True:
            # After repeated failures, fall back to plain polling (no long wait that a proxy
            # might cut) until a request succeeds again.
            wait = self.wait_s if failures < 3 else 0.0
            sent_at = self.clock.monotonic()
            try:
                for applied in await self.engine.pull_all(wait):
                    if self.hooks.applied is not None:
                        await self.hooks.applied(applied)
                    if "models" in applied.streams and self.hooks.models is not None:
                        await self.hooks.models()
            except SyncError as exc:
                failures += 1
                self.pulls_failed += 1
                self._failed("pull")
                self._state(False, sent_at, str(exc))
                self._wake_down.clear()
                await self._retry_wait(self._delay(self._backoff_down, exc), exc, self._wake_down)
                continue
            if failures:
                self._wake_up.set()  # back after failures: the upload may still wait
            failures = 0
            self._backoff_down.reset()
            self._state(True, sent_at)

    async def run_status(self) -> None:
        if self.hooks.status is None or self.hooks.status_event is None:
            await asyncio.Event().wait()
            return
        last: dict[str, Any] | None = None
        while True:
            status = self.hooks.status()
            shape = status.model_dump(mode="json", exclude={"at"})
            if shape != last:
                try:
                    self.store.commit(events=[self.hooks.status_event(status)])
                    last = shape
                except sqlite3.OperationalError as exc:
                    # The store cannot write (disk full): a status snapshot is telemetry,
                    # tried again next tick; the store's health says why.
                    log.debug("room_status_not_written", error=str(exc))
            await self._sleep(self.tick_s)
