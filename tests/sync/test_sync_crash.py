"""Crash at every point (issue 16, fault test 2): at least 200 real SIGKILLs per run of the
room's sync and of central, at each named fault point of the agent's write and sync paths
and of central's accept, earn and pull paths (every point at least once), at random points
and at random moments from outside; after every kill the databases pass their integrity
checks and the sync invariants hold, and after healing nothing is lost or counted twice.

The work is done by tests/sync/kill_rig.py (a pre-imported parent forking central and agent
processes, so a kill costs a fork, not an interpreter start). Two rigs run at once, one per
core: central on PostgreSQL (its production database: after each central kill the ledger's
hash chains and balances verify and no dedupe record lacks its effect, amcheck at every
heal) and central on SQLite (`PRAGMA integrity_check` too). Each hits every point; the
kills of both count towards the 200. Budget: ~40 s on a quiet 2-core machine (docs/sync.md).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from sync.faults import POINTS

HERE = Path(__file__).resolve().parent
KILLS = 200  # per CI run, both rigs together
KILLS_PG = 100  # central on PostgreSQL (production); the rest on SQLite
pytestmark = [pytest.mark.timeout(900)]


def start_rig(
    work: Path, kills: int, env: dict[str, str] | None = None, *, postgres: bool = False
) -> subprocess.Popen[str]:
    """Start the kill rig as a process of its own (its summary goes to work/summary.json)."""
    work.mkdir(parents=True, exist_ok=True)
    args = [sys.executable, str(HERE / "kill_rig.py"), "--kills", str(kills), "--work", str(work)]
    args += ["--json", str(work / "summary.json"), "--time-limit", "780"]
    return subprocess.Popen(
        [*args, *(["--postgres"] if postgres else [])],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish_rig(rig: subprocess.Popen[str], work: Path) -> tuple[int, str, dict[str, Any]]:
    """Wait for a rig; (exit code, its output, its summary)."""
    try:
        out, err = rig.communicate(timeout=840)
    finally:
        if rig.poll() is None:
            rig.kill()
            rig.wait()
    summary = work / "summary.json"
    output = out + err[-4000:]
    return rig.returncode, output, json.loads(summary.read_text()) if summary.exists() else {}


def run_rig(
    work: Path, kills: int, env: dict[str, str] | None = None, *, postgres: bool = False
) -> tuple[int, str, dict[str, Any]]:
    """Run the kill rig; (exit code, its output, its summary)."""
    return finish_rig(start_rig(work, kills, env, postgres=postgres), work)


def test_200_sigkills_at_every_point_and_at_random(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rigs = {
        "postgresql": start_rig(tmp_path / "pg", KILLS_PG, postgres=True),
        "sqlite": start_rig(tmp_path / "sqlite", KILLS - KILLS_PG),
    }
    results = {
        name: finish_rig(rig, tmp_path / ("pg" if name == "postgresql" else name))
        for name, rig in rigs.items()
    }
    total = sum(summary.get("kills", 0) for _, _, summary in results.values())
    with capsys.disabled():  # the kill counts belong in the CI log
        print(f"\nsync crash test: {total} SIGKILLs in all")
        for _, output, _ in results.values():
            print(f"  {output.splitlines()[0] if output else 'no output'}")
    assert total >= KILLS
    for name, (code, output, summary) in results.items():
        assert code == 0, output
        assert summary["database"] == name
        assert summary["kills"] >= (KILLS_PG if name == "postgresql" else KILLS - KILLS_PG)
        assert summary["points_missed"] == [] and set(summary["points_hit"]) == set(POINTS)
        assert summary["agent_kills"] > 0 and summary["central_kills"] > 0
        assert summary["external_agent_kills"] > 0 and summary["external_central_kills"] > 0
        assert summary["heals"] >= 2 and summary["checks"] >= summary["cycles"]
        assert summary["central_checks"] >= summary["central_kills"]
        assert summary["lost"] == 0 and summary["doubled"] == 0
        assert summary["purchases"] > 0 and summary["points"] > 0
    assert results["postgresql"][2]["amchecked_indexes"] > 0
