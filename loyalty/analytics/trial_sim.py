"""Simulated experiments with a known effect, to check the statistics: the share of runs
that find the effect (power) or find one that is not there (false-positive rate), using
the same sample-size and test functions the analysis uses. Seeded numpy generators."""

from __future__ import annotations

import numpy as np

from loyalty.analytics.stats import sample_size_mean, sample_size_rate, two_proportions, welch


def simulate_rates(
    rng: np.random.Generator,
    *,
    baseline: float,
    effect: float,
    runs: int,
    planned_effect: float | None = None,
    alpha: float = 0.05,
) -> float:
    """Share of runs with p < alpha, each arm of the planned size."""
    n = sample_size_rate(baseline, planned_effect or effect, alpha=alpha)
    hits = 0
    for _ in range(runs):
        a = int(rng.binomial(n, baseline))
        b = int(rng.binomial(n, baseline + effect))
        hits += two_proportions(a, n, b, n, alpha=alpha).p < alpha
    return hits / runs


def simulate_means(
    rng: np.random.Generator,
    *,
    sd: float,
    effect: float,
    runs: int,
    planned_effect: float | None = None,
    alpha: float = 0.05,
) -> float:
    n = sample_size_mean(sd, planned_effect or effect, alpha=alpha)
    hits = 0
    for _ in range(runs):
        a = rng.normal(0, sd, n)
        b = rng.normal(effect, sd * 1.2, n)  # unequal variances: what Welch is for
        hits += welch(a.tolist(), b.tolist(), alpha=alpha).p < alpha
    return hits / runs


def simulate_peeking(
    rng: np.random.Generator,
    *,
    baseline: float,
    planned_effect: float,
    looks: int,
    runs: int,
    alpha: float = 0.05,
) -> tuple[float, float]:
    """No true effect. (false-positive rate when stopping at the first of `looks` evenly
    spaced interim looks with p < alpha, false-positive rate reading only at the end)."""
    n = sample_size_rate(baseline, planned_effect, alpha=alpha)
    peeking = guarded = 0
    for _ in range(runs):
        a = rng.random(n) < baseline
        b = rng.random(n) < baseline
        seen = False
        for k in range(1, looks + 1):
            m = n * k // looks
            if two_proportions(int(a[:m].sum()), m, int(b[:m].sum()), m).p < alpha:
                seen = True
                break
        peeking += seen
        guarded += two_proportions(int(a.sum()), n, int(b.sum()), n).p < alpha
    return peeking / runs, guarded / runs
