"""Analytics fixtures: the loyalty service (real HTTP, SQLite and PostgreSQL) with a clock
at 2026-04-01 (outside the default programme's off-peak and peak seasons, so the hand
computations need no multipliers) and a key for the loyalty team."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "loyalty"))

from service_harness import Service, make_service

from smartroom.clock import FakeClock
from smartroom.services import AppServer, TemporaryPostgres

START = datetime(2026, 4, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def pg_fresh() -> Iterator[str]:
    pg = TemporaryPostgres(prefix="analytics_test").start()
    try:
        yield pg.url
    finally:
        pg.close()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'loyalty.db'}"
    return str(request.getfixturevalue("pg_fresh"))


@pytest.fixture
def service(db_url: str) -> Iterator[Service]:
    svc = make_service(db_url, FakeClock(START))
    svc.keys["loyalty"] = svc.key_for("loyalty")
    with AppServer(svc.app) as server, svc.client:
        svc.client.base_url = httpx.URL(server.url)
        yield svc
    svc.app.state.ctx.engine.dispose()


@pytest.fixture
def sqlite_service(tmp_path: Path) -> Iterator[Service]:
    svc = make_service(f"sqlite:///{tmp_path / 'loyalty.db'}", FakeClock(START))
    svc.keys["loyalty"] = svc.key_for("loyalty")
    with AppServer(svc.app) as server, svc.client:
        svc.client.base_url = httpx.URL(server.url)
        yield svc
    svc.app.state.ctx.engine.dispose()
