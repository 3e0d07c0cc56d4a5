"""The DB II loader: tolerant of junk values in known columns, strict about the schema."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.comfort.features import FeatureSpec, Imputation, encode
from models.data import DataError, climate_key, dataset_from_frame, load_dataset, load_frame
from models.koppen import KOPPEN_BY_NAME

SPEC = FeatureSpec(impute=Imputation(rh_pct=46, outdoor_c=22.7, running_mean_c=23.6, cooling=0.5))
junk = st.one_of(
    st.none(), st.floats(allow_nan=True, allow_infinity=False, width=32), st.text(max_size=6)
)


@settings(max_examples=40, deadline=None)
@given(
    rows=st.lists(
        st.fixed_dictionaries(
            {
                "building_id": st.integers(1, 5),
                "ta": st.floats(5, 40),
                "thermal_preference": st.sampled_from(["cooler", "no change", "warmer"]),
                "rh": junk,
                "t_out_isd": junk,
                "t_out": junk,
                "t_mot_isd": junk,
                "season": st.sampled_from(["summer", "winter", "hot/wet", "spring", "?", None]),
                "age": junk,
                "gender": st.sampled_from(["female", "male", "undefined", None]),
                "climate": st.sampled_from([*list(KOPPEN_BY_NAME)[:5], "unknown", None]),
                "cooling_type": st.sampled_from(["air conditioned", "mixed mode", "x", None]),
            }
        ),
        min_size=1,
        max_size=30,
    )
)
def test_any_row_values_give_finite_features(rows: list[dict[str, object]]) -> None:
    ds = dataset_from_frame(pd.DataFrame(rows))
    x = encode(ds.raw, SPEC)
    assert x.shape[0] == len(rows)
    assert np.all(np.isfinite(x))
    assert set(np.unique(ds.y)) <= {0, 1, 2}


def test_every_climate_name_in_the_metadata_has_a_koppen_code(data_dir: Path) -> None:
    meta = pd.read_csv(data_dir / "db_metadata.train.csv")
    assert {climate_key(c) for c in meta["climate"].dropna()} <= set(KOPPEN_BY_NAME)


def test_full_training_file_loads(data_dir: Path) -> None:
    ds = load_dataset(data_dir)
    assert len(ds) == 55_763
    assert np.unique(ds.groups).size > 400


def test_rows_without_a_vote_are_dropped_and_wrong_schema_refused(tmp_path: Path) -> None:
    meta = tmp_path / "meta.csv"
    pd.DataFrame({"building_id": [1], "climate": ["tropical"], "cooling_type": [None]}).to_csv(
        meta, index=False
    )
    ok = tmp_path / "ok.csv"
    pd.DataFrame(
        {
            "building_id": [1, 1, 1],
            "ta": [22.0, None, 25.0],
            "thermal_preference": ["cooler", "warmer", "maybe"],
        }
    ).to_csv(ok, index=False)
    frame, absent = load_frame(ok, meta)
    assert list(frame["thermal_preference"]) == ["cooler"] and absent == []
    empty = tmp_path / "empty.csv"
    pd.DataFrame({"building_id": [1], "ta": [22.0], "thermal_preference": [None]}).to_csv(
        empty, index=False
    )
    with pytest.raises(DataError, match="no rows"):
        load_frame(empty, meta)
