"""Evaluate the SHIPPED model (the .tflite, through the TFLite interpreter) and both
baselines on any file in the ASHRAE DB II measurements schema.

    report = evaluate_file(Path("my.csv.gz"), metadata=Path(".../db_metadata.train.csv"))
    print(render(report))
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from agent.comfort.features import encode
from agent.comfort.runtime import ComfortModel
from models.baselines import always_no_change, pmv_rule
from models.data import dataset_from_frame, load_frame
from models.metrics import TABLE_HEAD, Scores, decide, scores

BATCH = 4096


@dataclass(frozen=True)
class Evaluation:
    model_sha256: str
    rows: int
    buildings: int
    results: dict[str, Scores]
    seen_buildings: int | None = None  # of `buildings`, how many the model was trained on


def evaluate_file(data: Path, *, metadata: Path, model_path: Path) -> Evaluation:
    model = ComfortModel.from_bytes(model_path.read_bytes())
    ds = dataset_from_frame(load_frame(data, metadata))
    x = encode(ds.raw, model.spec)
    probs = np.vstack([model.predict(x[i : i + BATCH]) for i in range(0, len(x), BATCH)])
    pred = decide(probs, model.spec.decision_weights)
    seen: int | None = None
    side = model_path.with_suffix(".json")
    if side.is_file():
        meta = json.loads(side.read_text())
        if meta.get("sha256") == model.sha256 and "training_buildings" in meta:
            seen = int(np.isin(np.unique(ds.groups), meta["training_buildings"]).sum())
    return Evaluation(
        seen_buildings=seen,
        model_sha256=model.sha256,
        rows=len(ds),
        buildings=int(np.unique(ds.groups).size),
        results={
            "shipped model (TFLite)": scores(ds.y, pred),
            "PMV rule": scores(ds.y, pmv_rule(ds.frame)),
            'always "no change"': scores(ds.y, always_no_change(len(ds))),
        },
    )


def render(ev: Evaluation) -> str:
    lines = [
        f"model sha256 {ev.model_sha256}",
        f"{ev.rows} rows with a thermal_preference vote, {ev.buildings} buildings",
    ]
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
    lines += [
        "",
        TABLE_HEAD,
    ]
    lines += [s.row(name) for name, s in ev.results.items()]
    return "\n".join(lines)
