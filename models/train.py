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

from agent.comfort.advisor import ComfortAdvisor
from agent.comfort.features import (
    CLASSES,
    FeatureSpec,
    Imputation,
    RawFeatures,
    encode,
    without_context,
)
from agent.comfort.runtime import ComfortModel
from models.baselines import always_no_change, pmv_rule
from models.calibration import Scaling, brier, ece, fit_scaling, reliability
from models.data import Dataset
from models.export import Layer, mlp_to_tflite
from models.metrics import Scores, choose_weights, decide, scores
from models.personal import personal_table, replay

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
    # Context masking: the teacher also learns from a copy of every row with the climate,
    # the cooling type or both hidden, and the distillation set hides each at this rate, so
    # a room that does not know them is still served (issue 19).
    context_drop: float = 0.5
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Student:
    layers: list[Layer]

    def logits(self, x: npt.NDArray[np.float32]) -> FloatArray:
        h = x.astype(np.float64)
        for i, (w, b) in enumerate(self.layers):
            h = h @ w.astype(np.float64) + b.astype(np.float64)
            if i < len(self.layers) - 1:
                h = np.maximum(h, 0.0)
        return h

    def predict_proba(self, x: npt.NDArray[np.float32]) -> FloatArray:
        """The reference forward pass (float64) the .tflite must match."""
        h = self.logits(x)
        h = h - h.max(axis=1, keepdims=True)
        e = np.exp(h)
        return np.asarray(e / e.sum(axis=1, keepdims=True), dtype=np.float64)

    def scaled(self, scaling: Scaling) -> Student:
        """The same network with the calibration folded into its last layer."""
        w, b = scaling.fold(*self.layers[-1])
        return Student([*self.layers[:-1], (w, b)])


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


def masked_copy(raw: RawFeatures, seed: int) -> RawFeatures:
    """Every row once more with the climate, the cooling type or both unknown (a third each)."""
    which = np.random.default_rng(seed).integers(0, 3, raw.indoor_c.shape[0])
    return without_context(raw, climate=which != 1, cooling=which != 0)


def fit_masked_teacher(
    raw: RawFeatures, y: npt.NDArray[np.int64], spec: FeatureSpec, cfg: TrainConfig
) -> Any:
    """The teacher on the rows as they are plus their masked copy."""
    x = np.vstack([encode(raw, spec), encode(masked_copy(raw, cfg.seed), spec)])
    return fit_teacher(x, np.concatenate([y, y]), cfg)


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
    drop_climate = rng.random(n) < cfg.context_drop
    drop_cooling = rng.random(n) < cfg.context_drop
    raw = without_context(raw, climate=drop_climate, cooling=drop_cooling)
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


_WITHHOLD = TrainConfig(ta_jitter_c=0.0, consent_drop=1.0, context_drop=0.0)
# What the room may not know about its property: (climate unknown, cooling type unknown).
SETTINGS: dict[str, tuple[bool, bool]] = {
    "given": (False, False),
    "climate unknown": (True, False),
    "cooling unknown": (False, True),
    "both unknown": (True, True),
}


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


def _pooled(logits: dict[str, FloatArray], y: npt.NDArray[np.int64], rows: Any) -> Scaling:
    """Calibration fitted on held-out predictions, with and without the context, so the
    probabilities mean what they say whatever the room knows."""
    z = np.vstack([logits["given"][rows], logits["both unknown"][rows]])
    return fit_scaling(z, np.concatenate([y[rows], y[rows]]))


def calibration_report(
    raw_probs: FloatArray, calibrated: dict[str, FloatArray], y: npt.NDArray[np.int64]
) -> dict[str, Any]:
    return {
        "uncalibrated": {
            "ece": ece(raw_probs, y),
            "brier": brier(raw_probs, y),
            "reliability": reliability(raw_probs, y),
        },
        **{
            f"calibrated, context {name}": {
                "ece": ece(p, y),
                "brier": brier(p, y),
                "reliability": reliability(p, y),
            }
            for name, p in calibrated.items()
        },
    }


