"""Programme KPIs for the loyalty team (role `loyalty`) and admins: JSON, CSV, and the
dashboard's server-rendered fragment (figures with their definitions, SVG trend charts)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response

from loyalty.analytics import dashboard
from loyalty.analytics.export import report_csv, report_json
from loyalty.analytics.figures import Report
from loyalty.analytics.service import QueryError, kpi_report, make_query
from loyalty.auth import Allow, Principal
from loyalty.edge.fields import Day, QueryInt
from loyalty.errors import ApiError
from loyalty.routers.common import ERRORS, ctx_of

router = APIRouter(tags=["analytics"], responses=ERRORS)
# The dashboard's page shell carries no data (it asks for a key, then fetches the fragment).
public = APIRouter(tags=["analytics"])
TEAM = Allow("loyalty", "admin")

Start = Annotated[Day, Query(description="first day of the period (inclusive)")]
End = Annotated[Day, Query(description="day after the period (exclusive)")]
PropertyQ = Annotated[str | None, Query(alias="property", pattern=r"^[A-Za-z0-9_.-]{1,32}$")]
TierQ = Annotated[str | None, Query(pattern=r"^[a-z][a-z0-9_]{0,31}$")]
SegmentQ = Annotated[
    str | None,
    Query(
        pattern=r"^[a-z_]{1,16}=[A-Za-z0-9_.+<>-]{1,32}$",
        description="KEY=VALUE with KEY age_band, gender or marketing (yes/no)",
    ),
]
MoneyQ = Annotated[Decimal | None, Query(ge=0, le=1_000_000_000, max_digits=16, decimal_places=4)]
Lang = Annotated[Literal["en", "zh"], Query()]
RateQ = Annotated[
    Decimal | None,
    Query(
        ge=0,
        le=1,
        max_digits=5,
        decimal_places=4,
        description="finance's expected redemption rate, instead of the history's estimate",
    ),
]


@dataclass
class KpiParams:
    """The query every report route takes (one definition serves JSON, CSV and HTML)."""

    start: Start
    end: End
    property_id: PropertyQ = None
    tier: TierQ = None
    segment: SegmentQ = None
    high_value_line: MoneyQ = None
    cost_per_point: MoneyQ = None
    inactive_days: Annotated[QueryInt, Query(ge=1, le=3650)] = 90
    expected_redemption_rate: RateQ = None


Params = Annotated[KpiParams, Depends()]


def _report(request: Request, p: KpiParams) -> Report:
    ctx = ctx_of(request)
    if (p.end - p.start).days > 3660:
        raise ApiError(422, "period_too_long", "a period may span at most ten years", field="end")
    if p.cost_per_point is not None and p.cost_per_point == 0:
        raise ApiError(
            422, "invalid_query", "cost_per_point must be more than 0", field="cost_per_point"
        )
    try:
        query = make_query(
            ctx.programme,
            start=p.start,
            end=p.end,
            property_id=p.property_id,
            tier=p.tier,
            segment=p.segment,
            high_value_line=p.high_value_line,
            cost_per_point=p.cost_per_point,
            inactive_days=p.inactive_days,
            expected_redemption_rate=p.expected_redemption_rate,
        )
    except QueryError as exc:
        raise ApiError(422, "invalid_query", str(exc), field=exc.field) from None
    return kpi_report(ctx.engine, ctx.programme, query)


@router.get("/analytics/kpis")
def kpis(request: Request, p: Params, who: Principal = Depends(TEAM)) -> dict[str, Any]:
    """Every programme figure for [start, end), each with its definition; tier
    distribution and year-over-year migration, retention by tier, issue cohorts (breakage),
    monthly and quarterly trends, and the members drifting away (win-back list)."""
    return report_json(_report(request, p))


@router.get("/analytics/kpis.csv", response_class=Response)
def kpis_csv(
    request: Request, p: Params, lang: Lang = "en", who: Principal = Depends(TEAM)
) -> Response:
    """The same report as CSV (figures with definitions, monthly trend, tiers, win-back)."""
    name = f"kpis-{p.start.isoformat()}-{p.end.isoformat()}.csv"
    return Response(
        report_csv(_report(request, p), lang),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@router.get("/analytics/dashboard", response_class=HTMLResponse)
def dashboard_fragment(
    request: Request, p: Params, lang: Lang = "en", who: Principal = Depends(TEAM)
) -> HTMLResponse:
    """The dashboard's report as HTML: figures with definitions, SVG trend charts, tiers,
    cohorts and the win-back list (what /analytics/dashboard shows)."""
    return HTMLResponse(dashboard.fragment(_report(request, p), lang))


@public.get("/analytics/dashboard", response_class=HTMLResponse)
def dashboard_page(request: Request, lang: Lang = "en") -> HTMLResponse:
    """The programme-economics dashboard (English or Chinese). The page holds no data: it
    asks for a loyalty-team API key and fetches the report with it."""
    ctx = ctx_of(request)
    today = ctx.clock.now().date()
    start = today.replace(month=1, day=1)
    headers = {
        "Content-Security-Policy": "default-src 'self'; style-src 'unsafe-inline'; "
        "script-src 'unsafe-inline'; img-src 'self' data: blob:"
    }
    html = dashboard.page(
        lang,
        start=start.isoformat(),
        end=today.isoformat() if today > start else "",
        tiers=ctx.programme.tier_names,
    )
    return HTMLResponse(html, headers=headers)
