"""Deferred revenue for points under IFRS 15 / ASC 606, as finance books it.

Points awarded with a paid stay or purchase are a separate performance obligation (a
material right). The transaction price is split by relative stand-alone selling price:

    SSP(points)  = points × point value × expected redemption rate   (breakage excluded)
    SSP(service) = the price paid
    deferred     = price × SSP(points) ÷ (SSP(service) + SSP(points))

The deferred part is a contract liability, recognised as revenue as points are redeemed,
breakage included in proportion to the redemption pattern (IFRS 15 B46, ASC 606-10-55-48):
cumulatively, recognised = deferred × min(1, redeemed ÷ (issued × expected redemption
rate)), over the whole portfolio of points. Points given without a sale (bonuses, surveys,
profile) carry no revenue: they are a marketing cost, not deferred revenue. Pure.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from loyalty.analytics.figures import Figure, Query, money
from loyalty.analytics.selection import Selection, at
from loyalty.rules.programme import Programme


def _as_of(
    sel: Selection, programme: Programme, day: date, err: Decimal
) -> tuple[Decimal, Decimal]:
    """(deferred so far, recognised so far) at the start of `day`."""
    value = programme.redemption.point_value
    deferred = Decimal(0)
    for s in sel.spends(None, at(day)):
        if s.minor <= 0 or s.revenue_points <= 0:
            continue
        price = Decimal(s.minor) / 100
        ssp = s.revenue_points * value * err
        deferred += money(price * ssp / (price + ssp))
    issued = redeemed = 0
    for m in sel.moves(None, at(day)):
        if m.kind == "issued":
            issued += m.points
        elif m.kind == "redeemed":
            redeemed += m.points
    expected = issued * err
    progress = min(Decimal(1), Decimal(redeemed) / expected) if expected > 0 else Decimal(0)
    return deferred, money(deferred * progress)


def deferred_revenue(
    sel: Selection, programme: Programme, query: Query, err: Decimal
) -> list[Figure]:
    d0, r0 = _as_of(sel, programme, query.start, err)
    d1, r1 = _as_of(sel, programme, query.end, err)
    cur = programme.currency
    return [
        Figure(
            "revenue_deferred",
            d1 - d0,
            "money",
            "Revenue allocated to points awarded with sales in the period (relative "
            f"stand-alone selling price; a point's SSP = {programme.redemption.point_value} "
            f"{cur} × expected redemption rate).",
        ),
        Figure(
            "revenue_recognised_from_points",
            r1 - r0,
            "money",
            "Deferred revenue recognised in the period as points were redeemed (breakage "
            "recognised in proportion to redemptions).",
        ),
        Figure(
            "contract_liability",
            d1 - r1,
            "money",
            "Deferred revenue for points still to be recognised at the end of the period "
            "(the balance finance carries as a contract liability).",
        ),
    ]
