"""Replay each person's votes in time order through the agent's own learner and advisor.

    result = replay(advisor, ds)                  # ds: a models.data.Dataset
    table = personal_table(ds.y, result)          # scores after k = 1, 2, 3, ≥4 earlier votes

How a vote becomes the learner's input: a survey row is one person's answer (cooler / no
change / warmer) about the room as measured then. The room gets the same from a member's
manual change (down is "cooler", up is "warmer") or an answer in the app. Each vote is first
SCORED — `ComfortAdvisor.vote_probabilities` with the person's stored `ComfortOffset` as it
was before the vote, decided with the model's decision weights (`decide_vote`) — and only
then LEARNED with `ComfortAdvisor.observe_vote`, which returns the new `ComfortOffset` the
agent would store and sync. Nothing here re-implements the learner.

A person is `building_id:subject_id`; votes are ordered by timestamp, then the file's row
order (`index`). Rows without a subject id are first votes of nobody (population only).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from agent.comfort.advisor import ComfortAdvisor
from agent.comfort.features import CLASSES, RawFeatures
from models.data import Dataset
from models.metrics import scores
from sync.wire import ComfortOffset, MemberPreferences

IntArray = npt.NDArray[np.int64]
EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
K_GROUPS = (("k = 1", 1, 1), ("k = 2", 2, 2), ("k = 3", 3, 3), ("k ≥ 4", 4, 10**9))


@dataclass(frozen=True)
class Replay:
    earlier: IntArray  # earlier votes by the same person before this row (−1: no person)
    personal: IntArray  # the advisor with the person's learned state
    population: IntArray  # the same advisor with no personal state
    last_vote: IntArray  # the person's previous vote (population model for a first vote)


def vote_order(frame: pd.DataFrame) -> tuple[IntArray, npt.NDArray[np.bool_], list[datetime]]:
    """Row indices in replay order, whether each continues the previous row's person, and
    each row's time (a missing timestamp keeps the file order, one second apart)."""
    n = len(frame)
    if "subject_id" not in frame:
        return np.zeros(0, np.int64), np.zeros(0, bool), []
    subject = frame["subject_id"]
    person = frame.get("building_id", pd.Series([""] * n)).astype(str) + ":" + subject.astype(str)
    stamps = pd.to_datetime(
        frame.get("timestamp", pd.Series([None] * n)), errors="coerce", utc=True
    )
    order_key = pd.to_numeric(frame.get("index", pd.Series(range(n))), errors="coerce")
    rows = pd.DataFrame({"p": person, "t": stamps, "i": order_key, "r": np.arange(n)})[
        subject.notna().to_numpy()
    ]
    rows = rows.sort_values(["p", "t", "i"], kind="stable")
    p = rows["p"].to_numpy()
    same = np.r_[False, p[1:] == p[:-1]] if len(p) else np.zeros(0, bool)
    times: list[datetime] = []
    run = 0
    for j, t in enumerate(rows["t"]):
        # Votes of one person on one date (the data has dates only): a second apart.
        run = run + 1 if same[j] else 0
        base = EPOCH if pd.isna(t) else t.to_pydatetime()
        times.append(base + timedelta(seconds=run))
    return rows["r"].to_numpy(dtype=np.int64), same, times


def _slice(raw: RawFeatures, sl: slice) -> RawFeatures:
    return RawFeatures(**{f.name: getattr(raw, f.name)[sl] for f in fields(RawFeatures)})


def replay(advisor: ComfortAdvisor, ds: Dataset, raw: RawFeatures | None = None) -> Replay:
    """Score every row before learning from it, person by person, in time order. `raw`
    replaces `ds.raw` (e.g. with the context masked)."""
    raw = raw or ds.raw
    n = len(ds)
    blank = ComfortOffset()
    population = np.zeros(n, np.int64)
    for start in range(0, n, 4096):
        stop = min(n, start + 4096)
        block = _slice(raw, slice(start, stop))
        population[start:stop] = advisor.decide_vote(
            advisor.vote_probabilities(block, blank, EPOCH)
        )
    personal = population.copy()
    last_vote = population.copy()
    earlier = np.full(n, -1, np.int64)
    rows, same, times = vote_order(ds.frame)
    prefs: MemberPreferences | None = None
    count = 0
    for j, r in enumerate(rows):
        at = times[j]
        if not same[j]:
            prefs, count = MemberPreferences(member_id="replay-person"), 0
        assert prefs is not None
        earlier[r] = count
        if count:
            probs = advisor.vote_probabilities(
                _slice(raw, slice(int(r), int(r) + 1)), prefs.comfort_offset, at
            )
            personal[r] = advisor.decide_vote(probs)[0]
            last_vote[r] = ds.y[rows[j - 1]]
        offset = advisor.observe_vote(prefs, CLASSES[int(ds.y[r])], at)
        prefs = prefs.model_copy(update={"comfort_offset": offset})
        count += 1
    return Replay(earlier=earlier, personal=personal, population=population, last_vote=last_vote)


def personal_table(y: IntArray, result: Replay) -> dict[str, dict[str, Any]]:
    """{"k ≥ 1" / "k = 1" / ...: {"personal learner", "population model", "repeat last
    vote": Scores as a dict}} for rows with that many earlier votes."""
    groups = [("k ≥ 1", 1, 10**9), *K_GROUPS]
    out: dict[str, dict[str, Any]] = {}
    for name, lo, hi in groups:
        mask = (result.earlier >= lo) & (result.earlier <= hi)
        if not mask.any():
            continue
        out[name] = {
            "personal learner": asdict(scores(y[mask], result.personal[mask])),
            "population model": asdict(scores(y[mask], result.population[mask])),
            "repeat last vote": asdict(scores(y[mask], result.last_vote[mask])),
        }
    return out
