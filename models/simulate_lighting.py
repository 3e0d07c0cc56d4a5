"""Light and music: how many in-room changes until the room gets a member right?

    ./dev python -m models.simulate_lighting          # prints the table docs/comfort.md quotes

A simulated population whose true preferences we set: every member has a light level
(10-100 %), a colour temperature (2200-6000 K) and a music volume (5-60 %), drawn uniformly,
and sets them with some scatter (sd 4 points, 120 K, 2 points) whenever the room is off by
more than a tolerance (10 points, 300 K, 5 points). Each evening (19:00 local) the room
suggests with the agent's own `suggest_lighting` / `suggest_audio` from the member's stored
preferences; each change is learned with `learn_lighting` / `learn_audio` and the preferences
are carried to the next night (as sync carries them between rooms). We count the changes
until a suggestion lands within the tolerance. The baseline in the same run is the previous
learner (half way from the rule's value at the first change), written out here for the
comparison only.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np

from agent.comfort.lighting import learn_audio, learn_lighting, suggest_audio, suggest_lighting
from sync.wire import AudioPrefs, LightingPrefs, Stamped

T0 = datetime(2026, 3, 2, 19, 0, tzinfo=UTC)
TOLERANCE = {"level_pct": 10, "colour_temp_k": 300, "volume_pct": 5}
SCATTER = {"level_pct": 4.0, "colour_temp_k": 120.0, "volume_pct": 2.0}
RANGE = {"level_pct": (10, 100), "colour_temp_k": (2200, 6000), "volume_pct": (5, 60)}
BOUNDS = {"level_pct": (0, 100), "colour_temp_k": (2000, 6500), "volume_pct": (0, 100)}
MAX_NIGHTS = 20


@dataclass(frozen=True)
class Outcome:
    changes: int
    converged: bool


def _half_way(
    stamped: Stamped[int] | None, suggested: int, chosen: int, at: datetime
) -> Stamped[int]:
    start = stamped.value if stamped is not None else suggested
    return Stamped[int](
        value=round(start + 0.5 * (chosen - start)), updated_at=at, source="learned"
    )


def _suggested(name: str, lighting: LightingPrefs, audio: AudioPrefs, at: datetime) -> int:
    if name == "volume_pct":
        return suggest_audio(at, audio).volume_pct
    s = suggest_lighting(at, lighting)
    return s.level_pct if name == "level_pct" else s.colour_temp_k


def simulate_member(
    name: str, true_value: int, rng: np.random.Generator, *, baseline: bool = False
) -> Outcome:
    lighting, audio = LightingPrefs(), AudioPrefs()
    lo, hi = BOUNDS[name]
    for night in range(MAX_NIGHTS):
        at = T0 + timedelta(days=night)
        suggested = _suggested(name, lighting, audio, at)
        if abs(suggested - true_value) <= TOLERANCE[name]:
            return Outcome(night, True)
        chosen = int(np.clip(round(true_value + rng.normal(0, SCATTER[name])), lo, hi))
        if baseline:
            old = getattr(audio if name == "volume_pct" else lighting, name)
            new = _half_way(old, suggested, chosen, at)
            if name == "volume_pct":
                audio = audio.model_copy(update={name: new})
            else:
                lighting = lighting.model_copy(update={name: new})
        elif name == "volume_pct":
            audio = learn_audio(audio, suggest_audio(at, audio), volume_pct=chosen, at=at)
        else:
            lighting = learn_lighting(
                lighting, suggest_lighting(at, lighting), at=at, **{name: chosen}
            )
    return Outcome(MAX_NIGHTS, False)


def simulate_population(
    members: int = 1000, seed: int = 0
) -> dict[str, dict[str, dict[str, float]]]:
    """{dimension: {"learner" / "previous learner (baseline)": summary}} on one population."""
    out: dict[str, dict[str, dict[str, float]]] = {}
    for name, (lo, hi) in RANGE.items():
        truth = np.random.default_rng(seed).integers(lo, hi + 1, members)
        out[name] = {}
        for label, baseline in (("learner", False), ("previous learner (baseline)", True)):
            rng = np.random.default_rng(seed + 1)
            res = [simulate_member(name, int(t), rng, baseline=baseline) for t in truth]
            changes = np.array([r.changes for r in res], dtype=np.float64)
            out[name][label] = {
                "right without a change": float(np.mean(changes == 0)),
                "mean changes": float(changes.mean()),
                "p90 changes": float(np.quantile(changes, 0.9)),
                "max changes": float(changes.max()),
                "converged": float(np.mean([r.converged for r in res])),
            }
    return out


def render(result: dict[str, dict[str, dict[str, float]]], members: int) -> str:
    lines = [
        f"{members} simulated members; tolerance {TOLERANCE}; scatter of their own choices "
        f"(sd) {SCATTER}",
        "",
        "| setting | learner | right with no change | mean changes until right | p90 | max "
        "| right within 20 nights |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for name, block in result.items():
        for label, s in block.items():
            lines.append(
                f"| {name} | {label} | {s['right without a change']:.1%} | {s['mean changes']:.2f} "
                f"| {s['p90 changes']:.0f} | {s['max changes']:.0f} | {s['converged']:.1%} |"
            )
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    members = int(argv[0]) if argv else 1000
    print(render(simulate_population(members), members))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