def cross_validate(ds: Dataset, cfg: TrainConfig) -> dict[str, Any]:
    """Nested building-grouped CV of the whole recipe. For each outer fold the calibration
    and the decision weights are fitted on the OTHER folds' held-out predictions, so every
    figure is on buildings that chose nothing. Scores the student (with each context
    setting), the teacher, both baselines, the calibration, and the personal learner replayed
    through the agent's own advisor."""
    n = len(ds)
    folds = list(GroupKFold(cfg.outer_folds).split(ds.y, ds.y, ds.groups))
    logits = {name: np.zeros((n, 3)) for name in SETTINGS}
    withheld_logits = np.zeros((n, 3))
    teacher_probs = np.zeros((n, 3))
    students: list[tuple[Student, FeatureSpec]] = []
    for tr, te in folds:
        train_ds, test_ds = ds.subset(tr), ds.subset(te)
        spec = FeatureSpec(impute=imputation_for(train_ds.raw))
        teacher = fit_masked_teacher(train_ds.raw, train_ds.y, spec, cfg)
        student = distil(teacher, train_ds, spec, cfg)
        for name, (climate, cooling) in SETTINGS.items():
            masked = without_context(test_ds.raw, climate=climate, cooling=cooling)
            logits[name][te] = student.logits(encode(masked, spec))
        # The same people as if they had not consented: what the room does without age/gender.
        withheld = _augment(test_ds.raw, np.random.default_rng(0), _WITHHOLD)
        withheld_logits[te] = student.logits(encode(withheld, spec))
        teacher_probs[te] = teacher.predict_proba(encode(test_ds.raw, spec))
        students.append((student, spec))

    pred = {name: np.zeros(n, dtype=np.int64) for name in SETTINGS}
    calibrated = {name: np.zeros((n, 3)) for name in SETTINGS}
    withheld_pred = np.zeros(n, dtype=np.int64)
    teacher_pred = np.zeros(n, dtype=np.int64)
    earlier = np.full(n, -1, dtype=np.int64)
    personal = np.zeros(n, dtype=np.int64)
    population = np.zeros(n, dtype=np.int64)
    last_vote = np.zeros(n, dtype=np.int64)
    fold_weights, fold_scaling = [], []
    for (tr, te), (student, spec) in zip(folds, students, strict=True):
        scaling = _pooled(logits, ds.y, tr)
        w = choose_weights(scaling.apply(logits["given"][tr]), ds.y[tr])
        fold_weights.append(w)
        fold_scaling.append(asdict(scaling))
        for name in SETTINGS:
            calibrated[name][te] = scaling.apply(logits[name][te])
            pred[name][te] = decide(calibrated[name][te], w)
        withheld_pred[te] = decide(scaling.apply(withheld_logits[te]), w)
        teacher_pred[te] = decide(teacher_probs[te], choose_weights(teacher_probs[tr], ds.y[tr]))
        # Personal: the fold's calibrated student as a .tflite in the agent's own advisor.
        fold_spec = spec.model_copy(update={"decision_weights": w})
        blob = mlp_to_tflite(student.scaled(scaling).layers, fold_spec.model_dump_json())
        result = replay(ComfortAdvisor(ComfortModel.from_bytes(blob)), ds.subset(te))
        earlier[te], personal[te] = result.earlier, result.personal
        population[te], last_vote[te] = result.population, result.last_vote

    pmv = pmv_rule(ds.frame)
    base = always_no_change(n)
    table: dict[str, dict[str, Any]] = {}
    for group, mask in _subgroups(ds).items():
        if not mask.any():
            continue
        table[group] = {
            "student (shipped recipe)": _score_dict(scores(ds.y[mask], pred["given"][mask])),
            "student, age and gender withheld": _score_dict(
                scores(ds.y[mask], withheld_pred[mask])
            ),
            "teacher (gradient boosting)": _score_dict(scores(ds.y[mask], teacher_pred[mask])),
            "PMV rule": _score_dict(scores(ds.y[mask], pmv[mask])),
            'always "no change"': _score_dict(scores(ds.y[mask], base[mask])),
        }
    context = {name: _score_dict(scores(ds.y, pred[name])) for name in SETTINGS} | {
        "PMV rule": _score_dict(scores(ds.y, pmv))
    }
    from models.personal import Replay

    replayed = Replay(
        earlier=earlier, personal=personal, population=population, last_vote=last_vote
    )
    raw_given = np.vstack([Scaling().apply(logits["given"])])
    return {
        "folds": cfg.outer_folds,
        "buildings": int(np.unique(ds.groups).size),
        "fold_weights": fold_weights,
        "fold_scaling": fold_scaling,
        "table": table,
        "context": context,
        "calibration": calibration_report(
            raw_given,
            {"given": calibrated["given"], "both unknown": calibrated["both unknown"]},
            ds.y,
        ),
        "personal": personal_table(ds.y, replayed),
        "persons": int((earlier == 0).sum()),
        # Kept for the final fit (not written to comfort.json).
        "_logits": logits,
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
    scaling = Scaling()
    if report:
        # Shipped calibration and decision weights: fitted on every fold's held-out buildings.
        logits = report.pop("_logits")
        scaling = _pooled(logits, ds.y, slice(None))
        weights = choose_weights(scaling.apply(logits["given"]), ds.y)
        context = {
            name: (round(s["macro_f1"], 3), round(s["kappa"], 3))
            for name, s in report["context"].items()
        }
        spec = spec.model_copy(update={"context_scores": context})
    else:
        weights = inner_weights(ds, spec, cfg)
    spec = spec.model_copy(update={"decision_weights": weights})
    teacher = fit_masked_teacher(ds.raw, ds.y, spec, cfg)
    student = distil(teacher, ds, spec, cfg).scaled(scaling)
    blob = mlp_to_tflite(student.layers, spec.model_dump_json())
    meta: dict[str, Any] = {
        "name": "comfort",
        "classes": list(CLASSES),
        "feature_spec": json.loads(spec.model_dump_json()),
        "normalisation": "standardisation folded into the first layer; missing values "
        "replaced by feature_spec.impute and flagged",
        "decision_weights": list(weights),
        "calibration": asdict(scaling),
        "architecture": f"MLP {len(spec.features)}-{'-'.join(map(str, cfg.hidden))}-3, "
        "ReLU, softmax; distilled from gradient boosting; temperature scaling folded into "
        "the last layer",
        "config": asdict(cfg),
        "rows": len(ds),
        "buildings": int(np.unique(ds.groups).size),
        # So `evaluate` can say when a file's buildings were seen in training (in-sample).
        "training_buildings": [int(b) for b in np.unique(ds.groups)],
        "seconds": {"cross_validation": round(t_cv, 1), "total": 0.0},
    }
    meta["seconds"]["total"] = round(time.monotonic() - t0, 1)
    return TrainResult(blob, student, spec, weights, meta, report)
