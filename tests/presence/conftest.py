"""The presence tests reuse the agent tests' in-process fake devices (tests/agent)."""

from __future__ import annotations

import sys
from pathlib import Path

AGENT_TESTS = str(Path(__file__).resolve().parents[1] / "agent")
if AGENT_TESTS not in sys.path:
    sys.path.append(AGENT_TESTS)
