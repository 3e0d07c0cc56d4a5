"""Talking to the central loyalty service: a thin httpx client and a simple periodic worker.

The worker pulls this room's stays and their members' preferences into the local cache,
pushes preferences the agent changed (the server merges per field by timestamp), and
uploads the outbox in batches (idempotent by event id: a lost acknowledgement only causes a
harmless duplicate). When central is unreachable the room keeps running on its cache; the
worker retries on its own with backoff, never only on the next local write.

    client = CentralClient("https://loyalty.example.com", token, timeout_s=5)
    worker = SyncWorker(client, store, room, config, metrics)
    supervisor.add("sync", worker.run)

Each pull also looks at the comfort-model versions central offers (`agent.model_updates`).
Full offline-first sync (download cursors, HLC merge) is a later issue:
`sync/` will replace this worker; the outbox table and its `seq`/`event_id` stay.
"""

from __future__ import annotations

import asyncio
import stat
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
from pydantic import TypeAdapter, ValidationError

from agent.board_link import BoardLink
from agent.config import RoomConfig
from agent.metrics import AgentMetrics
from agent.presence.vault import CredentialVault
from agent.room import RoomController
from agent.store import AgentStore, StoreError
from drivers.availability import Backoff
from smartroom.log import get_logger
from sync.wire import (
    MemberPreferences,
    ModelManifest,
    RoomCredentials,
    RoomStatus,
    StaffCommand,
    StayAssignment,
    UploadBatch,
    UploadResult,
    model_path,
)

if TYPE_CHECKING:
    from agent.model_updates import ModelUpdater

log = get_logger("agent.central")

_STAYS = TypeAdapter(list[StayAssignment])
_MODELS = TypeAdapter(list[ModelManifest])
_COMMANDS = TypeAdapter(list[StaffCommand])
MODELS_PATH = "/v1/agent/models"
CREDENTIALS_PATH = "/v1/agent/credentials"
MAX_RESPONSE_BYTES = 4 * 1024 * 1024


class CentralError(RuntimeError):
    """Central did not answer, refused us, or answered something we cannot use."""


def read_agent_key(path: Path) -> str:
    """The agent's bearer key from its credential file (refusing world-readable files)."""
    try:
        info = path.stat()
        token = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise CentralError(f"cannot read central.credential_file {path}: {exc.strerror}") from None
    if info.st_mode & stat.S_IROTH:
        raise CentralError(
            f"central.credential_file {path} is readable by everyone (fix: chmod 600 {path})"
        )
    if not token or any(c.isspace() for c in token):
        raise CentralError(f"central.credential_file {path} does not hold one key")
    return token


