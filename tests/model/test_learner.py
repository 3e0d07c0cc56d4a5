"""The per-member offset learner: bounded, never NaN, decays, converges."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import numpy as np
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


# --- votes: the per-member class bias ------------------------------------------------------

from agent.comfort.learner import (  # noqa: E402
    COOLER,
    NO_CHANGE,
    VOTE_DECAY,
    WARMER,
    decayed_votes,
    learn_vote,
    personal_probabilities,
    vote_bias,
)

POP = np.array([[0.3, 0.4, 0.3], [0.1, 0.6, 0.3]])


def test_no_votes_leave_the_population_model_as_it_is() -> None:
    np.testing.assert_allclose(personal_probabilities(POP, ComfortOffset(), T0), POP)
    np.testing.assert_allclose(vote_bias(ComfortOffset(), T0), 1.0)


def test_warmer_votes_make_warmer_likelier_and_later_votes_count_more() -> None:
    offset = ComfortOffset()
    for i in range(3):
        offset = learn_vote(offset, WARMER, T0 + timedelta(hours=i))
    p = personal_probabilities(POP, offset, T0 + timedelta(hours=3))
    assert np.all(p[:, WARMER] > POP[:, WARMER]) and np.allclose(p.sum(axis=1), 1.0)
    # One "cooler" after three "warmer": the latest vote weighs 1, each earlier one less.
    offset = learn_vote(offset, COOLER, T0 + timedelta(hours=3))
    v = decayed_votes(offset, T0 + timedelta(hours=3))
    assert v[COOLER] == pytest.approx(1.0)
    assert v[WARMER] == pytest.approx(VOTE_DECAY * (1 + VOTE_DECAY + VOTE_DECAY**2), abs=1e-3)


def test_votes_fade_with_time_and_leave_the_offset_alone() -> None:
    offset = learn_offset(ComfortOffset(), 2.0, T0)
    voted = learn_vote(offset, NO_CHANGE, T0)
    assert (voted.offset_c, voted.observations, voted.updated_at) == (
        offset.offset_c,
        offset.observations,
        offset.updated_at,
    )
    later = T0 + timedelta(days=HALF_LIFE_DAYS)
    assert decayed_votes(voted, later)[NO_CHANGE] == pytest.approx(0.5)


@pytest.mark.parametrize("bad", [-1, 3, 7])
def test_an_unknown_vote_is_rejected(bad: int) -> None:
    with pytest.raises(ValueError, match="vote must be"):
        learn_vote(ComfortOffset(), bad, T0)


@settings(max_examples=100, deadline=None)
@given(votes=st.lists(st.tuples(st.integers(0, 2), st.floats(0, 400)), max_size=200))
def test_any_vote_history_stays_on_the_wire_and_gives_probabilities(
    votes: list[tuple[int, float]],
) -> None:
    offset, at = ComfortOffset(), T0
    for vote, gap_days in votes:
        at = at + timedelta(days=gap_days)
        offset = learn_vote(offset, vote, at)
        ComfortOffset.model_validate(offset.model_dump())  # still a valid wire document
        p = personal_probabilities(POP, offset, at)
        assert np.all(np.isfinite(p)) and np.allclose(p.sum(axis=1), 1.0)


def test_central_keeps_a_vote_only_update() -> None:
    """A vote changes `votes_at`, not the offset's `updated_at`: central's merge must still
    take it, or the member's votes would not follow them to the next room."""
    from loyalty.services.preferences import merge
    from sync.wire import MemberPreferences

    offset = learn_offset(ComfortOffset(), 1.0, T0)
    stored = MemberPreferences(member_id="member-abcdefgh", comfort_offset=offset)
    voted = stored.model_copy(
        update={"comfort_offset": learn_vote(offset, WARMER, T0 + timedelta(hours=2))}
    )
    assert merge(stored, voted).comfort_offset == voted.comfort_offset
    assert merge(voted, stored).comfort_offset == voted.comfort_offset  # older never wins
