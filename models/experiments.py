"""Recipes tried to lift the teacher towards the issue's goal, scored the same nested way.

    ./dev python -m models.experiments                 # list the recipes
    ./dev python -m models.experiments ordinal_mono    # one recipe, ~1.5-3 min on one core

Each recipe is a teacher (plus the decision rule) re-run under the exact nested scheme of
`models.train.cross_validate`: 5 outer building-grouped folds, imputation and decision
weights chosen on the outer-training part only (weights on 3 inner folds). The figures
printed are what `docs/model-card.md` quotes under "What was tried". None of these ships;
this module exists so the card's negative results can be re-checked.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.model_selection import GroupKFold
from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

from agent.comfort.features import CLASSES, FeatureSpec, encode
from models.data import (
    DEFAULT_DATA_DIR,
    MEASUREMENTS,
    METADATA,
    Dataset,
    dataset_from_frame,
    load_dataset,
)
from models.metrics import Scores, choose_weights, decide, scores
from models.train import imputation_for

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
Weights = tuple[float, float, float]


@dataclass(frozen=True)
class Recipe:
    """A teacher variant: how it is fitted and how its probabilities become a class."""

    kind: str = "multiclass"  # or "ordinal": P(y ≥ no change), P(y = warmer)
    class_weight: str | None = "balanced"
    leaves: int = 7
    min_leaf: int = 500
    iterations: int = 150
    # Features whose increase must never make "warmer"/"no change or warmer" more likely.
    decreasing: tuple[int, ...] = ()
    # Rows of each building weigh n_b ** building_power in total (1 = every row alike).
    building_power: float = 1.0
    # Extra columns (`extra_columns`): hotel-available "vapour", "month", "rh_out",
    # "building_context"; and, as a ceiling check only, "survey_inputs" and "sensation",
    # which no hotel room has.
    extra: tuple[str, ...] = ()
    # Weight of the rows that have a sensation vote but no preference vote (86 buildings
    # otherwise unused), trained with soft labels P(preference | sensation); 0 = left out.
    unlabelled_weight: float = 0.0
    # Decision-weight grid: "default" (models.metrics.choose_weights), "fine" (steps of
    # 0.05) or "wide" (log-spaced e^-2.5 … e^2.5, for probabilities not class-balanced).
    grid: str = "default"


RECIPES: dict[str, Recipe] = {
    "shipped": Recipe(),
    "fine_grid": Recipe(grid="fine"),
    "no_class_weight": Recipe(class_weight=None),
    "equal_buildings": Recipe(building_power=0.0),
    "sqrt_buildings": Recipe(building_power=0.5),
    "extra_features": Recipe(extra=("vapour", "month", "rh_out")),
    "month": Recipe(extra=("month",)),
    "ordinal": Recipe(kind="ordinal", class_weight=None, grid="wide"),
    # Columns 0 and 5 are indoor_c and above_adaptive_neutral_c.
    "ordinal_mono": Recipe(kind="ordinal", class_weight=None, grid="wide", decreasing=(0, 5)),
    "building_context": Recipe(extra=("building_context",)),
    # The property's country (one-hot, countries with at least 5 buildings in the metadata).
    "country": Recipe(extra=("country",)),
    "country_fine_grid": Recipe(extra=("country",), grid="fine"),
    "unlabelled_sensation": Recipe(unlabelled_weight=1.0),
    # Ceiling checks with inputs a hotel room does NOT have: how far would they get?
    "survey_inputs": Recipe(extra=("survey_inputs",)),
    "survey_inputs_and_sensation": Recipe(extra=("survey_inputs", "sensation")),
    # Not the goal's setting (the person has told us once before): what one earlier answer
    # from the same person adds, i.e. what the agent's learn-from-changes loop can draw on.
    "previous_vote": Recipe(extra=("previous_vote",)),
    "ordinal_mono_big": Recipe(
        kind="ordinal",
        class_weight=None,
        grid="wide",
        decreasing=(0, 5),
        leaves=15,
        min_leaf=300,
        iterations=200,
    ),
}


def extra_columns(frame: pd.DataFrame, names: tuple[str, ...]) -> FloatArray:
    def num(col: str) -> FloatArray:
        if col not in frame:
            return np.full(len(frame), np.nan)
        return np.asarray(pd.to_numeric(frame[col], errors="coerce"), dtype=np.float64)

    cols: list[FloatArray] = []
    if "vapour" in names:  # vapour pressure (kPa): humidity as the body feels it
        ta = num("ta")
        cols.append(num("rh") / 100 * 0.6108 * np.exp(17.27 * ta / (ta + 237.3)))
    if "month" in names:
        stamps = frame["timestamp"] if "timestamp" in frame else pd.Series([None] * len(frame))
        month = np.asarray(pd.to_datetime(stamps, errors="coerce", utc=True).dt.month, np.float64)
        cols += [np.cos(2 * np.pi * month / 12), np.sin(2 * np.pi * month / 12)]
    if "rh_out" in names:
        cols.append(np.where(np.isnan(num("rh_out_isd")), num("rh_out"), num("rh_out_isd")))
    if "building_context" in names:
        # What the property knows of itself: its usual indoor temperature and humidity (the
        # building's mean over its survey rows; features only, never labels) and the row's
        # distance from it. Every building lies wholly in one fold, so nothing crosses.
        by = pd.Series(num("building_id")).fillna(-1)
        indoor = pd.Series(num("ta"))
        usual = indoor.groupby(by).transform("mean").to_numpy()
        cols += [
            usual,
            indoor.to_numpy() - usual,
            indoor.groupby(by).transform("std").fillna(0.0).to_numpy(),
            pd.Series(num("rh")).groupby(by).transform("mean").to_numpy(),
        ]
    if "country" in names:
        cols.append(country_columns(frame))
    if "survey_inputs" in names:
        cols += [num(c) for c in ("clo", "met", "vel", "tr", "pmv")]
    if "sensation" in names:
        cols.append(num("thermal_sensation"))
    if "previous_vote" in names:
        cols += list(previous_vote(frame).T)
    return np.column_stack(cols) if cols else np.zeros((len(frame), 0))


def country_columns(frame: pd.DataFrame, data_dir: Path = DEFAULT_DATA_DIR) -> FloatArray:
    """One-hot of the building's country (metadata), for countries with ≥ 5 buildings."""
    meta = pd.read_csv(data_dir / METADATA, usecols=["building_id", "country"])
    per_country = meta.groupby("country").size()
    countries = sorted(per_country[per_country >= 5].index)
    row = frame[["building_id"]].merge(meta, on="building_id", how="left")["country"]
    return np.column_stack([(row == c).to_numpy(np.float64) for c in countries])


