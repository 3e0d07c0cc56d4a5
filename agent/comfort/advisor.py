"""Explicit preference > learned offset on the model's suggestion > model > default.

    advisor = ComfortAdvisor.load()                      # the shipped model
    s = advisor.suggest(ctx, prefs, limits=(18.0, 27.0))
    s.setpoint_c, s.source, s.confidence, s.explanation
    new = advisor.observe_manual_change(prefs, ctx, suggested_c=22.0, chosen_c=24.0, at=now)
    prefs = prefs.model_copy(update={"comfort_offset": new})   # store + sync it

One interpreter call scores every candidate setpoint (19–27 °C, 0.5 °C steps, read as the air
temperature the room would reach); the pick is where "no change" is most likely, clipped to
the hotel's energy band and the adaptive comfort band, then shifted by the member's offset.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Final, Literal

import numpy as np

from agent.comfort.bands import adaptive_band
from agent.comfort.context import ComfortContext
from agent.comfort.features import CLASSES, NO_CHANGE, RawFeatures, encode
from agent.comfort.learner import (
    COOLER,
    WARMER,
    learn_offset,
    learn_vote,
    offset_confidence,
    personal_probabilities,
)
from agent.comfort.runtime import ComfortModel, ModelLoadError
from sync.wire import ComfortOffset, MemberPreferences

CANDIDATES: Final = tuple(19.0 + 0.5 * i for i in range(17))  # 19.0 … 27.0
DEFAULT_SETPOINT_C: Final = 22.0
LIMIT_RANGE: Final = (10.0, 35.0)
Source = Literal["explicit", "learned", "model", "default"]


def shipped_model_path() -> Path:
    return Path(str(resources.files("models").joinpath("comfort.tflite")))


def shipped_version() -> str:
    """The shipped model's version (its training run's comfort.json); "0.0.0" if unknown."""
    try:
        meta = json.loads(shipped_model_path().with_name("comfort.json").read_text())
        version = str(meta["version"])
    except (OSError, ValueError, KeyError, TypeError):
        return "0.0.0"
    return version if re.fullmatch(r"\d+\.\d+\.\d+", version) else "0.0.0"


@dataclass(frozen=True)
class Suggestion:
    setpoint_c: float
    source: Source
    confidence: float
    explanation: str
    # P("no change") per candidate setpoint for this member, when the model ran.
    probabilities: dict[float, float] | None = field(default=None)


@dataclass(frozen=True)
class VotePrediction:
    """What the member would answer about the room as it is now."""

    vote: str  # one of CLASSES
    probabilities: dict[str, float]
    personal: bool  # the member's own votes were used


def _raw(ctx: ComfortContext, indoor_c: float | np.ndarray, n: int) -> RawFeatures:
    return RawFeatures.broadcast(
        n,
        indoor_c=np.asarray(indoor_c, dtype=np.float64),
        humidity_pct=ctx.humidity_pct,
        outdoor_c=ctx.outdoor_c,
        running_mean_c=ctx.outdoor_running_mean_c,
        season=ctx.season,
        koppen=ctx.climate,
        cooling=ctx.cooling,
        age_band=ctx.age_band,
        gender=ctx.gender,
    )


def _check_limits(limits: tuple[float, float]) -> tuple[float, float]:
    lo, hi = float(limits[0]), float(limits[1])
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise ValueError(f"limits must be finite °C, got {limits!r}")
    if not (LIMIT_RANGE[0] <= lo < hi <= LIMIT_RANGE[1]):
        raise ValueError(
            f"limits {limits!r} must satisfy {LIMIT_RANGE[0]} <= low < high <= {LIMIT_RANGE[1]}"
        )
    lo_step, hi_step = math.ceil(lo * 2) / 2, math.floor(hi * 2) / 2
    if lo_step > hi_step:
        raise ValueError(f"limits {limits!r} contain no 0.5 °C step")
    return lo_step, hi_step


def _clip_step(value: float, lo: float, hi: float) -> float:
    return min(hi, max(lo, round(value * 2) / 2))


class ComfortAdvisor:
    def __init__(self, model: ComfortModel | None) -> None:
        self.model = model

    @classmethod
    def load(cls, path: Path | None = None) -> ComfortAdvisor:
        """The model at `path` (default: the shipped one), self-tested. Raises ModelLoadError."""
        model = ComfortModel.from_bytes((path or shipped_model_path()).read_bytes())
        model.self_test()
        return cls(model)

    def replace_model(self, model: ComfortModel) -> None:
        """Swap in an already loaded and self-tested model (see agent.comfort.updates)."""
        self.model = model

    # --- the population suggestion --------------------------------------------------------

    def population(
        self,
        ctx: ComfortContext,
        limits: tuple[float, float],
        offset: ComfortOffset | None = None,
    ) -> tuple[float, float, dict[float, float], str] | None:
        """(setpoint, P(no change) there, P(no change) per candidate, why) before any
        personal offset in °C; None when no model can run. With `offset`, the member's votes
        bias the probabilities (see agent.comfort.learner)."""
        if self.model is None:
            return None
        lo, hi = _check_limits(limits)
        try:
            probs = self.model.predict(
                encode(_raw(ctx, np.asarray(CANDIDATES), len(CANDIDATES)), self.model.spec)
            )
        except (ValueError, RuntimeError):
            return None
        if offset is not None:
            probs = personal_probabilities(probs, offset, ctx.at).astype(np.float32)
        p_nc = probs[:, NO_CHANGE].astype(np.float64)
        if not np.all(np.isfinite(p_nc)):
            return None
        best = float(CANDIDATES[int(np.argmax(p_nc))])
        why = [f"'no change' most likely at {best:.1f} °C"]
        band = adaptive_band(ctx.running_mean_or_outdoor)
        b_lo, b_hi = lo, hi
        if band is not None:
            cand_lo, cand_hi = (
                max(lo, math.ceil(band[0] * 2) / 2),
                min(hi, math.floor(band[1] * 2) / 2),
            )
            if cand_lo <= cand_hi:
                b_lo, b_hi = cand_lo, cand_hi
            why.append(f"adaptive band {band[0]:.1f}–{band[1]:.1f} °C")
        why.append(f"energy band {lo:.1f}–{hi:.1f} °C")
        setpoint = _clip_step(best, b_lo, b_hi)
        if setpoint != best:
            why.append(f"clipped to {setpoint:.1f} °C")
        nearest = int(np.argmin(np.abs(np.asarray(CANDIDATES) - setpoint)))
        per_candidate = {c: round(float(p), 4) for c, p in zip(CANDIDATES, p_nc, strict=True)}
        return setpoint, float(p_nc[nearest]), per_candidate, "; ".join(why)

    # --- the public calls -----------------------------------------------------------------

    def suggest(
        self,
        ctx: ComfortContext,
        prefs: MemberPreferences | None,
        limits: tuple[float, float] = (18.0, 27.0),
    ) -> Suggestion:
        lo, hi = _check_limits(limits)
        if prefs is not None and prefs.climate.setpoint_c is not None:
            wanted = prefs.climate.setpoint_c.value
            value = _clip_step(wanted, lo, hi)
            note = "" if value == wanted else f", held to the hotel's {lo:.1f}–{hi:.1f} °C"
            return Suggestion(
                value, "explicit", 1.0, f"member's stored setpoint {wanted:.1f} °C{note}"
            )
        pop = self.population(ctx, limits)
        if pop is None:
            value = _clip_step(DEFAULT_SETPOINT_C, lo, hi)
            return Suggestion(
                value, "default", 0.0, f"no model available: house default {value:.1f} °C"
            )
        base, p_nc, per_candidate, why = pop
        offset = prefs.comfort_offset if prefs is not None else ComfortOffset()
        if offset.observations == 0:
            if sum(offset.votes) > 0:
                # Votes without a setpoint change (e.g. answered in the app): the search
                # runs on this member's probabilities.
                own = self.population(ctx, limits, offset)
                if own is not None:
                    value, p_own, per_own, why_own = own
                    return Suggestion(
                        value,
                        "learned",
                        round(p_own, 3),
                        f"{why_own}; biased by the member's votes",
                        per_own,
                    )
            return Suggestion(base, "model", round(p_nc, 3), why, per_candidate)
        value = _clip_step(base + offset.offset_c, lo, hi)
        trust = offset_confidence(offset, ctx.at)
        confidence = 1.0 - (1.0 - p_nc) * (1.0 - trust)
        return Suggestion(
            value,
            "learned",
            round(confidence, 3),
            f"{why}; member's learned offset {offset.offset_c:+.1f} °C "
            f"from {offset.observations} change(s) → {value:.1f} °C",
            per_candidate,
        )

    def observe_manual_change(
        self,
        prefs: MemberPreferences | None,
        ctx: ComfortContext,
        *,
        suggested_c: float,
        chosen_c: float,
        at: datetime,
        limits: tuple[float, float] = (18.0, 27.0),
    ) -> ComfortOffset:
        """The member changed the setpoint from `suggested_c` to `chosen_c`: learn from it.
        The label is the choice relative to the population suggestion for this context, so
        it does not matter which source made the suggestion."""
        for name, v in (("suggested_c", suggested_c), ("chosen_c", chosen_c)):
            if not (math.isfinite(v) and LIMIT_RANGE[0] <= v <= LIMIT_RANGE[1]):
                raise ValueError(f"{name}={v!r} is not a setpoint in {LIMIT_RANGE} °C")
        current = prefs.comfort_offset if prefs is not None else ComfortOffset()
        pop = self.population(ctx, limits)
        base = pop[0] if pop is not None else suggested_c - current.offset_c
        learned = learn_offset(current, chosen_c - base, at)
        if chosen_c == suggested_c:
            return learned
        # The change is also a vote about the room as it was: down "cooler", up "warmer".
        return learn_vote(learned, WARMER if chosen_c > suggested_c else COOLER, at)

    # --- votes ------------------------------------------------------------------------------

    def vote_probabilities(
        self, raw: RawFeatures, offset: ComfortOffset, at: datetime
    ) -> np.ndarray:
        """P(cooler, no change, warmer) (n × 3) for one member in the rooms `raw` describes.
        Raises ModelLoadError when there is no model."""
        if self.model is None:
            raise ModelLoadError("no comfort model loaded")
        probs = self.model.predict(encode(raw, self.model.spec))
        return personal_probabilities(probs, offset, at)

    def decide_vote(self, probabilities: np.ndarray) -> np.ndarray:
        """Class indices from probabilities (n × 3), with the model's decision weights."""
        weights = (1.0, 1.0, 1.0) if self.model is None else self.model.spec.decision_weights
        return np.asarray(np.argmax(probabilities * np.asarray(weights), axis=-1), dtype=np.int64)

    def predict_vote(self, ctx: ComfortContext, prefs: MemberPreferences | None) -> VotePrediction:
        """What this member would most likely say about the room right now."""
        offset = prefs.comfort_offset if prefs is not None else ComfortOffset()
        p = self.vote_probabilities(_raw(ctx, ctx.indoor_c, 1), offset, ctx.at)[0]
        return VotePrediction(
            vote=CLASSES[int(self.decide_vote(p[None, :])[0])],
            probabilities={c: round(float(v), 4) for c, v in zip(CLASSES, p, strict=True)},
            personal=sum(offset.votes) > 0,
        )

    def observe_vote(
        self, prefs: MemberPreferences | None, vote: str, at: datetime
    ) -> ComfortOffset:
        """The member said `vote` ("cooler", "no change", "warmer") about the room."""
        if vote not in CLASSES:
            raise ValueError(f"vote {vote!r} is not one of {list(CLASSES)}")
        current = prefs.comfort_offset if prefs is not None else ComfortOffset()
        return learn_vote(current, CLASSES.index(vote), at)


__all__ = ["CANDIDATES", "ComfortAdvisor", "ModelLoadError", "Suggestion", "VotePrediction"]