def _json(method: str, path: str, response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        raise CentralError(f"{method} {path}: not JSON") from None


class CentralClient:
    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        timeout_s: float = 5.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._http = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            headers={"Authorization": f"Bearer {token}", "User-Agent": "smartroom-agent"},
            timeout=timeout_s,
            transport=transport,
            follow_redirects=False,
        )
        self._offers: tuple[str, list[ModelManifest]] | None = None  # (ETag, the list)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _send(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> httpx.Response:
        try:
            response = await self._http.request(method, path, json=body, headers=headers)
        except httpx.HTTPError as exc:
            raise CentralError(f"{method} {path}: {type(exc).__name__}: {exc}") from None
        if len(response.content) > MAX_RESPONSE_BYTES:
            raise CentralError(f"{method} {path}: response larger than {MAX_RESPONSE_BYTES} B")
        if response.status_code >= 400:
            raise CentralError(
                f"{method} {path}: HTTP {response.status_code} {response.text[:200]}"
            )
        return response

    async def _call(self, method: str, path: str, body: Any = None) -> Any:
        return _json(method, path, await self._send(method, path, body))

    async def stays(self) -> list[StayAssignment]:
        data = await self._call("GET", "/v1/agent/stays")
        try:
            return _STAYS.validate_python(data)
        except ValidationError as exc:
            raise CentralError(f"GET /v1/agent/stays: bad document: {exc}") from None

    async def room_credentials(self) -> RoomCredentials:
        data = await self._call("GET", CREDENTIALS_PATH)
        try:
            return RoomCredentials.model_validate(data)
        except ValidationError as exc:
            raise CentralError(f"GET {CREDENTIALS_PATH}: bad document: {exc}") from None

    async def preferences(self, member_id: str) -> MemberPreferences:
        data = await self._call("GET", f"/v1/agent/preferences/{member_id}")
        try:
            return MemberPreferences.model_validate(data)
        except ValidationError as exc:
            raise CentralError(f"GET preferences: bad document: {exc}") from None

    async def put_preferences(self, prefs: MemberPreferences) -> MemberPreferences:
        data = await self._call(
            "PUT", f"/v1/agent/preferences/{prefs.member_id}", prefs.model_dump(mode="json")
        )
        try:
            return MemberPreferences.model_validate(data)
        except ValidationError as exc:
            raise CentralError(f"PUT preferences: bad document: {exc}") from None

    async def models(self) -> list[ModelManifest]:
        """The offered versions. Asked with the last answer's ETag, so an unchanged list
        (nearly every pull) costs central an empty 304."""
        last = self._offers
        headers = {"If-None-Match": last[0]} if last else None
        response = await self._send("GET", MODELS_PATH, headers=headers)
        if response.status_code == 304:
            if last is None:
                raise CentralError(f"GET {MODELS_PATH}: 304 to a request without If-None-Match")
            return last[1]
        try:
            offers = _MODELS.validate_python(_json("GET", MODELS_PATH, response))
        except ValidationError as exc:
            raise CentralError(f"GET {MODELS_PATH}: bad document: {exc}") from None
        etag = response.headers.get("etag")
        self._offers = (etag, offers) if etag else None
        return offers

    async def model_blob(self, manifest: ModelManifest) -> bytes:
        """The model file, read no further than the manifest's size (the store checks the
        size, hash and signature). Only our central's own download path is followed."""
        path = model_path(manifest.version, manifest.name)
        if manifest.url != path:
            raise CentralError(f"model {manifest.version}: url {manifest.url!r} is not {path!r}")
        chunks: list[bytes] = []
        size = 0
        try:
            async with self._http.stream("GET", path) as response:
                if response.status_code >= 400:
                    await response.aread()
                    raise CentralError(
                        f"GET {path}: HTTP {response.status_code} {response.text[:200]}"
                    )
                async for chunk in response.aiter_bytes():
                    size += len(chunk)
                    if size > manifest.size_bytes:
                        raise CentralError(
                            f"GET {path}: more than the manifest's {manifest.size_bytes} bytes"
                        )
                    chunks.append(chunk)
        except httpx.HTTPError as exc:
            raise CentralError(f"GET {path}: {type(exc).__name__}: {exc}") from None
        return b"".join(chunks)

    async def upload(self, batch: UploadBatch) -> UploadResult:
        data = await self._call("POST", "/v1/agent/events", batch.model_dump(mode="json"))
        try:
            return UploadResult.model_validate(data)
        except ValidationError as exc:
            raise CentralError(f"POST /v1/agent/events: bad document: {exc}") from None

    async def post_status(self, status: RoomStatus) -> None:
        await self._send("POST", "/v1/agent/status", status.model_dump(mode="json"))

    async def board_commands(self, after: int) -> list[StaffCommand]:
        """The housekeeping board's commands for this room after `after`, oldest first."""
        data = await self._call("GET", f"/v1/agent/board-commands?after={after}")
        try:
            return _COMMANDS.validate_python(data)
        except ValidationError as exc:
            raise CentralError(f"GET board-commands: bad document: {exc}") from None


