"""Train the comfort model: a gradient-boosting teacher distilled into a small MLP.

    result = train(load_dataset(data_dir()), TrainConfig())
    result.blob            # the .tflite bytes
    result.meta            # what goes in comfort.json (metrics, spec, hashes)

Evaluation is nested and grouped by building: an outer GroupKFold gives the reported
figures; everything chosen from data (imputation medians, decision weights) is chosen on the
outer-training part only, the weights on inner GroupKFold folds. Hyperparameters are fixed
in TrainConfig. Seeds are fixed, so the same data gives the same bytes.
"""

from __future__ import annotations

import json
import time
import warnings
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GroupKFold
from sklearn.neural_network import MLPRegressor
from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

from agent.comfort.features import CLASSES, FeatureSpec, Imputation, RawFeatures, encode
from models.baselines import always_no_change, pmv_rule
from models.data import Dataset
from models.export import Layer, mlp_to_tflite
from models.metrics import Scores, choose_weights, decide, scores

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class TrainConfig:
    seed: int = 0
    outer_folds: int = 5
    inner_folds: int = 3
    # Teacher: small, heavily regularised trees; bigger ones fit buildings, not people.
    teacher_iter: int = 150
    teacher_lr: float = 0.05
    teacher_leaves: int = 7
    teacher_min_leaf: int = 500
    # Student: what ships.
    hidden: tuple[int, ...] = (32, 16)
    student_alpha: float = 1e-3
    student_iter: int = 60
    # Distillation set: each row once as is and once with the room temperature moved
    # (the agent asks about setpoints the survey never saw) and consent fields dropped.
    ta_jitter_c: float = 3.0
    consent_drop: float = 0.5
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Student:
    layers: list[Layer]

    def predict_proba(self, x: npt.NDArray[np.float32]) -> FloatArray:
        """The reference forward pass (float64) the .tflite must match."""
        h = x.astype(np.float64)
        for i, (w, b) in enumerate(self.layers):
            h = h @ w.astype(np.float64) + b.astype(np.float64)
            if i < len(self.layers) - 1:
                h = np.maximum(h, 0.0)
        h = h - h.max(axis=1, keepdims=True)
        e = np.exp(h)
        return np.asarray(e / e.sum(axis=1, keepdims=True), dtype=np.float64)


@dataclass
class TrainResult:
    blob: bytes
    student: Student
    spec: FeatureSpec
    weights: tuple[float, float, float]
    meta: dict[str, Any]
    report: dict[str, Any]


def imputation_for(raw: RawFeatures) -> Imputation:
    def med(v: FloatArray, default: float) -> float:
        v = v[np.isfinite(v)]
        return round(float(np.median(v)), 3) if v.size else default

    return Imputation(
        rh_pct=med(raw.humidity_pct, 50.0),
        outdoor_c=med(raw.outdoor_c, 20.0),
        running_mean_c=med(raw.running_mean_c, 20.0),
        cooling=med(raw.cooling, 1.0),
    )


def fit_teacher(x: npt.NDArray[np.float32], y: npt.NDArray[np.int64], cfg: TrainConfig) -> Any:
    teacher = HistGradientBoostingClassifier(
        max_iter=cfg.teacher_iter,
        learning_rate=cfg.teacher_lr,
        max_leaf_nodes=cfg.teacher_leaves,
        min_samples_leaf=cfg.teacher_min_leaf,
        l2_regularization=1.0,
        class_weight="balanced",
        early_stopping=False,
        random_state=cfg.seed,
    )
    teacher.fit(x, y)
    return teacher


def inner_weights(ds: Dataset, spec: FeatureSpec, cfg: TrainConfig) -> tuple[float, float, float]:
    """Decision weights from teacher predictions on inner building-grouped folds."""
    x = encode(ds.raw, spec)
    oof = np.zeros((len(ds), 3))
    for tr, te in GroupKFold(cfg.inner_folds).split(x, ds.y, ds.groups):
        oof[te] = fit_teacher(x[tr], ds.y[tr], cfg).predict_proba(x[te])
    return choose_weights(oof, ds.y)


