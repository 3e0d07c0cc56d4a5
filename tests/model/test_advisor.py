"""Suggestions from the shipped model: explicit prefs win, limits and the adaptive band
hold, the learning loop converges."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.comfort import CANDIDATES, ComfortAdvisor, ComfortContext
from agent.comfort.bands import adaptive_band
from models.simulate import simulate_stay
from sync.wire import ClimatePrefs, ComfortOffset, MemberPreferences, Stamped, new_id

AT = datetime(2026, 7, 1, 15, tzinfo=UTC)
CTX = ComfortContext(
    indoor_c=24.0,
    humidity_pct=50.0,
    outdoor_c=31.0,
    outdoor_running_mean_c=28.0,
    at=AT,
    climate="Cfa",
    air_conditioned=True,
)


def member(**update: object) -> MemberPreferences:
    return MemberPreferences(member_id=new_id("m_")).model_copy(update=update)


def explicit(value: float) -> MemberPreferences:
    return member(climate=ClimatePrefs(setpoint_c=Stamped[float](value=value, updated_at=AT)))


def test_model_suggestion_scores_all_candidates_and_picks_most_likely_no_change(
    advisor: ComfortAdvisor,
) -> None:
    s = advisor.suggest(CTX, None, limits=(16.0, 30.0))
    assert s.source == "model"
    assert s.probabilities is not None and set(s.probabilities) == set(CANDIDATES)
    band = adaptive_band(28.0)
    assert band is not None
    best = max(s.probabilities, key=lambda c: s.probabilities[c])  # type: ignore[index]
    if band[0] <= best <= band[1]:
        assert s.setpoint_c == best
    assert 0.0 < s.confidence < 1.0
    assert "no change" in s.explanation


def test_explicit_preference_wins_but_is_held_to_the_hotel_limits(advisor: ComfortAdvisor) -> None:
    s = advisor.suggest(CTX, explicit(20.5), limits=(18.0, 27.0))
    assert (s.setpoint_c, s.source, s.confidence) == (20.5, "explicit", 1.0)
    s = advisor.suggest(CTX, explicit(29.0), limits=(18.0, 27.0))
    assert (s.setpoint_c, s.source) == (27.0, "explicit")
    assert "27.0" in s.explanation


def test_no_model_gives_the_default(advisor: ComfortAdvisor) -> None:
    s = ComfortAdvisor(None).suggest(CTX, member(), limits=(18.0, 27.0))
    assert (s.setpoint_c, s.source, s.confidence) == (22.0, "default", 0.0)
    assert ComfortAdvisor(None).suggest(CTX, None, limits=(23.0, 27.0)).setpoint_c == 23.0


def test_adaptive_band_clips_the_model() -> None:
    # A cold running mean puts the band's top at about 24.4 °C: the model may not go above.
    band = adaptive_band(2.0)
    assert band is not None and band[1] < 25.0
    ctx = CTX.model_copy(update={"outdoor_c": 0.0, "outdoor_running_mean_c": 2.0})
    s = ComfortAdvisor.load().suggest(ctx, None, limits=(16.0, 30.0))
    assert band[0] - 0.25 <= s.setpoint_c <= band[1] + 0.25


@pytest.mark.parametrize("limits", [(27.0, 18.0), (18.0, 18.0), (5.0, 27.0), (18.1, 18.4)])
def test_bad_limits_are_rejected(advisor: ComfortAdvisor, limits: tuple[float, float]) -> None:
    with pytest.raises(ValueError, match="limits"):
        advisor.suggest(CTX, None, limits=limits)


@settings(max_examples=25, deadline=None)
@given(
    outdoor=st.floats(-20, 45),
    running=st.none() | st.floats(-10, 35),
    rh=st.none() | st.floats(0, 100),
    lo=st.sampled_from([16.0, 18.0, 20.0, 22.5]),
    width=st.sampled_from([1.0, 3.0, 9.0]),
    offset=st.floats(-6, 6),
    n=st.integers(0, 20),
)
def test_any_suggestion_is_a_half_degree_step_within_limits(
    advisor: ComfortAdvisor,
    outdoor: float,
    running: float | None,
    rh: float | None,
    lo: float,
    width: float,
    offset: float,
    n: int,
) -> None:
    ctx = CTX.model_copy(
        update={"outdoor_c": outdoor, "outdoor_running_mean_c": running, "humidity_pct": rh}
    )
    prefs = member(comfort_offset=ComfortOffset(offset_c=offset, observations=n, updated_at=AT))
    s = advisor.suggest(ctx, prefs, limits=(lo, lo + width))
    assert lo <= s.setpoint_c <= lo + width
    assert s.setpoint_c * 2 == int(s.setpoint_c * 2)
    assert 0.0 <= s.confidence <= 1.0
    assert s.source == ("learned" if n else "model")


@pytest.mark.parametrize("true_offset", [2.0, -2.0])
def test_member_two_degrees_off_is_right_after_a_few_changes(
    advisor: ComfortAdvisor, true_offset: float
) -> None:
    result = simulate_stay(advisor, CTX, member(), true_offset_c=true_offset, limits=(16.0, 30.0))
    assert result.converged
    assert 1 <= result.changes <= 3
    assert result.prefs is not None
    assert result.prefs.comfort_offset.observations == result.changes
    assert result.prefs.comfort_offset.offset_c * true_offset > 0
    last = advisor.suggest(CTX, result.prefs, limits=(16.0, 30.0))
    assert last.source == "learned"
    assert last.confidence > advisor.suggest(CTX, None, limits=(16.0, 30.0)).confidence


def test_manual_change_is_learned_relative_to_the_population(advisor: ComfortAdvisor) -> None:
    base = advisor.suggest(CTX, None, limits=(16.0, 30.0)).setpoint_c
    # Suggested came from an explicit preference far away: the label is still chosen - base.
    offset = advisor.observe_manual_change(
        explicit(19.0), CTX, suggested_c=19.0, chosen_c=base + 2.0, at=AT, limits=(16.0, 30.0)
    )
    assert offset.offset_c == pytest.approx(1.0)
    with pytest.raises(ValueError, match="chosen_c"):
        advisor.observe_manual_change(None, CTX, suggested_c=22.0, chosen_c=float("nan"), at=AT)
