"""Member figures: quarterly activity, repeat stays, high-value share, tiers and their
migration, retention by tier, lifetime value, members drifting away. Pure."""

from __future__ import annotations

from collections import Counter
from datetime import date, timedelta
from decimal import Decimal

from loyalty.analytics.figures import Drifting, Figure, Query, Report, money, share
from loyalty.analytics.selection import Selection, at
from loyalty.rules.numbers import add_months
from loyalty.rules.periods import qualification_year_bounds, qualification_year_of
from loyalty.rules.programme import Programme
from loyalty.rules.tiers import QualificationYear, highest_tier_met

MAX_LIFETIME_YEARS = Decimal(10)


def quarters(start: date, end: date) -> list[tuple[date, date]]:
    """Calendar quarters that overlap [start, end)."""
    first = date(start.year, 3 * ((start.month - 1) // 3) + 1, 1)
    out = []
    while first < end:
        out.append((first, add_months(first, 3)))
        first = add_months(first, 3)
    return out


def _quarterly(sel: Selection, query: Query, report: Report) -> Decimal | None:
    rates: list[tuple[date, Decimal | None]] = []
    for first, nxt in quarters(query.start, query.end):
        base = sel.members_enrolled(at(nxt))
        active = sel.active(at(first), at(nxt)) & base
        rate = share(len(active), len(base))
        report.quarterly.append(
            {
                "quarter": f"{first.year}-Q{(first.month - 1) // 3 + 1}",
                "active": len(active),
                "members": len(base),
                "active_rate": rate,
            }
        )
        rates.append((nxt, rate))
    inside = [r for nxt, r in rates if nxt <= query.end]
    return inside[-1] if inside else rates[-1][1]


def _spend(sel: Selection, start: date, end: date) -> Counter[str]:
    out: Counter[str] = Counter()
    for s in sel.spends(at(start), at(end)):
        out[s.owner] += s.minor
    return out


def _year(sel: Selection, programme: Programme, year: int) -> dict[str, int]:
    """Tier rank each selected member earned by qualifying activity in `year`."""
    start, end = qualification_year_bounds(programme, year)
    spend = _spend(sel, start, end)
    nights: Counter[str] = Counter()
    stays: Counter[str] = Counter()
    for s in sel.stays(at(start), at(end)):
        nights[s.owner] += s.nights
        stays[s.owner] += 1
    out = {}
    for owner in sel.members_enrolled(at(end)):
        q = QualificationYear(
            year=year,
            spend=Decimal(max(spend[owner], 0)) / 100,
            nights=nights[owner],
            stays=stays[owner],
        )
        out[owner] = highest_tier_met(programme, q)
    return out


def _tiers(sel: Selection, programme: Programme, query: Query, report: Report) -> None:
    names = programme.tier_names
    counts = Counter(m.tier for m in sel.facts.members if m.owner in sel.owners)
    report.tier_distribution = {name: counts.get(name, 0) for name in names}
    year = qualification_year_of(programme, query.end - timedelta(days=1))
    before, now = _year(sel, programme, year - 1), _year(sel, programme, year)
    matrix = {a: {b: 0 for b in names} for a in names}
    for owner, rank in now.items():
        matrix[names[before.get(owner, 0)]][names[rank]] += 1
    report.tier_migration = matrix


def figures(
    sel: Selection,
    programme: Programme,
    query: Query,
    cpp: Decimal,
    err: Decimal,
    report: Report,
) -> list[Figure]:
    out: list[Figure] = []
    add = out.append
    start, end = at(query.start), at(query.end)
    add(
        Figure(
            "quarterly_active_rate",
            _quarterly(sel, query, report),
            "share",
            "Members who stayed or spent (earned, redeemed, gave points) in the last "
            "calendar quarter of the period ÷ members enrolled by its end.",
        )
    )
    per_member = Counter(s.owner for s in sel.stays(start, end))
    stayed = [o for o in per_member if o in sel.owners]
    add(
        Figure(
            "repeat_stay_rate",
            share(sum(per_member[o] >= 2 for o in stayed), len(stayed)),
            "share",
            "Of the members who checked out of a stay in the period, the share "
            "who checked out of two or more.",
        )
    )
    year_ago = query.end - timedelta(days=365)
    spend = _spend(sel, year_ago, query.end)
    base = sel.members_enrolled(end)
    line_minor = query.high_value_line * 100
    high = [o for o in base if spend[o] >= line_minor]
    add(
        Figure(
            "high_value_share",
            share(len(high), len(base)),
            "share",
            f"Members whose qualifying spend in the 365 days to the end of the period is "
            f"at least {query.high_value_line} {programme.currency} ÷ members enrolled.",
        )
    )
    _tiers(sel, programme, query, report)
    migration = report.tier_migration
    names = programme.tier_names
    up = sum(
        n for a, row in migration.items() for b, n in row.items() if names.index(b) > names.index(a)
    )
    down = sum(
        n for a, row in migration.items() for b, n in row.items() if names.index(b) < names.index(a)
    )
    moved = sum(sum(row.values()) for row in migration.values())
    add(
        Figure(
            "tier_up_share",
            share(up, moved),
            "share",
            "Members whose tier earned by qualifying activity this qualification year is "
            "above the one earned last year ÷ members (matrix in tier_migration).",
        )
    )
    add(
        Figure(
            "tier_down_share", share(down, moved), "share", "Same, below last year's earned tier."
        )
    )
    # Retention: active in the preceding period of the same length, and again in this one.
    length = query.end - query.start
    before = sel.active(at(query.start - length), start)
    now = sel.active(start, end)
    tier_of = {m.owner: m.tier for m in sel.facts.members}
    for name in names:
        group = {o for o in before if tier_of.get(o) == name}
        report.retention_by_tier[name] = share(len(group & now), len(group))
    retention = share(len(before & now), len(before))
    add(
        Figure(
            "retention",
            retention,
            "share",
            "Members active in the preceding period of the same length who are active "
            "again in this one (by current tier in retention_by_tier).",
        )
    )
    # Lifetime value: yearly net value of an active member × expected years as a member.
    year_active = sel.active(at(year_ago), end)
    year_rev = Decimal(sum(spend[o] for o in year_active)) / 100
    year_points = sum(m.points for m in sel.moves(at(year_ago), end) if m.kind == "issued")
    net = (year_rev - year_points * cpp * err) / len(year_active) if year_active else Decimal(0)
    last_year = sel.active(at(year_ago - timedelta(days=365)), at(year_ago))
    yearly_retention = share(len(last_year & year_active), len(last_year))
    churn = 1 - yearly_retention if yearly_retention is not None else None
    lifetime = MAX_LIFETIME_YEARS if not churn else min(MAX_LIFETIME_YEARS, 1 / churn)
    add(
        Figure(
            "member_lifetime_value",
            money(net * lifetime),
            "money",
            "(Revenue − expected points cost) per member active in the last 365 days × "
            "expected membership years (1 ÷ yearly churn of active members, at most "
            f"{MAX_LIFETIME_YEARS}).",
        )
    )
    _drifting(sel, query, report, spend)
    add(
        Figure(
            "drifting_members",
            len(report.drifting),
            "members",
            f"Members with activity before, but none in the last {query.inactive_days} "
            "days of the period: the win-back list.",
        )
    )
    return out


def _drifting(sel: Selection, query: Query, report: Report, spend: Counter[str]) -> None:
    end = at(query.end)
    cutoff = end - timedelta(days=query.inactive_days)
    balance: Counter[str] = Counter()
    for m in sel.facts.moves:
        if m.at < end:
            balance[m.owner] += m.points if m.kind in ("issued", "moved") else -m.points
    members = {m.owner: m for m in sel.facts.members}
    rows = [
        Drifting(
            member_id=members[owner].id,
            tier=members[owner].tier,
            last_activity=when.date(),
            days_inactive=(end - when).days,
            points=balance[owner],
            spend_12m=Decimal(spend[owner]) / 100,
        )
        for owner, when in sel.last_activity(end).items()
        if when < cutoff and owner in members
    ]
    report.drifting = sorted(rows, key=lambda d: (-d.spend_12m, -d.points, d.member_id))
