"""Reading an experiment: each exposed member's outcomes from the ledger, every treatment
arm against the control (the first arm) on every outcome, Holm-corrected, with a guard
against peeking and a verdict in plain words.

Outcomes, per member, over `window_days` from their first exposure:
  retention     did anything (stay, spend, redeem) between day 7 and the window's end;
  repeat_stay   checked out of a stay that ended more than a day after the exposure;
  spend         qualifying spend in the window (CNY);
  benefit_cost  what the benefit cost while exposed (CNY, from record_exposure).

Peeking guard: no verdict before the experiment has ended, every arm has the planned
sample, and every member's window has closed. Before that, the numbers are shown and
labelled interim, and the verdict says what is missing: reading early and stopping at the
first p < 0.05 inflates false positives several-fold.

    result = analyse(spec, info, rows, facts, as_of=now)    # pure
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from loyalty.analytics.experiments import OUTCOMES, RATES, ExperimentSpec
from loyalty.analytics.facts import Facts
from loyalty.analytics.selection import MEMBER_CODES
from loyalty.analytics.stats import Comparison, holm, two_proportions, welch

UNITS = {"retention": "rate", "repeat_stay": "rate", "spend": "CNY", "benefit_cost": "CNY"}


@dataclass(frozen=True)
class Exposed:
    member_id: str
    owner: str
    arm: str
    first_at: datetime
    cost_minor: int


@dataclass
class Result:
    arms: dict[str, int]
    planned_per_arm: int
    comparisons: list[dict[str, Any]] = field(default_factory=list)
    verdict_ready: bool = False
    verdict: str = ""


def outcomes(facts: Facts, exposed: list[Exposed], window_days: int) -> dict[str, dict[str, float]]:
    """member_id → outcome → value."""
    window = timedelta(days=window_days)
    events: defaultdict[str, list[datetime]] = defaultdict(list)
    for m in facts.moves:
        if m.code.startswith(MEMBER_CODES):
            events[m.owner].append(m.at)
    for st in facts.stays:
        events[st.owner].append(st.checked_out_at)
    stays: defaultdict[str, list[datetime]] = defaultdict(list)
    for st in facts.stays:
        stays[st.owner].append(st.checked_out_at)
    spend: defaultdict[str, list[tuple[datetime, int]]] = defaultdict(list)
    for s in facts.spends:
        spend[s.owner].append((s.at, s.minor))
    out: dict[str, dict[str, float]] = {}
    for e in exposed:
        start, end = e.first_at, e.first_at + window
        out[e.member_id] = {
            "retention": float(any(start + timedelta(days=7) < t <= end for t in events[e.owner])),
            "repeat_stay": float(any(start + timedelta(days=1) < t <= end for t in stays[e.owner])),
            "spend": sum(m for t, m in spend[e.owner] if start <= t < end) / 100,
            "benefit_cost": e.cost_minor / 100,
        }
    return out


def _compare(
    outcome: str, control: list[float], treatment: list[float], alpha: float
) -> Comparison:
    if outcome in RATES:
        return two_proportions(
            int(sum(control)), len(control), int(sum(treatment)), len(treatment), alpha=alpha
        )
    return welch(control, treatment, alpha=alpha)


def _words(outcome: str, c: Comparison, adjusted: float, alpha: float, arm: str, base: str) -> str:
    if outcome in RATES:
        change = (
            f"{c.diff * 100:+.1f} points ({c.control:.1%} → {c.treatment:.1%}; 95% CI "
            f"{c.ci_low * 100:+.1f} to {c.ci_high * 100:+.1f})"
        )
    else:
        change = (
            f"{c.diff:+,.2f} CNY per member ({c.control:,.2f} → {c.treatment:,.2f}; "
            f"95% CI {c.ci_low:+,.2f} to {c.ci_high:+,.2f})"
        )
    if adjusted < alpha:
        return (
            f"{arm} vs {base}, {outcome}: {change}, a real difference (Holm-adjusted p = "
            f"{adjusted:.3g})."
        )
    return (
        f"{arm} vs {base}, {outcome}: {change}; no difference shown (Holm-adjusted p = "
        f"{adjusted:.3g}), so treat it as no effect of at least the planned size."
    )


def analyse(
    spec: ExperimentSpec,
    planned_per_arm: int,
    exposed: list[Exposed],
    facts: Facts,
    *,
    as_of: datetime,
) -> Result:
    plan = spec.plan
    values = outcomes(facts, exposed, plan.window_days)
    by_arm: dict[str, list[str]] = {a.name: [] for a in spec.arms}
    for e in exposed:
        by_arm.setdefault(e.arm, []).append(e.member_id)
    result = Result({a: len(ids) for a, ids in by_arm.items()}, planned_per_arm)
    control = spec.arms[0].name
    raw: list[tuple[str, str, Comparison]] = []
    for arm in [a.name for a in spec.arms[1:]]:
        for name in OUTCOMES:
            a = [values[m][name] for m in by_arm[control]]
            b = [values[m][name] for m in by_arm[arm]]
            try:
                raw.append((arm, name, _compare(name, a, b, plan.alpha)))
            except ValueError:
                continue  # too few members in an arm to test yet
    adjusted = holm([c.p for _, _, c in raw], alpha=plan.alpha)
    for (arm, outcome, c), adj in zip(raw, adjusted, strict=True):
        result.comparisons.append(
            {
                "arm": arm,
                "control": control,
                "outcome": outcome,
                "unit": UNITS[outcome],
                "test": c.test,
                "control_value": c.control,
                "arm_value": c.treatment,
                "diff": c.diff,
                "ci_low": c.ci_low,
                "ci_high": c.ci_high,
                "p": c.p,
                "p_holm": adj,
                "n_control": c.n_control,
                "n_arm": c.n_treatment,
                "primary": outcome == plan.primary,
                "words": _words(outcome, c, adj, plan.alpha, arm, control),
            }
        )
    missing = []
    if as_of < spec.ends_at:
        missing.append(f"the experiment runs until {spec.ends_at.date()}")
    short = {a: n for a, n in result.arms.items() if n < planned_per_arm}
    if short:
        missing.append(
            "the plan needs "
            + f"{planned_per_arm:,} members per arm; "
            + ", ".join(f"{a} has {n:,}" for a, n in short.items())
        )
    last_window = max((e.first_at for e in exposed), default=spec.ends_at)
    if as_of < last_window + timedelta(days=plan.window_days):
        missing.append(
            f"the last outcome window closes on "
            f"{(last_window + timedelta(days=plan.window_days)).date()}"
        )
    if missing:
        result.verdict = (
            "No verdict yet (the figures are interim; reading them early and "
            "stopping at the first significant one inflates false positives): "
            + "; ".join(missing)
            + "."
        )
        return result
    result.verdict_ready = True
    primary = [c for c in result.comparisons if c["primary"]]
    lines = [c["words"] for c in primary] + [
        c["words"] for c in result.comparisons if not c["primary"]
    ]
    winners = [
        c["arm"]
        for c in primary
        if c["p_holm"] < plan.alpha and (c["diff"] > 0) == (plan.min_effect > 0)
    ]
    head = (
        f"Roll out {', '.join(winners)}: it beat {control} on {plan.primary}."
        if winners
        else f"Keep {control}: no arm beat it on {plan.primary} by a detectable amount."
    )
    result.verdict = " ".join([head, *lines])
    return result
