"""The presence tests reuse the agent tests' in-process fake devices (tests/agent), and share
a fresh real central per test (`presence_stack.Central`)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

AGENT_TESTS = str(Path(__file__).resolve().parents[1] / "agent")
if AGENT_TESTS not in sys.path:
    sys.path.append(AGENT_TESTS)


@pytest.fixture
def central(tmp_path: Path) -> Iterator[object]:
    from presence_stack import Central  # after sys.path holds tests/agent, which it imports

    service = Central(tmp_path)
    service.start()
    try:
        yield service
    finally:
        service.close()
