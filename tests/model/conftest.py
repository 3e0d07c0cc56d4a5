"""Fixtures for the comfort model tests: the real shipped model and real data files."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.comfort import ComfortAdvisor, shipped_model_path
from models.data import DEFAULT_DATA_DIR, MEASUREMENTS, METADATA


@pytest.fixture(scope="session")
def advisor() -> ComfortAdvisor:
    return ComfortAdvisor.load()


@pytest.fixture(scope="session")
def shipped_blob() -> bytes:
    return shipped_model_path().read_bytes()


@pytest.fixture(scope="session")
def data_dir() -> Path:
    for name in (MEASUREMENTS, METADATA):
        assert (DEFAULT_DATA_DIR / name).is_file(), f"{DEFAULT_DATA_DIR / name} is missing"
    return DEFAULT_DATA_DIR


@pytest.fixture(scope="session")
def slice_csv(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> Path:
    """A small file in the database's schema: every 25th row of the training file."""
    import pandas as pd

    df = pd.read_csv(data_dir / MEASUREMENTS, low_memory=False)
    path = tmp_path_factory.mktemp("slice") / "slice.csv.gz"
    df.iloc[::25].to_csv(path, index=False)
    return path