def previous_vote(frame: pd.DataFrame) -> FloatArray:
    """One-hot (cooler, no change, warmer) of the same person's previous vote in record
    order; all zero for a first vote or an unknown person. Only earlier rows are read, so a
    row never sees its own label."""
    out = np.zeros((len(frame), 3))
    if "subject_id" not in frame or "thermal_preference" not in frame:
        return out
    rows = pd.DataFrame(
        {
            "person": frame.get("building_id", pd.Series([""] * len(frame))).astype(str)
            + ":"
            + frame["subject_id"].astype(str),
            "order": pd.to_numeric(frame.get("index", pd.Series(range(len(frame)))), "coerce"),
            "vote": frame["thermal_preference"].map({c: i for i, c in enumerate(CLASSES)}),
            "row": np.arange(len(frame)),
        }
    )[frame["subject_id"].notna().to_numpy()]
    rows = rows.sort_values(["person", "order"], kind="stable")
    before = rows.groupby("person")["vote"].shift(1)
    seen = before.notna().to_numpy()
    out[rows["row"].to_numpy()[seen], before[seen].astype(int).to_numpy()] = 1.0
    return out


def _hgb(r: Recipe, n_features: int, class_weight: str | None) -> HistGradientBoostingClassifier:
    mono = [-1 if i in r.decreasing else 0 for i in range(n_features)] if r.decreasing else None
    return HistGradientBoostingClassifier(
        max_iter=r.iterations,
        learning_rate=0.05,
        max_leaf_nodes=r.leaves,
        min_samples_leaf=r.min_leaf,
        l2_regularization=1.0,
        class_weight=class_weight,
        monotonic_cst=mono,
        early_stopping=False,
        random_state=0,
    )


