"""Loyalty fixtures: a migrated database on each backend, an app on it with a FakeClock
served over real HTTP, API keys for every role. PostgreSQL tests get a fresh database each."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from service_harness import Service, make_service

from smartroom.clock import FakeClock
from smartroom.services import AppServer, TemporaryPostgres


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'loyalty.db'}"


@pytest.fixture
def pg_fresh() -> Iterator[str]:
    pg = TemporaryPostgres(prefix="loyalty_test").start()
    try:
        yield pg.url
    finally:
        pg.close()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest) -> str:
    if request.param == "sqlite":
        return str(request.getfixturevalue("sqlite_url"))
    return str(request.getfixturevalue("pg_fresh"))


@pytest.fixture
def service(db_url: str) -> Iterator[Service]:
    clock = FakeClock(datetime(2026, 3, 2, 10, 0, tzinfo=UTC))
    svc = make_service(db_url, clock)
    with AppServer(svc.app) as server, svc.client:
        svc.client.base_url = httpx.URL(server.url)
        yield svc
    svc.app.state.ctx.engine.dispose()


@pytest.fixture
def sqlite_service(sqlite_url: str) -> Iterator[Service]:
    clock = FakeClock(datetime(2026, 3, 2, 10, 0, tzinfo=UTC))
    svc = make_service(sqlite_url, clock)
    with AppServer(svc.app) as server, svc.client:
        svc.client.base_url = httpx.URL(server.url)
        yield svc
    svc.app.state.ctx.engine.dispose()
