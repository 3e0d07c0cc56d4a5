"""Is the personal goal reachable with this data? (Issue 19: on votes with at least one
earlier vote from the same person, accuracy ≥ 0.70, macro-F1 ≥ 0.65, κ ≥ 0.46.) Not shipped;
re-runnable:

    ./dev python -m models.personal_ceiling [--cache FILE] [--boosting]

`--cache FILE` keeps the out-of-fold population probabilities (.npz) and reuses them when the
file exists (the teacher fits are the slow part); `--boosting` adds gradient-boosted heads
(same figures as the logistic ones within 0.005 in development, several times slower).

Every figure is on the same votes (a person is `building_id:subject_id`, in replay order,
`models.personal.vote_order`), with the population model's probabilities out-of-fold from a
masked-context teacher fitted with building-grouped 5-fold CV, so no building (hence no
person: a person id belongs to one building) is ever in both the fitting and the scored fold.
Learned heads are fitted on the other folds' votes; their decision weights are chosen on an
inner building-grouped split of those folds (honest), except where a line says otherwise.

1. Baselines: the population model; repeating the person's last vote; the shipped learner
   (the agent's own `learn_vote` / `personal_probabilities`).
2. Online learners that use only the person's EARLIER votes:
   - a per-class logit bias learned by online gradient steps against the population model in
     the room (a Bayesian-style update with the population as prior), with a per-vote decay,
     its constants chosen on even-numbered buildings and scored on odd ones, and with a
     per-person temperature slope (the person's "thermal offset" as a shift of how the
     population's odds move with the room);
   - learned heads across people: population log-probabilities, decayed vote shares and count,
     the last vote, the change in room temperature since it (and its product with the last
     vote), days since it, residuals against the population, the room's temperature relative
     to the mean at the person's earlier votes of each class, the change of the population's
     log-odds since the last vote.
3. Hindsight ceilings that know what no room can: ALL the person's other votes, the future
   included (leave-one-out), as their majority, as a head over the same kinds of features plus
   both neighbouring votes and the temperature change to each, or as a per-person model (the
   population's log-odds plus the person's class bias and temperature slope, MAP-fitted on
   those votes); and, leaky, the per-person majority and the per-person model fitted on all
   votes INCLUDING the scored one.
4. For the online and hindsight heads, the best accuracy any decision weights reach, and the
   best accuracy with macro-F1 ≥ 0.65 and κ ≥ 0.46 at the same time (weights chosen on the
   scored votes: optimistic).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GroupKFold
from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

from agent.comfort.features import FeatureSpec, encode
from agent.comfort.learner import learn_vote, personal_probabilities
from models.data import DEFAULT_DATA_DIR, Dataset, load_dataset
from models.metrics import Scores, choose_weights, decide, scores
from models.personal import vote_order
from models.train import TrainConfig, fit_masked_teacher, imputation_for
from sync.wire import ComfortOffset

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
Factory = Callable[[], Any]
SIGN = np.array([1.0, 0.0, -1.0])  # a warmer room pushes towards "cooler"


def _line(name: str, s: Scores) -> str:
    return f"{name:72s} accuracy {s.accuracy:.3f}  macro-F1 {s.macro_f1:.3f}  κ {s.kappa:.3f}"


def _oof(ds: Dataset) -> tuple[FloatArray, IntArray]:
    oof = np.zeros((len(ds), 3))
    fold = np.zeros(len(ds), dtype=np.int64)
    for k, (tr, te) in enumerate(GroupKFold(5).split(ds.y, ds.y, ds.groups)):
        train_ds = ds.subset(tr)
        spec = FeatureSpec(impute=imputation_for(train_ds.raw))
        teacher = fit_masked_teacher(train_ds.raw, train_ds.y, spec, TrainConfig())
        oof[te] = teacher.predict_proba(encode(ds.subset(te).raw, spec))
        fold[te] = k
    return oof, fold


class Votes:
    """The replay order and everything the checks read, computed once."""

    def __init__(self, ds: Dataset, oof: FloatArray, fold: IntArray) -> None:
        self.y, self.groups, self.ta, self.oof, self.fold = (
            ds.y,
            ds.groups,
            ds.raw.indoor_c,
            oof,
            fold,
        )
        self.logp = np.log(np.clip(oof, 1e-6, 1.0))
        self.rows, self.same, self.times = vote_order(ds.frame)
        self.person = np.cumsum(~self.same)
        stamp = pd.to_datetime(ds.frame["timestamp"], errors="coerce", utc=True)
        self.stamp = stamp.to_numpy()
        self.pop_w = {k: choose_weights(oof[fold != k], self.y[fold != k]) for k in range(5)}
        self.scored = self.rows[self.same]  # votes with at least one earlier vote

    def decide_pop(self, p: FloatArray, r: int) -> int:
        return int(decide(p[None, :], self.pop_w[int(self.fold[r])])[0])

    def gap_days(self, a: int, b: int) -> float:
        if pd.isna(self.stamp[a]) or pd.isna(self.stamp[b]):
            return float("nan")
        return float((self.stamp[a] - self.stamp[b]) / np.timedelta64(1, "D"))


def shipped_learner(v: Votes) -> IntArray:
    pred: dict[int, int] = {}
    state = ComfortOffset()
    for j, r in enumerate(v.rows):
        if not v.same[j]:
            state = ComfortOffset()
        else:
            p = personal_probabilities(v.oof[r][None, :], state, v.times[j])[0]
            pred[int(r)] = v.decide_pop(p, int(r))
        state = learn_vote(state, int(v.y[r]), v.times[j])
    return np.asarray([pred[int(r)] for r in v.scored], dtype=np.int64)


def online_bias(v: Votes, step: float, decay: float, slope_step: float = 0.0) -> IntArray:
    """Per-class logit bias (and optionally a temperature slope) by online gradient steps;
    the earlier bias keeps `decay` of its weight at each vote."""
    pred: dict[int, int] = {}
    b, s, t0 = np.zeros(3), 0.0, 0.0
    for j, r in enumerate(v.rows):
        if not v.same[j]:
            b, s, t0 = np.zeros(3), 0.0, float(v.ta[r])
        z = v.logp[r] + b + s * (v.ta[r] - t0) * SIGN
        p = np.exp(z - z.max())
        p /= p.sum()
        if v.same[j]:
            pred[int(r)] = v.decide_pop(p, int(r))
        g = np.eye(3)[v.y[r]] - p
        b = decay * b + step * g
        s = s + slope_step * float(g @ SIGN) * (v.ta[r] - t0)
    return np.asarray([pred[int(r)] for r in v.scored], dtype=np.int64)


def online_features(v: Votes, decay: float = 0.7) -> FloatArray:
    """One row per scored vote from the person's EARLIER votes only."""
    out = []
    counts, resid, tsum, tw = np.zeros(3), np.zeros(3), np.zeros(3), np.zeros(3)
    prev = -1
    for j, r in enumerate(v.rows):
        if not v.same[j]:
            counts, resid, tsum, tw = np.zeros(3), np.zeros(3), np.zeros(3), np.zeros(3)
        else:
            counts, resid, tsum, tw = counts * decay, resid * decay, tsum * decay, tw * decay
            last = np.eye(3)[v.y[prev]]
            dta = v.ta[r] - v.ta[prev]
            gap = v.gap_days(r, prev)
            known = not np.isnan(gap)
            share = (counts + 0.5) / (counts.sum() + 1.5)
            rel = np.where(tw > 0, v.ta[r] - tsum / np.maximum(tw, 1e-9), 0.0)
            out.append(
                np.r_[
                    v.logp[r],
                    np.log(share * 3),
                    np.log1p(counts.sum()),
                    last,
                    dta * last,
                    dta,
                    float(known and gap == 0) * np.r_[1.0, last],
                    float(not known),
                    np.log1p(max(gap, 0.0)) if known else 0.0,
                    resid / counts.sum(),
                    rel,
                    (tw > 0).astype(float),
                    v.logp[r] - v.logp[prev],
                ]
            )
        resid += np.eye(3)[v.y[r]] - v.oof[r]
        counts[v.y[r]] += 1.0
        tsum[v.y[r]] += v.ta[r]
        tw[v.y[r]] += 1.0
        prev = int(r)
    return np.nan_to_num(np.asarray(out, dtype=np.float64))


