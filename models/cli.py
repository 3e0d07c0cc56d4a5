"""`smartroom-model`: train, evaluate and describe the comfort model.

smartroom-model train [--data DIR] [--out DIR] [--card FILE]
smartroom-model evaluate --data FILE.csv.gz --metadata FILE [--model FILE] [--context-unknown]
                         [--personal]
smartroom-model info [--model FILE]
smartroom-model card [--model comfort.json] [--out FILE]
smartroom-model keygen --out SIGNING.key          # prints the agents' model_signing_key
smartroom-model sign MODEL.tflite --key SIGNING.key --version X.Y.Z [--out MANIFEST.json]
"""

from __future__ import annotations

import hashlib
import json
import os
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
    from models.plots import PLOT_NAME, write_reliability_plot
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
            write_reliability_plot(result.report["calibration"], card.parent / PLOT_NAME)
            typer.echo(f"wrote {card} and {card.parent / PLOT_NAME}")


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
    from models.plots import PLOT_NAME, write_reliability_plot

    meta = json.loads(model.read_text())
    if not meta.get("metrics"):
        typer.echo(f"error: {model} has no metrics (trained with --no-eval?)", err=True)
        raise typer.Exit(2)
    if "calibration" not in meta["metrics"]:
        typer.echo(f"error: {model} predates calibration: retrain to render this card", err=True)
        raise typer.Exit(2)
    out.write_text(render_card(meta, meta["metrics"]))
    write_reliability_plot(meta["metrics"]["calibration"], out.parent / PLOT_NAME)
    typer.echo(f"wrote {out} and {out.parent / PLOT_NAME}")


@app.command()
def evaluate(
    data: Annotated[Path, typer.Option(help="a measurements file in the DB II schema")],
    metadata: Annotated[
        Path, typer.Option(help="building metadata (climate, cooling type) for DATA's buildings")
    ],
    model: Annotated[Path, typer.Option(help="the .tflite to evaluate")] = (
        MODEL_DIR / "comfort.tflite"
    ),
    context_unknown: Annotated[
        bool,
        typer.Option(
            "--context-unknown",
            help="score rows whose building has no metadata with climate and cooling type "
            "unknown (otherwise such rows are an error)",
        ),
    ] = False,
    personal: Annotated[
        bool,
        typer.Option(
            "--personal",
            help="also replay each person's votes in time order through the agent's learner",
        ),
    ] = False,
) -> None:
    """Score the shipped model and the PMV rule on DATA (accuracy, macro-F1, κ, recall,
    calibration; with --personal the learner against the population model and repeating
    the person's last vote)."""
    from models.evaluate import evaluate_file, render

    try:
        report = evaluate_file(
            data,
            metadata=metadata,
            model_path=model,
            context_unknown=context_unknown,
            personal=personal,
        )
    except (DataError, ModelLoadError, OSError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    typer.echo(render(report))


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


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(2)


@app.command()
def keygen(
    out: Annotated[Path, typer.Option(help="where to write the private signing key (0600)")],
) -> None:
    """Make the Ed25519 key that signs model versions; prints the public key that goes in
    each room file as `[comfort] model_signing_key`. Keep the private key off the central
    service: rooms trust the signature, not the server that relays the file."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import (
        Encoding,
        NoEncryption,
        PrivateFormat,
    )

    from agent.comfort.updates import public_key_b64

    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    try:
        fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise _fail(f"{out} exists: refusing to overwrite a signing key") from None
    except OSError as exc:
        raise _fail(f"cannot write {out}: {exc.strerror}") from None
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
    typer.echo(public_key_b64(key.public_key()))


@app.command()
def sign(
    model: Annotated[Path, typer.Argument(help="the .tflite to offer to rooms")],
    key: Annotated[Path, typer.Option(help="the private key from `keygen`")],
    version: Annotated[str, typer.Option(help="X.Y.Z, higher than what rooms run")],
    out: Annotated[Path | None, typer.Option(help="manifest file (default: stdout)")] = None,
) -> None:
    """Write the signed manifest for a model file (publish both with `loyalty models
    publish`). The file must load and pass the self-test first: a broken model is never
    signed."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import load_pem_private_key
    from pydantic import ValidationError

    from agent.comfort.updates import signed_manifest

    try:
        if key.stat().st_mode & 0o077:
            raise _fail(f"{key} is readable by others (fix: chmod 600 {key})")
        private = load_pem_private_key(key.read_bytes(), password=None)
        blob = model.read_bytes()
    except OSError as exc:
        raise _fail(f"cannot read {exc.filename}: {exc.strerror}") from None
    except ValueError as exc:
        raise _fail(f"{key} is not a PEM private key: {exc}") from None
    if not isinstance(private, Ed25519PrivateKey):
        raise _fail(f"{key} is not an Ed25519 key (make one with `smartroom-model keygen`)")
    try:
        ComfortModel.from_bytes(blob).self_test()
    except ModelLoadError as exc:
        raise _fail(f"{model} is not a usable comfort model: {exc}") from None
    try:
        manifest = signed_manifest(private, blob, version)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise _fail(f"cannot make a manifest: {problems}") from None
    text = manifest.model_dump_json(indent=2) + "\n"
    if out is None:
        typer.echo(text, nl=False)
    else:
        out.write_text(text)
        typer.echo(f"wrote {out} (comfort {version}, {len(blob)} bytes, sha256 {manifest.sha256})")


def main() -> None:
    sys.exit(app())
