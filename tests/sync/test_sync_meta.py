"""The suite catches the two classic sync bugs: with central's dedupe disabled
(`SMARTROOM_SYNC_UNSAFE=no_dedupe`) and with the room saving its cursor before the page it
covers (`=cursor_first`), the sync tests fail. Each runs in its own pytest process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


@pytest.mark.parametrize(
    ("bug", "test", "symptom"),
    [
        ("no_dedupe", "lost_answer", "counted once"),
        ("cursor_first", "crash_mid_page", "cursor saved without its page"),
    ],
)
def test_the_suite_fails_with_the_bug_planted(bug: str, test: str, symptom: str) -> None:
    env = {**os.environ, "SMARTROOM_SYNC_UNSAFE": bug}
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            str(HERE / "test_sync_flow.py"),
            "-k",
            test,
            "-q",
            "-p",
            "no:cacheprovider",
            "-x",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert run.returncode == 1, run.stdout[-2000:]
    assert symptom in run.stdout, run.stdout[-2000:]
    assert "1 failed" in run.stdout