class SyncWorker:
    def __init__(
        self,
        client: CentralClient,
        store: AgentStore,
        room: RoomController,
        config: RoomConfig,
        metrics: AgentMetrics,
        models: ModelUpdater | None = None,
        on_credentials: Callable[[], None] | None = None,
    ) -> None:
        self.client = client
        self.on_credentials = on_credentials
        self.models = models
        self.models_error: str | None = None
        self.store = store
        self.room = room
        self.config = config
        self.metrics = metrics
        self.backoff = Backoff(initial=1.0, maximum=300.0)
        self.online: bool | None = None
        self.last_error: str | None = None
        self.pulls = 0
        self.pushed = 0
        self.kick = asyncio.Event()
        # The housekeeping board: status up (a change wakes this worker), commands down.
        self.board = BoardLink(client, room, heartbeat_s=config.runtime.status_heartbeat_s)
        room.on_status(lambda _status: self.kick.set())

    def _state(self, ok: bool, error: str | None = None) -> None:
        if ok and self.online is not True:
            log.info("central_reachable")
        elif not ok and self.online is not False:
            log.warning("central_unreachable", error=error)  # once per outage, not per try
        self.online, self.last_error = ok, error

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        next_pull = 0.0
        while True:
            delay = self.config.central.push_interval_s
            try:
                if loop.time() >= next_pull:
                    await self.pull()
                    next_pull = loop.time() + self.config.central.pull_interval_s
                await self.push()
                self._state(True)
                self.backoff.reset()
                await self.board.exchange()  # its own failures never mark central down
            except CentralError as exc:
                self._state(False, str(exc))
                delay = self.backoff.next()
            self.metrics.outbox_depth.set(self.store.outbox_depth())
            try:
                async with asyncio.timeout(delay):
                    await self.kick.wait()
            except TimeoutError:
                pass
            self.kick.clear()

    async def pull(self) -> None:
        try:
            stays = await self.client.stays()
            credentials = await self.client.room_credentials()
            try:
                self.store.replace_stays(stays)
                CredentialVault(self.store).put_room_credentials(credentials)
            except StoreError as exc:
                raise CentralError(f"refusing the stay list: {exc}") from None
            members = {s.member_id for s in stays if s.status in ("booked", "checked_in")}
            # Local changes go first: central merges per field, then we take its result.
            await self._push_preferences()
            for member_id in sorted(members):
                prefs = await self.client.preferences(member_id)
                if prefs.member_id != member_id:
                    raise CentralError("preferences answer names another member")
                if not any(p.member_id == member_id for p in self.store.dirty_preferences()):
                    self.store.put_preferences(prefs)
            self.store.forget_members(members)
        except CentralError:
            self.metrics.sync_failures.labels(op="pull").inc()
            raise
        self.pulls += 1
        if self.on_credentials is not None:
            self.on_credentials()
        self.room.stays_changed()
        self.room.preferences_changed()
        await self._check_models()

    async def _check_models(self) -> None:
        """A model offer that cannot be fetched is retried on the next pull; it never makes
        the room think central is down (an older central may not offer models at all)."""
        if self.models is None:
            return
        try:
            await self.models.check(self.client)
        except CentralError as exc:
            self.metrics.sync_failures.labels(op="models").inc()
            if str(exc) != self.models_error:
                log.warning("comfort_model_fetch_failed", error=str(exc))
            self.models_error = str(exc)
        else:
            self.models_error = None

    async def _push_preferences(self) -> None:
        for prefs in self.store.dirty_preferences():
            merged = await self.client.put_preferences(prefs)
            self.store.clear_dirty(prefs)
            if merged.member_id == prefs.member_id:
                self.store.put_preferences(merged)

    async def push(self) -> None:
        try:
            await self._push_preferences()
            while True:
                events = self.store.pending(limit=500)
                if not events:
                    return
                result = await self.client.upload(
                    UploadBatch(agent_id=self.store.agent_id, events=events)
                )
                done: Sequence[str] = [*result.accepted, *result.duplicates]
                for event_id, reason in result.rejected.items():
                    # Kept out of the retry loop (it would fail forever) but never silently.
                    log.error("event_rejected", event_id=event_id, reason=reason)
                self.store.mark_sent([*done, *result.rejected])
                self.pushed += len(done)
                if not done and not result.rejected:
                    raise CentralError("central acknowledged none of the batch")
        except CentralError:
            self.metrics.sync_failures.labels(op="push").inc()
            raise


def make_client(config: RoomConfig) -> CentralClient | None:
    central = config.central
    if central.url is None or central.credential_file is None:
        return None
    token = read_agent_key(central.credential_file)
    return CentralClient(
        central.url,
        token,
        timeout_s=central.timeout_s,
        transport=httpx.AsyncHTTPTransport(retries=0),
    )
