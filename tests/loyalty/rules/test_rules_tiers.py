"""Tiers: upgrade at once, downgrade one tier after two years below, retention bonus,
progress text honouring AND/OR; evaluation is idempotent."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loyalty.rules import (
    QualificationYear,
    TierError,
    default_programme,
    evaluate_tier,
    parse_programme,
    qualification_year_of,
    tier_progress,
)

PROGRAMME = default_programme()


def year(y: int, spend: int | str = 0, nights: int = 0, stays: int = 0) -> QualificationYear:
    return QualificationYear(year=y, spend=Decimal(spend), nights=nights, stays=stays)


def test_upgrade_is_immediate_when_year_to_date_qualifies() -> None:
    decision = evaluate_tier(PROGRAMME, "silver", [year(2026, 31_000)], date(2026, 6, 1))
    assert (decision.change, decision.tier) == ("upgrade", "gold")
    assert decision.effective_from == date(2026, 6, 1)
    assert decision.reason == "upgraded to gold: qualified with 31,000 CNY in 2026 year to date"


def test_upgrade_skips_tiers_to_the_highest_met() -> None:
    decision = evaluate_tier(PROGRAMME, "silver", [year(2026, 450_000)], date(2026, 6, 1))
    assert decision.tier == "diamond"


def test_last_completed_year_also_upgrades() -> None:
    decision = evaluate_tier(PROGRAMME, "gold", [year(2025, 120_000)], date(2026, 1, 3))
    assert decision.tier == "platinum"
    assert "in 2025" in decision.reason


def test_one_year_below_is_only_a_warning() -> None:
    history = [year(2024, 40_000), year(2025, 10_000)]
    decision = evaluate_tier(PROGRAMME, "gold", history, date(2026, 1, 2))
    assert decision.change == "unchanged"
    assert decision.at_risk
    assert decision.years_below == 1
    assert "requalify before 2027-01-01" in decision.reason


def test_downgrade_one_tier_after_two_consecutive_years_below() -> None:
    history = [year(2023, 400_000), year(2024, 50_000), year(2025, 0)]
    decision = evaluate_tier(PROGRAMME, "diamond", history, date(2026, 1, 2))
    assert (decision.change, decision.tier) == ("downgrade", "platinum")  # one tier, not three
    assert decision.effective_from == date(2026, 1, 1)
    assert "2 consecutive qualification years below the diamond threshold (2024-2025)" in (
        decision.reason
    )
    again = evaluate_tier(
        PROGRAMME, decision.tier, history, date(2026, 1, 2), tier_since=decision.effective_from
    )
    assert again.change == "unchanged"
    # a year later, still below platinum: only one year counted since the downgrade
    later = evaluate_tier(
        PROGRAMME,
        "platinum",
        [*history, year(2026, 5_000)],
        date(2027, 1, 5),
        tier_since=date(2026, 1, 1),
    )
    assert later.change == "unchanged" and later.at_risk


def test_years_before_the_member_held_the_tier_do_not_count() -> None:
    # upgraded to gold in August 2025 on year-to-date spend; 2024 was (naturally) below gold
    history = [year(2024, 1_000), year(2025, 35_000)]
    decision = evaluate_tier(
        PROGRAMME, "gold", history, date(2026, 2, 1), tier_since=date(2025, 8, 1)
    )
    assert decision.change == "unchanged"
    assert decision.retention_bonus is None
    assert not decision.at_risk


def test_requalifying_after_a_year_below_earns_the_retention_bonus() -> None:
    history = [year(2024, 35_000), year(2025, 2_000), year(2026, 30_000)]
    decision = evaluate_tier(
        PROGRAMME, "gold", history, date(2026, 9, 1), tier_since=date(2023, 5, 1)
    )
    assert decision.change == "unchanged"
    assert decision.retention_bonus is not None
    assert decision.retention_bonus.points == 2000
    assert decision.retention_bonus.idempotency_key == "retention:gold:2026"
    assert "retention bonus 2,000 points" in decision.reason
    # the same evaluation next January reports the same bonus (same key: posted once)
    january = evaluate_tier(
        PROGRAMME, "gold", history, date(2027, 1, 4), tier_since=date(2023, 5, 1)
    )
    assert january.retention_bonus == decision.retention_bonus


def test_already_requalified_this_year_is_not_downgraded() -> None:
    history = [year(2024, 0), year(2025, 0), year(2026, 100_000)]
    decision = evaluate_tier(PROGRAMME, "platinum", history, date(2026, 12, 1))
    assert decision.change == "unchanged"
    assert decision.retention_bonus is not None and decision.retention_bonus.year == 2026


def test_missing_years_count_as_no_activity() -> None:
    decision = evaluate_tier(PROGRAMME, "gold", [], date(2026, 3, 1), tier_since=date(2023, 1, 1))
    assert decision.change == "downgrade"
    decision = evaluate_tier(PROGRAMME, "silver", [], date(2026, 3, 1))
    assert decision.change == "unchanged"  # nothing below the entry tier


def test_bad_histories_are_refused() -> None:
    with pytest.raises(TierError, match="listed twice"):
        evaluate_tier(PROGRAMME, "gold", [year(2025), year(2025)], date(2026, 1, 1))
    with pytest.raises(TierError, match="has not started"):
        evaluate_tier(PROGRAMME, "gold", [year(2027)], date(2026, 1, 1))
    with pytest.raises(TierError, match="after as_of"):
        evaluate_tier(PROGRAMME, "gold", [], date(2026, 1, 1), tier_since=date(2026, 2, 1))
    with pytest.raises(ValueError, match="unknown tier 'bronze'"):
        evaluate_tier(PROGRAMME, "bronze", [], date(2026, 1, 1))


def test_progress_text() -> None:
    progress = tier_progress(PROGRAMME, "silver", year(2026, 18_000))
    assert progress.text == "12,000 CNY to gold"
    assert progress.next_tier == "gold"
    assert progress.needs[0].remaining == Decimal(12_000)
    assert tier_progress(PROGRAMME, "gold", year(2026, 18_000)).keep_text == (
        "12,000 CNY to keep gold"
    )
    assert tier_progress(PROGRAMME, "gold", year(2026, 101_000)).text == "qualified for platinum"
    assert tier_progress(PROGRAMME, "diamond", year(2026)).text == "diamond is the top tier"


def test_progress_honours_or_and_and() -> None:
    either = parse_programme(
        'name = "P"\n[[tiers]]\nname = "silver"\n[[tiers]]\nname = "gold"\n'
        'qualify = { match = "any", spend = 30000, nights = 20 }\n'
    )
    assert tier_progress(either, "silver", year(2026, 18_000, nights=12)).text == (
        "8 nights or 12,000 CNY to gold"
    )
    both = parse_programme(
        'name = "P"\n[[tiers]]\nname = "silver"\n[[tiers]]\nname = "gold"\n'
        'qualify = { match = "all", spend = 30000, nights = 20 }\n'
    )
    assert tier_progress(both, "silver", year(2026, 18_000, nights=12)).text == (
        "8 nights and 12,000 CNY to gold"
    )
    assert tier_progress(both, "silver", year(2026, 18_000, nights=25)).text == (
        "12,000 CNY to gold"
    )
    assert tier_progress(either, "silver", year(2026, 0, nights=19)).text == (
        "1 night or 30,000 CNY to gold"
    )
    # qualification by either metric upgrades
    assert evaluate_tier(either, "silver", [year(2026, 0, nights=20)], date(2026, 5, 1)).tier == (
        "gold"
    )
    assert evaluate_tier(both, "silver", [year(2026, 0, nights=20)], date(2026, 5, 1)).tier == (
        "silver"
    )


def test_qualification_year_may_start_mid_year() -> None:
    programme = parse_programme(
        'name = "P"\n[qualification]\nyear_starts = "04-01"\n[[tiers]]\nname = "a"\n'
        '[[tiers]]\nname = "b"\nqualify = { stays = 2 }\n'
    )
    assert qualification_year_of(programme, date(2026, 3, 31)) == 2025
    assert qualification_year_of(programme, date(2026, 4, 1)) == 2026
    decision = evaluate_tier(programme, "a", [year(2025, stays=2)], date(2026, 3, 31))
    assert decision.tier == "b"


# --- properties ------------------------------------------------------------------------------

spends = st.sampled_from([0, 5_000, 29_999, 30_000, 99_999, 100_000, 300_000, 500_000])


@st.composite
def histories(draw: st.DrawFn) -> tuple[str, list[QualificationYear], date, date | None]:
    as_of = draw(st.dates(min_value=date(2024, 1, 1), max_value=date(2030, 12, 31)))
    current = qualification_year_of(PROGRAMME, as_of)
    labels = draw(st.sets(st.integers(current - 6, current), max_size=7))
    history = [year(label, draw(spends)) for label in sorted(labels)]
    tier = draw(st.sampled_from(PROGRAMME.tier_names))
    since = draw(st.none() | st.dates(min_value=date(2015, 1, 1), max_value=as_of))
    return tier, history, as_of, since


@settings(max_examples=300, deadline=None)
@given(histories())
def test_tier_evaluation_is_idempotent(
    case: tuple[str, list[QualificationYear], date, date | None],
) -> None:
    tier, history, as_of, since = case
    first = evaluate_tier(PROGRAMME, tier, history, as_of, tier_since=since)
    assert evaluate_tier(PROGRAMME, tier, history, as_of, tier_since=since) == first
    if first.change != "unchanged":
        second = evaluate_tier(
            PROGRAMME, first.tier, history, as_of, tier_since=first.effective_from
        )
        assert second.change == "unchanged", (first, second)
        assert second.tier == first.tier
    rank = PROGRAMME.tier_rank
    if first.change == "downgrade":
        assert rank(first.tier) == rank(tier) - 1
    if first.change == "upgrade":
        assert rank(first.tier) > rank(tier)
    if first.retention_bonus is not None:
        assert first.change == "unchanged"
        assert first.retention_bonus.points == PROGRAMME.tier(tier).retention_bonus
