"""Reconciling a stay's folio with the spends its room posted (issue 16).

The room posts in-room spends (`room_spend` events) as they happen; the front desk posts the
PMS folio at check-out, which lists the same minibar line again. The stay earns once, on
the union of its *distinct* spends, whatever order the two arrive in (a room's events can
come after check-out, after a long outage):

* **Identity.** A room spend is known by its `reference` (the POS posting id the PMS shows
  on the folio line) or, without one, by its event id (which `POST /spend` on the agent
  answers, for the POS to post). A folio line with the same `reference` is the same spend:
  it earns once, priced as the folio says (the folio is the bill). A folio line without a
  reference, or whose reference no room spend has, is a spend of its own.
* **Voids.** A folio line `{"void": true, "reference": R}` cancels the spend R, from the
  room or the folio, whenever it arrives: its points and qualifying spend are reversed.
* **One target, deltas.** The stay's points are the earn rules over the distinct spends
  (before check-out: the room's spends alone; after: the folio's lines plus the room's
  unmatched spends, priced with the tier of check-out, `stays.earn_tier`). Each arrival
  posts the difference between that target and what the stay's transfers already hold:
  a credit, or a reversal debit (`folio_reversal`), integers, in the tamper-evident chain.
  So at every moment the total is the rules over the union, and the order cannot matter.

    plan = Plan.of(folio_rows, room_rows)        # pure: the distinct spends
    settle(conn, ctx, stay, member, ids="t_rs_<event>", now=now)
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

from sqlalchemy import Connection, func, select

from loyalty.context import Context
from loyalty.db.sync_tables import folio_lines, room_spends
from loyalty.db.tables import transfers
from loyalty.ledger import SYSTEM, TransferSpec, create_transfer, member_account
from loyalty.ledger.errors import LedgerError
from loyalty.rules import EarnBreakdown
from loyalty.schemas import FolioLine
from loyalty.services import rules_adapter

# The programme's folio category for each kind of in-room spend.
FOLIO_CATEGORY = {"minibar": "minibar", "room_service": "fnb", "in_room_purchase": "minibar"}

# Transfers that make up a stay's earn (points and qualifying), and the one that takes back.
EARN_CODES = ("room_spend", "stay_post", "stay_earn", "stay_spend", "folio_adjust")
REVERSAL = "folio_reversal"


@dataclass(frozen=True)
class Row:
    """A folio line or a room spend, as reconciliation sees it."""

    category: str  # the programme's folio category
    amount: Decimal
    key: str | None  # the reference (room spends: the reference, else the event id)
    void: bool = False


def _distinct(folio: Sequence[Row], room: Sequence[Row]) -> list[tuple[str, Decimal]]:
    voided = {r.key for r in folio if r.void and r.key}
    billed = {r.key for r in folio if not r.void and r.key}
    lines = [
        (r.category, r.amount)
        for r in folio
        if not r.void and (r.key is None or r.key not in voided)
    ]
    seen: set[str] = set()
    for r in sorted(room, key=lambda r: r.key or ""):
        if r.key in billed or r.key in voided or r.key in seen:
            continue
        seen.add(r.key or "")
        lines.append((r.category, r.amount))
    return lines


def distinct_lines(folio: Sequence[Row], room: Sequence[Row]) -> list[FolioLine]:
    """The stay's distinct spends, as folio lines to price: folio lines (the bill) plus the
    room's spends no folio line names; anything a void names left out. Pure; the result
    depends on the sets, not on the order rows arrived in."""
    return [FolioLine(category=c, amount=a) for c, a in _distinct(folio, room)]


def by_category(lines: Sequence[FolioLine]) -> list[FolioLine]:
    """One line per category with the summed amount. The rules price a category's lines by
    their sum (base points are linear, multipliers look at categories), so this prices the
    same and keeps a stay with hundreds of minibar items within a request's 500 lines."""
    return _summed([(line.category, line.amount) for line in lines])


def distinct_by_category(folio: Sequence[Row], room: Sequence[Row]) -> list[FolioLine]:
    """`by_category(distinct_lines(folio, room))` without a model per spend (a stay's
    every spend is priced again at each of its spends)."""
    return _summed(_distinct(folio, room))


def _summed(lines: Sequence[tuple[str, Decimal]]) -> list[FolioLine]:
    sums: dict[str, Decimal] = {}
    for category, amount in lines:
        sums[category] = sums.get(category, Decimal(0)) + amount
    return [FolioLine(category=c, amount=a) for c, a in sums.items()]


