"""The experiment statistics on many simulated experiments with a known effect: power
(the effect is there and found), false-positive rate (no effect, one claimed) and what
peeking does, over thousands of runs (the test suite runs a few hundred). Timing against
a baseline in the same run: the rate test alone.

    ./dev python -m bench.analytics_experiments               # records in docs/benchmarks.md
    ./dev python -m bench.analytics_experiments --runs 500 --no-record
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from bench.record import record
from loyalty.analytics.stats import sample_size_mean, sample_size_rate
from loyalty.analytics.trial_sim import simulate_means, simulate_peeking, simulate_rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5000)
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args()
    rng = np.random.default_rng(2026)
    n = args.runs
    rows = []
    t = time.perf_counter()
    power = simulate_rates(rng, baseline=0.28, effect=0.05, runs=n)
    rate_s = time.perf_counter() - t
    rows.append(
        (
            "repeat rate 28% → 33%, planned 80% power",
            sample_size_rate(0.28, 0.05),
            "power",
            power,
            "0.80",
        )
    )
    rows.append(
        (
            "repeat rate 28% → 28% (no effect)",
            sample_size_rate(0.28, 0.05),
            "false positives",
            simulate_rates(rng, baseline=0.28, effect=0.0, runs=n, planned_effect=0.05),
            "0.05",
        )
    )
    t = time.perf_counter()
    power = simulate_means(rng, sd=1000, effect=100, runs=n // 5)
    mean_s = time.perf_counter() - t
    rows.append(
        (
            "spend +100 CNY (sd 1,000 / 1,200), planned 80% power",
            sample_size_mean(1000, 100),
            "power",
            power,
            "0.80",
        )
    )
    rows.append(
        (
            "spend +0 CNY (no effect)",
            sample_size_mean(1000, 100),
            "false positives",
            simulate_means(rng, sd=1000, effect=0, runs=n // 5, planned_effect=100),
            "0.05",
        )
    )
    peeking, guarded = simulate_peeking(
        rng, baseline=0.28, planned_effect=0.05, looks=10, runs=n // 5
    )
    rows.append(
        (
            "no effect, stop at the first of 10 looks with p < 0.05",
            sample_size_rate(0.28, 0.05),
            "false positives",
            peeking,
            "0.05",
        )
    )
    rows.append(
        (
            "no effect, read once at the planned end (the guard)",
            sample_size_rate(0.28, 0.05),
            "false positives",
            guarded,
            "0.05",
        )
    )
    table = "\n".join(
        [
            "| simulated experiment | members per arm | measured | rate | nominal |",
            "|---|---:|---|---:|---:|",
        ]
        + [
            f"| {name} | {size:,} | {what} | {value:.3f} | {nominal} |"
            for name, size, what, value, nominal in rows
        ]
    )
    body = f"""
`./dev python -m bench.analytics_experiments` ({n:,} runs for rates, {n // 5:,} for means and
peeking; seeded). Each run draws both arms at the planned size and tests them with the
functions the experiment analysis uses (`loyalty.analytics.stats`).

{table}

Time: {rate_s / n * 1000:.2f} ms per two-proportion run (the baseline), {
        mean_s / (n // 5) * 1000:.2f} ms per Welch run with {
        sample_size_mean(1000, 100):,} members an arm
({mean_s / (n // 5) / (rate_s / n):.1f}× the baseline).
"""
    print(body)
    if not args.no_record:
        record("analytics-experiments", "Experiment statistics on simulated experiments", body)


if __name__ == "__main__":
    main()
