"""Lighting and audio rules, stored prefs and the learn-from-overrides loop."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from agent.comfort.lighting import (
    learn_audio,
    learn_lighting,
    period_at,
    suggest_audio,
    suggest_lighting,
)
from sync.wire import AudioPrefs, LightingPrefs, Stamped

TZ = timezone(timedelta(hours=8))
AT = datetime(2026, 7, 1, 12, tzinfo=UTC)


def local(hour: int) -> datetime:
    return datetime(2026, 7, 1, hour, 30, tzinfo=TZ)


def test_time_of_day_rules() -> None:
    assert period_at(local(3)).name == "night"
    assert period_at(local(7)).name == "morning"
    assert period_at(local(13)).name == "day"
    assert period_at(local(20)).name == "evening"
    assert suggest_lighting(local(3), None).level_pct < suggest_lighting(local(13), None).level_pct
    assert (
        suggest_lighting(local(21), None).colour_temp_k
        < suggest_lighting(local(13), None).colour_temp_k
    )
    with pytest.raises(ValueError, match="local time"):
        period_at(datetime(2026, 7, 1, 3))  # noqa: DTZ001


def test_stored_preference_wins_but_night_stays_dim() -> None:
    prefs = LightingPrefs(level_pct=Stamped[int](value=70, updated_at=AT))
    assert suggest_lighting(local(20), prefs).level_pct == 70
    assert suggest_lighting(local(20), prefs).source == "explicit"
    assert suggest_lighting(local(3), prefs).level_pct == 10


def test_overrides_are_learned_and_stay_learned() -> None:
    s = suggest_lighting(local(20), None)
    prefs = learn_lighting(None, s, level_pct=20, colour_temp_k=2200, at=AT)
    assert prefs.level_pct is not None and prefs.level_pct.source == "learned"
    assert prefs.level_pct.value == 20
    for _ in range(6):
        prefs = learn_lighting(prefs, suggest_lighting(local(20), prefs), level_pct=20, at=AT)
    assert prefs.level_pct is not None and abs(prefs.level_pct.value - 20) <= 1
    assert suggest_lighting(local(20), prefs).source == "learned"


def test_an_app_value_set_after_the_guests_change_is_not_overwritten_by_learning() -> None:
    # Same instant or later: the app's write is the last one (tests/sync/test_preference_lww.py
    # has the whole table, older app values included).
    prefs = LightingPrefs(level_pct=Stamped[int](value=70, updated_at=AT, source="member"))
    after = learn_lighting(prefs, suggest_lighting(local(20), prefs), level_pct=10, at=AT)
    assert after.level_pct == prefs.level_pct


def test_audio_rules_prefs_and_learning() -> None:
    assert suggest_audio(local(3), None).volume_pct < suggest_audio(local(13), None).volume_pct
    loud = AudioPrefs(volume_pct=Stamped[int](value=60, updated_at=AT))
    assert suggest_audio(local(13), loud).volume_pct == 60
    assert suggest_audio(local(3), loud).volume_pct == 8
    learned = learn_audio(None, suggest_audio(local(13), None), volume_pct=45, at=AT)
    assert learned.volume_pct is not None and learned.volume_pct.value == 45
    with pytest.raises(ValueError, match="outside"):
        learn_audio(None, suggest_audio(local(13), None), volume_pct=101, at=AT)


def test_the_first_override_is_adopted_and_later_ones_averaged() -> None:
    s = suggest_lighting(local(20), None)
    first = learn_lighting(None, s, level_pct=35, colour_temp_k=3000, at=AT)
    assert first.level_pct is not None and first.level_pct.value == 35
    assert first.colour_temp_k is not None and first.colour_temp_k.value == 3000
    second = learn_lighting(first, suggest_lighting(local(20), first), level_pct=45, at=AT)
    assert second.level_pct is not None and second.level_pct.value == 40


def test_simulated_members_are_right_after_at_most_two_changes() -> None:
    """A population with set true preferences (models/simulate_lighting.py): the shipped
    learner needs fewer changes than the previous half-way learner on the same members."""
    from models.simulate_lighting import simulate_population

    result = simulate_population(members=60, seed=3)
    for name, block in result.items():
        ours, before = block["learner"], block["previous learner (baseline)"]
        assert ours["converged"] == 1.0, name
        assert ours["max changes"] <= 2, name
        assert ours["mean changes"] < before["mean changes"], name
