"""Evaluate the SHIPPED model (the .tflite, through the TFLite interpreter) and both
baselines on any file in the ASHRAE DB II measurements schema.

    report = evaluate_file(Path("my.csv.gz"), metadata=Path("my_metadata.csv"),
                           model_path=shipped_model_path(), personal=True)
    print(render(report))

Every row's building must be in the metadata file: a building without metadata is an error
naming it, unless `context_unknown=True`, which scores those rows with the climate and
cooling type unknown (as a room whose context is not set) and says how many they were.
Nothing is ever filled in from the training metadata.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from agent.comfort.advisor import ComfortAdvisor
from agent.comfort.features import encode, without_context
from agent.comfort.runtime import ComfortModel
from models.baselines import always_no_change, pmv_rule
from models.calibration import brier, ece
from models.data import dataset_from_frame, load_frame
from models.metrics import TABLE_HEAD, Scores, decide, scores
from models.personal import personal_table, replay

BATCH = 4096
MODEL = "shipped model (TFLite)"
MASKED = "shipped model, climate and cooling unknown"


@dataclass(frozen=True)
class Evaluation:
    model_sha256: str
    rows: int
    buildings: int
    results: dict[str, Scores]
    seen_buildings: int | None = None  # of `buildings`, how many the model was trained on
    context_unknown_rows: int = 0
    context_unknown_buildings: tuple[int, ...] = ()
    calibration: dict[str, float] = field(default_factory=dict)
    personal: dict[str, dict[str, Any]] | None = None


def _predict(model: ComfortModel, x: np.ndarray) -> np.ndarray:
    return np.vstack([model.predict(x[i : i + BATCH]) for i in range(0, len(x), BATCH)])


def evaluate_file(
    data: Path,
    *,
    metadata: Path,
    model_path: Path,
    context_unknown: bool = False,
    personal: bool = False,
) -> Evaluation:
    model = ComfortModel.from_bytes(model_path.read_bytes())
    frame, unknown = load_frame(data, metadata, context_unknown=context_unknown)
    ds = dataset_from_frame(frame)
    probs = _predict(model, encode(ds.raw, model.spec))
    weights = model.spec.decision_weights
    masked = without_context(ds.raw, climate=True, cooling=True)
    masked_probs = _predict(model, encode(masked, model.spec))
    seen: int | None = None
    side = model_path.with_suffix(".json")
    if side.is_file():
        meta = json.loads(side.read_text())
        if meta.get("sha256") == model.sha256 and "training_buildings" in meta:
            seen = int(np.isin(np.unique(ds.groups), meta["training_buildings"]).sum())
    table = None
    if personal:
        table = personal_table(ds.y, replay(ComfortAdvisor(model), ds))
    unknown_rows = np.isin(ds.groups, unknown)
    return Evaluation(
        seen_buildings=seen,
        model_sha256=model.sha256,
        rows=len(ds),
        buildings=int(np.unique(ds.groups).size),
        results={
            MODEL: scores(ds.y, decide(probs, weights)),
            MASKED: scores(ds.y, decide(masked_probs, weights)),
            "PMV rule": scores(ds.y, pmv_rule(ds.frame)),
            'always "no change"': scores(ds.y, always_no_change(len(ds))),
        },
        context_unknown_rows=int(unknown_rows.sum()),
        context_unknown_buildings=tuple(int(b) for b in unknown),
        calibration={
            "ece": ece(probs, ds.y),
            "brier": brier(probs, ds.y),
            "ece_context_unknown": ece(masked_probs, ds.y),
        },
        personal=table,
    )


def _personal_lines(table: dict[str, dict[str, Any]]) -> list[str]:
    lines = [
        "",
        "Personal: each person's votes replayed in time order through the agent's advisor "
        "and learner, every vote scored before it is learned",
        "",
        "| earlier votes | predictor | rows | accuracy | macro-F1 | Cohen's κ |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for group, block in table.items():
        for name, s in block.items():
            lines.append(
                f"| {group} | {name} | {s['n']} | {s['accuracy']:.3f} | {s['macro_f1']:.3f} "
                f"| {s['kappa']:.3f} |"
            )
    return lines


def render(ev: Evaluation) -> str:
    lines = [
        f"model sha256 {ev.model_sha256}",
        f"{ev.rows} rows with a thermal_preference vote, {ev.buildings} buildings",
    ]
    if ev.context_unknown_rows:
        ids = ", ".join(map(str, ev.context_unknown_buildings[:20]))
        more = "" if len(ev.context_unknown_buildings) <= 20 else ", ..."
        lines.append(
            f"context unknown (as asked): {ev.context_unknown_rows} rows of "
            f"{len(ev.context_unknown_buildings)} buildings without metadata ({ids}{more}) "
            "are scored with climate and cooling type unknown"
        )
    if ev.seen_buildings is None:
        lines.append("(cannot tell whether these buildings were in the training data)")
    elif ev.seen_buildings:
        lines.append(
            f"WARNING: {ev.seen_buildings} of {ev.buildings} buildings were in the training "
            "data: these figures are in-sample (optimistic); the honest ones are on unseen "
            "buildings (docs/model-card.md, or a file of buildings the model never saw)"
        )
    else:
        lines.append("none of these buildings was in the training data")
    lines += ["", TABLE_HEAD]
    lines += [s.row(name) for name, s in ev.results.items()]
    c = ev.calibration
    lines += [
        "",
        f"calibration of the shipped model's probabilities: top-label ECE {c['ece']:.3f}, "
        f"Brier {c['brier']:.3f} (climate and cooling unknown: ECE "
        f"{c['ece_context_unknown']:.3f})",
    ]
    if ev.personal is not None:
        lines += _personal_lines(ev.personal)
    return "\n".join(lines)
