"""Comfort-model versions offered by central: pick the newest, fetch, install, swap.

    updater = ModelUpdater(ModelStore(config.models_dir, key), on_model=resolver.use_model)
    outcome = await updater.check(client)      # None when there is nothing new

Central only relays what the ML team signed offline (`smartroom-model sign`); the room trusts
the signature, checked against `[comfort] model_signing_key`, never the relay. A version that
is refused (bad size, hash or signature, not newer) or rolled back (fails to load, or gives
invalid output on the self-test batch) is remembered and not fetched again by this process;
the room keeps the model it has.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from smartroom.log import get_logger
from sync.wire import Alert, ModelManifest, version_key

if TYPE_CHECKING:  # the comfort runtime is imported only when updates are configured
    from agent.comfort.runtime import ComfortModel
    from agent.comfort.updates import InstallOutcome, ModelStore

log = get_logger("agent.model_updates")


class ModelSource(Protocol):
    """Where offers and model bytes come from (`sync.client.SyncClient`)."""

    async def models(self) -> list[ModelManifest]: ...
    async def model_blob(self, manifest: ModelManifest) -> bytes: ...


def open_model_store(models_dir: Path, signing_key_b64: str) -> ModelStore:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    from agent.comfort.updates import ModelStore

    key = Ed25519PublicKey.from_public_bytes(base64.b64decode(signing_key_b64))
    return ModelStore(models_dir, key)


@dataclass
class ModelUpdater:
    store: ModelStore
    on_model: Callable[[ComfortModel], None]
    # Called with "installed", "refused" or "rolled_back" (the agent's Prometheus counter).
    count: Callable[[str], None] = lambda _outcome: None
    refused: dict[str, str] = field(default_factory=dict)
    last: InstallOutcome | None = None
    # The room's clock, for the alert's time (the agent passes its Clock's `now`).
    now: Callable[[], datetime] | None = None
    alert: Alert | None = None  # the last refusal, until a version is installed

    @property
    def version(self) -> str:
        return self.store.current_version or "shipped"

    def candidate(self, offers: list[ModelManifest]) -> ModelManifest | None:
        """The newest offer that would be an upgrade and was not refused before."""
        fresh = [m for m in offers if m.version not in self.refused]
        best = max(fresh, key=lambda m: version_key(m.version), default=None)
        return best if best is not None and self.store.is_newer(best.version) else None

    async def check(self, client: ModelSource) -> InstallOutcome | None:
        """One look at central's offers; raises SyncError only for transport problems."""
        from agent.comfort.updates import UpdateRejected

        manifest = self.candidate(await client.models())
        if manifest is None:
            return None
        blob = await client.model_blob(manifest)
        try:
            outcome = self.store.install(manifest, blob)
        except UpdateRejected as exc:
            self.refused[manifest.version] = str(exc)
            self.count("refused")
            log.error("comfort_model_refused", version=manifest.version, reason=str(exc))
            self._alert(f"{exc}; keeping {self.version}")
            return None
        self.last = outcome
        self.count(outcome.status)
        if outcome.status == "rolled_back":
            self.refused[manifest.version] = outcome.reason
            self._alert(f"model {manifest.version} rolled back: {outcome.reason}")
            return outcome
        self.on_model(outcome.model or self.store.load_current())
        self.alert = None
        log.info("comfort_model_in_use", version=outcome.version)
        return outcome

    def _alert(self, detail: str) -> None:
        if self.now is not None:
            self.alert = Alert(kind="comfort_model_refused", since=self.now(), detail=detail[:256])

    def alerts(self) -> list[Alert]:
        """What the room's status carries to the board while the last offer was refused."""
        return [] if self.alert is None else [self.alert]

    def info(self) -> dict[str, object]:
        return {
            "version": self.version,
            "last": None if self.last is None else self.last.status,
            "refused": dict(self.refused),
        }
