"""The per-member thermal offset, learned online from manual changes. Pure functions.

    offset = learn_offset(prefs.comfort_offset, observed_c=+2.0, at=now)

Each manual change is a label: "in this context I wanted `observed_c` °C more than the
population's suggestion". The estimate is a precision-weighted mean with a prior at 0 worth
PRIOR_STRENGTH observations, and old evidence loses half its weight every HALF_LIFE_DAYS, so a
member's taste can drift and one odd night does not stick. The result is always finite and
within the wire bounds (±MAX_OFFSET_C).
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Final

from sync.wire import ComfortOffset

PRIOR_STRENGTH: Final = 1.0
HALF_LIFE_DAYS: Final = 180.0
MAX_OFFSET_C: Final = 6.0
MAX_OBSERVATIONS: Final = 10_000


def effective_weight(offset: ComfortOffset, at: datetime) -> float:
    """How many observations the stored estimate is still worth at `at`."""
    if offset.observations == 0:
        return 0.0
    if offset.updated_at is None:
        return float(offset.observations)
    age_days = max(0.0, (at - offset.updated_at).total_seconds() / 86_400.0)
    return float(offset.observations * 0.5 ** (age_days / HALF_LIFE_DAYS))


def learn_offset(current: ComfortOffset, observed_c: float, at: datetime) -> ComfortOffset:
    """Fold one observation (°C the member wanted above the population suggestion) in."""
    if not math.isfinite(observed_c):
        raise ValueError(f"observed offset must be a finite number of °C, got {observed_c!r}")
    if at.tzinfo is None:
        raise ValueError("`at` must be an aware datetime (tzinfo=UTC)")
    obs = min(MAX_OFFSET_C, max(-MAX_OFFSET_C, observed_c))
    weight = PRIOR_STRENGTH + effective_weight(current, at)
    value = (weight * current.offset_c + obs) / (weight + 1.0)
    value = min(MAX_OFFSET_C, max(-MAX_OFFSET_C, round(value, 3)))
    return ComfortOffset(
        offset_c=value,
        observations=min(MAX_OBSERVATIONS, current.observations + 1),
        updated_at=at,
    )


def offset_confidence(offset: ComfortOffset, at: datetime) -> float:
    """0 with no evidence, towards 1 as decayed evidence accumulates."""
    w = effective_weight(offset, at)
    return w / (w + PRIOR_STRENGTH + 1.0)
