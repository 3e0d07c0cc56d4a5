"""The per-member offset learner: bounded, never NaN, decays, converges."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.comfort.learner import (
    HALF_LIFE_DAYS,
    MAX_OFFSET_C,
    effective_weight,
    learn_offset,
    offset_confidence,
)
from sync.wire import ComfortOffset

T0 = datetime(2026, 1, 1, tzinfo=UTC)


@settings(max_examples=200, deadline=None)
@given(
    observations=st.lists(
        st.tuples(st.floats(-1e6, 1e6, allow_nan=False), st.floats(0, 2000)), max_size=30
    )
)
def test_offset_stays_bounded_and_finite(observations: list[tuple[float, float]]) -> None:
    offset, at = ComfortOffset(), T0
    for value, gap_days in observations:
        at = at + timedelta(days=gap_days)
        offset = learn_offset(offset, value, at)
        assert math.isfinite(offset.offset_c)
        assert -MAX_OFFSET_C <= offset.offset_c <= MAX_OFFSET_C
        assert 0.0 <= offset_confidence(offset, at) < 1.0
    assert offset.observations == len(observations)


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_observation_is_rejected(bad: float) -> None:
    with pytest.raises(ValueError, match="finite"):
        learn_offset(ComfortOffset(), bad, T0)


def test_naive_time_is_rejected() -> None:
    with pytest.raises(ValueError, match="aware"):
        learn_offset(ComfortOffset(), 1.0, datetime(2026, 1, 1))  # noqa: DTZ001


def test_consistent_member_converges_to_their_offset() -> None:
    offset = ComfortOffset()
    for i in range(8):
        offset = learn_offset(offset, 2.0, T0 + timedelta(hours=i))
    assert 1.7 < offset.offset_c <= 2.0


def test_prior_means_one_change_moves_half_way() -> None:
    assert learn_offset(ComfortOffset(), 2.0, T0).offset_c == pytest.approx(1.0)


def test_old_evidence_decays() -> None:
    offset = ComfortOffset(offset_c=2.0, observations=10, updated_at=T0)
    assert effective_weight(offset, T0 + timedelta(days=HALF_LIFE_DAYS)) == pytest.approx(5.0)
    soon = learn_offset(offset, -2.0, T0 + timedelta(days=1))
    late = learn_offset(offset, -2.0, T0 + timedelta(days=4 * HALF_LIFE_DAYS))
    assert late.offset_c < soon.offset_c  # a year later, a new signal counts for more
