"""Fixtures of the agent tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from agent_central import Central


@pytest.fixture
def central(tmp_path: Path) -> Iterator[Central]:
    service = Central(tmp_path)
    service.start()
    try:
        yield service
    finally:
        service.stop()
        service.app.state.ctx.engine.dispose()
