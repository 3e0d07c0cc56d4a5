"""What the room knows when it asks for a comfort suggestion.

    ctx = ComfortContext(indoor_c=24.0, humidity_pct=50.0, outdoor_c=31.0,
                         outdoor_running_mean_c=28.0, at=datetime(2026, 7, 1, 15, tzinfo=UTC),
                         climate="Cfa", air_conditioned=True, age_band=None, gender=None)

Anything unknown is None (the model was trained with the same gaps). Age band and gender are
consent-gated: pass them only when the member agreed. Values outside physical ranges are
rejected with the field name, the value and the allowed range.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from agent.comfort.features import KOPPEN_RE

SUMMER_NORTH = (6, 7, 8)
WINTER_NORTH = (12, 1, 2)


class ComfortContext(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    indoor_c: Annotated[float, Field(ge=0.0, le=50.0)]
    humidity_pct: Annotated[float, Field(ge=0.0, le=100.0)] | None = None
    outdoor_c: Annotated[float, Field(ge=-60.0, le=60.0)] | None = None
    outdoor_running_mean_c: Annotated[float, Field(ge=-50.0, le=50.0)] | None = None
    at: AwareDatetime
    climate: Annotated[str, Field(max_length=3)] | None = None
    air_conditioned: bool | None = None
    age_band: Literal["<30", "30-50", ">50"] | None = None
    gender: Literal["female", "male"] | None = None
    hemisphere: Literal["north", "south"] = "north"

    @field_validator("climate")
    @classmethod
    def _koppen(cls, v: str | None) -> str | None:
        if v is not None and not KOPPEN_RE.match(v):
            raise ValueError(
                f"climate {v!r} is not a Köppen–Geiger code (e.g. 'Cfa', 'BWh', 'Af', 'Dfb')"
            )
        return v

    @property
    def season(self) -> float:
        """+1 summer, −1 winter, 0 spring/autumn, from the month and the hemisphere (the
        training data's tropical 'hot/wet' counts as summer and 'cool/dry' as winter)."""
        month = self.at.month
        sign = 1.0 if self.hemisphere == "north" else -1.0
        if month in SUMMER_NORTH:
            return sign
        if month in WINTER_NORTH:
            return -sign
        return 0.0

    @property
    def cooling(self) -> float | None:
        if self.air_conditioned is None:
            return None
        return 1.0 if self.air_conditioned else 0.0

    @property
    def running_mean_or_outdoor(self) -> float | None:
        if self.outdoor_running_mean_c is not None:
            return self.outdoor_running_mean_c
        return self.outdoor_c


CONTEXT_SETTINGS = {
    (): "given",
    ("climate",): "climate unknown",
    ("cooling type",): "cooling unknown",
    ("climate", "cooling type"): "both unknown",
}


def context_status(
    context_scores: dict[str, tuple[float, float]],
    *,
    climate: str | None,
    air_conditioned: bool | None,
) -> dict[str, Any]:
    """Which property context the room lacks and what that costs, from the model's own
    measured figures (`FeatureSpec.context_scores`: macro-F1 and κ on unseen buildings)."""
    missing = tuple(
        name
        for name, known in (
            ("climate", climate is not None),
            ("cooling type", air_conditioned is not None),
        )
        if not known
    )
    setting = CONTEXT_SETTINGS[missing]
    out: dict[str, Any] = {"missing": list(missing), "setting": setting}
    if setting in context_scores and "given" in context_scores:
        f1, kappa = context_scores[setting]
        f1_given, kappa_given = context_scores["given"]
        out |= {
            "macro_f1": f1,
            "kappa": kappa,
            "macro_f1_given": f1_given,
            "kappa_given": kappa_given,
        }
        pmv = context_scores.get("PMV rule")
        vs_pmv = "" if pmv is None else f"; PMV rule {pmv[0]:.3f} / {pmv[1]:.3f}"
        out["cost"] = (
            f"macro-F1 / κ on unseen buildings {f1:.3f} / {kappa:.3f} against {f1_given:.3f} / "
            f"{kappa_given:.3f} with the context set{vs_pmv}"
        )
    else:
        out["cost"] = "not measured for this model version"
    return out
