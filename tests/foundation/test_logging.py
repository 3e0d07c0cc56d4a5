"""Logs are JSON off a terminal, and secrets never reach them."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from smartroom.log import configure_logging

SCRIPT = """
import logging
from smartroom.log import configure_logging, get_logger
configure_logging("info", json=None)
log = get_logger("t")
log.info("key_created", role="agent", api_key="sr_live_abc123", stay_secret="s3cr3t")
logging.getLogger("uvicorn").warning("from stdlib %s", "too")
log.debug("hidden")
"""


def test_json_lines_when_not_a_terminal_and_secrets_masked() -> None:
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, check=True, timeout=60
    )
    lines = [json.loads(line) for line in result.stderr.splitlines()]
    assert lines[0]["event"] == "key_created"
    assert lines[0]["level"] == "info"
    assert lines[0]["role"] == "agent"
    assert lines[0]["api_key"] == "***"
    assert lines[0]["stay_secret"] == "***"
    assert "timestamp" in lines[0]
    assert lines[1]["event"] == "from stdlib too"
    assert len(lines) == 2  # debug filtered
    assert "sr_live_abc123" not in result.stderr
    assert "s3cr3t" not in result.stderr


def test_unknown_level_says_which_are_valid() -> None:
    with pytest.raises(ValueError, match="debug, info, warning, error"):
        configure_logging("loud")


def test_stdlib_records_carry_no_formatter_internals() -> None:
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, check=True, timeout=60
    )
    stdlib_line = json.loads(result.stderr.splitlines()[1])
    assert "_record" not in stdlib_line
    assert "_from_structlog" not in stdlib_line
