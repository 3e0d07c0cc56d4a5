"""The agent's HTTP client for central's sync endpoints (httpx), and its credential.

    client = SyncClient("https://loyalty.example.com", token, timeout_s=5)
    result = await client.upload(SyncUpload(...))        # gzip body
    page = await client.pull(SyncPull(..., wait_s=20))   # long poll

Every failure is a `SyncError` carrying whether it is worth retrying soon (`retry_after`
from a 429/503, else the caller's backoff decides). A response larger than
`MAX_RESPONSE_BYTES` is refused unread.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import stat
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import TypeAdapter, ValidationError

from sync.wire import ModelManifest, SyncPage, SyncPull, SyncUpload, SyncUploadResult, model_path

if TYPE_CHECKING:
    import httpx

MAX_RESPONSE_BYTES = 4 * 1024 * 1024
_MODELS = TypeAdapter(list[ModelManifest])


class SyncError(RuntimeError):
    """Central did not answer, refused us, or answered something we cannot use."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        retry_after: float | None = None,
        timed_out: bool = False,
    ):
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after
        self.timed_out = timed_out  # sent, but no answer in time (the upload brake's cue)


# The name the model updater and older callers know.
CentralError = SyncError


def read_agent_key(path: Path) -> str:
    """The agent's bearer key from its credential file (refusing world-readable files).
    Read again on every start, so a rotated key (a new file) needs no other change."""
    try:
        info = path.stat()
        token = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise SyncError(f"cannot read central.credential_file {path}: {exc.strerror}") from None
    if info.st_mode & stat.S_IROTH:
        raise SyncError(
            f"central.credential_file {path} is readable by everyone (fix: chmod 600 {path})"
        )
    if not token or any(c.isspace() for c in token):
        raise SyncError(f"central.credential_file {path} does not hold one key")
    return token


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    try:
        return None if value is None else max(0.0, min(300.0, float(value)))
    except ValueError:
        return None


async def _then_set(data: bytes, written: asyncio.Event) -> AsyncIterator[bytes]:
    """The body as one chunk; httpx asks for the next only once it has sent this one."""
    yield data
    written.set()


