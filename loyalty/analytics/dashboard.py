"""The dashboard: a page shell (no data: it asks for the loyalty team's API key and the
period) and the report fragment it fetches with that key — figures with their definitions,
trend charts as server-rendered SVG, the tables and the win-back list, in English or
Chinese. Jinja with autoescaping; the charts escape their own text."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Literal

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

from loyalty.analytics import charts
from loyalty.analytics.export import label
from loyalty.analytics.figures import Figure, Report

Lang = Literal["en", "zh"]

TEXT: dict[str, tuple[str, str]] = {
    "title": ("Programme economics", "会员计划经营分析"),
    "key": ("API key (loyalty team)", "API 密钥（会员团队）"),
    "start": ("From", "开始日期"),
    "end": ("Until (exclusive)", "结束日期（不含）"),
    "property": ("Property", "酒店"),
    "tier": ("Tier", "等级"),
    "segment": ("Segment", "细分人群"),
    "all": ("all", "全部"),
    "show": ("Show", "查询"),
    "csv": ("Export CSV", "导出 CSV"),
    "points": ("Points", "积分"),
    "liability": ("Liability and finance", "负债与财务"),
    "members": ("Members", "会员"),
    "chart_points": ("Points by month", "每月积分"),
    "chart_cost": ("Points cost share of revenue (band 2–5%)", "积分成本占收入比（目标 2–5%）"),
    "chart_active": (
        "Quarterly active members (plan: 35% → 50%)",
        "季度活跃会员率（目标 35% → 50%）",
    ),
    "chart_tiers": ("Members by tier", "各等级会员人数"),
    "chart_cohorts": ("Issue cohorts: where each month's points went", "发放批次：每月积分的去向"),
    "issued": ("issued", "发放"),
    "redeemed": ("redeemed", "兑换"),
    "expired": ("expired", "过期"),
    "open": ("open", "未使用"),
    "cost_share": ("cost share", "成本占比"),
    "active": ("active", "活跃"),
    "members_n": ("members", "会员数"),
    "migration": ("Tier migration (earned last year → this year)", "等级迁移（去年 → 今年）"),
    "retention": ("Retention by tier", "各等级留存率"),
    "drifting": ("Drifting members: win-back list", "流失预警：挽回名单"),
    "member": ("Member", "会员"),
    "last_activity": ("Last activity", "最近活动"),
    "days": ("Days quiet", "沉默天数"),
    "spend_12m": ("Spend, last 12 months", "近 12 个月消费"),
    "none": ("Nobody is drifting.", "暂无流失预警会员。"),
    "flag_below_band": ("below the 2–5% band", "低于 2–5% 区间"),
    "flag_above_band": ("above the 2–5% band", "高于 2–5% 区间"),
    "prompt": ("Enter the key and a period, then Show.", "请输入密钥和日期，然后点击查询。"),
}

SECTIONS = {
    "points": [
        "points_issued",
        "points_redeemed",
        "points_expired",
        "redemption_rate",
        "expected_redemption_rate",
        "breakage_rate",
        "points_cost",
        "points_cost_share",
        "points_cost_expected_share",
    ],
    "liability": [
        "points_outstanding",
        "liability",
        "liability_gross",
        "revenue",
        "revenue_deferred",
        "revenue_recognised_from_points",
        "contract_liability",
    ],
    "members": [
        "quarterly_active_rate",
        "repeat_stay_rate",
        "high_value_share",
        "tier_up_share",
        "tier_down_share",
        "retention",
        "member_lifetime_value",
        "drifting_members",
    ],
}

_env = Environment(
    loader=FileSystemLoader(Path(__file__).resolve().parent / "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)


def _num(value: object) -> float:
    assert isinstance(value, int | Decimal | float) or value is None
    return float(value or 0)


def _opt(value: object) -> float | None:
    return None if value is None else _num(value)


def text(lang: Lang) -> dict[str, str]:
    return {k: (zh if lang == "zh" else en) for k, (en, zh) in TEXT.items()}


def shown(f: Figure, currency: str) -> str:
    if f.value is None:
        return "–"
    if f.unit == "share":
        return f"{Decimal(f.value) * 100:.1f}%"
    if f.unit == "money":
        return f"{currency} {Decimal(f.value):,.2f}"
    return f"{f.value:,}"


def page(lang: Lang, *, start: str, end: str, tiers: list[str]) -> str:
    return _env.get_template("dashboard_page.html").render(
        t=text(lang), lang=lang, start=start, end=end, tiers=tiers
    )


def fragment(report: Report, lang: Lang) -> str:
    t = text(lang)
    months = [str(m["month"]) for m in report.monthly]

    def series(key: str) -> list[float]:
        return [_num(m[key]) for m in report.monthly]

    shares: list[float | None] = [_opt(m["points_cost_share"]) for m in report.monthly]
    quarters = [str(q["quarter"]) for q in report.quarterly]
    active: list[float | None] = [_opt(q["active_rate"]) for q in report.quarterly]
    cohorts = report.cohorts[-12:]
    figures = {f.key: f for f in report.figures}
    svg = {
        "points": charts.bars(
            t["chart_points"],
            months,
            {
                t["issued"]: series("issued"),
                t["redeemed"]: series("redeemed"),
                t["expired"]: series("expired"),
            },
        ),
        "cost": charts.line(
            t["chart_cost"], months, {t["cost_share"]: shares}, band=(0.02, 0.05), percent=True
        ),
        "active": charts.line(
            t["chart_active"], quarters, {t["active"]: active}, target=0.35, percent=True
        ),
        "tiers": charts.bars(
            t["chart_tiers"],
            list(report.tier_distribution),
            {t["members_n"]: [float(v) for v in report.tier_distribution.values()]},
        ),
        "cohorts": charts.bars(
            t["chart_cohorts"],
            [str(c["month"]) for c in cohorts],
            {
                t["redeemed"]: [_num(c["redeemed"]) for c in cohorts],
                t["expired"]: [_num(c["expired"]) for c in cohorts],
                t["open"]: [_num(c["open"]) for c in cohorts],
            },
        ),
    }
    sections = [
        (
            t[name],
            [
                (f, label(f.key, lang), shown(f, report.currency))
                for f in (figures[k] for k in keys if k in figures)
            ],
        )
        for name, keys in SECTIONS.items()
    ]
    return _env.get_template("dashboard_fragment.html").render(
        t=t,
        lang=lang,
        report=report,
        sections=sections,
        charts={k: Markup(v) for k, v in svg.items()},  # noqa: S704 - built escaped above
        retention={
            k: "–" if v is None else f"{v * 100:.1f}%" for k, v in report.retention_by_tier.items()
        },
    )
