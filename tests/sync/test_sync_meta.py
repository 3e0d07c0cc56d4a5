"""The suite catches the two classic sync bugs: with central's dedupe disabled
(`SMARTROOM_SYNC_UNSAFE=no_dedupe`) and with the room saving its cursor before the page it
covers (`=cursor_first`), the sync tests fail: the flow tests (each in its own pytest
process) and the kill rig of test_sync_crash.py (each bug found by its invariants after a
kill: a purchase re-sent after a lost answer earns twice; a kill between the early cursor
and its page leaves the cursor ahead of the room's commands)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from test_sync_crash import KILLS, run_rig

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


@pytest.mark.timeout(600)
@pytest.mark.parametrize(
    ("bug", "symptom"),
    [("no_dedupe", "counted twice"), ("cursor_first", "is ahead of the applied data")],
)
def test_the_kill_rig_fails_with_the_bug_planted(tmp_path: Path, bug: str, symptom: str) -> None:
    code, output, summary = run_rig(tmp_path, KILLS, {**os.environ, "SMARTROOM_SYNC_UNSAFE": bug})
    assert code == 1, output
    assert "INVARIANT VIOLATED" in output and symptom in output, output
    assert summary["kills"] < KILLS  # it stopped at the first broken invariant
