"""The personal replay scores each vote before learning it, through the agent's advisor."""

from __future__ import annotations

import numpy as np
import pandas as pd

from agent.comfort import ComfortAdvisor
from agent.comfort.features import CLASSES
from models.data import dataset_from_frame
from models.personal import personal_table, replay


def _frame(votes: list[str], subject: str | None = "7") -> pd.DataFrame:
    n = len(votes)
    return pd.DataFrame(
        {
            "index": range(n),
            "building_id": [1] * n,
            "subject_id": [subject] * n,
            # Out of order in the file: the replay sorts by time.
            "timestamp": [f"2020-01-{n - i:02d}T00:00:00Z" for i in range(n)],
            "ta": [23.0] * n,
            "rh": [50.0] * n,
            "thermal_preference": votes,
            "climate": ["Humid subtropical"] * n,
            "cooling_type": ["air conditioned"] * n,
        }
    )


def test_each_vote_is_scored_with_only_the_earlier_ones(advisor: ComfortAdvisor) -> None:
    # In time order (latest timestamp last): four "cooler", then one "warmer".
    votes = ["warmer", "cooler", "cooler", "cooler", "cooler"]
    ds = dataset_from_frame(_frame(votes))
    r = replay(advisor, ds)
    order = np.argsort(-np.arange(len(votes)))  # the file is in reverse time order
    assert list(r.earlier[order]) == [0, 1, 2, 3, 4]
    cooler = CLASSES.index("cooler")
    # The last vote ("warmer") is predicted from four "cooler" votes, never from itself.
    assert r.personal[0] == cooler and r.last_vote[0] == cooler
    assert set(personal_table(ds.y, r)) >= {"k ≥ 1", "k = 1", "k ≥ 4"}


def test_rows_without_a_person_are_first_votes(advisor: ComfortAdvisor) -> None:
    ds = dataset_from_frame(_frame(["cooler", "warmer"], subject=None))
    r = replay(advisor, ds)
    assert list(r.earlier) == [-1, -1]
    np.testing.assert_array_equal(r.personal, r.population)