def _augment(raw: RawFeatures, rng: np.random.Generator, cfg: TrainConfig) -> RawFeatures:
    n = raw.indoor_c.shape[0]
    drop_age = rng.random(n) < cfg.consent_drop
    drop_gender = rng.random(n) < cfg.consent_drop
    return RawFeatures(
        indoor_c=raw.indoor_c + rng.uniform(-cfg.ta_jitter_c, cfg.ta_jitter_c, n),
        humidity_pct=raw.humidity_pct,
        outdoor_c=raw.outdoor_c,
        running_mean_c=raw.running_mean_c,
        season=raw.season,
        koppen=raw.koppen,
        cooling=raw.cooling,
        age_band=np.where(drop_age, -1, raw.age_band),
        gender=np.where(drop_gender, -1, raw.gender),
    )


def distil(teacher: Any, ds: Dataset, spec: FeatureSpec, cfg: TrainConfig) -> Student:
    rng = np.random.default_rng(cfg.seed)
    x = np.vstack([encode(ds.raw, spec), encode(_augment(ds.raw, rng, cfg), spec)])
    logp = np.log(np.clip(teacher.predict_proba(x), 1e-6, 1.0))
    target = logp - logp.mean(axis=1, keepdims=True)
    mean = x.mean(axis=0).astype(np.float64)
    scale = x.std(axis=0).astype(np.float64)
    scale[scale < 1e-6] = 1.0
    net = MLPRegressor(
        hidden_layer_sizes=cfg.hidden,
        alpha=cfg.student_alpha,
        max_iter=cfg.student_iter,
        batch_size=256,
        learning_rate_init=2e-3,
        early_stopping=True,
        n_iter_no_change=6,
        random_state=cfg.seed,
    )
    with warnings.catch_warnings():
        # Stopping at student_iter is the time budget, not a failure: the student is scored
        # against held-out buildings like everything else.
        warnings.simplefilter("ignore", ConvergenceWarning)
        net.fit((x - mean) / scale, target)
    # Fold the standardisation into the first layer so the file takes raw features.
    w0 = net.coefs_[0] / scale[:, None]
    b0 = net.intercepts_[0] - (mean / scale) @ net.coefs_[0]
    layers: list[Layer] = [(w0.astype(np.float32), b0.astype(np.float32))]
    layers += [
        (w.astype(np.float32), b.astype(np.float32))
        for w, b in zip(net.coefs_[1:], net.intercepts_[1:], strict=True)
    ]
    return Student(layers)


_WITHHOLD = TrainConfig(ta_jitter_c=0.0, consent_drop=1.0)


def _subgroups(ds: Dataset) -> dict[str, npt.NDArray[np.bool_]]:
    r = ds.raw
    return {
        "all rows": np.ones(len(ds), dtype=bool),
        "outdoor temperature known": np.isfinite(r.outdoor_c),
        "gender female": r.gender == 0,
        "gender male": r.gender == 1,
        "gender not given": r.gender == -1,
        "age <30": r.age_band == 0,
        "age 30-50": r.age_band == 1,
        "age >50": r.age_band == 2,
        "age not given": r.age_band == -1,
    }


def _score_dict(s: Scores) -> dict[str, Any]:
    return asdict(s)