class SyncClient:
    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        timeout_s: float = 5.0,
        transport: httpx.AsyncBaseTransport | None = None,
        key_file: Path | None = None,
    ) -> None:
        # httpx (and its TLS context) load with the first client: a room without a central
        # URL never imports them; a plain-http central needs no CA bundle in memory (1.4 MB).
        import httpx

        self._errors = httpx.HTTPError
        # Only a read timeout brakes: central has the request and did not answer in time.
        # A connect or write timeout is the link, not central's speed.
        self._timeouts = httpx.ReadTimeout
        self.timeout_s = timeout_s
        self.probe_timeout_s = min(timeout_s, 1.0)
        tls = base_url.startswith("https://")
        self._http = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            headers={"Authorization": f"Bearer {token}", "User-Agent": "smartroom-agent"},
            timeout=timeout_s,
            transport=transport or httpx.AsyncHTTPTransport(retries=0, verify=tls),
            follow_redirects=False,
        )
        # Key rotation without a restart: on a 401 the credential file is read again and,
        # when it holds a new key, the request is retried with it (the outbox stays put).
        self._key_file = key_file
        self._token = token
        self.bytes_sent = 0
        self.bytes_received = 0
        self.offers: list[ModelManifest] = []  # model offers, fed by the models stream

    async def aclose(self) -> None:
        await self._http.aclose()

    async def probe(self) -> bool:
        """Whether central's port accepts a TCP connection now (a SYN and a close, no
        request: cheap enough to try every half second while the link is down)."""
        url = self._http.base_url
        port = url.port or (443 if url.scheme == "https" else 80)
        try:
            async with asyncio.timeout(self.probe_timeout_s):  # not wait_for (see worker)
                _reader, writer = await asyncio.open_connection(url.host, port)
        except (OSError, TimeoutError):
            return False
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
        return True

    async def _post(
        self, path: str, body: bytes, read_s: float, written: asyncio.Event | None = None
    ) -> Any:
        headers = {"Content-Type": "application/json", "Content-Encoding": "gzip"}
        data = gzip.compress(body, compresslevel=5)
        content: bytes | AsyncIterator[bytes] = data
        if written is not None:
            headers["Content-Length"] = str(len(data))
            content = _then_set(data, written)
        try:
            response = await self._http.post(path, content=content, headers=headers, timeout=read_s)
        except self._errors as exc:
            raise SyncError(
                f"POST {path}: {type(exc).__name__}: {exc}",
                timed_out=isinstance(exc, self._timeouts),
            ) from None
        self.bytes_sent += len(data)
        self.bytes_received += len(response.content)
        if len(response.content) > MAX_RESPONSE_BYTES:
            raise SyncError(f"POST {path}: response larger than {MAX_RESPONSE_BYTES} B")
        if response.status_code == 401 and self._new_key():
            return await self._post(path, body, read_s)
        if response.status_code >= 400:
            raise SyncError(
                f"POST {path}: HTTP {response.status_code} {response.text[:200]}",
                status=response.status_code,
                retry_after=_retry_after(response),
            )
        return response.content

    def _new_key(self) -> bool:
        """Whether the credential file now holds another key (then used from here on)."""
        if self._key_file is None:
            return False
        try:
            token = read_agent_key(self._key_file)
        except SyncError:
            return False  # unreadable or unsafe: keep the key we have, the 401 stands
        if token == self._token:
            return False
        self._token = token
        self._http.headers["Authorization"] = f"Bearer {token}"
        return True

    async def upload(
        self,
        batch: SyncUpload,
        timeout_s: float | None = None,
        written: asyncio.Event | None = None,
    ) -> SyncUploadResult:
        """`timeout_s`: this upload's timeout (the upload brake's), else the client's.
        `written` is set once the whole request is on the wire (sync/engine.py works on
        while central does)."""
        body = batch.model_dump_json().encode()
        read_s = self.timeout_s if timeout_s is None else timeout_s
        raw = await self._post("/v1/sync/upload", body, read_s, written)
        try:
            result = SyncUploadResult.model_validate_json(raw)
        except ValidationError as exc:
            raise SyncError(f"POST /v1/sync/upload: bad document: {exc}") from None
        if [r.event_id for r in result.results] != [e.event_id for e in batch.events]:
            raise SyncError("POST /v1/sync/upload: the answers do not match the batch")
        return result

    async def pull(self, request: SyncPull) -> SyncPage:
        timeout = self.timeout_s + request.wait_s
        raw = await self._post("/v1/sync/pull", request.model_dump_json().encode(), timeout)
        try:
            return SyncPage.model_validate_json(raw)
        except ValidationError as exc:
            raise SyncError(f"POST /v1/sync/pull: bad document: {exc}") from None

    async def models(self) -> list[ModelManifest]:
        """The offered model versions, as the models stream last delivered them."""
        return list(self.offers)

    async def model_blob(self, manifest: ModelManifest) -> bytes:
        """The model file, read no further than the manifest's size (the model store checks
        size, hash and signature). Only our central's own download path is followed."""
        path = model_path(manifest.version, manifest.name)
        if manifest.url != path:
            raise SyncError(f"model {manifest.version}: url {manifest.url!r} is not {path!r}")
        chunks: list[bytes] = []
        size = 0
        try:
            async with self._http.stream("GET", path) as response:
                if response.status_code >= 400:
                    await response.aread()
                    raise SyncError(
                        f"GET {path}: HTTP {response.status_code} {response.text[:200]}",
                        status=response.status_code,
                    )
                async for chunk in response.aiter_bytes():
                    size += len(chunk)
                    if size > manifest.size_bytes:
                        raise SyncError(
                            f"GET {path}: more than the manifest's {manifest.size_bytes} bytes"
                        )
                    chunks.append(chunk)
        except self._errors as exc:
            raise SyncError(f"GET {path}: {type(exc).__name__}: {exc}") from None
        if size < manifest.size_bytes:  # cut short: fetch again, do not refuse the version
            raise SyncError(f"GET {path}: {size} of the manifest's {manifest.size_bytes} bytes")
        return b"".join(chunks)
