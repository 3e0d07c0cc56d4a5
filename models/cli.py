"""`smartroom-model`: train, evaluate and describe the comfort model.

smartroom-model train [--data DIR] [--out DIR] [--card FILE]
smartroom-model evaluate --data FILE.csv.gz [--metadata FILE] [--model FILE]
smartroom-model info [--model FILE]
smartroom-model card [--model comfort.json] [--out FILE]
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from agent.comfort.runtime import ComfortModel, ModelLoadError
from models.data import DEFAULT_DATA_DIR, MEASUREMENTS, METADATA, REPO_ROOT, DataError

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__)
MODEL_DIR = REPO_ROOT / "models"
VERSION = "1.0.0"


def write_artifacts(result: Any, out: Path, version: str, data_dir: Path) -> dict[str, Any]:
    """comfort.tflite + comfort.json (+ the model card when asked)."""
    from models.data import SHA256

    out.mkdir(parents=True, exist_ok=True)
    # Atomic: a running agent or test may be reading the shipped file right now.
    tmp = out / "comfort.tflite.part"
    tmp.write_bytes(result.blob)
    tmp.replace(out / "comfort.tflite")
    meta = dict(result.meta)
    meta.update(
        version=version,
        sha256=hashlib.sha256(result.blob).hexdigest(),
        size_bytes=len(result.blob),
        data={
            "measurements": f"../shared/data/ashrae-db-II/{MEASUREMENTS}",
            "metadata": f"../shared/data/ashrae-db-II/{METADATA}",
            "sha256": {"measurements": SHA256[MEASUREMENTS], "metadata": SHA256[METADATA]},
        },
        metrics=result.report,
    )
    (out / "comfort.json").write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
    return meta


@app.command()
def train(
    data: Annotated[Path, typer.Option(help="directory holding the ashrae-db-II files")] = (
        DEFAULT_DATA_DIR
    ),
    out: Annotated[Path, typer.Option(help="where comfort.tflite/json go")] = MODEL_DIR,
    card: Annotated[Path | None, typer.Option(help="model card to write")] = (
        REPO_ROOT / "docs" / "model-card.md"
    ),
    version: Annotated[str, typer.Option(help="semantic version of the new model")] = VERSION,
    max_buildings: Annotated[
        int, typer.Option(help="train on the first N buildings only (smoke runs); 0 = all")
    ] = 0,
    no_eval: Annotated[bool, typer.Option("--no-eval", help="skip nested CV")] = False,
) -> None:
    """Train on the pinned data, cross-validate by building, export the .tflite."""
    from models.card import render_card
    from models.data import load_dataset
    from models.train import TrainConfig
    from models.train import train as run

    try:
        ds = load_dataset(data)
    except DataError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    if max_buildings:
        import numpy as np

        keep = np.isin(ds.groups, np.unique(ds.groups)[:max_buildings])
        ds = ds.subset(keep)
    result = run(ds, TrainConfig(), evaluate=not no_eval)
    meta = write_artifacts(result, out, version, data)
    typer.echo(
        f"wrote {out / 'comfort.tflite'} ({meta['size_bytes']} bytes) sha256 {meta['sha256']}"
    )
    if result.report:
        s = result.report["table"]["all rows"]["student (shipped recipe)"]
        p = result.report["table"]["all rows"]["PMV rule"]
        typer.echo(
            f"unseen buildings: macro-F1 {s['macro_f1']:.3f} κ {s['kappa']:.3f} "
            f"(PMV rule {p['macro_f1']:.3f} / {p['kappa']:.3f})"
        )
        if card is not None:
            card.parent.mkdir(parents=True, exist_ok=True)
            card.write_text(render_card(meta, result.report))
            typer.echo(f"wrote {card}")


@app.command()
def card(
    model: Annotated[Path, typer.Option(help="the comfort.json of a training run")] = (
        MODEL_DIR / "comfort.json"
    ),
    out: Annotated[Path, typer.Option(help="model card to write")] = (
        REPO_ROOT / "docs" / "model-card.md"
    ),
) -> None:
    """Re-render the model card from a training run's comfort.json (no retraining)."""
    from models.card import render_card

    meta = json.loads(model.read_text())
    if not meta.get("metrics"):
        typer.echo(f"error: {model} has no metrics (trained with --no-eval?)", err=True)
        raise typer.Exit(2)
    out.write_text(render_card(meta, meta["metrics"]))
    typer.echo(f"wrote {out}")


@app.command()
def evaluate(
    data: Annotated[Path, typer.Option(help="a measurements file in the DB II schema")],
    metadata: Annotated[Path, typer.Option(help="building metadata (climate, cooling)")] = (
        DEFAULT_DATA_DIR / METADATA
    ),
    model: Annotated[Path, typer.Option(help="the .tflite to evaluate")] = (
        MODEL_DIR / "comfort.tflite"
    ),
) -> None:
    """Score the shipped model and the PMV rule on DATA (accuracy, macro-F1, κ, recall)."""
    from models.evaluate import evaluate_file, render

    try:
        typer.echo(render(evaluate_file(data, metadata=metadata, model_path=model)))
    except (DataError, ModelLoadError, OSError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc


@app.command()
def info(
    model: Annotated[Path, typer.Option(help="the .tflite to describe")] = (
        MODEL_DIR / "comfort.tflite"
    ),
) -> None:
    """Show a model file's hash, size, features and (if beside it) its recorded metrics."""
    try:
        m = ComfortModel.from_bytes(model.read_bytes())
        m.self_test()
    except (ModelLoadError, OSError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    typer.echo(f"{model}: {m.size_bytes} bytes, sha256 {m.sha256}, self-test ok")
    typer.echo(f"features ({len(m.spec.features)}): {', '.join(m.spec.features)}")
    typer.echo(f"decision weights: {m.spec.decision_weights}; impute: {m.spec.impute}")
    side = model.with_suffix(".json")
    if side.is_file():
        meta = json.loads(side.read_text())
        typer.echo(f"version {meta.get('version')}")
        table = meta.get("metrics", {}).get("table", {}).get("all rows", {})
        for name, s in table.items():
            typer.echo(f"  {name}: macro-F1 {s['macro_f1']:.3f} κ {s['kappa']:.3f}")


def main() -> None:
    sys.exit(app())
