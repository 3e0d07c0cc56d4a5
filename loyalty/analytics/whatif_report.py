"""Proposed rule changes as copies of a programme, and the side-by-side table of a what-if
run (current vs proposed). Pure.

    proposed = propose(programme, multipliers={"off_peak": "1.5"}, expiry_months=24,
                       point_value="0.0125")
    rows = side_by_side(pop, programme, proposed, current_tally, proposed_tally)
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from loyalty.analytics.population import Population
from loyalty.analytics.whatif import Tally
from loyalty.rules.programme import Programme

SHARE = Decimal("0.0001")


def propose(
    programme: Programme,
    *,
    multipliers: dict[str, str] | None = None,
    expiry_months: int | None = None,
    point_value: str | None = None,
) -> Programme:
    """A changed copy (validated like a programme file: a bad value raises ValueError)."""
    data = programme.model_dump()
    for name, factor in (multipliers or {}).items():
        found = [m for m in data["earn"]["multipliers"] if m["name"] == name]
        if not found:
            known = ", ".join(m["name"] for m in data["earn"]["multipliers"])
            raise ValueError(f"no multiplier {name!r} in the programme (known: {known})")
        found[0]["factor"] = Decimal(factor)
    if expiry_months is not None:
        data["expiry"]["months_after_earning"] = expiry_months
        data["expiry"]["inactivity_months"] = expiry_months
    if point_value is not None:
        data["redemption"]["point_value"] = Decimal(point_value)
    data["version"] = f"{programme.version}+proposal"[:32]
    return Programme.model_validate(data)


def _share(a: int | Decimal, b: int | Decimal) -> Decimal | None:
    return (Decimal(a) / Decimal(b)).quantize(SHARE, rounding=ROUND_HALF_EVEN) if b else None


def figures(pop: Population, programme: Programme, t: Tally) -> dict[str, Any]:
    pv = programme.redemption.point_value
    revenue = Decimal(t.revenue_minor) / 100
    leaving = t.redeemed + t.expired
    err = _share(t.redeemed, leaving) or Decimal(0)
    return {
        "members": t.members,
        "points_issued": t.issued,
        "points_redeemed": t.redeemed,
        "points_expired": t.expired,
        "award_nights": t.award_nights,
        "points_cost": (t.issued * pv).quantize(Decimal("0.01")),
        "points_cost_share": _share(t.issued * pv, revenue),
        "redemption_cost": (t.redeemed * pv).quantize(Decimal("0.01")),
        "breakage_rate": _share(t.expired, leaving),
        "points_outstanding_end": t.closing,
        "liability_end": (t.closing * pv * err).quantize(Decimal("0.01")),
        "liability_gross_end": (t.closing * pv).quantize(Decimal("0.01")),
        "revenue": revenue.quantize(Decimal("0.01")),
        "quarterly_active_rate": _share(sum(t.active_quarters), 4 * t.members),
        "repeat_stay_rate": _share(t.repeaters, t.stayers),
        "high_value_share": _share(t.high_value, t.members),
        "retention_bonuses": t.bonuses,
        **{f"tier_{name}_end": t.tiers_end.get(name, 0) for name in programme.tier_names},
    }


def side_by_side(
    pop: Population, current: Programme, proposed: Programme, a: Tally, b: Tally
) -> list[dict[str, Any]]:
    left, right = figures(pop, current, a), figures(pop, proposed, b)
    rows = []
    for key, value in left.items():
        other = right[key]
        change = None
        if isinstance(value, int | Decimal) and isinstance(other, int | Decimal):
            change = other - value
        rows.append({"figure": key, "current": value, "proposed": other, "change": change})
    return rows


def markdown(rows: list[dict[str, Any]]) -> str:
    def cell(v: Any) -> str:
        if v is None:
            return "–"
        if isinstance(v, int):
            return f"{v:,}"
        return f"{v:,}" if isinstance(v, Decimal) else str(v)

    lines = ["| figure | current | proposed | change |", "|---|---:|---:|---:|"]
    lines += [
        f"| {r['figure']} | {cell(r['current'])} | {cell(r['proposed'])} | {cell(r['change'])} |"
        for r in rows
    ]
    return "\n".join(lines)
