"""Evaluate the SHIPPED model (the .tflite, through the TFLite interpreter) and both
baselines on any file in the ASHRAE DB II measurements schema.

    report = evaluate_file(Path("my.csv.gz"), metadata=Path(".../db_metadata.train.csv"))
    print(render(report))
"""

from __future__ import annotations

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


def evaluate_file(data: Path, *, metadata: Path, model_path: Path) -> Evaluation:
    model = ComfortModel.from_bytes(model_path.read_bytes())
    ds = dataset_from_frame(load_frame(data, metadata))
    x = encode(ds.raw, model.spec)
    probs = np.vstack([model.predict(x[i : i + BATCH]) for i in range(0, len(x), BATCH)])
    pred = decide(probs, model.spec.decision_weights)
    return Evaluation(
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
        "",
        TABLE_HEAD,
    ]
    lines += [s.row(name) for name, s in ev.results.items()]
    return "\n".join(lines)
