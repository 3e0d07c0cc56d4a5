"""Our numpy metrics agree with scikit-learn's; the PMV rule follows its thresholds."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import cohen_kappa_score, f1_score, recall_score

from models.baselines import pmv_rule, pmv_values
from models.metrics import choose_weights, confusion, scores

labels = st.lists(st.tuples(st.integers(0, 2), st.integers(0, 2)), min_size=1, max_size=300)


# sklearn warns (its own reference behaviour) when κ is undefined, e.g. one label only.
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.UndefinedMetricWarning")
@settings(max_examples=150, deadline=None)
@given(pairs=labels)
def test_scores_match_sklearn(pairs: list[tuple[int, int]]) -> None:
    y = np.array([p[0] for p in pairs])
    p = np.array([p[1] for p in pairs])
    s = scores(y, p)
    assert s.accuracy == pytest.approx(float((y == p).mean()))
    assert s.macro_f1 == pytest.approx(
        f1_score(y, p, average="macro", labels=[0, 1, 2], zero_division=0)
    )
    want_kappa = cohen_kappa_score(y, p, labels=[0, 1, 2])
    assert s.kappa == pytest.approx(0.0 if np.isnan(want_kappa) else want_kappa)
    rec = recall_score(y, p, average=None, labels=[0, 1, 2], zero_division=0)
    assert list(s.recall.values()) == pytest.approx(list(rec))


def test_bad_labels_are_rejected() -> None:
    with pytest.raises(ValueError, match="labels"):
        confusion(np.array([0, 3]), np.array([0, 1]))
    with pytest.raises(ValueError, match="shapes"):
        confusion(np.array([0, 1]), np.array([0]))
    with pytest.raises(ValueError, match="no rows"):
        scores(np.array([], dtype=np.int64), np.array([], dtype=np.int64))


def test_choose_weights_prefers_the_rare_class_when_it_pays() -> None:
    rng = np.random.default_rng(0)
    y = rng.choice(3, 3000, p=[0.3, 0.6, 0.1])
    probs = np.full((3000, 3), [0.3, 0.6, 0.1]) + rng.normal(0, 0.02, (3000, 3))
    probs[y == 2, 2] += 0.15  # informative but never the argmax unweighted
    w = choose_weights(probs, y)
    assert w[2] > 1.0


def test_pmv_rule_thresholds() -> None:
    frame = pd.DataFrame(
        {
            "ta": [17.0, 23.0, 30.0, np.nan],
            "rh": [50, 50, 50, 50],
            "clo": [0.5, 0.7, 0.5, 0.5],
            "met": [1.1, 1.1, 1.1, 1.1],
            "vel": [0.1, 0.1, 0.1, 0.1],
        }
    )
    pmv = pmv_values(frame)
    assert pmv[0] < -0.5 < pmv[1] < 0.5 < pmv[2]
    assert list(pmv_rule(frame)[:3]) == [2, 1, 0]  # warmer, no change, cooler