def _folio_rows(conn: Connection, stay_id: str) -> list[Row]:
    f = folio_lines.c
    return [
        Row(r.category, Decimal(r.amount_minor) / 100, r.reference, r.void)
        for r in conn.execute(
            select(f.category, f.amount_minor, f.reference, f.void)
            .where(f.stay_id == stay_id)
            .order_by(f.line_no)
        ).all()
    ]


def room_rows(conn: Connection, stay_id: str) -> list[Row]:
    s = room_spends.c
    return [
        Row(FOLIO_CATEGORY[r.category], Decimal(r.amount_minor) / 100, r.reference or r.event_id)
        for r in conn.execute(
            select(s.category, s.amount_minor, s.reference, s.event_id).where(s.stay_id == stay_id)
        ).all()
    ]


def record_folio(conn: Connection, stay_id: str, lines: Iterable[FolioLine], now: Any) -> None:
    start = conn.execute(
        select(func.coalesce(func.max(folio_lines.c.line_no), 0)).where(
            folio_lines.c.stay_id == stay_id
        )
    ).scalar_one()
    conn.execute(
        folio_lines.insert(),
        [
            {
                "stay_id": stay_id,
                "line_no": int(start) + n,
                "category": line.category,
                "amount_minor": int(line.amount * 100),
                "reference": line.reference,
                "void": line.void,
                "posted_at": now,
            }
            for n, line in enumerate(lines, 1)
        ],
    )


def target(
    ctx: Context, conn: Connection, stay: Any, tier: str, now: Any, arriving: Row | None = None
) -> EarnBreakdown:
    """The rules over the stay's distinct spends (with the folio once it is posted), and
    `arriving`, a room spend not yet written."""
    room = room_rows(conn, stay.id) + ([arriving] if arriving is not None else [])
    return price(ctx, stay, tier, now, stay_folio(conn, stay), room)


def stay_folio(conn: Connection, stay: Any) -> list[Row]:
    # A folio exists only from check-out on (written in the check-out's transaction).
    return _folio_rows(conn, stay.id) if stay.status == "checked_out" else []


def price(
    ctx: Context, stay: Any, tier: str, now: Any, folio: Sequence[Row], room: Sequence[Row]
) -> EarnBreakdown:
    """`target` on rows already read (pure): an accept pass keeps a stay's rows in memory
    across its spends (`loyalty.services.spend_pass`)."""
    check_out = stay.departure.date()
    if stay.status == "checked_out" or folio:
        out = (stay.checked_out_at or now).date()
        check_out = min(out, check_out)
    return rules_adapter.stay_earn(
        ctx.programme,
        tier=tier,
        check_in=stay.arrival.date(),
        check_out=check_out,
        channel=stay.channel,
        room_type=stay.room_type,
        folio=distinct_by_category(folio, room),
    )


def holdings(conn: Connection, stay_id: str) -> dict[str, int]:
    """What the stay's earn transfers hold now, per ledger (credits less reversals)."""
    t = transfers.c
    out = {"points": 0, "qualifying": 0}
    for ledger, code, amount in conn.execute(
        select(t.ledger, t.code, func.sum(t.amount))
        .where(
            t.reference == stay_id,
            t.ledger.in_(tuple(out)),
            t.flags.in_(("single", "post")),
            t.code.in_((*EARN_CODES, REVERSAL)),
        )
        .group_by(t.ledger, t.code)
    ).all():
        out[ledger] += -int(amount) if code == REVERSAL else int(amount)
    return out


def held(conn: Connection, stay_id: str, ledger: str) -> int:
    return holdings(conn, stay_id)[ledger]


def post_difference(
    conn: Connection,
    stay_id: str,
    owner: str,
    ledger: Literal["points", "qualifying"],
    delta: int,
    *,
    transfer_id: str,
    code: str,
    now: Any,
) -> None:
    """Credit `delta` (> 0) with `code`, or take back -`delta` (< 0) as a reversal."""
    if delta == 0:
        return
    account, issuance = member_account(owner, ledger), SYSTEM[f"{ledger}:issuance"]
    up = delta > 0
    try:
        create_transfer(
            conn,
            TransferSpec(
                id=transfer_id,
                ledger=ledger,
                debit=issuance if up else account,
                credit=account if up else issuance,
                amount=abs(delta),
                code=code if up else REVERSAL,
                reference=stay_id,
                chain_owner=owner,
            ),
            now=now,
        )
    except LedgerError as exc:
        if exc.code != "exceeds_credits":
            raise
        raise LedgerError(
            "folio_reversal_exceeds_balance",
            f"the stay's voided spends take back {-delta} {ledger}, more than the member "
            "has left (already redeemed): adjust the account by hand",
        ) from None


def qualifying_minor(breakdown: EarnBreakdown) -> int:
    return int(breakdown.qualifying_spend * 100)
