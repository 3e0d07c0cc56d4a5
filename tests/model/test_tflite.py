"""The .tflite files run in the real TFLite interpreter and match the numpy forward pass."""

from __future__ import annotations

import hashlib
import itertools
import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.comfort import ComfortModel, ModelLoadError, shipped_model_path
from agent.comfort.features import N_FEATURES, FeatureSpec, Imputation, encode
from agent.comfort.runtime import read_description
from models.data import load_dataset
from models.export import mlp_to_tflite, read_mlp
from models.train import Student


def test_shipped_model_is_small_and_described_by_its_json(shipped_blob: bytes) -> None:
    assert len(shipped_blob) <= 64 * 1024
    meta = json.loads(shipped_model_path().with_suffix(".json").read_text())
    assert meta["sha256"] == hashlib.sha256(shipped_blob).hexdigest()
    assert meta["size_bytes"] == len(shipped_blob)
    assert FeatureSpec.model_validate(meta["feature_spec"]) == FeatureSpec.model_validate_json(
        read_description(shipped_blob)
    )
    assert meta["data"]["sha256"]["measurements"]


def test_shipped_model_matches_reference_forward_pass(shipped_blob: bytes, data_dir: Path) -> None:
    model = ComfortModel.from_bytes(shipped_blob)
    ds = load_dataset(data_dir, check=False)
    x = encode(ds.subset(np.arange(0, len(ds), 37)).raw, model.spec)
    reference = Student(read_mlp(shipped_blob)).predict_proba(x)
    got = model.predict(x)
    assert got.shape == reference.shape == (x.shape[0], 3)
    np.testing.assert_allclose(got, reference, atol=1e-6)
    model.self_test()


@settings(max_examples=15, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    hidden=st.lists(st.integers(1, 24), min_size=0, max_size=3),
    batch=st.integers(1, 40),
)
def test_export_matches_numpy_for_any_mlp(seed: int, hidden: list[int], batch: int) -> None:
    rng = np.random.default_rng(seed)
    sizes = [N_FEATURES, *hidden, 3]
    layers = [
        (rng.normal(0, 0.5, (a, b)).astype(np.float32), rng.normal(0, 0.5, b).astype(np.float32))
        for a, b in itertools.pairwise(sizes)
    ]
    spec = FeatureSpec(impute=Imputation(rh_pct=50, outdoor_c=20, running_mean_c=20, cooling=1))
    model = ComfortModel.from_bytes(mlp_to_tflite(layers, spec.model_dump_json()))
    x = rng.normal(0, 3, (batch, N_FEATURES)).astype(np.float32)
    # float32 inference vs a float64 reference: agreement to float32 precision
    np.testing.assert_allclose(model.predict(x), Student(layers).predict_proba(x), atol=1e-5)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda b: b[:100], "corrupt|refused|description|TFL3"),
        (lambda b: b"\x00" * 8 + b[8:], "TFL3"),
        (lambda b: b"not a model at all, just text", "TFL3"),
        (lambda b: b + b"\x00" * (1_048_577 - len(b)), "limit"),
    ],
)
def test_broken_files_are_refused(shipped_blob: bytes, mutate: object, message: str) -> None:
    with pytest.raises(ModelLoadError, match=message):
        ComfortModel.from_bytes(mutate(shipped_blob))  # type: ignore[operator]


def test_model_with_foreign_features_is_refused() -> None:
    layers = [(np.zeros((N_FEATURES, 3), np.float32), np.zeros(3, np.float32))]
    spec = json.dumps({"encoder_version": 99, "impute": {}})
    with pytest.raises(ModelLoadError, match=r"feature spec|encoder"):
        ComfortModel.from_bytes(mlp_to_tflite(layers, spec))


def test_predict_rejects_wrong_shapes(shipped_blob: bytes, tmp_path: Path) -> None:
    model = ComfortModel.from_bytes(shipped_blob)
    with pytest.raises(ValueError, match="features must be"):
        model.predict(np.zeros((3, N_FEATURES + 1), np.float32))
    assert model.predict(np.zeros((0, N_FEATURES), np.float32)).shape == (0, 3)


@settings(max_examples=60, deadline=None)
@given(
    edits=st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), min_size=1, max_size=40),
    cut=st.none() | st.integers(0, 10**6),
)
def test_damaged_model_bytes_fail_only_with_model_load_error(
    shipped_blob: bytes, edits: list[tuple[int, int]], cut: int | None
) -> None:
    blob = bytearray(shipped_blob)
    for pos, value in edits:
        blob[pos % len(blob)] = value
    if cut is not None:
        blob = blob[: cut % len(blob)]
    try:
        model = ComfortModel.from_bytes(bytes(blob))
        model.self_test()
    except ModelLoadError:
        return
    # Damage that leaves a valid model (e.g. a changed weight) is what the signature is for;
    # whatever loads must still produce probabilities.
    x = np.zeros((4, N_FEATURES), np.float32)
    p = model.predict(x)
    assert p.shape == (4, 3) and np.all(np.isfinite(p))