def hindsight_features(v: Votes) -> tuple[FloatArray, IntArray]:
    """Features from ALL the person's other votes (leave-one-out, the future included), and
    their majority (ties: the population model)."""
    members: dict[int, list[int]] = {}
    for j, _ in enumerate(v.rows):
        members.setdefault(int(v.person[j]), []).append(j)
    feats, majority = [], []
    for j in map(int, np.flatnonzero(v.same)):
        r = int(v.rows[j])
        mine = members[int(v.person[j])]
        others = np.asarray([v.rows[m] for m in mine if m != j])
        c = np.bincount(v.y[others], minlength=3).astype(float)
        top = np.flatnonzero(c == c.max())
        majority.append(int(top[0]) if len(top) == 1 else v.decide_pop(v.oof[r], r))
        mean_t = np.array(
            [v.ta[others[v.y[others] == k]].mean() if c[k] else np.nan for k in range(3)]
        )
        at = mine.index(j)
        near = []
        for m in (at - 1, at + 1):
            if 0 <= m < len(mine):
                o = v.rows[mine[m]]
                one = np.eye(3)[v.y[o]]
                near.append(np.r_[one, (v.ta[r] - v.ta[o]) * one, 1.0])
            else:
                near.append(np.zeros(7))
        share = (c + 0.5) / (c.sum() + 1.5)
        feats.append(
            np.r_[
                v.logp[r],
                np.log(share * 3),
                np.log1p(c.sum()),
                np.nan_to_num(v.ta[r] - mean_t),
                ~np.isnan(mean_t),
                (np.eye(3)[v.y[others]] - v.oof[others]).mean(axis=0),
                near[0],
                near[1],
            ]
        )
    return np.nan_to_num(np.asarray(feats)), np.asarray(majority, dtype=np.int64)


