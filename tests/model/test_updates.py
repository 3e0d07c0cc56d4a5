"""Model updates with real files: verify, install side by side, swap, roll back."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

import numpy as np
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agent.comfort import ComfortAdvisor
from agent.comfort.features import N_FEATURES, FeatureSpec, Imputation
from agent.comfort.updates import ModelStore, UpdateRejected, sign_manifest
from models.export import mlp_to_tflite
from sync.wire import ModelManifest

SPEC = FeatureSpec(impute=Imputation(rh_pct=50, outdoor_c=20, running_mean_c=20, cooling=1))


@pytest.fixture
def key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.fixture
def store(tmp_path: Path, key: Ed25519PrivateKey) -> ModelStore:
    return ModelStore(tmp_path / "models", key.public_key())


def manifest(
    blob: bytes, version: str, key: Ed25519PrivateKey, **override: object
) -> ModelManifest:
    sha = hashlib.sha256(blob).hexdigest()
    fields: dict[str, object] = {
        "version": version,
        "sha256": sha,
        "size_bytes": len(blob),
        "signature_b64": sign_manifest(key, "comfort", version, sha),
        "url": f"/models/comfort/{version}",
    }
    fields.update(override)
    return ModelManifest.model_validate(fields)


def backwards_model() -> bytes:
    """Loads fine but says 'cooler' is likelier when it is colder: must fail the self-test."""
    w = np.zeros((N_FEATURES, 3), np.float32)
    w[0, 0] = -1.0  # logit(cooler) falls with indoor temperature
    return mlp_to_tflite([(w, np.zeros(3, np.float32))], SPEC.model_dump_json())


def test_install_swap_and_serve(
    store: ModelStore, key: Ed25519PrivateKey, shipped_blob: bytes
) -> None:
    out = store.install(manifest(shipped_blob, "1.1.0", key), shipped_blob)
    assert out.status == "installed"
    assert store.current_version == "1.1.0"
    assert store.path_of("1.1.0").read_bytes() == shipped_blob
    advisor = ComfortAdvisor(store.load_current())
    assert (
        advisor.model is not None
        and advisor.model.sha256 == hashlib.sha256(shipped_blob).hexdigest()
    )
    again = store.install(manifest(shipped_blob, "1.1.0", key), shipped_blob)
    assert again.status == "already_installed"


def test_bad_hash_is_rejected_without_side_effect(
    store: ModelStore, key: Ed25519PrivateKey, shipped_blob: bytes
) -> None:
    tampered = shipped_blob[:-1] + bytes([shipped_blob[-1] ^ 1])
    with pytest.raises(UpdateRejected, match="sha256"):
        store.install(manifest(shipped_blob, "1.1.0", key), tampered)
    assert store.current_version is None
    assert not store.path_of("1.1.0").exists()


def test_wrong_size_is_rejected(
    store: ModelStore, key: Ed25519PrivateKey, shipped_blob: bytes
) -> None:
    with pytest.raises(UpdateRejected, match="bytes"):
        store.install(manifest(shipped_blob, "1.1.0", key), shipped_blob + b"\x00")


def test_bad_signature_is_rejected(
    store: ModelStore, key: Ed25519PrivateKey, shipped_blob: bytes
) -> None:
    other = Ed25519PrivateKey.generate()
    with pytest.raises(UpdateRejected, match="signature"):
        store.install(manifest(shipped_blob, "1.1.0", other), shipped_blob)
    # a signature for another version of the same bytes does not carry over
    sig_for_other_version = sign_manifest(
        key, "comfort", "9.9.9", hashlib.sha256(shipped_blob).hexdigest()
    )
    with pytest.raises(UpdateRejected, match="signature"):
        store.install(
            manifest(shipped_blob, "1.1.0", key, signature_b64=sig_for_other_version), shipped_blob
        )
    garbage = base64.b64encode(b"\x00" * 64).decode()
    with pytest.raises(UpdateRejected, match="signature"):
        store.install(manifest(shipped_blob, "1.1.0", key, signature_b64=garbage), shipped_blob)
    assert store.current_version is None


def test_replayed_older_manifest_cannot_downgrade(
    store: ModelStore, key: Ed25519PrivateKey, shipped_blob: bytes
) -> None:
    old = manifest(shipped_blob, "1.1.0", key)
    store.install(old, shipped_blob)
    store.install(manifest(shipped_blob, "1.2.0", key), shipped_blob)
    with pytest.raises(UpdateRejected, match="not newer"):
        store.install(old, shipped_blob)
    assert store.current_version == "1.2.0"


@pytest.mark.parametrize(
    "bad_blob",
    [lambda: b"TFL3 but really just garbage bytes" * 10, backwards_model],
    ids=["corrupt", "invalid-output"],
)
def test_signed_but_broken_model_is_rolled_back(
    store: ModelStore, key: Ed25519PrivateKey, shipped_blob: bytes, bad_blob: object
) -> None:
    store.install(manifest(shipped_blob, "1.1.0", key), shipped_blob)
    blob = bad_blob()  # type: ignore[operator]
    out = store.install(manifest(blob, "1.2.0", key), blob)
    assert out.status == "rolled_back"
    assert out.reason
    assert store.current_version == "1.1.0"
    assert store.load_current().sha256 == hashlib.sha256(shipped_blob).hexdigest()


def test_model_broken_on_disk_falls_back_to_previous_then_shipped(
    store: ModelStore, key: Ed25519PrivateKey, shipped_blob: bytes
) -> None:
    store.install(manifest(shipped_blob, "1.1.0", key), shipped_blob)
    store.install(manifest(shipped_blob, "1.2.0", key), shipped_blob)
    store.path_of("1.2.0").write_bytes(b"corrupted by a bad SD card")
    model = store.load_current()
    assert model.sha256 == hashlib.sha256(shipped_blob).hexdigest()
    assert store.state() == {"current": "1.1.0", "previous": None}
    store.path_of("1.1.0").unlink()
    assert store.load_current().sha256 == hashlib.sha256(shipped_blob).hexdigest()  # shipped


def test_operator_rollback(store: ModelStore, key: Ed25519PrivateKey, shipped_blob: bytes) -> None:
    with pytest.raises(UpdateRejected, match="no previous"):
        store.rollback()
    store.install(manifest(shipped_blob, "1.1.0", key), shipped_blob)
    store.install(manifest(shipped_blob, "1.2.0", key), shipped_blob)
    assert store.rollback() == "1.1.0"
    assert store.current_version == "1.1.0"


def test_nothing_at_or_below_the_shipped_version_installs(
    store: ModelStore, key: Ed25519PrivateKey, shipped_blob: bytes
) -> None:
    from agent.comfort.advisor import shipped_version

    assert shipped_version() == "1.0.0"
    for version in ("0.9.9", "1.0.0"):
        assert not store.is_newer(version)
        with pytest.raises(UpdateRejected, match=r"not newer than shipped 1\.0\.0"):
            store.install(manifest(shipped_blob, version, key), shipped_blob)
    assert store.is_newer("1.0.1") and store.current_version is None