@dataclass(frozen=True)
class SoftRows:
    """Rows without a preference vote, each with soft labels P(cooler, no change, warmer)."""

    x: FloatArray
    p: FloatArray


def load_unlabelled(data_dir: Path = DEFAULT_DATA_DIR) -> tuple[Dataset, FloatArray]:
    """Rows with a sensation vote but no preference vote, and their rounded sensation."""
    df = pd.read_csv(data_dir / MEASUREMENTS, low_memory=False)
    meta = pd.read_csv(data_dir / METADATA)[["building_id", "climate", "cooling_type"]]
    df = df[df["thermal_preference"].isna() & df["thermal_sensation"].notna()]
    df = df.drop(columns=[c for c in ("climate", "cooling_type") if c in df.columns])
    df = df.merge(meta, on="building_id", how="left")
    df = df[np.isfinite(pd.to_numeric(df["ta"], errors="coerce"))].reset_index(drop=True)
    sensation = np.clip(np.round(pd.to_numeric(df["thermal_sensation"]).to_numpy()), -3, 3)
    df["thermal_preference"] = CLASSES[1]  # placeholder: these rows are trained on soft labels
    return dataset_from_frame(df), sensation


def soft_labels(sensation: FloatArray, y: IntArray, sensation_unlabelled: FloatArray) -> FloatArray:
    """P(preference | rounded sensation), counted on labelled training rows only."""
    out = np.full((sensation_unlabelled.shape[0], 3), 1.0 / 3.0)
    for s in np.unique(sensation_unlabelled):
        seen = y[np.round(sensation) == s]
        if seen.size:
            out[sensation_unlabelled == s] = np.bincount(seen, minlength=3) / seen.size
    return out


def _with_soft_rows(
    x: FloatArray, y: IntArray, soft: SoftRows, weight: float
) -> tuple[FloatArray, IntArray, FloatArray]:
    """Each soft row three times (once per class, weighted by its probability), then every
    class balanced by its total weight as `class_weight="balanced"` would."""
    n = soft.x.shape[0]
    xs = np.vstack([x, soft.x, soft.x, soft.x])
    ys = np.concatenate([y, np.zeros(n, np.int64), np.ones(n, np.int64), np.full(n, 2)])
    ws = np.concatenate([np.ones(len(y)), weight * soft.p.T.reshape(-1)])
    per_class = np.bincount(ys, weights=ws, minlength=3)
    ws = ws * (ws.sum() / (3 * per_class))[ys]
    return xs, ys, ws / ws.mean()


def fit_predict(
    r: Recipe,
    x: FloatArray,
    y: IntArray,
    groups: IntArray,
    x_test: FloatArray,
    soft: SoftRows | None = None,
) -> FloatArray:
    """Class probabilities (cooler, no change, warmer) for x_test."""
    if soft is not None and r.unlabelled_weight > 0:
        xs, ys, ws = _with_soft_rows(x, y, soft, r.unlabelled_weight)
        model = _hgb(r, x.shape[1], None).fit(xs, ys, sample_weight=ws)
        return np.asarray(model.predict_proba(x_test), dtype=np.float64)
    if r.kind == "ordinal":
        ge1 = _hgb(r, x.shape[1], r.class_weight).fit(x, (y >= 1).astype(np.int64))
        ge2 = _hgb(r, x.shape[1], r.class_weight).fit(x, (y >= 2).astype(np.int64))
        p1 = ge1.predict_proba(x_test)[:, 1]
        p2 = np.minimum(ge2.predict_proba(x_test)[:, 1], p1)
        return np.asarray(np.clip(np.column_stack([1 - p1, p1 - p2, p2]), 1e-6, 1.0), np.float64)
    if r.building_power == 1.0:
        model = _hgb(r, x.shape[1], r.class_weight).fit(x, y)
    else:
        _, inverse, count = np.unique(groups, return_inverse=True, return_counts=True)
        weight = count[inverse] ** (r.building_power - 1.0)
        weight = weight * (len(y) / (3 * np.bincount(y, minlength=3)))[y]
        model = _hgb(r, x.shape[1], None).fit(x, y, sample_weight=weight / weight.mean())
    return np.asarray(model.predict_proba(x_test), dtype=np.float64)


