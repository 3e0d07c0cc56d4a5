"""Load the ASHRAE Global Thermal Comfort Database II into the comfort encoder's inputs.

    ds = load_dataset(data_dir())              # checks the pinned sha256 first
    ds.raw, ds.y, ds.groups                    # RawFeatures, class indices, building ids

Only columns a hotel room has are turned into features; the measured clothing, metabolic rate,
radiant temperature and air speed are kept (`ds.frame`) for the PMV baseline alone.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt
import pandas as pd

from agent.comfort.features import AGE_BANDS, CLASSES, GENDERS, RawFeatures
from models.koppen import KOPPEN_BY_NAME

REPO_ROOT: Final = Path(__file__).resolve().parent.parent


def _default_data_dir() -> Path:
    """`shared/data/ashrae-db-II` beside the checkout, or beside any folder above it (a git
    worktree lives one level deeper than the main checkout)."""
    for parent in REPO_ROOT.parents:
        candidate = parent / "shared" / "data" / "ashrae-db-II"
        if candidate.is_dir():
            return candidate
    return REPO_ROOT.parent / "shared" / "data" / "ashrae-db-II"


DEFAULT_DATA_DIR: Final = _default_data_dir()
MEASUREMENTS: Final = "db_measurements_v2.1.0.dev.train.csv.gz"
METADATA: Final = "db_metadata.train.csv"
# Pinned so a retrain on silently different data fails loudly instead of shipping.
SHA256: Final = {
    MEASUREMENTS: "e8a8742f3092d5237013f6bfd1b557f34d4a8161f5bf72c239c0f47406bbd0c4",
    METADATA: "5f70470b1f8748b5cb805a5fbecce234ed4c294c060ac42ce16c9953271aa09b",
}
SEASONS: Final = {
    "summer": 1.0,
    "hot/wet": 1.0,
    "winter": -1.0,
    "cool/dry": -1.0,
    "spring": 0.0,
    "autumn": 0.0,
}
COOLING: Final = {"air conditioned": 1.0, "mixed mode": 0.5, "naturally ventilated": 0.0}
MEASUREMENT_COLUMNS: Final = ("building_id", "ta", "thermal_preference")


class DataError(ValueError):
    """The data file is missing, altered, or not in the database's schema."""


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def check_pinned(data_dir: Path) -> dict[str, str]:
    """Verify both training files against the pinned hashes; returns them."""
    for name, want in SHA256.items():
        path = data_dir / name
        if not path.is_file():
            raise DataError(f"{path} not found: pass --data DIR pointing at ashrae-db-II/")
        got = sha256_file(path)
        if got != want:
            raise DataError(
                f"{path} has sha256 {got}, expected {want}: the training data changed; "
                "retrain only on the pinned file (or update SHA256 in models/data.py knowingly)"
            )
    return dict(SHA256)


@dataclass(frozen=True)
class Dataset:
    frame: pd.DataFrame
    raw: RawFeatures
    y: npt.NDArray[np.int64]
    groups: npt.NDArray[np.int64]

    def __len__(self) -> int:
        return int(self.y.shape[0])

    def subset(self, rows: npt.NDArray[np.int64] | npt.NDArray[np.bool_]) -> Dataset:
        r = self.raw
        return Dataset(
            frame=self.frame.iloc[rows].reset_index(drop=True)
            if rows.dtype != np.bool_
            else self.frame[rows].reset_index(drop=True),
            raw=RawFeatures(
                indoor_c=r.indoor_c[rows],
                humidity_pct=r.humidity_pct[rows],
                outdoor_c=r.outdoor_c[rows],
                running_mean_c=r.running_mean_c[rows],
                season=r.season[rows],
                koppen=r.koppen[rows],
                cooling=r.cooling[rows],
                age_band=r.age_band[rows],
                gender=r.gender[rows],
            ),
            y=self.y[rows],
            groups=self.groups[rows],
        )


# Physically plausible ranges: anything outside is a recording error and treated as missing.
PLAUSIBLE: Final = {
    "ta": (0.0, 50.0),
    "rh": (0.0, 100.0),
    "t_out_isd": (-60.0, 60.0),
    "t_out": (-60.0, 60.0),
    "t_mot_isd": (-50.0, 50.0),
    "t_out_monthly": (-50.0, 50.0),
    "age": (5.0, 110.0),
}


def _num(frame: pd.DataFrame, col: str) -> npt.NDArray[np.float64]:
    if col not in frame:
        return np.full(len(frame), np.nan)
    v = pd.to_numeric(frame[col], errors="coerce").to_numpy(dtype=np.float64)
    lo, hi = PLAUSIBLE.get(col, (-np.inf, np.inf))
    return np.where((v >= lo) & (v <= hi), v, np.nan)


def climate_key(name: object) -> str:
    """Metadata climate names carry stray non-breaking spaces and case differences."""
    return " ".join(str(name).replace("\xa0", " ").split()).lower() if name else ""


