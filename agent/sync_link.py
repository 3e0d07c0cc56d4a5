"""The agent's end of sync: builds the client, engine and worker (`sync/`) for a room and
tells the room what a downloaded page changed.

    link = SyncLink.create(config, store, room, clock, updater)   # None without [central]
    link.add_tasks(supervisor)

What a page can change, and what the room does about it: stays or credentials → the
controller re-reads its stays; member profiles → it re-resolves preferences; room config →
applied to the running room or refused (`agent.central_config`), and reported back as a
`config_applied` event; staff commands → run (housekeeping
flags), each reported by a `command_done` event written with the command marked done.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from agent.config import RoomConfig
from agent.facts import StaffService
from agent.room import RoomController
from agent.store import AgentStore, NewEvent
from drivers.availability import Backoff
from smartroom.clock import Clock
from smartroom.log import get_logger
from sync.brake import UploadBrake
from sync.client import SyncClient, read_agent_key
from sync.engine import SyncEngine, offers_of
from sync.inbox import Applied
from sync.wire import EventKind, RoomCommand, RoomStatus
from sync.worker import Hooks, SyncWorker

if TYPE_CHECKING:
    from agent.model_updates import ModelUpdater

log = get_logger("agent.sync")

# Staff actions the room understands: (dnd, mur) to set.
HOUSEKEEPING_ACTIONS: dict[str, tuple[bool | None, bool | None]] = {
    "clear_dnd": (False, None),
    "make_up_room": (None, True),
    "make_up_room_done": (None, False),
    "clear_mur": (None, False),
}


BOARD_ACTIONS = ("service_start", "service_end")


def make_client(config: RoomConfig) -> SyncClient | None:
    central = config.central
    if central.url is None or central.credential_file is None:
        return None
    return SyncClient(
        central.url,
        read_agent_key(central.credential_file),
        timeout_s=central.timeout_s,
        key_file=central.credential_file,  # re-read on a 401: a rotated key needs no restart
    )


def make_worker(
    config: RoomConfig, store: AgentStore, hooks: Hooks, clock: Clock
) -> SyncWorker | None:
    """The sync worker the room's `[central]` section describes (None without one)."""
    client = make_client(config)
    if client is None:
        return None
    central = config.central
    # Long-poll wait: the configured pull interval, capped below common proxy timeouts.
    brake = UploadBrake(
        min_batch=central.upload_batch_min,
        timeout_s=central.timeout_s,
        max_timeout_s=central.upload_timeout_max_s,
    )
    return SyncWorker(
        SyncEngine(store, client, brake=brake),
        store,
        hooks,
        clock,
        wait_s=min(central.pull_interval_s, 25.0),
        probe=client.probe,
        backoff_initial_s=central.backoff_initial_s,
        backoff_max_s=central.backoff_max_s,
    )


def status_event(status: RoomStatus) -> NewEvent:
    return NewEvent(EventKind.ROOM_STATUS, status.model_dump(mode="json"))


@dataclass
class SyncLink:
    client: SyncClient
    store: AgentStore
    room: RoomController
    worker: SyncWorker
    models: ModelUpdater | None = None
    on_credentials: Callable[[], None] | None = None
    models_error: str | None = None
    on_config: Callable[[], object] | None = None
    clock: Clock | None = None
    # A model fetch that failed (link cut mid-body, agent killed) is tried again after a
    # backoff, on a later pull, without waiting for the offers to change.
    models_backoff: Backoff = field(default_factory=lambda: Backoff(initial=1.0, maximum=60.0))
    models_retry_at: float = 0.0

    @classmethod
    def create(
        cls,
        config: RoomConfig,
        store: AgentStore,
        room: RoomController,
        clock: Clock,
        models: ModelUpdater | None = None,
        *,
        on_credentials: Callable[[], None] | None = None,
        on_config: Callable[[], object] | None = None,
    ) -> SyncLink | None:
        failures = room.metrics.sync_failures
        hooks = Hooks(
            status=room.status,
            # Stamped with the store's sync time: central orders a room's reports by it.
            status_event=lambda s: status_event(s.model_copy(update={"at": store.sync_now()})),
            failed=lambda op: failures.labels(op=op).inc(),
        )
        worker = make_worker(config, store, hooks, clock)
        if worker is None:
            return None
        client = worker.engine.client
        assert isinstance(client, SyncClient)
        link = cls(
            client, store, room, worker, models, on_credentials, on_config=on_config, clock=clock
        )
        hooks.applied = link.applied
        hooks.models = link.check_models
        return link

    def add_tasks(self, supervisor: Any) -> None:
        supervisor.add("sync-up", self.worker.run_upload)
        supervisor.add("sync-down", self.worker.run_download)
        supervisor.add("sync-status", self.worker.run_status)

    async def start(self) -> None:
        """Look at the model offers already in the store (from an earlier run)."""
        await self.check_models()

    async def applied(self, applied: Applied) -> None:
        if applied.reset or applied.streams & {"stays", "credentials"}:
            self.room.stays_changed()
            if self.on_credentials is not None:
                self.on_credentials()
        if applied.reset or "members" in applied.streams:
            self.room.preferences_changed()
        if applied.config_version is not None and self.on_config is not None:
            self.on_config()  # agent.central_config: apply or refuse, and report either
        for raw in self.store.pending_commands():
            await self._run(RoomCommand.model_validate(raw))
        if "models" not in applied.streams:  # (a models change is checked by the worker)
            await self._retry_models()

    async def _run(self, command: RoomCommand) -> None:
        action = HOUSEKEEPING_ACTIONS.get(command.action)
        board_seq = command.detail.get("board_seq")
        ok = action is not None or command.action in BOARD_ACTIONS
        detail = "" if ok else f"unknown action {command.action!r}"
        if command.action in BOARD_ACTIONS and isinstance(board_seq, int):
            # The housekeeping board (issue 17): a fact for the room's next step, applied
            # once and in order by the seq its memory keeps.
            active = command.action == "service_start"
            self.room.feed(StaffService(active=active, seq=board_seq, at=command.issued_at))
        elif action is not None:
            dnd, mur = action
            await self.room.set_housekeeping(dnd=dnd, mur=mur, via="staff")
        log.info("staff_command", action=command.action, ok=ok)
        payload = {"command_id": command.command_id, "ok": ok, "detail": detail}
        self.store.command_done(command.command_id, NewEvent(EventKind.COMMAND_DONE, payload))

    async def _retry_models(self) -> None:
        """After a failed fetch, look again once the backoff has passed (called per pull)."""
        if self.models_error is None or self.clock is None:
            return
        if self.clock.monotonic() >= self.models_retry_at:
            await self.check_models()

    async def check_models(self) -> None:
        """A model offer that cannot be fetched is retried after a backoff (on a later
        pull), on the next models change and at start; it never makes the room think
        central is down."""
        if self.models is None:
            return
        self.client.offers = offers_of(self.store)
        from sync.client import SyncError

        try:
            await self.models.check(self.client)
        except SyncError as exc:
            if str(exc) != self.models_error:
                log.warning("comfort_model_fetch_failed", error=str(exc))
            self.models_error = str(exc)
            if self.clock is not None:
                self.models_retry_at = self.clock.monotonic() + self.models_backoff.next()
        else:
            self.models_error = None
            self.models_backoff.reset()

    async def aclose(self) -> None:
        await self.client.aclose()
