"""A report as JSON-ready data and as CSV (one row per figure, then the tables), and the
labels of each figure in English and Chinese (the dashboard and the CSV use them)."""

from __future__ import annotations

import csv
import io
from dataclasses import asdict
from decimal import Decimal
from typing import Any

from loyalty.analytics.figures import Report

LABELS: dict[str, tuple[str, str]] = {
    "points_issued": ("Points issued", "发放积分"),
    "points_redeemed": ("Points redeemed", "兑换积分"),
    "points_expired": ("Points expired", "过期积分"),
    "redemption_rate": ("Redemption rate", "兑换率"),
    "expected_redemption_rate": ("Expected redemption rate", "预计兑换率"),
    "breakage_rate": ("Breakage", "积分沉淀率"),
    "points_outstanding": ("Points outstanding", "未兑换积分"),
    "liability": ("Points liability (expected)", "积分负债（预计）"),
    "liability_gross": ("Points liability (gross)", "积分负债（全额）"),
    "revenue": ("Member revenue", "会员收入"),
    "points_cost": ("Points cost", "积分成本"),
    "points_cost_share": ("Points cost share of revenue", "积分成本占收入比"),
    "points_cost_expected_share": ("Expected points cost share", "预计积分成本占比"),
    "quarterly_active_rate": ("Quarterly active members", "季度活跃会员率"),
    "repeat_stay_rate": ("Repeat-stay rate", "复购（再次入住）率"),
    "high_value_share": ("High-value members", "高价值会员占比"),
    "tier_up_share": ("Tier upgrades (YoY)", "等级上升（同比）"),
    "tier_down_share": ("Tier downgrades (YoY)", "等级下降（同比）"),
    "retention": ("Retention", "会员留存率"),
    "member_lifetime_value": ("Member lifetime value", "会员生命周期价值"),
    "drifting_members": ("Drifting members (win-back)", "流失预警会员"),
    "revenue_deferred": ("Revenue deferred to points", "递延至积分的收入"),
    "revenue_recognised_from_points": ("Revenue recognised from points", "积分确认收入"),
    "contract_liability": ("Contract liability (points)", "合同负债（积分）"),
}


def label(key: str, lang: str) -> str:
    en, zh = LABELS.get(key, (key, key))
    return zh if lang == "zh" else en


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def report_json(report: Report) -> dict[str, Any]:
    q = report.query
    out: dict[str, Any] = _plain(
        {
            "query": {
                "start": q.start,
                "end": q.end,
                "property_id": q.property_id,
                "tier": q.tier,
                "segment": "=".join(q.segment) if q.segment else None,
                "high_value_line": q.high_value_line,
                "cost_per_point": q.cost_per_point,
                "inactive_days": q.inactive_days,
            },
            "currency": report.currency,
            "figures": [
                {**asdict(f), "label_en": label(f.key, "en"), "label_zh": label(f.key, "zh")}
                for f in report.figures
            ],
            "tier_distribution": report.tier_distribution,
            "tier_migration": report.tier_migration,
            "retention_by_tier": report.retention_by_tier,
            "cohorts": report.cohorts,
            "monthly": report.monthly,
            "quarterly": report.quarterly,
            "drifting": [asdict(d) for d in report.drifting],
        }
    )
    return out


def report_csv(report: Report, lang: str = "en") -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["section", "key", "label", "value", "unit", "flag", "definition"])
    for f in report.figures:
        value = "" if f.value is None else str(f.value)
        w.writerow(["figure", f.key, label(f.key, lang), value, f.unit, f.flag or "", f.definition])
    for row in report.monthly:
        for key in ("issued", "redeemed", "expired", "revenue", "points_cost_share"):
            cell = row[key]
            w.writerow(
                ["monthly", key, row["month"], "" if cell is None else str(cell), "", "", ""]
            )
    for tier, count in report.tier_distribution.items():
        w.writerow(["tier_distribution", tier, tier, count, "members", "", ""])
    for d in report.drifting:
        w.writerow(
            ["drifting", d.member_id, d.tier, d.days_inactive, "days", "", str(d.last_activity)]
        )
    return buf.getvalue()
