"""`smartroom-model evaluate` and `info` on real files, through the console-script entry."""

from __future__ import annotations

import gzip
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from models.cli import app
from models.data import METADATA, REPO_ROOT


def test_evaluate_prints_model_and_baselines_on_a_slice(slice_csv: Path, data_dir: Path) -> None:
    result = CliRunner().invoke(
        app, ["evaluate", "--data", str(slice_csv), "--metadata", str(data_dir / METADATA)]
    )
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


def test_evaluate_console_script_in_a_real_process(slice_csv: Path, data_dir: Path) -> None:
    exe = Path(sys.executable).with_name("smartroom-model")
    proc = subprocess.run(
        [str(exe), "evaluate", "--data", str(slice_csv), "--metadata", str(data_dir / METADATA)],
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
    result = CliRunner().invoke(
        app, ["evaluate", "--data", str(bad), "--metadata", str(REPO_ROOT / "pyproject.toml")]
    )
    assert result.exit_code == 2
    assert "lacks column" in result.output and "thermal_preference" in result.output


def test_evaluate_refuses_a_missing_file(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app,
        ["evaluate", "--data", str(tmp_path / "nope.csv.gz"), "--metadata", str(tmp_path / "m")],
    )
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


def test_evaluate_knows_unseen_buildings(slice_csv: Path, data_dir: Path, tmp_path: Path) -> None:
    import pandas as pd

    df = pd.read_csv(slice_csv, low_memory=False)
    df["building_id"] = df["building_id"] + 100_000  # buildings the model never saw
    unseen = tmp_path / "unseen.csv.gz"
    df.to_csv(unseen, index=False)
    meta = pd.read_csv(data_dir / METADATA)
    meta["building_id"] = meta["building_id"] + 100_000
    meta_file = tmp_path / "unseen_meta.csv"
    meta.to_csv(meta_file, index=False)
    result = CliRunner().invoke(
        app, ["evaluate", "--data", str(unseen), "--metadata", str(meta_file)]
    )
    assert result.exit_code == 0, result.output
    assert "none of these buildings was in the training data" in result.output


def test_keygen_and_sign_make_a_manifest_the_agent_accepts(tmp_path: Path) -> None:
    import base64

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    from agent.comfort.updates import ModelStore
    from sync.wire import ModelManifest

    key = tmp_path / "signing.key"
    made = CliRunner().invoke(app, ["keygen", "--out", str(key)])
    assert made.exit_code == 0, made.output
    public = made.output.strip()
    assert len(public) == 44 and (key.stat().st_mode & 0o777) == 0o600
    assert "PRIVATE KEY" in key.read_text() and public not in key.read_text()
    again = CliRunner().invoke(app, ["keygen", "--out", str(key)])
    assert again.exit_code == 2 and "refusing to overwrite" in again.output

    model = REPO_ROOT / "models" / "comfort.tflite"
    out = tmp_path / "manifest.json"
    signed = CliRunner().invoke(
        app, ["sign", str(model), "--key", str(key), "--version", "1.4.0", "--out", str(out)]
    )
    assert signed.exit_code == 0, signed.output
    manifest = ModelManifest.model_validate_json(out.read_text())
    assert manifest.version == "1.4.0" and manifest.size_bytes == model.stat().st_size
    store = ModelStore(
        tmp_path / "models", Ed25519PublicKey.from_public_bytes(base64.b64decode(public))
    )
    assert store.install(manifest, model.read_bytes()).status == "installed"


def test_sign_refuses_bad_versions_keys_and_models(tmp_path: Path) -> None:
    key = tmp_path / "signing.key"
    assert CliRunner().invoke(app, ["keygen", "--out", str(key)]).exit_code == 0
    model = REPO_ROOT / "models" / "comfort.tflite"

    def sign(*args: str) -> tuple[int, str]:
        r = CliRunner().invoke(app, ["sign", *args])
        return r.exit_code, r.output

    code, out = sign(str(model), "--key", str(key), "--version", "1.4")
    assert code == 2 and "version" in out and "pattern" in out
    junk = tmp_path / "junk.tflite"
    junk.write_bytes(b"not a model")
    code, out = sign(str(junk), "--key", str(key), "--version", "1.4.0")
    assert code == 2 and "not a usable comfort model" in out
    key.chmod(0o644)
    code, out = sign(str(model), "--key", str(key), "--version", "1.4.0")
    assert code == 2 and "chmod 600" in out
    not_a_key = tmp_path / "other.key"
    not_a_key.write_text("hello")
    not_a_key.chmod(0o600)
    code, out = sign(str(model), "--key", str(not_a_key), "--version", "1.4.0")
    assert code == 2 and "not a PEM private key" in out


def _table_rows(out: str) -> dict[str, list[str]]:
    return {
        line.split("|")[1].strip(): line.split("|")
        for line in out.splitlines()
        if line.startswith("| ")
    }


def test_evaluate_names_buildings_without_metadata_unless_asked(
    slice_csv: Path, data_dir: Path, tmp_path: Path
) -> None:
    """Never a silent join: a building missing from --metadata is an error naming it; with
    --context-unknown its rows are scored without climate and cooling type, and it says so."""
    import pandas as pd

    meta = pd.read_csv(data_dir / METADATA)
    votes = pd.read_csv(slice_csv, usecols=["building_id", "ta", "thermal_preference"]).dropna()
    buildings = sorted(votes["building_id"].unique())
    dropped = [int(b) for b in buildings[:3]]
    partial = tmp_path / "partial_meta.csv"
    meta[~meta["building_id"].isin(dropped)].to_csv(partial, index=False)
    args = ["evaluate", "--data", str(slice_csv), "--metadata", str(partial)]
    refused = CliRunner().invoke(app, args)
    assert refused.exit_code == 2
    assert "no entry in" in refused.output and "--context-unknown" in refused.output
    assert all(str(b) in refused.output for b in dropped)
    scored = CliRunner().invoke(app, [*args, "--context-unknown"])
    assert scored.exit_code == 0, scored.output
    assert "context unknown (as asked)" in scored.output
    assert all(str(b) in scored.output for b in dropped)
    rows = _table_rows(scored.output)
    assert "shipped model, climate and cooling unknown" in rows and "ECE" in scored.output


def test_evaluate_personal_replays_votes_against_both_baselines(
    slice_csv: Path, data_dir: Path
) -> None:
    result = CliRunner().invoke(
        app,
        [
            "evaluate",
            "--data",
            str(slice_csv),
            "--metadata",
            str(data_dir / METADATA),
            "--personal",
        ],
    )
    assert result.exit_code == 0, result.output
    out = result.output
    assert "replayed in time order" in out
    for must in (
        "| k ≥ 1 | personal learner",
        "| k ≥ 1 | population model",
        "| k ≥ 1 | repeat last vote",
    ):
        assert must in out
