"""The personal ceiling checks must not leak: online features see only earlier votes, the
hindsight ones everything but the scored vote."""

from __future__ import annotations

import numpy as np
import pandas as pd

from agent.comfort.features import CLASSES
from models.data import dataset_from_frame
from models.personal_ceiling import Votes, hindsight_features, online_features, per_person_fit


def _votes(labels: list[str]) -> Votes:
    n = len(labels)
    frame = pd.DataFrame(
        {
            "index": range(n),
            "building_id": [1, 2] * (n // 2),
            "subject_id": ["7"] * n,
            "timestamp": [f"2020-01-{1 + i // 2:02d}T00:00:00Z" for i in range(n)],
            "ta": [20.0 + i for i in range(n)],
            "rh": [50.0] * n,
            "thermal_preference": labels,
            "climate": ["Humid subtropical"] * n,
            "cooling_type": ["air conditioned"] * n,
        }
    )
    ds = dataset_from_frame(frame)
    oof = np.tile([0.3, 0.5, 0.2], (n, 1))
    return Votes(ds, oof, np.arange(n) % 5)


def test_online_features_use_only_earlier_votes() -> None:
    # Two people (buildings 1 and 2): rows 0, 2, 4, 6 and rows 1, 3, 5, 7, in time order.
    labels = ["cooler", "warmer", "no change", "cooler", "warmer", "cooler", "no change", "warmer"]
    changed = [*labels[:5], "warmer", "warmer", "cooler"]  # the labels of rows 5, 6, 7 differ
    v = _votes(labels)
    base, after = online_features(v), online_features(_votes(changed))
    row = {int(r): i for i, r in enumerate(v.scored)}
    assert sorted(row) == [2, 3, 4, 5, 6, 7]
    # Row 6's own vote changed, and rows 5 and 7's: none of that reaches rows 2-6's features.
    for r in (2, 3, 4, 5, 6):
        np.testing.assert_array_equal(base[row[r]], after[row[r]])
    # Row 7 follows row 5, whose vote changed: its features must see that.
    assert not np.array_equal(base[row[7]], after[row[7]])


def test_hindsight_features_never_see_the_scored_vote() -> None:
    labels = ["cooler", "cooler", "no change", "cooler", "warmer", "cooler"]
    v = _votes(labels)
    base, _ = hindsight_features(v)
    for i, r in enumerate(v.scored):
        flipped = list(labels)
        flipped[int(r)] = CLASSES[(CLASSES.index(labels[int(r)]) + 1) % 3]
        again, _ = hindsight_features(_votes(flipped))
        np.testing.assert_array_equal(base[i], again[i])


def test_the_per_person_fit_leaves_out_the_scored_vote() -> None:
    labels = ["cooler", "cooler", "no change", "cooler", "warmer", "warmer"]
    v = _votes(labels)
    flipped = _votes([*labels[:4], "cooler", "warmer"])  # row 4's own vote differs
    row = {int(r): i for i, r in enumerate(v.scored)}
    a = per_person_fit(v, slope=True, sd=3.0, include_self=False)
    b = per_person_fit(flipped, slope=True, sd=3.0, include_self=False)
    assert a[row[4]] == b[row[4]]
