"""`smartroom-model evaluate` and `info` on real files, through the console-script entry."""

from __future__ import annotations

import gzip
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from models.cli import app
from models.data import REPO_ROOT


def test_evaluate_prints_model_and_baselines_on_a_slice(slice_csv: Path) -> None:
    result = CliRunner().invoke(app, ["evaluate", "--data", str(slice_csv)])
    assert result.exit_code == 0, result.output
    out = result.output
    assert "shipped model (TFLite)" in out and "PMV rule" in out and 'always "no change"' in out
    assert "macro-F1" in out and "Cohen's κ" in out and "recall warmer" in out
    assert "in-sample" in out  # the slice's buildings were trained on, and it says so
    rows = {
        line.split("|")[1].strip(): line.split("|")
        for line in out.splitlines()
        if line.startswith("| ")
    }
    model_f1 = float(rows["shipped model (TFLite)"][4])
    pmv_f1 = float(rows["PMV rule"][4])
    # in-sample slice: the model must at least beat the PMV rule here
    assert model_f1 > pmv_f1


def test_evaluate_console_script_in_a_real_process(slice_csv: Path) -> None:
    exe = Path(sys.executable).with_name("smartroom-model")
    proc = subprocess.run(
        [str(exe), "evaluate", "--data", str(slice_csv)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO_ROOT,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "shipped model (TFLite)" in proc.stdout


def test_evaluate_refuses_a_file_in_another_schema(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv.gz"
    with gzip.open(bad, "wt") as f:
        f.write("a,b\n1,2\n")
    result = CliRunner().invoke(app, ["evaluate", "--data", str(bad)])
    assert result.exit_code == 2
    assert "lacks column" in result.output and "thermal_preference" in result.output


def test_evaluate_refuses_a_missing_file(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["evaluate", "--data", str(tmp_path / "nope.csv.gz")])
    assert result.exit_code == 2
    assert "cannot read" in result.output


def test_info_describes_the_shipped_model() -> None:
    result = CliRunner().invoke(app, ["info"])
    assert result.exit_code == 0, result.output
    assert "self-test ok" in result.output and "sha256" in result.output
    assert "PMV rule" in result.output


def test_info_refuses_a_corrupt_model(tmp_path: Path) -> None:
    bad = tmp_path / "bad.tflite"
    bad.write_bytes(b"\x00" * 100)
    result = CliRunner().invoke(app, ["info", "--model", str(bad)])
    assert result.exit_code == 2 and "TFL3" in result.output


def test_card_is_rendered_from_the_shipped_json(tmp_path: Path) -> None:
    out = tmp_path / "card.md"
    result = CliRunner().invoke(app, ["card", "--out", str(out)])
    assert result.exit_code == 0, result.output
    text = out.read_text()
    for must in ("Model card", "GroupKFold", "PMV rule", "Fairness", "Time of day is not used"):
        assert must in text


def test_evaluate_knows_unseen_buildings(slice_csv: Path, tmp_path: Path) -> None:
    import pandas as pd

    df = pd.read_csv(slice_csv, low_memory=False)
    df["building_id"] = df["building_id"] + 100_000  # buildings the model never saw
    unseen = tmp_path / "unseen.csv.gz"
    df.to_csv(unseen, index=False)
    result = CliRunner().invoke(app, ["evaluate", "--data", str(unseen)])
    assert result.exit_code == 0, result.output
    assert "none of these buildings was in the training data" in result.output