def cross_validate(ds: Dataset, cfg: TrainConfig) -> dict[str, Any]:
    """Nested building-grouped CV of the whole recipe; returns out-of-fold predictions and
    scores for student, teacher and both baselines."""
    student_pred = np.zeros(len(ds), dtype=np.int64)
    withheld_pred = np.zeros(len(ds), dtype=np.int64)
    teacher_pred = np.zeros(len(ds), dtype=np.int64)
    fold_weights = []
    for tr, te in GroupKFold(cfg.outer_folds).split(ds.y, ds.y, ds.groups):
        train_ds, test_ds = ds.subset(tr), ds.subset(te)
        spec = FeatureSpec(impute=imputation_for(train_ds.raw))
        w = inner_weights(train_ds, spec, cfg)
        fold_weights.append(w)
        teacher = fit_teacher(encode(train_ds.raw, spec), train_ds.y, cfg)
        student = distil(teacher, train_ds, spec, cfg)
        x_te = encode(test_ds.raw, spec)
        student_pred[te] = decide(student.predict_proba(x_te), w)
        # The same people as if they had not consented: what the room does without age/gender.
        withheld = encode(_augment(test_ds.raw, np.random.default_rng(0), _WITHHOLD), spec)
        withheld_pred[te] = decide(student.predict_proba(withheld), w)
        teacher_pred[te] = decide(teacher.predict_proba(x_te), w)
    pmv = pmv_rule(ds.frame)
    base = always_no_change(len(ds))
    table: dict[str, dict[str, Any]] = {}
    for name, mask in _subgroups(ds).items():
        if not mask.any():
            continue
        table[name] = {
            "student (shipped recipe)": _score_dict(scores(ds.y[mask], student_pred[mask])),
            "student, age and gender withheld": _score_dict(
                scores(ds.y[mask], withheld_pred[mask])
            ),
            "teacher (gradient boosting)": _score_dict(scores(ds.y[mask], teacher_pred[mask])),
            "PMV rule": _score_dict(scores(ds.y[mask], pmv[mask])),
            'always "no change"': _score_dict(scores(ds.y[mask], base[mask])),
        }
    return {
        "folds": cfg.outer_folds,
        "inner_folds": cfg.inner_folds,
        "buildings": int(np.unique(ds.groups).size),
        "fold_weights": fold_weights,
        "table": table,
    }


def train(ds: Dataset, cfg: TrainConfig, *, evaluate: bool = True) -> TrainResult:
    # One thread: on a shared 2-core machine OpenMP/BLAS threads spin against other
    # processes and a 4 s tree fit becomes 40 s; one thread is also what makes runs repeatable.
    with threadpool_limits(limits=1):
        return _train(ds, cfg, evaluate=evaluate)


def _train(ds: Dataset, cfg: TrainConfig, *, evaluate: bool) -> TrainResult:
    t0 = time.monotonic()
    report = cross_validate(ds, cfg) if evaluate else {}
    t_cv = time.monotonic() - t0
    spec = FeatureSpec(impute=imputation_for(ds.raw))
    weights = inner_weights(ds, spec, cfg)
    spec = spec.model_copy(update={"decision_weights": weights})
    teacher = fit_teacher(encode(ds.raw, spec), ds.y, cfg)
    student = distil(teacher, ds, spec, cfg)
    blob = mlp_to_tflite(student.layers, spec.model_dump_json())
    meta: dict[str, Any] = {
        "name": "comfort",
        "classes": list(CLASSES),
        "feature_spec": json.loads(spec.model_dump_json()),
        "normalisation": "standardisation folded into the first layer; missing values "
        "replaced by feature_spec.impute and flagged",
        "decision_weights": list(weights),
        "architecture": f"MLP {len(spec.features)}-{'-'.join(map(str, cfg.hidden))}-3, "
        "ReLU, softmax; distilled from gradient boosting",
        "config": asdict(cfg),
        "rows": len(ds),
        "buildings": int(np.unique(ds.groups).size),
        # So `evaluate` can say when a file's buildings were seen in training (in-sample).
        "training_buildings": [int(b) for b in np.unique(ds.groups)],
        "seconds": {"cross_validation": round(t_cv, 1), "total": 0.0},
    }
    meta["seconds"]["total"] = round(time.monotonic() - t0, 1)
    return TrainResult(blob, student, spec, weights, meta, report)
