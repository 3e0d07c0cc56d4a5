"""Ceiling checks for the personal goal (issue 19: macro-F1 ≥ 0.65, κ ≥ 0.46, accuracy ≥ 0.70
on votes with at least one earlier vote from the same person). Not shipped; re-runnable:

    ./dev python -m models.personal_ceiling          # ~2-5 min on one core

1. A learned head over everything the room could keep about a member: the population
   model's log-probabilities (masked-context teacher, building-grouped out-of-fold), decayed
   vote shares and count, the last vote, the change in room temperature since it (and its
   product with the last vote), days since it, and the person's residuals against the
   population model. Logistic regression and gradient boosting, both fitted with
   building-grouped folds, decision weights chosen on the same predictions (optimistic).
2. A leaky oracle: each person's most frequent vote over ALL their votes, the future
   included — what any "this person always says X" predictor could at best reach.

Baselines in the same run: the population model and "repeat the person's last vote".
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GroupKFold
from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

from agent.comfort.features import FeatureSpec, encode
from models.data import DEFAULT_DATA_DIR, load_dataset
from models.metrics import Scores, choose_weights, decide, scores
from models.personal import vote_order
from models.train import TrainConfig, fit_masked_teacher, imputation_for

FloatArray = npt.NDArray[np.float64]


def _line(name: str, s: Scores) -> str:
    return f"{name:55s} accuracy {s.accuracy:.3f}  macro-F1 {s.macro_f1:.3f}  κ {s.kappa:.3f}"


def main(argv: list[str]) -> int:
    ds = load_dataset(DEFAULT_DATA_DIR)
    y, groups, ta = ds.y, ds.groups, ds.raw.indoor_c
    oof = np.zeros((len(ds), 3))
    with threadpool_limits(limits=1):
        for tr, te in GroupKFold(5).split(y, y, groups):
            train_ds = ds.subset(tr)
            spec = FeatureSpec(impute=imputation_for(train_ds.raw))
            teacher = fit_masked_teacher(train_ds.raw, train_ds.y, spec, TrainConfig())
            oof[te] = teacher.predict_proba(encode(ds.subset(te).raw, spec))
    logp = np.log(np.clip(oof, 1e-6, 1.0))
    rows, same, times = vote_order(ds.frame)
    feats, scored, last = [], [], []
    counts, residual = np.zeros(3), np.zeros(3)
    prev = -1
    for j, r in enumerate(rows):
        if not same[j]:
            counts[:], residual[:] = 0.0, 0.0
        else:
            counts *= 0.7
            residual *= 0.7
            onehot = np.eye(3)[y[prev]]
            dta = ta[r] - ta[prev]
            days = (times[j] - times[j - 1]).total_seconds() / 86_400
            feats.append(
                np.r_[
                    logp[r],
                    counts / counts.sum(),
                    np.log1p(counts.sum()),
                    onehot,
                    dta * onehot,
                    dta,
                    np.log1p(max(days, 0.0)),
                    residual / counts.sum(),
                ]
            )
            scored.append(r)
            last.append(y[prev])
        residual += np.eye(3)[y[r]] - oof[r]
        counts[y[r]] += 1.0
        prev = r
    x = np.nan_to_num(np.asarray(feats))
    idx = np.asarray(scored)
    yy, gg = y[idx], groups[idx]
    w = choose_weights(oof, y)
    print(f"{len(idx)} votes with at least one earlier vote from the same person")
    print(_line("population model (teacher, out-of-fold)", scores(yy, decide(oof[idx], w))))
    print(_line("repeat the person's last vote", scores(yy, np.asarray(last))))
    heads: dict[str, Callable[[], Any]] = {
        "head: logistic regression": lambda: LogisticRegression(
            C=1.0, max_iter=2000, class_weight="balanced"
        ),
        "head: gradient boosting": lambda: HistGradientBoostingClassifier(
            max_iter=150,
            learning_rate=0.05,
            max_leaf_nodes=7,
            min_samples_leaf=100,
            class_weight="balanced",
            random_state=0,
        ),
    }
    with threadpool_limits(limits=1):
        for name, make in heads.items():
            p = np.zeros((len(idx), 3))
            for tr, te in GroupKFold(5).split(x, yy, gg):
                p[te] = make().fit(x[tr], yy[tr]).predict_proba(x[te])
            print(
                _line(
                    name + " (weights chosen in-sample)",
                    scores(yy, decide(p, choose_weights(p, yy))),
                )
            )
    # Leaky oracle: the person's most frequent vote over all their votes.
    person = np.cumsum(~same)
    majority = np.zeros(len(rows), dtype=np.int64)
    for pid in np.unique(person):
        m = person == pid
        majority[m] = np.bincount(y[rows[m]], minlength=3).argmax()
    has_earlier = same.copy()
    print(
        _line(
            "oracle: person's majority vote, future included",
            scores(y[rows[has_earlier]], majority[has_earlier]),
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
