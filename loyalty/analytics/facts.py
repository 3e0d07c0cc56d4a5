"""The query layer: the ledger, stays and members read into plain rows for the pure KPI
code. Nothing is copied into a table of its own, so figures cannot drift from the ledger.

Each posted points transfer (single or post; holds count once posted) becomes a `Move`
classified by its accounts, which is what the ledger guarantees, not by its code:

| debit → credit                          | kind       | sign |
|-----------------------------------------|------------|------|
| sys:points:issuance → member            | issued     | +    |
| member → sys:points:issuance (reversal) | issued     | −    |
| member → sys:points:redemption          | redeemed   | +    |
| sys:points:redemption → member (refund) | redeemed   | −    |
| member → sys:points:partners            | redeemed   | +    |
| member → sys:points:breakage            | expired    | +    |
| member → member                         | moved      | out/in |

Qualifying-ledger credits (minor units) are the members' revenue (`Spend`). A move or
spend is attributed to a property through the stay or redemption it references; non-stay
earns carry no property (they count only when no property filter is given).

    facts = load_facts(conn, until=datetime(2027, 1, 1, tzinfo=UTC))
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from sqlalchemy import Connection, select

from loyalty.db.tables import accounts, members, redemptions, stays, transfers
from loyalty.ledger import SYSTEM

Kind = Literal["issued", "redeemed", "expired", "moved"]

_SYSTEM_KIND: dict[str, Kind] = {
    SYSTEM["points:issuance"]: "issued",
    SYSTEM["points:redemption"]: "redeemed",
    SYSTEM["points:partners"]: "redeemed",
    SYSTEM["points:breakage"]: "expired",
}


@dataclass(frozen=True)
class Move:
    """Points entering (+) or leaving (−) one member's balance."""

    at: datetime
    owner: str
    kind: Kind
    points: int  # signed from the member's side: + credit to them, − debit from them
    code: str
    property_id: str | None
    transfer_id: str


@dataclass(frozen=True)
class Spend:
    at: datetime
    owner: str
    minor: int  # signed: reversals of qualifying credit are negative
    property_id: str | None
    revenue_points: int  # points issued with this revenue (for the IFRS 15 allocation)


@dataclass(frozen=True)
class StayFact:
    id: str
    owner: str
    property_id: str
    checked_out_at: datetime
    nights: int


@dataclass(frozen=True)
class MemberFact:
    id: str
    owner: str
    tier: str
    created_at: datetime
    erased: bool
    age_band: str | None
    gender: str | None
    marketing: bool

    def segment_value(self, key: str) -> str | None:
        return {
            "age_band": self.age_band,
            "gender": self.gender,
            "marketing": "yes" if self.marketing else "no",
        }.get(key)


@dataclass
class Facts:
    members: list[MemberFact]
    moves: list[Move]
    spends: list[Spend]
    stays: list[StayFact]
    balances: dict[str, int]  # owner → posted points (what the programme owes)
    until: datetime
    by_owner: dict[str, MemberFact] = field(init=False)

    def __post_init__(self) -> None:
        self.by_owner = {m.owner: m for m in self.members}


def _member_side(debit: str, credit: str) -> tuple[str, int, str] | None:
    """(member account, sign, the other account), or None for system-to-system."""
    if not credit.startswith("sys:"):
        return credit, 1, debit
    if not debit.startswith("sys:"):
        return debit, -1, credit
    return None


def load_facts(conn: Connection, *, until: datetime) -> Facts:
    """Everything posted before `until` (exclusive)."""
    member_rows = list(conn.execute(select(members).order_by(members.c.created_at, members.c.id)))
    stay_property: dict[str, str] = {}
    stay_rows: list[StayFact] = []
    owner_of_member = {r.id: r.pseudonym for r in member_rows if r.pseudonym}
    for s in conn.execute(select(stays)):
        stay_property[s.id] = s.property_id
        owner = owner_of_member.get(s.member_id)
        if s.status == "checked_out" and s.checked_out_at and s.checked_out_at < until and owner:
            stay_rows.append(StayFact(s.id, owner, s.property_id, s.checked_out_at, s.nights))
    redemption_property = {
        r.id: r.property_id
        for r in conn.execute(select(redemptions.c.id, redemptions.c.property_id))
    }
    t = transfers.c
    rows = conn.execute(
        select(t.id, t.ledger, t.debit_account_id, t.credit_account_id, t.amount, t.code)
        .add_columns(t.reference, t.created_at, t.chain_owner)
        .where(
            t.ledger.in_(("points", "qualifying")),
            t.flags.in_(("single", "post")),
            t.created_at < until,
        )
        .order_by(t.created_at, t.chain_owner, t.chain_seq)
    ).all()
    # Points issued per referenced stay / per earn transfer: the revenue they came with.
    points_with: dict[str, int] = {}
    for r in rows:
        if r.ledger == "points" and r.debit_account_id == SYSTEM["points:issuance"]:
            key = r.reference if r.code.startswith("stay_") and r.reference else r.id
            points_with[key] = points_with.get(key, 0) + r.amount
    moves: list[Move] = []
    spends: list[Spend] = []
    for r in rows:
        side = _member_side(r.debit_account_id, r.credit_account_id)
        if side is None:
            continue
        account, sign, other = side
        owner = account.rsplit(":", 1)[0]
        ref = r.reference or ""
        prop = stay_property.get(ref) or redemption_property.get(ref)
        if r.ledger == "qualifying":
            # stay spend references the stay; activity spend references its points transfer
            spends.append(
                Spend(r.created_at, owner, sign * r.amount, prop, points_with.pop(ref, 0))
            )
            continue
        kind: Kind = _SYSTEM_KIND.get(other, "moved")
        # issued/redeemed/expired are counted from the programme's side: + means more of it
        signed = sign * r.amount if kind in ("issued", "moved") else -sign * r.amount
        moves.append(Move(r.created_at, owner, kind, signed, r.code, prop, r.id))
    balances = {
        a.owner: a.credits_posted - a.debits_posted
        for a in conn.execute(
            select(accounts.c.owner, accounts.c.credits_posted, accounts.c.debits_posted).where(
                accounts.c.ledger == "points", accounts.c.owner.is_not(None)
            )
        )
    }
    facts_members = []
    for r in member_rows:
        # An erased member's pseudonym is gone: their entries still count in the totals,
        # but no longer under a tier or segment.
        owner = r.pseudonym or f"erased:{r.id}"
        facts_members.append(
            MemberFact(
                r.id,
                owner,
                r.tier,
                r.created_at,
                r.erased_at is not None,
                r.age_band,
                r.gender,
                bool(r.consent_marketing),
            )
        )
    return Facts(facts_members, moves, spends, stay_rows, balances, until)
