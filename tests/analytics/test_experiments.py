"""An experiment end to end on the real service (SQLite and PostgreSQL): the loyalty team
defines it, staff log exposures as they apply the benefit, members' outcomes come from the
ledger, and the analysis matches the hand computation; no verdict before the end date and
the outcome windows; a plain-words verdict after."""

from __future__ import annotations

from datetime import timedelta

import pytest
from service_harness import Service
from test_kpis import _stay

from loyalty.analytics.experiments import Arm, assign_arm
from loyalty.analytics.stats import sample_size_rate, two_proportions

ARMS = [
    {"name": "breakfast", "weight": 1, "benefit": "free breakfast"},
    {"name": "afternoon_tea", "weight": 1, "benefit": "afternoon tea"},
]


def _members_by_arm(service: Service, experiment: str) -> dict[str, list[str]]:
    """Enrol members until each arm has four (arms come from the hash, not from us)."""
    arms = [Arm(**a) for a in ARMS]
    out: dict[str, list[str]] = {"breakfast": [], "afternoon_tea": []}
    while min(len(v) for v in out.values()) < 4:
        member = service.member()
        arm = assign_arm(experiment, arms, member)
        got = service.call("GET", f"/v1/experiments/{experiment}/assignment/{member}", "staff")
        assert got["arm"] == arm  # the API gives the same, deterministic arm
        if len(out[arm]) < 4:
            out[arm].append(member)
    return out


def test_experiment_analysis_matches_the_hand_computation(service: Service) -> None:
    start = service.clock.now()
    spec = {
        "name": "silver breakfast vs afternoon tea",
        "benefit": "welcome_treat",
        "segment": {"tiers": ["silver"]},
        "arms": ARMS,
        "starts_at": start.isoformat(),
        "ends_at": (start + timedelta(days=30)).isoformat(),
        # A big planned effect, so that four members per arm are the planned sample.
        "plan": {"primary": "retention", "baseline": 0.05, "min_effect": 0.9, "window_days": 30},
    }
    made = service.call("POST", "/v1/experiments", "loyalty", expect=201, json=spec)
    # h = 2 asin √.95 − 2 asin √.05 = 2.2395; n = 2 × (2.8016 / h)² = 3.13 → 4
    assert made["sample_size_per_arm"] == sample_size_rate(0.05, 0.9) == 4
    x = made["id"]
    arms = _members_by_arm(service, x)
    for arm, ids in arms.items():
        for member in ids:
            cost = "45.00" if arm == "breakfast" else "38.00"
            body = {"member_id": member, "cost": cost}
            got = service.call("POST", f"/v1/experiments/{x}/exposures", "staff", json=body)
            assert got["arm"] == arm
    # Day 10: one breakfast member stays (2 × 1,000); two tea members stay (1 × 1,000).
    service.clock.advance(days=10)
    c1, t1, t2 = arms["breakfast"][0], arms["afternoon_tea"][0], arms["afternoon_tea"][1]
    _stay(service, c1, "sh01", 2, "1000.00")
    _stay(service, t1, "sh01", 1, "1000.00")
    _stay(service, t2, "sh01", 1, "1000.00")
    early = service.call("GET", f"/v1/experiments/{x}/analysis", "loyalty")
    assert early["verdict_ready"] is False
    assert "No verdict yet" in early["verdict"] and "runs until" in early["verdict"]
    service.clock.advance(days=25)  # past the end and every 30-day window
    result = service.call("GET", f"/v1/experiments/{x}/analysis", "loyalty")
    assert result["arms"] == {"breakfast": 4, "afternoon_tea": 4}
    by = {c["outcome"]: c for c in result["comparisons"]}
    # retention and repeat stay: 1/4 vs 2/4; pooled p = 3/8,
    # z = 0.25 / sqrt(3/8 × 5/8 × 2/4) = 0.7303, p = 2 (1 − Φ(z)) = 0.4652
    for outcome in ("retention", "repeat_stay"):
        assert (by[outcome]["control_value"], by[outcome]["arm_value"]) == pytest.approx(
            (0.25, 0.5)
        )
        assert by[outcome]["p"] == pytest.approx(0.46521, abs=1e-4)
        assert by[outcome]["p"] == pytest.approx(two_proportions(1, 4, 2, 4).p)
    # spend: [2000, 0, 0, 0] vs [1000, 1000, 0, 0]: both 500, no difference
    assert by["spend"]["control_value"] == pytest.approx(500)
    assert by["spend"]["diff"] == pytest.approx(0) and by["spend"]["p"] == pytest.approx(1)
    # benefit cost: 45 vs 38 for everyone: −7 CNY, no spread at all
    assert by["benefit_cost"]["diff"] == pytest.approx(-7) and by["benefit_cost"]["p"] == 0
    # Holm over the four p-values: the cost difference stays, the rest are 1 after it.
    assert by["benefit_cost"]["p_holm"] == 0
    assert by["retention"]["p_holm"] == pytest.approx(1)
    assert result["verdict_ready"] is True
    assert result["verdict"].startswith("Keep breakfast: no arm beat it on retention")
    assert "afternoon_tea vs breakfast, benefit_cost: -7.00 CNY per member" in result["verdict"]
    assert "a real difference" in result["verdict"]


def test_exposure_rules_and_errors(service: Service) -> None:
    start = service.clock.now()
    spec = {
        "name": "gold only",
        "benefit": "late_checkout",
        "segment": {"tiers": ["gold"]},
        "arms": ARMS,
        "starts_at": start.isoformat(),
        "ends_at": (start + timedelta(days=30)).isoformat(),
        "plan": {"primary": "spend", "baseline_sd": 1000, "min_effect": 100},
    }
    made = service.call("POST", "/v1/experiments", "loyalty", expect=201, json=spec)
    member = service.member()  # silver: not in the segment, nothing is logged
    out = service.call(
        "POST",
        f"/v1/experiments/{made['id']}/exposures",
        "staff",
        json={"member_id": member, "cost": "10.00"},
    )
    assert out["arm"] is None
    again = service.call("POST", "/v1/experiments", "loyalty", expect=409, json=spec)
    assert again["error"]["code"] == "experiment_exists"
    bad = {**spec, "name": "no baseline", "plan": {"primary": "retention", "min_effect": 0.05}}
    err = service.call("POST", "/v1/experiments", "loyalty", expect=422, json=bad)
    assert "needs baseline" in err["error"]["message"]
    bad = {**spec, "name": "one arm", "arms": ARMS[:1]}
    assert service.call("POST", "/v1/experiments", "loyalty", expect=422, json=bad)
    assert service.call("POST", "/v1/experiments", "staff", expect=403, json=spec)
    missing = service.call("GET", "/v1/experiments/x_nothing_here/analysis", "loyalty", expect=404)
    assert missing["error"]["code"] == "experiment_not_found"