def _first(frame: pd.DataFrame, *cols: str) -> npt.NDArray[np.float64]:
    out = np.full(len(frame), np.nan)
    for col in cols:
        out = np.where(np.isnan(out), _num(frame, col), out)
    return out


def age_band_index(age: npt.NDArray[np.float64]) -> npt.NDArray[np.int64]:
    band = np.full(age.shape[0], -1, dtype=np.int64)
    band[age < 30] = AGE_BANDS.index("<30")
    band[(age >= 30) & (age <= 50)] = AGE_BANDS.index("30-50")
    band[age > 50] = AGE_BANDS.index(">50")
    return band


def load_frame(
    measurements: Path, metadata: Path, *, context_unknown: bool = False
) -> tuple[pd.DataFrame, list[int]]:
    """Rows with a thermal preference vote, joined with their building's metadata, and the
    buildings that have none. A building missing from `metadata` is an error naming it,
    unless `context_unknown`: then its rows keep climate and cooling type unknown."""
    try:
        df = pd.read_csv(measurements, low_memory=False)
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise DataError(f"cannot read {measurements}: {exc}") from exc
    missing = [c for c in MEASUREMENT_COLUMNS if c not in df.columns]
    if missing:
        raise DataError(
            f"{measurements} lacks column(s) {missing}: expected the ASHRAE DB II measurements "
            "schema (building_id, ta, rh, t_out_isd, thermal_preference, ...)"
        )
    try:
        meta = pd.read_csv(metadata)
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise DataError(f"cannot read metadata {metadata}: {exc}") from exc
    if "building_id" not in meta.columns:
        raise DataError(f"{metadata} lacks the building_id column: not a DB II metadata file")
    keep = [c for c in ("building_id", "climate", "cooling_type") if c in meta.columns]
    df = df[df["thermal_preference"].isin(CLASSES)].copy()
    df = df.drop(columns=[c for c in ("climate", "cooling_type") if c in df.columns])
    df = df[np.isfinite(_num(df, "ta"))].reset_index(drop=True)
    if df.empty:
        raise DataError(f"{measurements} has no rows with both ta and thermal_preference")
    ids = pd.to_numeric(df["building_id"], errors="coerce")
    known = set(pd.to_numeric(meta["building_id"], errors="coerce").dropna().astype(int))
    absent = sorted({int(b) for b in ids.dropna()} - known)
    if ids.isna().any():
        raise DataError(f"{measurements}: {int(ids.isna().sum())} row(s) have no building_id")
    if absent and not context_unknown:
        shown = ", ".join(map(str, absent[:20])) + (", ..." if len(absent) > 20 else "")
        raise DataError(
            f"{int(ids.isin(absent).sum())} rows of {len(absent)} building(s) have no entry in "
            f"{metadata}: building_id {shown}. Give a metadata file that covers them, or pass "
            "--context-unknown to score those rows with climate and cooling type unknown"
        )
    df = df.merge(meta[keep], on="building_id", how="left")
    return pd.DataFrame(df), absent


def dataset_from_frame(df: pd.DataFrame) -> Dataset:
    n = len(df)
    climate = df.get("climate", pd.Series([None] * n)).map(
        lambda v: climate_key(v) if isinstance(v, str) else ""
    )
    koppen = climate.map(KOPPEN_BY_NAME).fillna("")
    gender = df.get("gender", pd.Series([None] * n)).map({g: i for i, g in enumerate(GENDERS)})
    raw = RawFeatures(
        indoor_c=_num(df, "ta"),
        humidity_pct=_num(df, "rh"),
        # Outdoor: the weather-station value (ISD) first, the study's own reading second.
        outdoor_c=_first(df, "t_out_isd", "t_out"),
        running_mean_c=_first(df, "t_mot_isd", "t_out_monthly"),
        season=np.asarray(df.get("season", pd.Series([None] * n)).map(SEASONS), dtype=np.float64),
        koppen=koppen.to_numpy(dtype="<U4"),
        cooling=np.asarray(
            df.get("cooling_type", pd.Series([None] * n)).map(COOLING), dtype=np.float64
        ),
        age_band=age_band_index(_num(df, "age")),
        gender=np.asarray(gender.fillna(-1), dtype=np.int64),
    )
    y = np.asarray(
        df["thermal_preference"].map({c: i for i, c in enumerate(CLASSES)}), dtype=np.int64
    )
    groups = np.asarray(
        pd.to_numeric(df["building_id"], errors="coerce").fillna(-1), dtype=np.int64
    )
    return Dataset(frame=df, raw=raw, y=y, groups=groups)


def load_dataset(data_dir: Path, *, check: bool = True) -> Dataset:
    if check:
        check_pinned(data_dir)
    frame, _ = load_frame(data_dir / MEASUREMENTS, data_dir / METADATA)
    return dataset_from_frame(frame)
