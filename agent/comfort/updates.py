"""Model updates through sync: verify, install side by side, swap, roll back.

    store = ModelStore(Path("/var/lib/smartroom/models"), public_key=service_key)
    outcome = store.install(manifest, blob)      # InstallOutcome(status, version, reason)
    model = store.load_current()                 # current, else previous, else shipped

A manifest (sync.wire.ModelManifest) is accepted only if the bytes have its size and sha256
and its Ed25519 signature over `name:version:sha256` verifies with the central service's
public key; an older or equal version is refused (a replayed manifest cannot downgrade a
room). Accepted bytes go to `versions/<version>/comfort.tflite` next to the old ones; the
swap is one atomic rename of `state.json`; the new model must load in the interpreter and
pass its self-test batch, else the state is rolled back to the previous version.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from agent.comfort.advisor import shipped_model_path, shipped_version
from agent.comfort.runtime import ComfortModel, ModelLoadError
from smartroom.log import get_logger
from sync.wire import ModelManifest, version_key

log = get_logger(__name__)
MODEL_FILE = "comfort.tflite"


class UpdateRejected(ValueError):
    """The offered model was not installed; nothing on disk or in memory changed."""


def signed_message(name: str, version: str, sha256: str) -> bytes:
    return f"{name}:{version}:{sha256}".encode()


def sign_manifest(private_key: Ed25519PrivateKey, name: str, version: str, sha256: str) -> str:
    """The central service's side: the signature_b64 for a manifest."""
    return base64.b64encode(private_key.sign(signed_message(name, version, sha256))).decode()


def public_key_b64(public_key: Ed25519PublicKey) -> str:
    """The form a room file holds (`[comfort] model_signing_key`)."""
    return base64.b64encode(public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)).decode()


def signed_manifest(
    private_key: Ed25519PrivateKey, blob: bytes, version: str, url: str = ""
) -> ModelManifest:
    """The manifest for `blob` as the ML team signs it (`smartroom-model sign`); central
    fills `url` when it serves it. Raises pydantic's ValidationError for a bad version."""
    digest = hashlib.sha256(blob).hexdigest()
    return ModelManifest(
        version=version,
        sha256=digest,
        size_bytes=len(blob),
        signature_b64=sign_manifest(private_key, "comfort", version, digest),
        url=url,
    )


def publish_body(manifest: ModelManifest, blob: bytes) -> dict[str, object]:
    """The JSON body of `POST /v1/admin/models` (what `loyalty models publish` sends)."""
    return {
        "manifest": manifest.model_dump(mode="json"),
        "model_b64": base64.b64encode(blob).decode(),
    }


def verify(manifest: ModelManifest, blob: bytes, public_key: Ed25519PublicKey) -> None:
    if len(blob) != manifest.size_bytes:
        raise UpdateRejected(
            f"model {manifest.version}: got {len(blob)} bytes, manifest says {manifest.size_bytes}"
        )
    digest = hashlib.sha256(blob).hexdigest()
    if digest != manifest.sha256:
        raise UpdateRejected(
            f"model {manifest.version}: sha256 {digest} does not match manifest {manifest.sha256}"
        )
    try:
        signature = base64.b64decode(manifest.signature_b64, validate=True)
        public_key.verify(signature, signed_message(manifest.name, manifest.version, digest))
    except (InvalidSignature, binascii.Error, ValueError) as exc:
        raise UpdateRejected(
            f"model {manifest.version}: signature does not verify with the service's key"
        ) from exc


@dataclass(frozen=True)
class InstallOutcome:
    status: Literal["installed", "already_installed", "rolled_back"]
    version: str
    reason: str = ""
    # The loaded, self-tested model when status == "installed" (ready to swap in).
    model: ComfortModel | None = None


class ModelStore:
    def __init__(self, root: Path, public_key: Ed25519PublicKey) -> None:
        self.root = root
        self.public_key = public_key
        (root / "versions").mkdir(parents=True, exist_ok=True)

    # --- state ------------------------------------------------------------------------------

    @property
    def _state_path(self) -> Path:
        return self.root / "state.json"

    def state(self) -> dict[str, str | None]:
        try:
            raw = json.loads(self._state_path.read_text())
        except (OSError, json.JSONDecodeError):
            return {"current": None, "previous": None}
        return {"current": raw.get("current"), "previous": raw.get("previous")}

    def _write_state(self, current: str | None, previous: str | None) -> None:
        tmp = self._state_path.with_suffix(".tmp")
        with tmp.open("w") as f:
            json.dump({"current": current, "previous": previous}, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self._state_path)

    def path_of(self, version: str) -> Path:
        return self.root / "versions" / version / MODEL_FILE

    @property
    def current_version(self) -> str | None:
        return self.state()["current"]

    def is_newer(self, version: str) -> bool:
        """Whether `version` would be an upgrade of what the room runs now."""
        return version_key(version) > version_key(self.current_version or shipped_version())

    # --- install / load -----------------------------------------------------------------------

    def install(self, manifest: ModelManifest, blob: bytes) -> InstallOutcome:
        """Verify, write side by side, swap, self-test; roll back if the new model fails.
        Raises UpdateRejected (nothing changed) for bad size, hash, signature or version."""
        state = self.state()
        current = state["current"]
        installed = self.path_of(manifest.version)
        if (
            current == manifest.version
            and installed.is_file()
            and hashlib.sha256(installed.read_bytes()).hexdigest() == manifest.sha256
        ):
            return InstallOutcome("already_installed", manifest.version)
        verify(manifest, blob, self.public_key)
        floor = current or shipped_version()
        if version_key(manifest.version) <= version_key(floor):
            raise UpdateRejected(
                f"model {manifest.version} is not newer than "
                f"{'installed' if current else 'shipped'} {floor}: refused "
                "(a replayed manifest must not downgrade the room)"
            )
        target = self.path_of(manifest.version)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(".part")
        with tmp.open("wb") as f:
            f.write(blob)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
        self._write_state(manifest.version, current)
        try:
            model = ComfortModel.from_bytes(target.read_bytes())
            model.self_test()
        except ModelLoadError as exc:
            self._write_state(current, state["previous"])
            log.warning("comfort_model_rolled_back", version=manifest.version, reason=str(exc))
            return InstallOutcome("rolled_back", manifest.version, str(exc))
        log.info("comfort_model_installed", version=manifest.version, sha256=manifest.sha256)
        return InstallOutcome("installed", manifest.version, model=model)

    def load_current(self) -> ComfortModel:
        """The current model; if it no longer loads or self-tests, the previous one (and the
        state is rolled back to it); else the model shipped with the agent."""
        state = self.state()
        for i, version in enumerate((state["current"], state["previous"])):
            if version is None:
                continue
            try:
                model = ComfortModel.from_bytes(self.path_of(version).read_bytes())
                model.self_test()
            except (ModelLoadError, OSError) as exc:
                log.warning("comfort_model_unusable", version=version, reason=str(exc))
                continue
            if i == 1:
                self._write_state(version, None)
            return model
        model = ComfortModel.from_bytes(shipped_model_path().read_bytes())
        model.self_test()
        return model

    def rollback(self) -> str | None:
        """Return to the previous version (operator command); the new current version."""
        state = self.state()
        if state["previous"] is None:
            raise UpdateRejected("no previous model version to roll back to")
        self._write_state(state["previous"], None)
        return state["previous"]
