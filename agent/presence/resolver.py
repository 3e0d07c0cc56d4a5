"""Which stay (or staff badge) a rotating identifier belongs to, if any.

Only the candidates this room was given are tried: the stays assigned to this room and the
property's staff badges. For the current time window the resolver precomputes every
candidate's identifier for the windows within the drift tolerance, so resolving an advert is
one dictionary lookup however many candidates there are; the table is rebuilt when the
window moves or the candidates change (3 HMACs per candidate).

Identifiers of the last `remember_windows` windows before the tolerance, and of stays that
stopped being current (checked out, cancelled, moved), are in a second table only to say
*why* an identifier is refused (a replay, an ended stay): they never resolve.

    resolver = Resolver(period_s=256, drift_windows=1)
    resolver.set_candidates([Candidate("s_abc", secret, "member")])
    outcome = resolver.resolve(eid, now)     # Match | Refusal
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from smartroom.credentials import EID_PERIOD_S, rotating_id, window_of

Who = Literal["member", "staff"]
RefusalReason = Literal["unknown", "stale_window", "stay_not_current"]


@dataclass(frozen=True, slots=True)
class Candidate:
    ref: str  # stay id, or a staff badge's name
    secret: bytes
    who: Who = "member"


@dataclass(frozen=True, slots=True)
class Match:
    candidate: Candidate
    offset: int  # the phone's window minus ours: -1, 0 or +1 with the default drift


@dataclass(frozen=True, slots=True)
class Refusal:
    reason: RefusalReason
    who: Who | None = None
    windows_old: int | None = None


_UNKNOWN = Refusal("unknown")


class Resolver:
    def __init__(
        self,
        *,
        period_s: int = EID_PERIOD_S,
        drift_windows: int = 1,
        remember_windows: int = 12,
        remember_retired: int = 64,
    ) -> None:
        if period_s < 16 or drift_windows < 0:
            raise ValueError("period_s must be >= 16 and drift_windows >= 0")
        self.period_s, self.drift = period_s, drift_windows
        self.remember_windows = remember_windows
        self._candidates: dict[str, Candidate] = {}
        self._retired: OrderedDict[str, Candidate] = OrderedDict()
        self._remember_retired = remember_retired
        self._window: int | None = None
        self._live: dict[bytes, Match] = {}
        self._dead: dict[bytes, Refusal] = {}

    @property
    def candidates(self) -> list[Candidate]:
        return list(self._candidates.values())

    def set_candidates(self, candidates: Iterable[Candidate]) -> None:
        new = {c.ref: c for c in candidates}
        if new == self._candidates:
            return
        for ref, old in self._candidates.items():
            if ref not in new:
                self._retired[ref] = old
                self._retired.move_to_end(ref)
        for ref in new:
            self._retired.pop(ref, None)
        while len(self._retired) > self._remember_retired:
            self._retired.popitem(last=False)
        self._candidates = new
        self._window = None  # rebuild on the next lookup

    def add_candidate(self, candidate: Candidate) -> None:
        """A stay learnt from a valid room key while central was unreachable."""
        self.set_candidates([*self._candidates.values(), candidate])

    def _rebuild(self, window: int) -> None:
        live: dict[bytes, Match] = {}
        dead: dict[bytes, Refusal] = {}
        for offset in range(-self.drift, self.drift + 1):
            for candidate in self._candidates.values():
                live[rotating_id(candidate.secret, window + offset)] = Match(candidate, offset)
            for candidate in self._retired.values():
                eid = rotating_id(candidate.secret, window + offset)
                dead[eid] = Refusal("stay_not_current", candidate.who)
        # The ids the current candidates used in the windows just before the tolerance:
        # seen again now, they are a recording played back.
        oldest = self.drift + self.remember_windows
        for back in range(self.drift + 1, oldest + 1):
            for candidate in self._candidates.values():
                eid = rotating_id(candidate.secret, window - back)
                dead.setdefault(eid, Refusal("stale_window", candidate.who, back))
        self._live, self._dead, self._window = live, dead, window

    def resolve(self, eid: bytes, at: datetime) -> Match | Refusal:
        window = window_of(at, self.period_s)
        if window != self._window:
            self._rebuild(window)
        match = self._live.get(eid)
        if match is not None:
            return match
        return self._dead.get(eid, _UNKNOWN)
