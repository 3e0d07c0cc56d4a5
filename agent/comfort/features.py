"""Feature encoding for the comfort model: the ONE place that turns what a hotel room knows
into the model's input matrix. Training (`models/`) and the agent both call `encode`, so the
two can never drift apart. Pure numpy, no I/O.

    spec = FeatureSpec(impute=Imputation(rh_pct=47.0, outdoor_c=22.0, running_mean_c=23.0,
                                         cooling=0.5))
    x = encode(RawFeatures.broadcast(n=17, indoor_c=np.arange(19, 27.5, 0.5), humidity_pct=50.0,
                                     outdoor_c=31.0, running_mean_c=28.0, season=1.0,
                                     koppen="Cfa", cooling=1.0, age_band=None, gender=None), spec)

Missing values are NaN on the way in; they are replaced by the training medians and flagged,
so the model was trained with (and tolerates) the same missingness: consent-gated age band
and gender are simply absent (all-zero one-hots) when the member has not agreed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Final

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict

FloatArray = npt.NDArray[np.float64]

ENCODER_VERSION: Final = 1
CLASSES: Final = ("cooler", "no change", "warmer")
NO_CHANGE: Final = 1
AGE_BANDS: Final = ("<30", "30-50", ">50")
GENDERS: Final = ("female", "male")
KOPPEN_RE: Final = re.compile(r"^(A[fmws]|B[WS][hk]?|C[fsw][abc]?|D[fsw][abcd]?|E[TF]?)$")

FEATURE_NAMES: Final = (
    "indoor_c",
    "humidity_pct",
    "outdoor_c",
    "running_mean_c",
    "clo_tout",
    "above_adaptive_neutral_c",
    "indoor_minus_outdoor_c",
    "season",
    "koppen_A",
    "koppen_B",
    "koppen_C",
    "koppen_D",
    "precip_f",
    "precip_w",
    "precip_s",
    "arid_desert",
    "arid_steppe",
    "cooling",
    "humidity_missing",
    "outdoor_missing",
    "running_mean_missing",
    "cooling_missing",
    "age_lt30",
    "age_30_50",
    "age_gt50",
    "gender_female",
    "gender_male",
)
N_FEATURES: Final = len(FEATURE_NAMES)


class Imputation(BaseModel):
    """Training medians that replace a missing value (and a flag says it was missing)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    rh_pct: float
    outdoor_c: float
    running_mean_c: float
    cooling: float