def wide_weights(probabilities: FloatArray, y: IntArray) -> Weights:
    """choose_weights on a log-spaced grid: un-balanced probabilities need weights > 2.5."""
    return _grid_weights(probabilities, y, np.exp(np.arange(-2.5, 2.51, 0.1)))


def fine_weights(probabilities: FloatArray, y: IntArray) -> Weights:
    return _grid_weights(probabilities, y, np.round(np.arange(0.3, 4.0, 0.05), 2))


def _grid_weights(probabilities: FloatArray, y: IntArray, grid: FloatArray) -> Weights:
    best: tuple[float, Weights] = (-np.inf, (1.0, 1.0, 1.0))
    for a in grid:
        for b in grid:
            w = (float(a), 1.0, float(b))
            s = scores(y, decide(probabilities, w))
            if s.macro_f1 + s.kappa > best[0]:
                best = (s.macro_f1 + s.kappa, w)
    return best[1]


def nested_cv(ds: Dataset, r: Recipe) -> tuple[IntArray, list[Weights]]:
    """Out-of-fold class predictions for every row, and the weights each outer fold chose."""
    choose: Callable[[FloatArray, IntArray], Weights] = {
        "default": choose_weights,
        "fine": fine_weights,
        "wide": wide_weights,
    }[r.grid]
    pred = np.zeros(len(ds), dtype=np.int64)
    fold_weights: list[Weights] = []
    unlabelled = load_unlabelled() if r.unlabelled_weight > 0 else None

    def features(d: Dataset, spec: FeatureSpec) -> FloatArray:
        return np.column_stack([encode(d.raw, spec), extra_columns(d.frame, r.extra)])

    for tr, te in GroupKFold(5).split(ds.y, ds.y, ds.groups):
        train_ds, test_ds = ds.subset(tr), ds.subset(te)
        spec = FeatureSpec(impute=imputation_for(train_ds.raw))
        x, x_te = features(train_ds, spec), features(test_ds, spec)
        soft = None
        if unlabelled is not None:
            u, u_sensation = unlabelled
            sensation = pd.to_numeric(train_ds.frame["thermal_sensation"], errors="coerce")
            p = soft_labels(sensation.to_numpy(np.float64), train_ds.y, u_sensation)
            soft = SoftRows(features(u, spec), p)
        oof = np.zeros((len(tr), 3))
        for itr, ite in GroupKFold(3).split(x, train_ds.y, train_ds.groups):
            oof[ite] = fit_predict(r, x[itr], train_ds.y[itr], train_ds.groups[itr], x[ite], soft)
        w = choose(oof, train_ds.y)
        fold_weights.append(w)
        p = fit_predict(r, x, train_ds.y, train_ds.groups, x_te, soft)
        pred[te] = decide(p, w)
    return pred, fold_weights


def report(name: str, ds: Dataset, r: Recipe, pred: IntArray, weights: list[Weights]) -> str:
    """The printed line; a recipe fed the previous vote also shows the rows that have one
    (the card's subset figure)."""

    def line(s: Scores) -> str:
        return (
            f"macro-F1 {s.macro_f1:.3f} κ {s.kappa:.3f} accuracy {s.accuracy:.3f} "
            f"recall {[round(v, 3) for v in s.recall.values()]}"
        )

    out = f"{name}: {line(scores(ds.y, pred))}"
    if "previous_vote" in r.extra:
        has = previous_vote(ds.frame).any(axis=1)
        out += (
            f"; rows with a previous vote ({int(has.sum())}): {line(scores(ds.y[has], pred[has]))}"
        )
    return out + f" weights {[tuple(round(v, 2) for v in fw) for fw in weights]}"


def main(argv: list[str]) -> int:
    if not argv or any(a not in RECIPES for a in argv):
        print("recipes:", ", ".join(RECIPES))
        return 0 if not argv else 2
    ds = load_dataset(DEFAULT_DATA_DIR)
    with threadpool_limits(limits=1):
        for name in argv:
            t0 = time.monotonic()
            pred, w = nested_cv(ds, RECIPES[name])
            print(
                f"{report(name, ds, RECIPES[name], pred, w)} ({time.monotonic() - t0:.0f} s)",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