def per_person_fit(v: Votes, *, slope: bool, sd: float, include_self: bool) -> IntArray:
    """Hindsight per-person model: the population's log-odds plus the person's own class bias
    (and temperature slope, as a shift of the odds with the room), fitted by MAP with a
    Gaussian prior (sd) on ALL the person's other votes — future included — or, leaky, on all
    of them including the scored one. The room is measured relative to the scored vote's, so
    the prediction is the population plus the person's bias at that temperature."""
    members: dict[int, list[int]] = {}
    for j, _ in enumerate(v.rows):
        members.setdefault(int(v.person[j]), []).append(j)
    k = 4 if slope else 3
    pred = []
    for j in map(int, np.flatnonzero(v.same)):
        r = int(v.rows[j])
        fit = np.asarray([v.rows[m] for m in members[int(v.person[j])] if include_self or m != j])
        lp, target = v.logp[fit], np.eye(3)[v.y[fit]]
        jac = np.zeros((len(fit), 3, k))
        jac[:, :, :3] = np.eye(3)
        if slope:
            jac[:, :, 3] = (v.ta[fit] - v.ta[r])[:, None] * SIGN
        theta = np.zeros(k)
        for _ in range(8):  # Newton steps on a concave log-posterior
            z = lp + jac @ theta
            p = np.exp(z - z.max(axis=1, keepdims=True))
            p /= p.sum(axis=1, keepdims=True)
            grad = np.einsum("nck,nc->k", jac, target - p) - theta / sd**2
            cov = p[:, :, None] * np.eye(3) - p[:, :, None] * p[:, None, :]
            hess = np.einsum("nck,ncd,ndl->kl", jac, cov, jac) + np.eye(k) / sd**2
            theta = theta + np.linalg.solve(hess, grad)
        z = v.logp[r] + theta[:3]
        pred.append(v.decide_pop(np.exp(z - z.max()) / np.exp(z - z.max()).sum(), r))
    return np.asarray(pred, dtype=np.int64)


def head_cv(v: Votes, x: FloatArray, make: Factory) -> tuple[IntArray, FloatArray]:
    """Building-grouped: fitted on the other folds' votes, decision weights from an inner
    grouped split of those folds. Returns the decisions and the held-out probabilities."""
    y, g, f = v.y[v.scored], v.groups[v.scored], v.fold[v.scored]
    pred = np.zeros(len(y), dtype=np.int64)
    probs = np.zeros((len(y), 3))
    for k in range(5):
        te, tr = f == k, f != k
        inner = np.zeros((int(tr.sum()), 3))
        for a, b in GroupKFold(3).split(x[tr], y[tr], g[tr]):
            inner[b] = make().fit(x[tr][a], y[tr][a]).predict_proba(x[tr][b])
        probs[te] = make().fit(x[tr], y[tr]).predict_proba(x[te])
        pred[te] = decide(probs[te], choose_weights(inner, y[tr]))
    return pred, probs


def best_weights(y: IntArray, p: FloatArray) -> str:
    grid = np.round(np.arange(0.3, 3.01, 0.05), 2)
    found = [scores(y, decide(p, (float(a), 1.0, float(b)))) for a in grid for b in grid]
    acc = max(s.accuracy for s in found)
    joint = [s.accuracy for s in found if s.macro_f1 >= 0.65 and s.kappa >= 0.46]
    both = f"{max(joint):.3f}" if joint else "none reach both"
    return (
        f"best accuracy over decision weights {acc:.3f}; with macro-F1 ≥ 0.65 and κ ≥ 0.46: {both}"
    )


def logistic() -> LogisticRegression:
    return LogisticRegression(C=1.0, max_iter=3000, class_weight="balanced")


def boosting() -> HistGradientBoostingClassifier:
    return HistGradientBoostingClassifier(
        max_iter=200,
        learning_rate=0.05,
        max_leaf_nodes=15,
        min_samples_leaf=80,
        class_weight="balanced",
        random_state=0,
    )


