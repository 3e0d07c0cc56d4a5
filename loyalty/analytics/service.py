"""The thin layer between the API/CLI and the pure KPI code: validate a query against the
programme, read the ledger rows it needs, compute.

    r = kpi_report(engine, programme, start=date(2026, 1, 1), end=date(2027, 1, 1),
                   tier="gold", segment="age_band=30-50")
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine

from loyalty.analytics.facts import load_facts
from loyalty.analytics.figures import Query, Report
from loyalty.analytics.kpis import report
from loyalty.analytics.selection import at, parse_segment
from loyalty.rules.programme import Programme


class QueryError(ValueError):
    """A KPI query the programme cannot answer; `field` names the parameter to fix."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(message)


def make_query(
    programme: Programme,
    *,
    start: date,
    end: date,
    property_id: str | None = None,
    tier: str | None = None,
    segment: str | None = None,
    high_value_line: Decimal | None = None,
    cost_per_point: Decimal | None = None,
    inactive_days: int = 90,
    expected_redemption_rate: Decimal | None = None,
) -> Query:
    if tier is not None and tier not in programme.tier_names:
        raise QueryError(
            "tier", f"unknown tier {tier!r}; the tiers are {', '.join(programme.tier_names)}"
        )
    try:
        parsed = parse_segment(segment)
    except ValueError as exc:
        raise QueryError("segment", str(exc)) from None
    line = high_value_line
    if line is None:
        # Default line: the spend that earns the second tier (gold in the default programme).
        second = programme.tiers[1] if len(programme.tiers) > 1 else programme.tiers[0]
        line = second.qualify.spend or Decimal(0)
    try:
        return Query(
            start=start,
            end=end,
            property_id=property_id,
            tier=tier,
            segment=parsed,
            high_value_line=line,
            cost_per_point=cost_per_point,
            inactive_days=inactive_days,
            redemption_rate_override=expected_redemption_rate,
        )
    except ValueError as exc:
        field = "end" if "period" in str(exc) else "query"
        field = "expected_redemption_rate" if "redemption rate" in str(exc) else field
        raise QueryError(field, str(exc)) from None


def kpi_report(engine: Engine, programme: Programme, query: Query) -> Report:
    with engine.connect() as conn:
        facts = load_facts(conn, until=at(query.end))
    return report(facts, programme, query)


def experiment_analysis(engine: Engine, experiment_id: str, *, as_of: datetime) -> dict[str, Any]:
    """The analysis of an experiment as of a moment (outcomes read from the ledger)."""
    from loyalty.analytics import experiments as ex
    from loyalty.analytics.trial import Exposed, analyse

    with engine.connect() as conn:
        spec, info = ex.load(conn, experiment_id)
        rows = ex.exposures(conn, experiment_id)
        facts = load_facts(conn, until=as_of)
    exposed = [
        Exposed(
            r.member_id, r.pseudonym or f"erased:{r.member_id}", r.arm, r.first_at, r.cost_minor
        )
        for r in rows
    ]
    result = analyse(spec, info["sample_size_per_arm"], exposed, facts, as_of=as_of)
    return {
        "id": experiment_id,
        "name": spec.name,
        "as_of": as_of.isoformat(),
        "arms": result.arms,
        "planned_per_arm": result.planned_per_arm,
        "verdict_ready": result.verdict_ready,
        "verdict": result.verdict,
        "comparisons": result.comparisons,
    }
