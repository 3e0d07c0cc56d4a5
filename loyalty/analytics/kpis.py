"""The programme's KPIs for a period, computed from ledger rows (`facts`). Pure: no I/O,
no clock; every figure carries its definition, so the API, the CLI, the dashboard and
docs/analytics.md all say the same thing.

    facts = load_facts(conn, until=at(query.end))
    r = report(facts, programme, Query(start=date(2026, 1, 1), end=date(2027, 1, 1)))
    r.value("points_issued"), r.figure("points_cost_share").flag
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from loyalty.analytics import engagement, finance
from loyalty.analytics.cohorts import cohort_table, month_of
from loyalty.analytics.facts import Facts
from loyalty.analytics.figures import Figure, Query, Report, money, share
from loyalty.analytics.selection import Selection, at
from loyalty.rules.numbers import add_months
from loyalty.rules.programme import Programme


def months(start: date, end: date) -> list[tuple[date, date]]:
    first = start.replace(day=1)
    out = []
    while first < end:
        nxt = add_months(first, 1)
        out.append((max(first, start), min(nxt, end)))
        first = nxt
    return out


def _sums(sel: Selection, start: date, end: date) -> dict[str, int]:
    out = {"issued": 0, "redeemed": 0, "expired": 0}
    for m in sel.moves(at(start), at(end)):
        if m.kind in out:
            out[m.kind] += m.points
    out["revenue_minor"] = sum(s.minor for s in sel.spends(at(start), at(end)))
    return out


def cost_per_point(programme: Programme, query: Query) -> Decimal:
    return query.cost_per_point or programme.redemption.point_value


def report(facts: Facts, programme: Programme, query: Query) -> Report:
    sel = Selection(facts, query)
    cpp = cost_per_point(programme, query)
    cur = programme.currency
    out = Report(query=query, currency=cur)
    add = out.figures.append
    s = _sums(sel, query.start, query.end)
    revenue = Decimal(s["revenue_minor"]) / 100
    expiry = programme.expiry
    horizon = expiry.months_after_earning if expiry.policy == "fixed" else expiry.inactivity_months
    table = cohort_table(sel.moves(None, at(query.end)), as_of=query.end, expiry_months=horizon)
    err = query.redemption_rate_override
    if err is None:
        err = table.expected_redemption_rate

    add(
        Figure(
            "points_issued",
            s["issued"],
            "points",
            "Points credited to members in the period (stays, activities, bonuses), net of "
            "reversals.",
        )
    )
    add(
        Figure(
            "points_redeemed",
            s["redeemed"],
            "points",
            "Points members spent in the period (award nights posted, partner conversions), "
            "net of refunds.",
        )
    )
    add(
        Figure(
            "points_expired",
            s["expired"],
            "points",
            "Points that left members' balances unspent in the period (expiry, forfeits on "
            "erasure).",
        )
    )
    all_to_end = _sums(sel, date.min, query.end)
    add(
        Figure(
            "redemption_rate",
            share(all_to_end["redeemed"], all_to_end["issued"]),
            "share",
            "Points redeemed ÷ points issued, everything up to the end of the period.",
        )
    )
    source = (
        "set by the caller (finance's assumption); the history alone says "
        f"{table.expected_redemption_rate}"
        if query.redemption_rate_override is not None
        else "projected per issue month from the programme's own redemption history (chain "
        f"ladder over {table.observed_months} months observed, to the {horizon}-month expiry)"
    )
    add(
        Figure(
            "expected_redemption_rate",
            err,
            "share",
            f"Share of issued points expected ever to be redeemed, {source}.",
        )
    )
    add(
        Figure(
            "breakage_rate",
            Decimal(1) - err,
            "share",
            "1 − expected redemption rate: the share of points expected to expire unspent.",
        )
    )
    outstanding = all_to_end["issued"] - all_to_end["redeemed"] - all_to_end["expired"]
    add(
        Figure(
            "points_outstanding",
            outstanding,
            "points",
            "Points on members' balances at the end of the period (issued − redeemed − "
            "expired, all time).",
        )
    )
    add(
        Figure(
            "liability",
            money(outstanding * cpp * err),
            "money",
            f"Outstanding points × cost per point ({cpp} {cur}) × expected redemption rate "
            f"({err}): what the points still owed are expected to cost.",
        )
    )
    add(
        Figure(
            "liability_gross",
            money(outstanding * cpp),
            "money",
            "Outstanding points × cost per point, as if every point were redeemed.",
        )
    )
    add(
        Figure(
            "revenue",
            money(revenue),
            "money",
            "Members' qualifying spend in the period (room, F&B, spa, ... from the "
            "qualifying ledger).",
        )
    )
    cost = money(s["issued"] * cpp)
    cost_share = share(cost, revenue)
    low, high = query.cost_band
    flag = None
    if cost_share is not None and not low <= cost_share <= high:
        flag = "below_band" if cost_share < low else "above_band"
    add(
        Figure(
            "points_cost",
            cost,
            "money",
            f"Points issued in the period × cost per point ({cpp} {cur}).",
        )
    )
    add(
        Figure(
            "points_cost_share",
            cost_share,
            "share",
            f"Points cost ÷ revenue; the plan's band is {low * 100:.1f}% to "
            f"{high * 100:.1f}%, flagged outside it.",
            flag,
        )
    )
    add(
        Figure(
            "points_cost_expected_share",
            share(cost * err, revenue),
            "share",
            "Points cost × expected redemption rate ÷ revenue (the cost after breakage).",
        )
    )
    out.figures.extend(engagement.figures(sel, programme, query, cpp, err, out))
    out.figures.extend(finance.deferred_revenue(sel, programme, query, err))
    out.cohorts = [
        {
            "month": c.month,
            "issued": c.issued,
            "redeemed": c.redeemed,
            "expired": c.expired,
            "moved": c.moved,
            "open": c.open,
            "projected_redeemed": int(table.projected_redeemed[c.month]),
        }
        for c in table.cohorts
    ]
    for first, last in months(query.start, query.end):
        m = _sums(sel, first, last)
        rev = Decimal(m["revenue_minor"]) / 100
        out.monthly.append(
            {
                "month": month_of(first),
                "issued": m["issued"],
                "redeemed": m["redeemed"],
                "expired": m["expired"],
                "revenue": money(rev),
                "points_cost_share": share(money(m["issued"] * cpp), rev),
            }
        )
    return out
