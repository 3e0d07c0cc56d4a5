"""The suite catches the two classic sync bugs: with central's dedupe disabled
(`SMARTROOM_SYNC_UNSAFE=no_dedupe`) and with the room saving its cursor before the page it
covers (`=cursor_first`), the sync tests fail: the flow tests (each in its own pytest
process) and the kill rig of test_sync_crash.py with central on PostgreSQL (each bug found by
its checks after a kill: a purchase re-sent after a lost answer earns twice, and central's
earns no longer match its dedupe records; a kill between the early cursor and its page
leaves the cursor ahead of the room's commands).

The four runs are independent processes, so they run at once (two cores): one wall-clock
wait instead of four."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from test_sync_crash import KILLS, finish_rig, start_rig

HERE = Path(__file__).resolve().parent
pytestmark = [pytest.mark.timeout(600)]
FLOW = {  # bug: (the flow test that must fail, what its failure says)
    "no_dedupe": ("lost_answer", "counted once"),
    "cursor_first": ("crash_mid_page", "cursor saved without its page"),
}
RIG = {  # bug: what the kill rig's violation may say (any one of them)
    "no_dedupe": ("counted twice", "earns without an accepted purchase"),
    "cursor_first": ("is ahead of the applied data",),
}


def _flow(bug: str, test: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            *(sys.executable, "-m", "pytest", str(HERE / "test_sync_flow.py")),
            *("-k", test, "-q", "-p", "no:cacheprovider", "-x"),
        ],
        env={**os.environ, "SMARTROOM_SYNC_UNSAFE": bug},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def test_the_flow_tests_and_the_kill_rig_fail_with_each_bug_planted(tmp_path: Path) -> None:
    flows = {bug: _flow(bug, test) for bug, (test, _symptom) in FLOW.items()}
    rigs = {
        bug: start_rig(
            tmp_path / bug, KILLS, {**os.environ, "SMARTROOM_SYNC_UNSAFE": bug}, postgres=True
        )
        for bug in RIG
    }
    outputs = {}
    for bug, proc in flows.items():
        try:
            out, _ = proc.communicate(timeout=240)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        outputs[bug] = (proc.returncode, out)
    found = {bug: finish_rig(rig, tmp_path / bug) for bug, rig in rigs.items()}
    for bug, (code, out) in outputs.items():
        assert code == 1, f"{bug}: the flow tests passed: {out[-2000:]}"
        assert FLOW[bug][1] in out and "1 failed" in out, f"{bug}: {out[-2000:]}"
    for bug, (code, output, summary) in found.items():
        assert code == 1, f"{bug}: the kill rig passed: {output}"
        assert "INVARIANT VIOLATED" in output, output
        assert any(symptom in output for symptom in RIG[bug]), f"{bug}: {output}"
        assert summary["kills"] < KILLS  # it stopped at the first broken invariant
