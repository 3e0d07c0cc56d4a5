"""One round of each direction of sync, against the local store and a client.

    engine = SyncEngine(store, client)
    sent = await engine.push()             # drain the outbox, batch by batch
    applied = await engine.pull(wait_s=20) # one page (long poll), applied + cursors saved

Upload: the oldest unsent events go up in `seq` order; central answers each one and the
answered ones leave the queue in one transaction. A lost answer only means the same
events go again and come back `duplicate`. While a drain's batch is at central (exactly
one upload in flight), the room acknowledges the previous batch's answers and cuts the
next batch, so its own work overlaps central's; a batch cut ahead is sent only if the
outbox still holds exactly the rows it was read from. Download: the page and its cursors are applied
in one transaction (`LocalStore.apply_page`); both clocks advance past each other's stamps.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from sync import faults
from sync.brake import UPLOAD_BATCH, UploadBrake
from sync.client import SyncError
from sync.inbox import Applied
from sync.outbox import cut_batch
from sync.wire import (
    EventAnswer,
    ModelManifest,
    SyncEvent,
    SyncPage,
    SyncPull,
    SyncUpload,
    SyncUploadResult,
)


class LocalStore(Protocol):
    agent_id: str

    def pending_raw(self, limit: int = 500, after_seq: int = 0) -> list[tuple[str, int]]: ...
    def acknowledge(self, answers: Sequence[EventAnswer]) -> None: ...
    def sync_cursors(self) -> dict[str, int]: ...
    def sync_epoch(self) -> str | None: ...
    def apply_page(self, page: SyncPage) -> Applied: ...
    def hlc_now(self) -> str: ...
    def wall_ms(self) -> int: ...
    def receive_hlc(self, stamp: str, sent_ms: int | None = None) -> None: ...
    def outbox_depth(self) -> int: ...


class Client(Protocol):
    async def upload(
        self,
        batch: SyncUpload,
        timeout_s: float | None = None,
        written: asyncio.Event | None = None,
    ) -> SyncUploadResult: ...
    async def pull(self, request: SyncPull) -> SyncPage: ...


@dataclass(frozen=True)
class _Cut:
    """A batch and the outbox rows (document, size) it was cut from."""

    rows: list[tuple[str, int]]
    events: list[SyncEvent]


class SyncEngine:
    def __init__(
        self,
        store: LocalStore,
        client: Client,
        *,
        batch_events: int = UPLOAD_BATCH,
        brake: UploadBrake | None = None,
    ) -> None:
        self.store = store
        self.client = client
        self.batch_events = batch_events
        # None: full batches at the client's own timeout, whatever happens (sync/brake.py).
        self.brake = brake
        self.accepted = 0
        self.duplicates = 0
        self.rejected = 0
        self.pages = 0
        self.clock_checked = False  # central's clock read since the link came (back) up

    async def check_clock(self) -> None:
        """Read central's clock before uploading (an empty batch): a room whose clock ran
        ahead offline corrects its unsent stamps first, rather than have central refuse
        them (agent/store_clock.py)."""
        upload = SyncUpload(agent_id=self.store.agent_id, hlc=self.store.hlc_now(), events=[])
        sent = self.store.wall_ms()
        result = await self._upload(upload)
        self.store.receive_hlc(result.hlc, sent)
        self.clock_checked = True

    async def _upload(
        self, upload: SyncUpload, written: asyncio.Event | None = None
    ) -> SyncUploadResult:
        """One upload at the brake's timeout; the brake hears whether it was answered in
        time (only a timeout brakes: a refusal or a reset says nothing of central's speed)."""
        if self.brake is None:
            return await self.client.upload(upload, written=written)
        try:
            result = await self.client.upload(upload, self.brake.wait_s, written)
        except SyncError as exc:
            if exc.timed_out:
                self.brake.timed_out()
            raise
        if upload.events:  # a clock check says little about how fast a batch goes
            self.brake.succeeded()
        return result

    def _cut(self, after_seq: int = 0, ahead: _Cut | None = None) -> _Cut:
        """The oldest pending events after `after_seq` in `seq` order, as many as the brake
        allows now. `ahead`, a batch cut earlier, is it when the outbox still holds exactly
        its rows (nothing rewritten, dropped or added since): they need no parsing again."""
        size = self.batch_events if self.brake is None else self.brake.batch
        rows = self.store.pending_raw(size, after_seq)
        if ahead is not None and ahead.rows == rows:
            return ahead
        sized = [(SyncEvent.model_validate_json(doc), n) for doc, n in rows]
        return _Cut(rows, cut_batch(sized, max_events=size))

    async def _ready(self, after_seq: int, ahead: _Cut | None) -> list[SyncEvent]:
        batch = self._cut(after_seq, ahead).events
        if batch and not self.clock_checked:
            await self.check_clock()
            batch = self._cut(after_seq).events  # the stamps may have moved: cut again
        return batch

    def _start(self, batch: list[SyncEvent], written: asyncio.Event | None) -> tuple[Any, int]:
        upload = SyncUpload(agent_id=self.store.agent_id, hlc=self.store.hlc_now(), events=batch)
        faults.point("agent.upload.before_send")
        sent = self.store.wall_ms()
        return asyncio.ensure_future(self._upload(upload, written)), sent

    def _answered(self, result: SyncUploadResult, sent: int) -> None:
        faults.point("agent.upload.after_send")
        self.store.receive_hlc(result.hlc, sent)
        for answer in result.results:
            if answer.status == "accepted":
                self.accepted += 1
            elif answer.status == "duplicate":
                self.duplicates += 1
            else:
                self.rejected += 1

    async def push_batch(self) -> int:
        """Upload the oldest pending batch; the number of events central answered."""
        batch = await self._ready(0, None)
        if not batch:
            return 0
        task, sent = self._start(batch, None)
        result: SyncUploadResult = await task
        self._answered(result, sent)
        self.store.acknowledge(result.results)
        return len(result.results)

    async def push(self) -> int:
        """Drain the outbox; raises SyncError when central cannot be reached (the clock is
        read again once it can: the room may have rebooted with another time meanwhile).
        The answers of one batch are acknowledged while the next is at central: until
        then they are still pending, and the next batch is cut after them (a crash in
        between only means they go again, `duplicate`)."""
        total = 0
        ahead: _Cut | None = None
        unacked: SyncUploadResult | None = None
        after = 0  # the last seq of the batch whose answers are not acknowledged yet
        try:
            while True:
                batch = await self._ready(after, ahead)
                if not batch:
                    return total
                written = asyncio.Event()
                task, sent = self._start(batch, written)
                try:
                    await _until_written(task, written)
                    # Central has the whole batch: the room's own work meanwhile.
                    if unacked is not None:
                        answers, unacked = unacked.results, None
                        self.store.acknowledge(answers)
                    ahead = self._cut(batch[-1].seq)
                    result: SyncUploadResult = await task
                except BaseException:
                    task.cancel()
                    raise
                self._answered(result, sent)
                unacked, after = result, batch[-1].seq
                total += len(result.results)
        except SyncError:
            self.clock_checked = False
            raise
        finally:
            if unacked is not None:
                self.store.acknowledge(unacked.results)

    async def pull(self, wait_s: float = 0.0) -> tuple[SyncPage, Applied]:
        request = SyncPull(
            agent_id=self.store.agent_id,
            hlc=self.store.hlc_now(),
            epoch=self.store.sync_epoch(),
            cursors=self.store.sync_cursors(),
            wait_s=wait_s,
        )
        sent = self.store.wall_ms()
        page = await self.client.pull(request)
        self.store.receive_hlc(page.hlc, sent)
        applied = self.store.apply_page(page)
        self.pages += 1
        return page, applied

    async def pull_all(self, wait_s: float = 0.0) -> list[Applied]:
        """Pull until central has nothing more (the first request may long-poll)."""
        out = []
        page, applied = await self.pull(wait_s)
        out.append(applied)
        while page.more:
            page, applied = await self.pull(0.0)
            out.append(applied)
        return out


async def _until_written(task: asyncio.Future[Any], written: asyncio.Event) -> None:
    """Until the request is on the wire (or already answered or failed)."""
    waiter = asyncio.ensure_future(written.wait())
    try:
        await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        waiter.cancel()


def offers_of(store: Any) -> list[ModelManifest]:
    """The model offers the models stream delivered (from the agent's store)."""
    rows = store.db.execute("SELECT doc FROM model_offers").fetchall()
    return [ModelManifest.model_validate_json(r[0]) for r in rows]


__all__ = ["Client", "LocalStore", "SyncEngine", "SyncError", "offers_of"]
