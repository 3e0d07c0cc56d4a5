"""The seam between the agent and the comfort model: the member's values for a scene's
`"preference"` tokens, and what a manual change teaches.

Order for the setpoint: explicit stored preference > the comfort model's suggestion
(`agent.comfort.ComfortAdvisor`, which applies the member's learned offset) > the room
default plus the learned offset. Everything is clamped to the guest limits.

    resolver = PreferenceResolver.create(config)          # loads the model if it can
    values = resolver.values(prefs, ComfortInputs(indoor_c=24.1, at=now))
    values.setpoint_c, values.origin("setpoint_c")        # 22.5, "preference"
    prefs = resolver.learn(prefs, ComfortInputs(...), suggested_c=22.0, chosen_c=21.0)

When the model is missing or fails, the agent keeps working on explicit preferences and
defaults (logged once); the advisor never takes the room down.

The model's adaptive inputs: the outdoor running mean (EN 16798-1 / ASHRAE 55,
T_rm = (1 − α)·T_day−1 + α·T_rm−1 with α = 0.8) from the outdoor readings the room sees,
and the property's hemisphere (`[room] hemisphere`), so seasons are not inverted south of
the equator.

    rm = RunningMean()
    rm = rm.observe(date(2026, 1, 12), 4.0)    # every outdoor reading, by local date
    rm.mean_c                                  # None until a whole day has closed
"""

from __future__ import annotations

import importlib
import math
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any

from agent.config import RoomConfig
from drivers.base import FanMode
from scenes.engine import PreferenceValues
from smartroom.log import get_logger
from sync.wire import ComfortOffset, MemberPreferences

log = get_logger("agent.preferences")

# Learning rate for the fallback learner: the offset moves towards each new correction by
# 1/(n+1), capped so a member's first few changes count and later ones refine.
_MAX_WEIGHT_N = 10


@dataclass(frozen=True, slots=True)
class ComfortInputs:
    at: datetime
    indoor_c: float | None = None
    humidity_pct: float | None = None
    outdoor_c: float | None = None
    outdoor_running_mean_c: float | None = None


RUNNING_MEAN_ALPHA = 0.8  # EN 16798-1's recommended weight of the previous running mean
OUTDOOR_RANGE_C = (-60.0, 60.0)


