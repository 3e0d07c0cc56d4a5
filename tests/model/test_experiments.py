"""The recipes behind the card's "What was tried": valid probabilities, constraints honoured."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from models.data import METADATA, dataset_from_frame
from models.experiments import (
    RECIPES,
    Recipe,
    SoftRows,
    country_columns,
    extra_columns,
    fit_predict,
    main,
    previous_vote,
    report,
    soft_labels,
    wide_weights,
)


def _toy(n: int = 3000) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1)
    ta = rng.uniform(16, 32, n)
    noise = rng.normal(0, 2.0, n)
    y = np.where(ta + noise > 27, 0, np.where(ta + noise < 21, 2, 1)).astype(np.int64)
    x = np.column_stack([ta, rng.normal(0, 1, n)])
    return x, y, rng.integers(0, 20, n).astype(np.int64)


def test_ordinal_probabilities_are_valid_and_monotone_in_temperature() -> None:
    x, y, g = _toy()
    r = Recipe(kind="ordinal", class_weight=None, decreasing=(0,), min_leaf=50, iterations=40)
    grid = np.column_stack([np.arange(16, 32, 0.5), np.zeros(32)])
    p = fit_predict(r, x, y, g, grid)
    assert p.shape == (32, 3)
    assert np.allclose(p.sum(axis=1), 1.0, atol=1e-5)
    assert (p > 0).all()
    # The monotonic constraint: a warmer room never makes "warmer" more likely.
    assert (np.diff(p[:, 2]) <= 1e-12).all()
    assert p[0].argmax() == 2 and p[-1].argmax() == 0


def test_building_weighting_changes_nothing_about_shape() -> None:
    x, y, g = _toy()
    p = fit_predict(Recipe(building_power=0.0, min_leaf=50, iterations=20), x, y, g, x[:10])
    assert p.shape == (10, 3) and np.allclose(p.sum(axis=1), 1.0)


def test_wide_weights_recover_a_minority_class() -> None:
    # Probabilities that always favour "no change" slightly: only weights > 1 on the
    # minorities find them, and the log grid goes far enough.
    y = np.array([0] * 30 + [1] * 40 + [2] * 30, dtype=np.int64)
    p = np.full((100, 3), [0.25, 0.5, 0.25])
    p[:30, 0] = 0.45
    p[70:, 2] = 0.45
    w = wide_weights(p, y)
    assert w[0] > 1.11 and w[2] > 1.11


def test_extra_columns_from_the_schema() -> None:
    frame = pd.DataFrame(
        {
            "ta": [20.0, 30.0],
            "rh": [50.0, 50.0],
            "timestamp": ["2001-01-15T00:00:00Z", "2001-07-15T00:00:00Z"],
            "rh_out_isd": [np.nan, 70.0],
            "rh_out": [40.0, 10.0],
        }
    )
    cols = extra_columns(frame, ("vapour", "month", "rh_out"))
    assert cols.shape == (2, 4)
    assert 1.1 < cols[0, 0] < 1.2 and 2.1 < cols[1, 0] < 2.2  # kPa at 50 % RH
    assert cols[0, 1] > 0.8 and cols[1, 1] < -0.8  # cos(month): January vs July
    assert list(cols[:, 3]) == [40.0, 70.0]  # ISD first, the study's reading second
    assert extra_columns(frame, ()).shape == (2, 0)


def test_cli_lists_and_refuses_unknown_recipes(capsys: object) -> None:
    assert main([]) == 0
    assert main(["no_such_recipe"]) == 2
    assert "shipped" in RECIPES and "ordinal_mono" in RECIPES


def test_building_context_is_per_building_and_uses_no_labels() -> None:
    frame = pd.DataFrame(
        {
            "building_id": [1, 1, 2, 2],
            "ta": [20.0, 24.0, 30.0, 30.0],
            "rh": [40.0, 60.0, 50.0, 70.0],
            "thermal_preference": ["cooler", "warmer", "cooler", "cooler"],
        }
    )
    cols = extra_columns(frame, ("building_context",))
    assert cols[:, 0].tolist() == [22.0, 22.0, 30.0, 30.0]  # the building's usual temperature
    assert cols[:, 1].tolist() == [-2.0, 2.0, 0.0, 0.0]  # this row against it
    assert cols[:, 3].tolist() == [50.0, 50.0, 60.0, 60.0]
    flipped = frame.assign(thermal_preference=["warmer", "cooler", "warmer", "warmer"])
    assert np.array_equal(extra_columns(flipped, ("building_context",)), cols)


def test_country_columns_one_hot_countries_with_five_buildings(tmp_path: Path) -> None:
    meta = pd.DataFrame(
        {
            "building_id": range(1, 13),
            "country": ["usa"] * 6 + ["india"] * 5 + ["malta"],
        }
    )
    meta.to_csv(tmp_path / METADATA, index=False)
    frame = pd.DataFrame({"building_id": [1, 7, 12, 99]})
    # Columns: india, usa (malta has one building); unknown buildings get all zeros.
    assert country_columns(frame, tmp_path).tolist() == [[0, 1], [1, 0], [0, 0], [0, 0]]


def test_soft_labels_count_training_votes_per_sensation() -> None:
    sensation = np.array([1.0, 1.2, 0.9, -2.0, 0.0])
    y = np.array([0, 0, 1, 2, 1], dtype=np.int64)
    p = soft_labels(sensation, y, np.array([1.0, -2.0, 3.0]))
    assert np.allclose(p[0], [2 / 3, 1 / 3, 0.0])
    assert np.allclose(p[1], [0.0, 0.0, 1.0])
    assert np.allclose(p[2], [1 / 3, 1 / 3, 1 / 3])  # never seen: no opinion


def test_soft_rows_join_training_balanced_by_weight() -> None:
    x, y, g = _toy(600)
    soft = SoftRows(x[:50], np.tile([0.2, 0.5, 0.3], (50, 1)))
    r = Recipe(unlabelled_weight=1.0, min_leaf=20, iterations=10)
    p = fit_predict(r, x, y, g, x[:5], soft)
    assert p.shape == (5, 3) and np.allclose(p.sum(axis=1), 1.0)
    # Zero weight, or no soft rows, is the plain recipe.
    plain = fit_predict(Recipe(min_leaf=20, iterations=10), x, y, g, x[:5])
    assert np.allclose(fit_predict(Recipe(min_leaf=20, iterations=10), x, y, g, x[:5], soft), plain)


def test_ceiling_columns_are_survey_measurements() -> None:
    frame = pd.DataFrame(
        {
            "clo": [0.5],
            "met": [1.1],
            "vel": [0.1],
            "tr": [24.0],
            "pmv": [0.3],
            "thermal_sensation": [1.0],
        }
    )
    assert extra_columns(frame, ("survey_inputs", "sensation")).tolist() == [
        [0.5, 1.1, 0.1, 24.0, 0.3, 1.0]
    ]


def test_previous_vote_reads_only_earlier_rows_of_the_same_person() -> None:
    frame = pd.DataFrame(
        {
            "index": [3, 1, 2, 4, 5],
            "building_id": [7, 7, 7, 8, 7],
            "subject_id": ["a", "a", "b", "a", None],
            "thermal_preference": ["warmer", "cooler", "no change", "cooler", "warmer"],
        }
    )
    prev = previous_vote(frame)
    # row 0 (a, order 3) follows row 1 (a, order 1, cooler); b and building 8's "a" are
    # first votes; an unknown person has no history.
    assert prev.tolist() == [[1, 0, 0], [0, 0, 0], [0, 0, 0], [0, 0, 0], [0, 0, 0]]
    assert previous_vote(frame.drop(columns=["subject_id"])).sum() == 0


def test_report_adds_the_previous_vote_subset() -> None:
    frame = pd.DataFrame(
        {
            "index": [1, 2, 3, 4],
            "building_id": [7, 7, 7, 7],
            "subject_id": ["a", "a", "b", "b"],
            "ta": [22.0, 23.0, 24.0, 25.0],
            "thermal_preference": ["cooler", "cooler", "warmer", "no change"],
        }
    )
    ds = dataset_from_frame(frame)
    pred = np.array([0, 0, 1, 1], dtype=np.int64)  # right, right, wrong, right
    plain = report("x", ds, Recipe(), pred, [(1.0, 1.0, 1.0)])
    assert plain.startswith("x: macro-F1 ") and "previous vote" not in plain
    with_prev = report("x", ds, Recipe(extra=("previous_vote",)), pred, [(1.0, 1.0, 1.0)])
    # rows 2 and 4 follow an earlier vote of the same person; both predicted right.
    assert "rows with a previous vote (2): macro-F1 " in with_prev
    assert "accuracy 1.000" in with_prev.split("previous vote (2)")[1]