# Column blocks of `online_features`, for the ablation.
_BLOCKS = {
    "population + vote shares + count": range(0, 7),
    "+ last vote": range(7, 10),
    "+ temperature change since it": range(10, 14),
    "+ days since it, same day": range(14, 20),
    "+ residuals, temperature vs earlier votes, population change": range(20, 32),
}


def main(argv: list[str]) -> int:
    ds = load_dataset(DEFAULT_DATA_DIR)
    cache = Path(argv[argv.index("--cache") + 1]) if "--cache" in argv else None
    with threadpool_limits(limits=1):
        if cache is not None and cache.is_file():
            saved = np.load(cache)
            oof, fold = saved["oof"], saved["fold"]
        else:
            oof, fold = _oof(ds)
            if cache is not None:
                np.savez(cache, oof=oof, fold=fold)
        v = Votes(ds, oof, fold)
        y = v.y[v.scored]
        n_people = int((~v.same).sum())
        print(
            f"{len(y)} votes with an earlier vote, "
            f"{np.unique(v.groups[v.scored]).size} buildings, {n_people} people"
        )
        print(
            _line(
                "population model (teacher, out-of-fold)",
                scores(y, np.asarray([v.decide_pop(v.oof[r], int(r)) for r in v.scored])),
            )
        )
        last = v.y[v.rows[np.flatnonzero(v.same) - 1]]
        print(_line("repeat the person's last vote", scores(y, last)))
        shipped = shipped_learner(v)
        print(
            _line(
                "shipped learner (agent.comfort.learner, decayed vote counts)", scores(y, shipped)
            )
        )
        # Constants chosen on the even-numbered buildings, scored on the odd ones.
        odd = v.groups[v.scored] % 2 == 1
        best: tuple[float, float, float] = (-1.0, 0.0, 0.0)
        for step, decay in (
            (0.5, 1.0),
            (1.0, 1.0),
            (2.0, 1.0),
            (0.7, 0.9),
            (0.85, 0.9),
            (0.7, 0.8),
        ):
            pred = online_bias(v, step, decay)
            even = scores(y[~odd], pred[~odd])
            if even.macro_f1 + even.kappa > best[0]:
                best = (even.macro_f1 + even.kappa, step, decay)
            print(
                _line(f"online per-class logit bias, step {step}, decay {decay}", scores(y, pred))
            )
        _, step, decay = best
        print(
            _line(
                f"  chosen on even buildings (step {step}, decay {decay}), odd buildings",
                scores(y[odd], online_bias(v, step, decay)[odd]),
            )
        )
        print(_line("  shipped learner, odd buildings", scores(y[odd], shipped[odd])))
        for slope in (0.05, 0.2):
            print(
                _line(
                    f"  + per-person temperature slope, step 0.7, decay 0.9 / {slope}",
                    scores(y, online_bias(v, 0.7, 0.9, slope)),
                )
            )
        x = online_features(v)
        cols: list[int] = []
        for name, block in _BLOCKS.items():
            cols += list(block)
            pred, _ = head_cv(v, x[:, cols], logistic)
            print(_line(f"online head (logistic) {name}", scores(y, pred)))
        _, p_online = head_cv(v, x, logistic)
        print("  ", best_weights(y, p_online))
        if "--boosting" in argv:
            pred, _ = head_cv(v, x, boosting)
            print(_line("online head (gradient boosting), all features", scores(y, pred)))
        h, majority = hindsight_features(v)
        print(
            _line(
                "hindsight: majority of the person's OTHER votes (future included)",
                scores(y, majority),
            )
        )
        pred, p_hind = head_cv(v, h, logistic)
        print(
            _line("hindsight head (logistic): all other votes + both neighbours", scores(y, pred))
        )
        print("  ", best_weights(y, p_hind))
        if "--boosting" in argv:
            pred, _ = head_cv(v, h, boosting)
            print(_line("hindsight head (gradient boosting)", scores(y, pred)))
        for sd in (1.0, 3.0):
            for slope in (False, True):
                what = "class bias + temperature slope" if slope else "class bias"
                for include_self in (False, True):
                    who = (
                        "ALL votes incl. the scored one (leaky)" if include_self else "other votes"
                    )
                    pred = per_person_fit(v, slope=slope, sd=sd, include_self=include_self)
                    print(_line(f"hindsight per-person {what}, sd {sd}, {who}", scores(y, pred)))
        leaky = np.zeros(len(v.rows), dtype=np.int64)
        for pid in np.unique(v.person):
            m = v.person == pid
            leaky[m] = np.bincount(v.y[v.rows[m]], minlength=3).argmax()
        print(
            _line(
                "leaky oracle: person's majority INCLUDING the scored vote",
                scores(y, leaky[v.same]),
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
