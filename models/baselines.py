"""The two baselines every evaluation reports beside the model.

    always_no_change(n)          -> class indices, all "no change"
    pmv_rule(frame)              -> PMV < -0.5 -> warmer, > 0.5 -> cooler, else no change

The PMV rule gets the survey's own measurements (radiant temperature, air speed, metabolic
rate, clothing) where present: information a hotel room does not have, so it is a generous
baseline. Missing inputs take ISO 7730 office defaults (tr = ta, 0.1 m/s, 1.2 met, 0.6 clo,
50 %RH). Inputs are not limited to the standard's ranges (that would give NaN for hot rooms).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pandas as pd

from agent.comfort.features import CLASSES

IntArray = npt.NDArray[np.int64]


def always_no_change(n: int) -> IntArray:
    return np.full(n, CLASSES.index("no change"), dtype=np.int64)


def pmv_values(frame: pd.DataFrame) -> npt.NDArray[np.float64]:
    from pythermalcomfort.models import pmv_ppd_iso

    def col(name: str, default: float | npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        if name not in frame:
            return np.broadcast_to(np.asarray(default, dtype=np.float64), (len(frame),)).copy()
        v = pd.to_numeric(frame[name], errors="coerce").to_numpy(np.float64)
        return np.where(np.isfinite(v), v, default)

    ta = col("ta", 22.0)
    result = pmv_ppd_iso(
        tdb=ta,
        tr=col("tr", ta),
        vr=np.clip(col("vel", 0.1), 0.0, None),
        rh=np.clip(col("rh", 50.0), 0.0, 100.0),
        met=np.clip(col("met", 1.2), 0.8, 4.0),
        clo=np.clip(col("clo", 0.6), 0.0, 2.0),
        limit_inputs=False,
        round_output=False,
    )
    return np.asarray(result.pmv, dtype=np.float64)


def pmv_rule(frame: pd.DataFrame) -> IntArray:
    pmv = pmv_values(frame)
    out = always_no_change(len(frame))
    out[pmv < -0.5] = CLASSES.index("warmer")
    out[pmv > 0.5] = CLASSES.index("cooler")
    return out
