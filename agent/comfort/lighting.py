"""Lighting and audio: stored preferences, time-of-day rules, and learning from overrides.

    s = suggest_lighting(local_now, prefs.lighting)      # LightingSuggestion(level_pct, ...)
    a = suggest_audio(local_now, prefs.audio)            # AudioSuggestion(volume_pct, ...)
    prefs_l = learn_lighting(prefs.lighting, s, level_pct=30, colour_temp_k=2700, at=utc_now)

There is no public data to fit these to, so no accuracy is claimed: the rules are a hotel's
sensible defaults (dim and warm at night, bright and neutral in the day). A member's first
override is stored as their value; later ones pull it half way towards what they chose, so a
stray choice does not stick. A value the member or staff set explicitly (in the app) and a
change in the room are two writes of one field: the later one wins (per-field last writer
wins, ordered like sync.merge: the hybrid logical clock stamp, else `updated_at`). A guest's
change after the app value replaces it; an app value set after the guest's change is kept.
`local_now` must be the property's local time (aware), since "night" is local. Pure
functions, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Final, Literal

from sync.hlc import Stamp
from sync.merge import field_order
from sync.wire import AudioPrefs, LightingPrefs, Stamped

LEARN_RATE: Final = 0.5
EXPLICIT_SOURCES: Final = frozenset({"member", "staff", "import"})
Source = Literal["explicit", "learned", "rule"]


@dataclass(frozen=True)
class Period:
    name: str
    start_hour: int
    level_pct: int
    colour_temp_k: int
    volume_pct: int


# (name, from local hour, light level, colour temperature, audio volume)
PERIODS: Final = (
    Period("night", 0, 10, 2200, 8),
    Period("morning", 6, 60, 4000, 20),
    Period("day", 9, 80, 4500, 25),
    Period("evening", 18, 50, 2700, 20),
    Period("late evening", 22, 25, 2200, 12),
)


def period_at(local_now: datetime) -> Period:
    if local_now.tzinfo is None:
        raise ValueError("pass the property's local time as an aware datetime")
    current = PERIODS[0]
    for p in PERIODS:
        if local_now.hour >= p.start_hour:
            current = p
    return current


@dataclass(frozen=True)
class LightingSuggestion:
    level_pct: int
    colour_temp_k: int
    source: Source
    explanation: str


@dataclass(frozen=True)
class AudioSuggestion:
    volume_pct: int
    source: Source
    explanation: str


def _source(stamped: Stamped[int] | None) -> Source | None:
    if stamped is None:
        return None
    return "explicit" if stamped.source in EXPLICIT_SOURCES else "learned"


def suggest_lighting(local_now: datetime, prefs: LightingPrefs | None) -> LightingSuggestion:
    rule = period_at(local_now)
    prefs = prefs or LightingPrefs()
    level, kelvin, source = rule.level_pct, rule.colour_temp_k, "rule"
    why = [f"{rule.name} rule {rule.level_pct}% / {rule.colour_temp_k} K"]
    if prefs.level_pct is not None:
        level, source = prefs.level_pct.value, _source(prefs.level_pct) or "rule"
        why.append(f"{source} level {level}%")
    if prefs.colour_temp_k is not None:
        kelvin = prefs.colour_temp_k.value
        source = "explicit" if _source(prefs.colour_temp_k) == "explicit" else source
        why.append(f"stored colour {kelvin} K")
    if rule.name == "night" and level > rule.level_pct:
        # Nobody wants the stored reading level at 3 a.m.: nights stay dim.
        level = rule.level_pct
        why.append("capped for the night")
    return LightingSuggestion(level, kelvin, source, "; ".join(why))  # type: ignore[arg-type]


def suggest_audio(local_now: datetime, prefs: AudioPrefs | None) -> AudioSuggestion:
    rule = period_at(local_now)
    if prefs is not None and prefs.volume_pct is not None:
        src = _source(prefs.volume_pct) or "rule"
        volume = (
            min(prefs.volume_pct.value, rule.volume_pct)
            if rule.name == "night"
            else (prefs.volume_pct.value)
        )
        return AudioSuggestion(volume, src, f"{src} volume {prefs.volume_pct.value}%")
    return AudioSuggestion(rule.volume_pct, "rule", f"{rule.name} rule {rule.volume_pct}%")


def _learn(
    stamped: Stamped[int] | None, suggested: int, chosen: int, lo: int, hi: int, at: datetime
) -> Stamped[int] | None:
    if not lo <= chosen <= hi:
        raise ValueError(f"chosen value {chosen} is outside {lo}..{hi}")
    if stamped is not None and stamped.source in EXPLICIT_SOURCES:
        if written_after(stamped, at):
            return stamped  # set in the app after the guest's change: the app wins
        # The guest's change is the newer write: it replaces the app value outright.
        return Stamped[int](value=chosen, updated_at=at, source="learned")
    if stamped is None:
        # The first change is the member's own answer: adopt it (starting half way from the
        # rule's value took 2-4 changes to get within tolerance; models/simulate_lighting.py).
        value = chosen
    else:
        # Later changes are averaged in (a member's choices scatter around their taste).
        value = round(stamped.value + LEARN_RATE * (chosen - stamped.value))
    return Stamped[int](value=min(hi, max(lo, value)), updated_at=at, source="learned")


def written_after(stamped: Stamped[int], at: datetime) -> bool:
    """Whether the stored value was written after a change made at `at` (a tie keeps the
    stored value, as a merge keeps the greater stamp)."""
    stored, _ = field_order(stamped.model_dump(mode="json"))
    return stored >= Stamp(int(at.timestamp() * 1000), 0)


def learn_lighting(
    prefs: LightingPrefs | None,
    suggested: LightingSuggestion,
    *,
    level_pct: int | None = None,
    colour_temp_k: int | None = None,
    at: datetime,
) -> LightingPrefs:
    """The guest overrode the lights: move the learned values half way to their choice."""
    prefs = prefs or LightingPrefs()
    update: dict[str, Stamped[int] | None] = {}
    if level_pct is not None:
        update["level_pct"] = _learn(prefs.level_pct, suggested.level_pct, level_pct, 0, 100, at)
    if colour_temp_k is not None:
        update["colour_temp_k"] = _learn(
            prefs.colour_temp_k, suggested.colour_temp_k, colour_temp_k, 2000, 6500, at
        )
    return prefs.model_copy(update=update)


def learn_audio(
    prefs: AudioPrefs | None, suggested: AudioSuggestion, *, volume_pct: int, at: datetime
) -> AudioPrefs:
    prefs = prefs or AudioPrefs()
    return prefs.model_copy(
        update={
            "volume_pct": _learn(prefs.volume_pct, suggested.volume_pct, volume_pct, 0, 100, at)
        }
    )
