"""Training smoke runs on a small subset: the pipeline runs end to end and is reproducible.
(The full training is `smartroom-model train`; tests never retrain the shipped model.)"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from agent.comfort import ComfortAdvisor, ComfortModel
from agent.comfort.features import encode
from models.cli import app
from models.data import MEASUREMENTS, METADATA, DataError, check_pinned, load_dataset
from models.train import TrainConfig, train

SMALL = TrainConfig(
    outer_folds=3, inner_folds=2, teacher_iter=30, teacher_min_leaf=50, student_iter=8
)


@pytest.fixture(scope="module")
def small_ds(data_dir: Path):  # type: ignore[no-untyped-def]
    ds = load_dataset(data_dir)
    return ds.subset(np.isin(ds.groups, np.unique(ds.groups)[:24]))


def test_small_training_is_reproducible_and_runs(small_ds) -> None:  # type: ignore[no-untyped-def]
    a = train(small_ds, SMALL)
    b = train(small_ds, SMALL, evaluate=False)
    assert train(small_ds, SMALL, evaluate=False).blob == b.blob  # same data, same bytes
    # The shipped calibration and decision weights come from the CV's held-out buildings.
    assert a.blob != b.blob and a.meta["calibration"]["temperature"] > 0
    assert set(a.spec.context_scores) == {
        "given",
        "climate unknown",
        "cooling unknown",
        "both unknown",
        "PMV rule",
    }
    assert "k ≥ 1" in a.report["personal"] and a.report["calibration"]["uncalibrated"]["ece"] >= 0
    model = ComfortModel.from_bytes(a.blob)
    x = encode(small_ds.raw, model.spec)
    np.testing.assert_allclose(model.predict(x), a.student.predict_proba(x), atol=1e-6)
    table = a.report["table"]["all rows"]
    assert set(table) >= {"student (shipped recipe)", "PMV rule", 'always "no change"'}
    assert table['always "no change"']["kappa"] == 0.0
    assert a.report["buildings"] == 24


def test_cli_train_writes_model_json_and_card(tmp_path: Path, data_dir: Path) -> None:
    out = tmp_path / "out"
    result = CliRunner().invoke(
        app,
        [
            "train",
            "--data",
            str(data_dir),
            "--out",
            str(out),
            "--card",
            str(tmp_path / "card.md"),
            "--max-buildings",
            "60",
            "--no-eval",
            "--version",
            "0.0.1",
        ],
    )
    assert result.exit_code == 0, result.output
    meta = json.loads((out / "comfort.json").read_text())
    assert meta["version"] == "0.0.1" and meta["size_bytes"] == len(
        (out / "comfort.tflite").read_bytes()
    )
    assert ComfortAdvisor.load(out / "comfort.tflite").model is not None  # incl. self-test


def test_changed_data_is_refused(tmp_path: Path, data_dir: Path) -> None:
    shutil.copy(data_dir / METADATA, tmp_path / METADATA)
    (tmp_path / MEASUREMENTS).write_bytes((data_dir / MEASUREMENTS).read_bytes()[:-10])
    with pytest.raises(DataError, match="sha256"):
        check_pinned(tmp_path)
    result = CliRunner().invoke(app, ["train", "--data", str(tmp_path), "--out", str(tmp_path)])
    assert result.exit_code == 2
    assert "sha256" in result.output
    assert not (tmp_path / "comfort.tflite").exists()
