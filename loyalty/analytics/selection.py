"""Which ledger rows a query looks at: the members of a tier or segment, the rows of a
property, the activity that makes a member "active". Pure."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time

from loyalty.analytics.facts import Facts, Move, Spend, StayFact
from loyalty.analytics.figures import Query

SEGMENT_KEYS = ("age_band", "gender", "marketing")

# Codes of what a member does themself (stays, spends, redeems, gives): what counts as
# activity. Bonuses, expiry and reversals are the programme acting, not the member.
MEMBER_CODES = ("earn_", "stay_", "redeem_post", "member_transfer", "partner_conversion")


def at(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=UTC)


def parse_segment(text: str | None) -> tuple[str, str] | None:
    """ "age_band=30-50" → ("age_band", "30-50"); a ValueError names the known keys."""
    if not text:
        return None
    key, sep, value = text.partition("=")
    if not sep or not value or key not in SEGMENT_KEYS:
        raise ValueError(
            f"segment {text!r} must be KEY=VALUE with KEY one of {', '.join(SEGMENT_KEYS)}"
        )
    return key, value


@dataclass
class Selection:
    facts: Facts
    query: Query

    def __post_init__(self) -> None:
        q = self.query
        self.filtered = q.tier is not None or q.segment is not None
        self.owners = {
            m.owner
            for m in self.facts.members
            if not m.erased
            and (q.tier is None or m.tier == q.tier)
            and (q.segment is None or m.segment_value(q.segment[0]) == q.segment[1])
        }
        if q.property_id is not None:
            # Member figures for a property: the members who ever stayed there.
            stayed = {s.owner for s in self.facts.stays if s.property_id == q.property_id}
            self.owners &= stayed

    def wants(self, owner: str, property_id: str | None) -> bool:
        if self.filtered and owner not in self.owners:
            return False
        return self.query.property_id is None or property_id == self.query.property_id

    def moves(self, start: datetime | None = None, end: datetime | None = None) -> Iterator[Move]:
        for m in self.facts.moves:
            inside = (start is None or m.at >= start) and (end is None or m.at < end)
            if inside and self.wants(m.owner, m.property_id):
                yield m

    def spends(self, start: datetime | None = None, end: datetime | None = None) -> Iterator[Spend]:
        for s in self.facts.spends:
            inside = (start is None or s.at >= start) and (end is None or s.at < end)
            if inside and self.wants(s.owner, s.property_id):
                yield s

    def stays(self, start: datetime, end: datetime) -> Iterator[StayFact]:
        for s in self.facts.stays:
            if start <= s.checked_out_at < end and self.wants(s.owner, s.property_id):
                yield s

    def members_enrolled(self, by: datetime) -> set[str]:
        return {
            m.owner
            for m in self.facts.members
            if not m.erased and m.created_at < by and m.owner in self.owners
        }

    def active(self, start: datetime, end: datetime) -> set[str]:
        """Members who stayed or spent (earned, redeemed, gave points) in [start, end)."""
        out = {s.owner for s in self.stays(start, end)}
        out |= {s.owner for s in self.spends(start, end) if s.minor > 0}
        out |= {m.owner for m in self.moves(start, end) if m.code.startswith(MEMBER_CODES)}
        return out & self.owners

    def last_activity(self, before: datetime) -> dict[str, datetime]:
        last: dict[str, datetime] = {}
        rows: Iterable[tuple[str, datetime]] = [
            *((s.owner, s.checked_out_at) for s in self.facts.stays if s.checked_out_at < before),
            *(
                (m.owner, m.at)
                for m in self.facts.moves
                if m.at < before and m.code.startswith(MEMBER_CODES)
            ),
        ]
        for owner, when in rows:
            if owner in self.owners and (owner not in last or when > last[owner]):
                last[owner] = when
        return last
