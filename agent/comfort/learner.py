"""What a room learns about one member, online and on the device. Pure functions.

    offset = learn_offset(prefs.comfort_offset, observed_c=+2.0, at=now)   # a manual change
    offset = learn_vote(prefs.comfort_offset, WARMER, at=now)             # a comfort vote
    probs = personal_probabilities(population_probs, offset, at=now)

Two things are learned, both stored in the member's `ComfortOffset` (so they follow the
member through sync to every room and hotel):

- **The thermal offset** (°C added to the population's setpoint). Each manual change is a
  label: "in this context I wanted `observed_c` °C more than the population's suggestion". The
  estimate is a precision-weighted mean with a prior at 0 worth PRIOR_STRENGTH observations,
  and old evidence loses half its weight every HALF_LIFE_DAYS.
- **The member's class bias** from their votes (cooler / no change / warmer). A vote is what
  the member said about the room as it was: a manual change down is "cooler", up is "warmer",
  an answer in the app is itself. Votes are counted, every earlier vote losing VOTE_DECAY of
  its weight at each new one (tastes are read from the recent votes) and half its weight every
  HALF_LIFE_DAYS. The model's probabilities are multiplied by
  ((count_c + VOTE_PRIOR/3) / (total + VOTE_PRIOR) · 3) ** VOTE_POWER and renormalised: with
  no votes that is 1 for every class (the population model), after a few "warmer" votes
  "warmer" weighs more. Measured on people the model never saw (`smartroom-model evaluate
  --personal`, docs/model-card.md): this beats both the population model and "repeat the
  member's last vote" at every number of earlier votes. An offset alone (the earlier learner)
  barely beat the population model, because most of what differs between people here is how
  they answer, not at which temperature.

Everything stays finite and within the wire bounds.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Final

import numpy as np
import numpy.typing as npt

from sync.wire import ComfortOffset

PRIOR_STRENGTH: Final = 1.0
HALF_LIFE_DAYS: Final = 180.0
MAX_OFFSET_C: Final = 6.0
MAX_OBSERVATIONS: Final = 10_000
# Chosen on building-grouped replays of the training data (models/personal.py).
VOTE_PRIOR: Final = 1.5
VOTE_POWER: Final = 2.0
VOTE_DECAY: Final = 0.7
MAX_VOTE_WEIGHT: Final = 100.0
COOLER, NO_CHANGE, WARMER = 0, 1, 2


def _check_at(at: datetime) -> None:
    if at.tzinfo is None:
        raise ValueError("`at` must be an aware datetime (tzinfo=UTC)")


def _age_factor(since: datetime | None, at: datetime) -> float:
    if since is None:
        return 1.0
    age_days = max(0.0, (at - since).total_seconds() / 86_400.0)
    return float(0.5 ** (age_days / HALF_LIFE_DAYS))


def effective_weight(offset: ComfortOffset, at: datetime) -> float:
    """How many observations the stored estimate is still worth at `at`."""
    if offset.observations == 0:
        return 0.0
    return float(offset.observations * _age_factor(offset.updated_at, at))


def decayed_votes(offset: ComfortOffset, at: datetime) -> npt.NDArray[np.float64]:
    """The member's vote counts (cooler, no change, warmer) as they weigh at `at`."""
    _check_at(at)
    return np.asarray(offset.votes, dtype=np.float64) * _age_factor(offset.votes_at, at)


def _votes(values: npt.NDArray[np.float64]) -> tuple[float, float, float]:
    v = np.clip(np.round(values, 4), 0.0, MAX_VOTE_WEIGHT)
    return float(v[0]), float(v[1]), float(v[2])


def learn_offset(current: ComfortOffset, observed_c: float, at: datetime) -> ComfortOffset:
    """Fold one observation (°C the member wanted above the population suggestion) in."""
    if not math.isfinite(observed_c):
        raise ValueError(f"observed offset must be a finite number of °C, got {observed_c!r}")
    _check_at(at)
    obs = min(MAX_OFFSET_C, max(-MAX_OFFSET_C, observed_c))
    weight = PRIOR_STRENGTH + effective_weight(current, at)
    value = (weight * current.offset_c + obs) / (weight + 1.0)
    value = min(MAX_OFFSET_C, max(-MAX_OFFSET_C, round(value, 3)))
    return current.model_copy(
        update={
            "offset_c": value,
            "observations": min(MAX_OBSERVATIONS, current.observations + 1),
            "updated_at": at,
        }
    )


def learn_vote(current: ComfortOffset, vote: int, at: datetime) -> ComfortOffset:
    """Fold one vote (COOLER, NO_CHANGE or WARMER) in; the offset is left as it is."""
    if vote not in (COOLER, NO_CHANGE, WARMER):
        raise ValueError(f"vote must be 0 (cooler), 1 (no change) or 2 (warmer), got {vote!r}")
    votes = decayed_votes(current, at) * VOTE_DECAY
    votes[vote] += 1.0
    return current.model_copy(update={"votes": _votes(votes), "votes_at": at})


def vote_bias(offset: ComfortOffset, at: datetime) -> npt.NDArray[np.float64]:
    """Per-class multipliers on the model's probabilities; all 1 with no votes."""
    v = decayed_votes(offset, at)
    share = (v + VOTE_PRIOR / 3.0) / (v.sum() + VOTE_PRIOR)
    return np.asarray(np.power(share * 3.0, VOTE_POWER), dtype=np.float64)


def personal_probabilities(
    population: npt.NDArray[np.floating], offset: ComfortOffset, at: datetime
) -> npt.NDArray[np.float64]:
    """The population model's class probabilities (n × 3) for this member."""
    p = np.asarray(population, dtype=np.float64) * vote_bias(offset, at)
    total = p.sum(axis=-1, keepdims=True)
    return np.asarray(p / np.where(total > 0, total, 1.0), dtype=np.float64)


def offset_confidence(offset: ComfortOffset, at: datetime) -> float:
    """0 with no evidence, towards 1 as decayed evidence accumulates."""
    w = effective_weight(offset, at)
    return w / (w + PRIOR_STRENGTH + 1.0)
