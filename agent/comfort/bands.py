"""The ASHRAE 55 adaptive comfort band (80 % acceptability) for a running-mean outdoor
temperature: pythermalcomfort's `adaptive_ashrae` (still air, no cooling effect), transcribed
so the agent does not pay pythermalcomfort's numba/scipy imports (~170 MiB); the tests check
it against pythermalcomfort.

    adaptive_band(28.0)   # -> (23.0, 30.0) roughly: suggestions are clipped into it

The standard defines the band for running means of 10–33.5 °C; outside that we use the band
at the nearest end rather than none, so a hotel in Helsinki in January still gets a sane
floor. (Strictly the adaptive model is for naturally ventilated rooms; here it only bounds
how far the population model may stray.)
"""

from __future__ import annotations

import math

TRM_MIN = 10.0
TRM_MAX = 33.5
SLOPE = 0.31
INTERCEPT = 17.8
HALF_WIDTH_80 = 3.5


def adaptive_band(running_mean_c: float | None) -> tuple[float, float] | None:
    if running_mean_c is None or not math.isfinite(running_mean_c):
        return None
    trm = min(TRM_MAX, max(TRM_MIN, running_mean_c))
    neutral = SLOPE * trm + INTERCEPT
    return neutral - HALF_WIDTH_80, neutral + HALF_WIDTH_80
