"""What-if: the synthetic population meets the plan's figures, its year runs through the
real rules, and each kind of proposed change moves the figures the way it must. (The
100,000-member timing is in bench/analytics_whatif.py.)"""

from __future__ import annotations

from decimal import Decimal

import pytest

from loyalty.analytics.population import frequency, generate
from loyalty.analytics.whatif import Engine, simulate
from loyalty.analytics.whatif_report import figures, propose, side_by_side
from loyalty.rules import EarnMember, FolioLine, StayEarnRequest, compute_earn, default_programme


def test_frequency_meets_the_targets_exactly() -> None:
    from loyalty.analytics.population import Targets

    t = Targets()
    k, theta, _dining = frequency(t)
    p0 = (1 + theta) ** -k
    p1 = k * theta * (1 + theta) ** -(k + 1)
    assert 1 - p0 == pytest.approx(t.stayers, abs=1e-6)
    assert (1 - p0 - p1) / (1 - p0) == pytest.approx(t.repeat_rate, abs=1e-6)


def test_a_year_calibrated_and_proposals_move_the_figures() -> None:
    programme = default_programme()
    pop = generate(4000, seed=3)
    shorter = propose(programme, expiry_months=24)
    richer = propose(programme, multipliers={"off_peak": "2.0", "direct_booking": "1.5"})
    cheaper = propose(programme, point_value="0.0125")
    base, short, rich, cheap = simulate(pop, [programme, shorter, richer, cheaper], workers=1)
    f = figures(pop, programme, base)
    # The population behaves like the plan says (35% / 28% / 18%), within sampling noise.
    assert abs(f["quarterly_active_rate"] - Decimal("0.35")) < Decimal("0.03")
    assert abs(f["repeat_stay_rate"] - Decimal("0.28")) < Decimal("0.04")
    assert abs(f["high_value_share"] - Decimal("0.18")) < Decimal("0.03")
    assert f["points_cost_share"] is not None and f["breakage_rate"] is not None
    # Every point is accounted for: opening + issued − redeemed − expired = closing.
    for t in (base, short, rich, cheap):
        assert t.opening + t.issued - t.redeemed - t.expired == t.closing
        assert t.members == 4000 == sum(t.tiers_end.values())
    assert short.expired > base.expired and short.closing < base.closing
    assert rich.issued > base.issued and rich.redeemed >= base.redeemed
    assert cheap.award_nights > base.award_nights
    assert figures(pop, cheaper, cheap)["redemption_cost"] > f["redemption_cost"]
    rows = {r["figure"]: r for r in side_by_side(pop, programme, shorter, base, short)}
    assert rows["points_expired"]["change"] == short.expired - base.expired
    assert rows["revenue"]["change"] == 0  # members behave the same under both


def test_the_engine_asks_the_real_rules() -> None:
    programme = default_programme()
    pop = generate(50, seed=1)
    engine = Engine(programme)
    for m in pop.members:
        for s in m.stays:
            points, spend, _n = engine.stay("gold", m, s.arrival, s.nights, s.channel)
            room = Decimal(m.rate * s.nights)
            direct = compute_earn(
                programme,
                StayEarnRequest(
                    check_in=s.arrival,
                    check_out=s.arrival.fromordinal(s.arrival.toordinal() + s.nights),
                    channel=s.channel,
                    room_type=m.room_type,
                    lines=[
                        FolioLine(category="room", amount=room),
                        FolioLine(category="fnb", amount=room * Decimal("0.15")),
                    ],
                ),
                EarnMember(tier="gold"),
            )
            assert (points, spend) == (direct.points, direct.qualifying_spend)


def test_bad_proposals_are_refused() -> None:
    programme = default_programme()
    with pytest.raises(ValueError, match="no multiplier 'weekend'"):
        propose(programme, multipliers={"weekend": "2"})
    with pytest.raises(ValueError, match="months_after_earning"):
        propose(programme, expiry_months=0)
    with pytest.raises(ValueError, match="point_value"):
        propose(programme, point_value="-1")
