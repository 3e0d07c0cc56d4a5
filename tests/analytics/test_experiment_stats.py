"""The experiment statistics: each test against a hand computation, then checked on
simulated experiments with a known effect — power and false-positive rate measured over
many runs (a few hundred here; bench/analytics_experiments.py runs thousands), and the
peeking guard's reason to exist: stopping at the first significant interim look inflates
false positives."""

from __future__ import annotations

import math

import numpy as np
import pytest

from loyalty.analytics.experiments import Arm, assign_arm, bucket
from loyalty.analytics.stats import (
    holm,
    sample_size_mean,
    sample_size_rate,
    two_proportions,
    welch,
)
from loyalty.analytics.trial_sim import simulate_means, simulate_peeking, simulate_rates


def test_welch_by_hand() -> None:
    # means 2.5 and 4.5; variances 5/3 each; se = sqrt(2 × 5/12) = 0.9129; df = 6
    c = welch([1, 2, 3, 4], [3, 4, 5, 6])
    assert c.diff == 2.0
    half = 2.446912 * math.sqrt(5 / 6)  # t(0.975, 6) × se
    assert c.ci_low == pytest.approx(2 - half, abs=1e-5)
    assert c.ci_high == pytest.approx(2 + half, abs=1e-5)
    assert c.p == pytest.approx(0.07099, abs=1e-4)  # t = 2.1909 on 6 df, two-sided


def test_two_proportions_by_hand() -> None:
    # pooled p = 0.375, se0 = sqrt(.375 × .625 × 2/100) = 0.06847, z = 0.15 / se0 = 2.1909
    c = two_proportions(30, 100, 45, 100)
    assert c.diff == pytest.approx(0.15)
    assert c.p == pytest.approx(2 * (1 - 0.985770), abs=1e-4)  # 2 × (1 − Φ(2.1909))
    se = math.sqrt(0.3 * 0.7 / 100 + 0.45 * 0.55 / 100)  # unpooled, for the interval
    assert c.ci_low == pytest.approx(0.15 - 1.959964 * se, abs=1e-6)
    assert two_proportions(0, 10, 0, 12).p == 1.0


def test_holm_and_sample_sizes() -> None:
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    # Cohen's h for 0.30 → 0.35 is 0.10682; each arm's arcsine has variance 1/n, so
    # n = 2 × ((1.95996 + 0.84162) / h)^2 = 1375.6 → 1376 (Cohen's table: h = 0.2 → 392)
    h = 2 * math.asin(math.sqrt(0.35)) - 2 * math.asin(math.sqrt(0.30))
    assert sample_size_rate(0.30, 0.05) == math.ceil(2 * ((1.959964 + 0.841621) / h) ** 2) == 1376
    p2 = math.sin(math.pi / 4 + 0.1) ** 2  # h = 0.2 from 0.5
    assert sample_size_rate(0.5, p2 - 0.5) == 393  # Cohen's table: 392 (rounded z)
    # t-test: ≈ 2 × (1.96 + 0.84)^2 / d^2 + a little for the t distribution
    assert sample_size_mean(1000, 100) in range(1570, 1575)
    with pytest.raises(ValueError, match="strictly between"):
        sample_size_rate(0.98, 0.05)


def test_assignment_is_sticky_and_follows_weights() -> None:
    arms = [Arm(name="breakfast", weight=3, benefit="b"), Arm(name="tea", weight=1, benefit="t")]
    first = [assign_arm("x_exp1", arms, f"m_{i}") for i in range(4000)]
    assert first == [assign_arm("x_exp1", arms, f"m_{i}") for i in range(4000)]
    share = first.count("breakfast") / 4000
    assert 0.72 < share < 0.78  # 3:1
    other = [assign_arm("x_exp2", arms, f"m_{i}") for i in range(4000)]
    agree = sum(a == b for a, b in zip(first, other, strict=True)) / 4000
    assert 0.59 < agree < 0.66  # independent across experiments: 0.75² + 0.25² = 0.625
    assert 0 <= bucket("x", "m") < 1


def test_power_and_false_positives_on_simulated_experiments() -> None:
    rng = np.random.default_rng(20)
    # Rates: 28% repeat rate, planned to detect +5 points at 80% power.
    power = simulate_rates(rng, baseline=0.28, effect=0.05, runs=300)
    null = simulate_rates(rng, baseline=0.28, effect=0.0, runs=300, planned_effect=0.05)
    assert 0.72 <= power <= 0.88, power
    assert null <= 0.09, null
    # Means: spend varying by 1,000 CNY, planned for +100 CNY.
    power = simulate_means(rng, sd=1000, effect=100, runs=200)
    null = simulate_means(rng, sd=1000, effect=0, runs=200, planned_effect=100)
    assert 0.70 <= power <= 0.90, power
    assert null <= 0.10, null


def test_peeking_inflates_false_positives_and_the_guard_does_not() -> None:
    rng = np.random.default_rng(7)
    peeking, guarded = simulate_peeking(rng, baseline=0.28, planned_effect=0.05, looks=10, runs=300)
    assert guarded <= 0.09, guarded
    assert peeking >= 2 * guarded and peeking >= 0.12, (peeking, guarded)
