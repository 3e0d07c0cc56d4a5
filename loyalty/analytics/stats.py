"""The statistics of benefit experiments, on scipy and statsmodels. Pure.

* means (spend, benefit cost): Welch's t-test (unequal variances) and its confidence
  interval with Welch–Satterthwaite degrees of freedom;
* rates (retention, repeat stay): the two-proportion z-test (pooled), and a Wald
  interval for the difference;
* several outcomes × arms read at once: Holm's step-down correction (family-wise error
  held at alpha, uniformly more powerful than Bonferroni);
* sample size per arm for a stated minimum effect at alpha and power (two-sided).

    welch([120.0, 80.5, ...], [100.0, 95.0, ...])      # Comparison(diff=..., p=..., ...)
    two_proportions(45, 100, 30, 100)                   # arm B vs control A
    sample_size_rate(0.28, 0.03)                        # members per arm
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

# numpy, scipy and statsmodels take seconds to import: they are imported where a test
# runs, so the service (which imports this module through its experiment routes) starts
# as fast as before.


@dataclass(frozen=True)
class Comparison:
    """Treatment minus control."""

    control: float
    treatment: float
    diff: float
    ci_low: float
    ci_high: float
    p: float
    n_control: int
    n_treatment: int
    test: str


def welch(
    control: Sequence[float], treatment: Sequence[float], *, alpha: float = 0.05
) -> Comparison:
    import numpy as np
    from scipy import stats

    a = np.asarray(control, dtype=float)
    b = np.asarray(treatment, dtype=float)
    if len(a) < 2 or len(b) < 2:
        raise ValueError("Welch's t-test needs at least two members in each arm")
    diff = float(b.mean() - a.mean())
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    se = math.sqrt(va + vb)
    if se == 0:
        p = 1.0 if diff == 0 else 0.0
        return Comparison(
            float(a.mean()), float(b.mean()), diff, diff, diff, p, len(a), len(b), "welch_t"
        )
    df = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))
    p = float(stats.ttest_ind(b, a, equal_var=False).pvalue)
    half = float(stats.t.ppf(1 - alpha / 2, df)) * se
    return Comparison(
        float(a.mean()),
        float(b.mean()),
        diff,
        diff - half,
        diff + half,
        p,
        len(a),
        len(b),
        "welch_t",
    )


def two_proportions(
    x_control: int, n_control: int, x_treatment: int, n_treatment: int, *, alpha: float = 0.05
) -> Comparison:
    from scipy import stats
    from statsmodels.stats.proportion import proportions_ztest

    if n_control < 1 or n_treatment < 1:
        raise ValueError("a rate needs at least one member in each arm")
    p1, p2 = x_control / n_control, x_treatment / n_treatment
    diff = p2 - p1
    if x_control + x_treatment in (0, n_control + n_treatment):
        p = 1.0  # everyone or no one: no evidence of a difference
    else:
        _z, pv = proportions_ztest([x_treatment, x_control], [n_treatment, n_control])
        p = float(pv)
    se = math.sqrt(p1 * (1 - p1) / n_control + p2 * (1 - p2) / n_treatment)
    half = float(stats.norm.ppf(1 - alpha / 2)) * se
    return Comparison(
        p1, p2, diff, diff - half, diff + half, p, n_control, n_treatment, "two_proportion_z"
    )


def holm(p_values: Sequence[float], *, alpha: float = 0.05) -> list[float]:
    """Holm-adjusted p-values (compare each with alpha)."""
    from statsmodels.stats.multitest import multipletests

    if not p_values:
        return []
    _reject, adjusted, _s, _b = multipletests(list(p_values), alpha=alpha, method="holm")
    return [float(x) for x in adjusted]


def sample_size_rate(
    baseline: float, min_effect: float, *, alpha: float = 0.05, power: float = 0.8
) -> int:
    """Members per arm to detect a rate moving from `baseline` by `min_effect` (absolute)."""
    from statsmodels.stats.power import NormalIndPower
    from statsmodels.stats.proportion import proportion_effectsize

    target = baseline + min_effect
    if not 0 < baseline < 1 or not 0 < target < 1 or min_effect == 0:
        raise ValueError("baseline and baseline + min_effect must lie strictly between 0 and 1")
    h = abs(proportion_effectsize(target, baseline))
    n = NormalIndPower().solve_power(effect_size=h, alpha=alpha, power=power, ratio=1.0)
    return math.ceil(float(n))


def sample_size_mean(
    sd: float, min_effect: float, *, alpha: float = 0.05, power: float = 0.8
) -> int:
    """Members per arm to detect a mean moving by `min_effect` when members vary by `sd`."""
    from statsmodels.stats.power import TTestIndPower

    if sd <= 0 or min_effect == 0:
        raise ValueError("sd must be positive and min_effect not zero")
    n = TTestIndPower().solve_power(
        effect_size=abs(min_effect) / sd, alpha=alpha, power=power, ratio=1.0
    )
    return math.ceil(float(n))
