"""A simulated stay: how many manual changes until the room gets a member right?

    result = simulate_stay(advisor, ctx, prefs, true_offset_c=2.0)
    result.changes, result.history

The member's true preference is the population suggestion plus `true_offset_c`. Each night
the room suggests a setpoint; if it is more than `tolerance_c` away from what they want, they
set what they want (one manual change, fed back with observe_manual_change). Converged when a
suggestion lands within the tolerance.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from agent.comfort import ComfortAdvisor, ComfortContext
from sync.wire import MemberPreferences


@dataclass
class StayResult:
    changes: int
    converged: bool
    history: list[tuple[float, float]] = field(default_factory=list)  # (suggested, wanted)
    prefs: MemberPreferences | None = None


def simulate_stay(
    advisor: ComfortAdvisor,
    ctx: ComfortContext,
    prefs: MemberPreferences,
    *,
    true_offset_c: float,
    limits: tuple[float, float] = (18.0, 27.0),
    tolerance_c: float = 0.5,
    max_nights: int = 20,
) -> StayResult:
    population = advisor.suggest(ctx, None, limits)
    wanted = min(limits[1], max(limits[0], population.setpoint_c + true_offset_c))
    result = StayResult(changes=0, converged=False)
    for night in range(max_nights):
        at = ctx.at + timedelta(days=night)
        night_ctx = ctx.model_copy(update={"at": at})
        s = advisor.suggest(night_ctx, prefs, limits)
        result.history.append((s.setpoint_c, wanted))
        if abs(s.setpoint_c - wanted) <= tolerance_c:
            result.converged = True
            break
        offset = advisor.observe_manual_change(
            prefs, night_ctx, suggested_c=s.setpoint_c, chosen_c=wanted, at=at, limits=limits
        )
        prefs = prefs.model_copy(update={"comfort_offset": offset})
        result.changes += 1
    result.prefs = prefs
    return result