class FeatureSpec(BaseModel):
    """What a model file expects: embedded in the .tflite so a model update carries it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    encoder_version: int = ENCODER_VERSION
    features: tuple[str, ...] = FEATURE_NAMES
    classes: tuple[str, ...] = CLASSES
    impute: Imputation
    # Per-class multipliers on the probabilities before argmax (chosen on inner folds to
    # balance macro-F1 and κ); the setpoint search does not need them.
    decision_weights: tuple[float, float, float] = (1.0, 1.0, 1.0)
    # Macro-F1 and κ on unseen buildings (building-grouped CV) per context setting — "given",
    # "climate unknown", "cooling unknown", "both unknown" — and "PMV rule" on the same rows:
    # what the agent reports a missing context costs.
    context_scores: dict[str, tuple[float, float]] = {}

    def check(self) -> None:
        """Refuse a model whose inputs this code cannot produce."""
        if self.encoder_version != ENCODER_VERSION or tuple(self.features) != FEATURE_NAMES:
            raise ValueError(
                f"model expects encoder v{self.encoder_version} with features "
                f"{list(self.features)}; this agent encodes v{ENCODER_VERSION} "
                f"{list(FEATURE_NAMES)}"
            )
        if tuple(self.classes) != CLASSES:
            raise ValueError(f"model classes {list(self.classes)} are not {list(CLASSES)}")


@dataclass(frozen=True)
class RawFeatures:
    """Column arrays of length n; NaN (floats) or None/'' (codes) means unknown.

    `season`: +1 summer (incl. tropical hot/wet), −1 winter (incl. cool/dry), 0 spring/autumn.
    `cooling`: 1 air-conditioned, 0.5 mixed mode, 0 naturally ventilated.
    `age_band`: index into AGE_BANDS or −1; `gender`: index into GENDERS or −1.
    """

    indoor_c: FloatArray
    humidity_pct: FloatArray
    outdoor_c: FloatArray
    running_mean_c: FloatArray
    season: FloatArray
    koppen: npt.NDArray[np.str_]
    cooling: FloatArray
    age_band: npt.NDArray[np.int64]
    gender: npt.NDArray[np.int64]

    @classmethod
    def broadcast(
        cls,
        n: int,
        *,
        indoor_c: float | FloatArray,
        humidity_pct: float | None,
        outdoor_c: float | None,
        running_mean_c: float | None,
        season: float | None,
        koppen: str | None,
        cooling: float | None,
        age_band: str | None,
        gender: str | None,
    ) -> RawFeatures:
        """One context repeated n times (only the indoor temperature varies): the agent's
        candidate batch."""

        def col(v: float | None) -> FloatArray:
            return np.full(n, np.nan if v is None else float(v), dtype=np.float64)

        return cls(
            indoor_c=np.broadcast_to(np.asarray(indoor_c, dtype=np.float64), (n,)).copy(),
            humidity_pct=col(humidity_pct),
            outdoor_c=col(outdoor_c),
            running_mean_c=col(running_mean_c),
            season=col(season),
            koppen=np.full(n, koppen or "", dtype="<U4"),
            cooling=col(cooling),
            age_band=np.full(n, AGE_BANDS.index(age_band) if age_band else -1, dtype=np.int64),
            gender=np.full(n, GENDERS.index(gender) if gender else -1, dtype=np.int64),
        )


def without_context(
    raw: RawFeatures,
    *,
    climate: bool | npt.NDArray[np.bool_],
    cooling: bool | npt.NDArray[np.bool_],
) -> RawFeatures:
    """The same rows with the property's climate and/or cooling type unknown (per row when
    given arrays): what a room with an unset climate or cooling type sends the model."""
    n = raw.indoor_c.shape[0]
    drop_climate = np.broadcast_to(np.asarray(climate, dtype=bool), (n,))
    drop_cooling = np.broadcast_to(np.asarray(cooling, dtype=bool), (n,))
    return replace(
        raw,
        koppen=np.where(drop_climate, "", raw.koppen).astype("<U4"),
        cooling=np.where(drop_cooling, np.nan, raw.cooling),
    )


def clo_from_outdoor(outdoor_c: FloatArray) -> FloatArray:
    """Representative clothing (clo) from outdoor temperature (ASHRAE 55 Fig. 5-1, Schiavon
    & Lee 2013): pythermalcomfort's `clo_tout`, transcribed line for line. Importing
    pythermalcomfort costs ~170 MiB of RSS and 2 s (numba, scipy) on the agent for three
    `np.where`s; tests/model/test_physics.py checks this equals `clo_tout` everywhere."""
    # Clipping changes nothing (every branch is flat beyond ±60 °C) but keeps 10**x finite.
    tout = np.clip(np.asarray(outdoor_c, dtype=np.float64), -60.0, 60.0)
    clo = np.where(tout < 26, np.power(10, -0.1635 - 0.0066 * tout), 0.46)
    clo = np.where(tout < 5, 0.818 - 0.0364 * tout, clo)
    clo = np.where(tout < -5, 1, clo)
    return np.asarray(np.around(clo, 2), dtype=np.float64)


def _koppen_columns(codes: npt.NDArray[np.str_]) -> FloatArray:
    out = np.zeros((codes.shape[0], 9), dtype=np.float64)
    for code in np.unique(codes):
        if not code:
            continue
        rows = codes == code
        group = code[0]
        if group in "ABCD":
            out[rows, "ABCD".index(group)] = 1.0
        elif group == "E":  # polar: too rare to learn, closest is the coldest group we have
            out[rows, 3] = 1.0
        second = code[1:2]
        if group == "B":
            out[rows, 7 if second == "W" else 8] = 1.0
        elif second in ("f", "w", "s"):
            out[rows, 4 + "fws".index(second)] = 1.0
    return out


def encode(raw: RawFeatures, spec: FeatureSpec) -> npt.NDArray[np.float32]:
    """The model input matrix (n × N_FEATURES, float32), in FEATURE_NAMES order."""
    imp = spec.impute
    n = raw.indoor_c.shape[0]
    ta = raw.indoor_c.astype(np.float64)
    rh_missing = np.isnan(raw.humidity_pct)
    rh = np.where(rh_missing, imp.rh_pct, raw.humidity_pct)
    out_missing = np.isnan(raw.outdoor_c)
    tout = np.where(out_missing, imp.outdoor_c, raw.outdoor_c)
    rm_missing = np.isnan(raw.running_mean_c)
    # A missing running mean is better guessed from today's outdoor temperature than from
    # a global median; the flag still tells the model it was a guess.
    trm = np.where(
        rm_missing, np.where(out_missing, imp.running_mean_c, raw.outdoor_c), raw.running_mean_c
    )
    cool_missing = np.isnan(raw.cooling)
    cooling = np.where(cool_missing, imp.cooling, raw.cooling)
    season = np.nan_to_num(raw.season, nan=0.0)
    x = np.empty((n, N_FEATURES), dtype=np.float64)
    x[:, 0] = ta
    x[:, 1] = rh
    x[:, 2] = tout
    x[:, 3] = trm
    x[:, 4] = clo_from_outdoor(tout) if n else tout
    x[:, 5] = ta - (0.31 * trm + 17.8)  # ASHRAE 55 adaptive neutral temperature
    x[:, 6] = ta - tout
    x[:, 7] = season
    x[:, 8:17] = _koppen_columns(raw.koppen)
    x[:, 17] = cooling
    x[:, 18] = rh_missing
    x[:, 19] = out_missing
    x[:, 20] = rm_missing
    x[:, 21] = cool_missing
    for i in range(3):
        x[:, 22 + i] = raw.age_band == i
    for i in range(2):
        x[:, 25 + i] = raw.gender == i
    return x.astype(np.float32)
