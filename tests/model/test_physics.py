"""The agent's transcriptions of pythermalcomfort's clo_tout and adaptive band equal the
library's results (the agent avoids importing it: ~170 MiB of numba/scipy)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from pythermalcomfort.models import adaptive_ashrae, clo_tout

from agent.comfort.bands import adaptive_band
from agent.comfort.features import clo_from_outdoor


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(-60, 60), min_size=1, max_size=50))
def test_clo_matches_pythermalcomfort(tout: list[float]) -> None:
    want = np.asarray(clo_tout(tout=tout).clo_tout, dtype=np.float64)
    np.testing.assert_array_equal(clo_from_outdoor(np.asarray(tout)), want)


def test_clo_on_a_grid_including_the_breakpoints() -> None:
    grid = np.round(np.arange(-20.0, 40.0, 0.01), 2)
    np.testing.assert_array_equal(clo_from_outdoor(grid), clo_tout(tout=grid).clo_tout)


@settings(max_examples=60, deadline=None)
@given(st.floats(10.0, 33.5))
def test_adaptive_band_matches_pythermalcomfort(trm: float) -> None:
    r = adaptive_ashrae(tdb=25.0, tr=25.0, t_running_mean=trm, v=0.1, round_output=False)
    band = adaptive_band(trm)
    assert band is not None
    np.testing.assert_allclose(band, (r.tmp_cmf_80_low, r.tmp_cmf_80_up), atol=1e-9)


def test_adaptive_band_outside_the_standard_uses_the_nearest_end() -> None:
    assert adaptive_band(-10.0) == adaptive_band(10.0)
    assert adaptive_band(40.0) == adaptive_band(33.5)
    assert adaptive_band(None) is None and adaptive_band(float("nan")) is None