@dataclass(frozen=True, slots=True)
class RunningMean:
    """The exponentially weighted running mean of daily mean outdoor temperatures.

    Readings are averaged per local day; when a reading for a later day arrives, the day
    before closes into the mean: T_rm = (1 − α)·T_day + α·T_rm (the first day seeds it).
    Days without any reading are skipped (the mean carries over), which is the standard's
    fallback too. Implausible readings are ignored, not averaged in."""

    mean_c: float | None = None
    day: date | None = None
    day_sum_c: float = 0.0
    day_count: int = 0

    def observe(self, day: date, outdoor_c: float) -> RunningMean:
        if not (math.isfinite(outdoor_c) and OUTDOOR_RANGE_C[0] <= outdoor_c <= OUTDOOR_RANGE_C[1]):
            return self
        if self.day is None or day == self.day:
            return replace(
                self, day=day, day_sum_c=self.day_sum_c + outdoor_c, day_count=self.day_count + 1
            )
        if day < self.day:
            return self  # the clock went back: a past day is closed already
        mean = self.mean_c
        if self.day_count:
            daily = self.day_sum_c / self.day_count
            mean = (
                daily
                if mean is None
                else (1 - RUNNING_MEAN_ALPHA) * daily + RUNNING_MEAN_ALPHA * mean
            )
        return RunningMean(mean, day, outdoor_c, 1)

    def to_json(self) -> dict[str, Any]:
        return {
            "mean_c": self.mean_c,
            "day": self.day.isoformat() if self.day else None,
            "day_sum_c": self.day_sum_c,
            "day_count": self.day_count,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> RunningMean:
        """What the store held; anything unreadable starts afresh rather than failing."""
        if not data:
            return cls()
        try:
            mean = data.get("mean_c")
            return cls(
                mean_c=None if mean is None else float(mean),
                day=date.fromisoformat(data["day"]) if data.get("day") else None,
                day_sum_c=float(data.get("day_sum_c", 0.0)),
                day_count=int(data.get("day_count", 0)),
            )
        except (TypeError, ValueError, KeyError):
            return cls()


def _comfort() -> Any:
    # Imported by name: the comfort runtime is optional at run time (a room without the
    # model still works on explicit preferences and defaults).
    return importlib.import_module("agent.comfort")


class PreferenceResolver:
    def __init__(self, config: RoomConfig, advisor: Any | None = None) -> None:
        self._advisor = advisor
        self._warned = False
        self.configure(config)

    def configure(self, config: RoomConfig) -> None:
        """Take the room's limits, defaults and comfort context (at start, and when
        central's room config changes them)."""
        self._limits = config.limits
        self._scenes = config.scenes
        self._climate = config.room.climate
        self._hemisphere = config.room.hemisphere
        self._air_conditioned = config.room.air_conditioned
        self.log_context()

    @classmethod
    def create(cls, config: RoomConfig, models: Any | None = None) -> PreferenceResolver:
        """With the shipped model, or with `models.load_current()` (an
        `agent.comfort.updates.ModelStore`: the installed version, else the previous one,
        else the shipped one)."""
        try:
            comfort = _comfort()
            advisor = (
                comfort.ComfortAdvisor.load()
                if models is None
                else comfort.ComfortAdvisor(models.load_current())
            )
        except Exception as exc:  # noqa: BLE001 - the room works without the model
            log.warning("comfort_model_unavailable", error=f"{type(exc).__name__}: {exc}")
            advisor = None
        return cls(config, advisor)

    def context_info(self) -> dict[str, Any] | None:
        """Which property context (climate, cooling type) the comfort model runs without and
        what that costs on unseen buildings; None without a model."""
        if self._advisor is None or self._advisor.model is None:
            return None
        status: dict[str, Any] = _comfort().context_status(
            self._advisor.model.spec.context_scores,
            climate=self._climate,
            air_conditioned=self._air_conditioned,
        )
        return status

    def log_context(self) -> None:
        info = self.context_info()
        if info is None:
            return
        if info["missing"]:
            log.warning(
                "comfort_context_missing",
                missing=info["missing"],
                cost=info["cost"],
                fix="set [room] climate and/or [room] air_conditioned in the room file",
            )
        else:
            log.info("comfort_context_complete", scores=info["cost"])

    def use_model(self, model: Any) -> None:
        """Swap in a loaded, self-tested comfort model (a version installed through sync)."""
        if self._advisor is None:
            self._advisor = _comfort().ComfortAdvisor(model)
        else:
            self._advisor.replace_model(model)
        self._warned = False
        self.log_context()  # a new version carries its own measured costs

    def _context(
        self, prefs: MemberPreferences | None, inputs: ComfortInputs, indoor_c: float
    ) -> Any:
        return _comfort().ComfortContext(
            indoor_c=indoor_c,
            humidity_pct=inputs.humidity_pct,
            outdoor_c=inputs.outdoor_c,
            outdoor_running_mean_c=inputs.outdoor_running_mean_c,
            at=inputs.at,
            climate=self._climate,
            hemisphere=self._hemisphere,
            air_conditioned=self._air_conditioned,
            age_band=prefs.age_band if prefs else None,
            gender=prefs.gender if prefs else None,
        )

    @property
    def has_model(self) -> bool:
        return self._advisor is not None

    def _model_setpoint(
        self, prefs: MemberPreferences | None, inputs: ComfortInputs
    ) -> tuple[float, str] | None:
        if self._advisor is None or inputs.indoor_c is None:
            return None
        try:
            ctx = self._context(prefs, inputs, inputs.indoor_c)
            suggestion = self._advisor.suggest(
                ctx, prefs, limits=(self._limits.setpoint_min_c, self._limits.setpoint_max_c)
            )
            source = str(getattr(suggestion, "source", "model"))
            return float(suggestion.setpoint_c), {"explicit": "preference"}.get(source, source)
        except Exception as exc:  # noqa: BLE001 - fall back to defaults, say so once
            if not self._warned:
                log.warning("comfort_model_failed", error=f"{type(exc).__name__}: {exc}")
                self._warned = True
            return None

    def values(self, prefs: MemberPreferences | None, inputs: ComfortInputs) -> PreferenceValues:
        origins: dict[str, str] = {}
        limits = self._limits
        setpoint = limits.default_setpoint_c
        explicit = prefs.climate.setpoint_c if prefs else None
        if explicit is not None:
            setpoint, origins["setpoint_c"] = explicit.value, "preference"
        else:
            model = self._model_setpoint(prefs, inputs)
            if model is not None:
                setpoint, origins["setpoint_c"] = model[0], "model"
            elif prefs is not None and prefs.comfort_offset.observations > 0:
                setpoint += prefs.comfort_offset.offset_c
                origins["setpoint_c"] = "learned"
        setpoint = round(limits.clamp(setpoint) * 2) / 2  # thermostats take 0.5 °C steps

        fan: FanMode | None = None
        if prefs and prefs.climate.fan is not None:
            fan, origins["fan"] = FanMode(prefs.climate.fan.value), "preference"
        level = self._scenes.default_light_pct
        if prefs and prefs.lighting.level_pct is not None:
            level, origins["level_pct"] = prefs.lighting.level_pct.value, "preference"
        ct = self._scenes.default_colour_temp_k
        if prefs and prefs.lighting.colour_temp_k is not None:
            ct, origins["colour_temp_k"] = prefs.lighting.colour_temp_k.value, "preference"
        volume = self._scenes.default_volume_pct
        if prefs and prefs.audio.volume_pct is not None:
            volume, origins["volume_pct"] = prefs.audio.volume_pct.value, "preference"
        source: str | None = None
        if prefs and prefs.audio.welcome_playlist is not None:
            source, origins["source"] = prefs.audio.welcome_playlist.value, "preference"
        elif prefs and prefs.audio.source is not None:
            source, origins["source"] = prefs.audio.source.value, "preference"
        curtains = True
        if prefs and prefs.routine.curtains_open_on_wake is not None:
            curtains = prefs.routine.curtains_open_on_wake.value
            origins["curtains_open_on_wake"] = "preference"
        return PreferenceValues(
            setpoint_c=setpoint,
            fan=fan,
            level_pct=level,
            colour_temp_k=ct,
            volume_pct=volume,
            source=source,
            curtains_open_on_wake=curtains,
            origins=origins,
        )

    def learn(
        self,
        prefs: MemberPreferences,
        inputs: ComfortInputs,
        *,
        suggested_c: float,
        chosen_c: float,
    ) -> MemberPreferences:
        """The member's preferences with the comfort offset updated from a manual change."""
        offset: ComfortOffset | None = None
        if self._advisor is not None:
            try:
                ctx = self._context(
                    prefs, inputs, inputs.indoor_c if inputs.indoor_c is not None else chosen_c
                )
                offset = self._advisor.observe_manual_change(
                    prefs,
                    ctx,
                    suggested_c=suggested_c,
                    chosen_c=chosen_c,
                    at=inputs.at,
                    limits=(self._limits.setpoint_min_c, self._limits.setpoint_max_c),
                )
            except Exception as exc:  # noqa: BLE001 - fall back to the simple learner
                log.warning("comfort_learn_failed", error=f"{type(exc).__name__}: {exc}")
                offset = None
        if offset is None:
            old = prefs.comfort_offset
            n = min(old.observations, _MAX_WEIGHT_N)
            correction = chosen_c - suggested_c + old.offset_c
            value = old.offset_c + (correction - old.offset_c) / (n + 1)
            # model_copy: the member's learned votes travel on untouched.
            offset = old.model_copy(
                update={
                    "offset_c": max(-6.0, min(6.0, round(value, 2))),
                    "observations": old.observations + 1,
                    "updated_at": inputs.at,
                }
            )
        return prefs.model_copy(update={"comfort_offset": offset})
