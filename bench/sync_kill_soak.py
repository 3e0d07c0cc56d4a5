"""The sync kill soak (issue 16): at least 1,000 real SIGKILLs of a room's sync and of
central, at every named fault point and at random, with the databases' integrity and the
sync invariants checked after every kill (tests/sync/kill_rig.py does the work; the suite
runs it with 200 kills, this runs it long). Records the counts in docs/benchmarks.md.

    ./dev python -m bench.sync_kill_soak                # 1,000 kills (writes sync-kill-soak)
    ./dev python -m bench.sync_kill_soak --kills 300    # a shorter soak
    ./dev python -m bench.sync_kill_soak --postgres     # central on PostgreSQL, not SQLite

A soak, not a speed claim: its figures are counts (kills, points, events, lost, counted
twice); the duration is recorded with the machine's load so a reader can judge it.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.record import record

RIG = Path(__file__).resolve().parent.parent / "tests" / "sync" / "kill_rig.py"


def main() -> int:
    parser = argparse.ArgumentParser(description="Sync kill soak: SIGKILLs with invariants.")
    parser.add_argument("--kills", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--heal-every", type=int, default=25)
    parser.add_argument(
        "--postgres", action="store_true", help="central on a throwaway PostgreSQL database"
    )
    args = parser.parse_args()
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="kill-soak-") as tmp:
        summary_path = Path(tmp) / "summary.json"
        command = [
            sys.executable,
            str(RIG),
            "--kills",
            str(args.kills),
            "--heal-every",
            str(args.heal_every),
            "--work",
            str(Path(tmp) / "work"),
            "--json",
            str(summary_path),
            "--time-limit",
            str(max(600, args.kills * 3)),
        ]
        if args.seed is not None:
            command += ["--seed", str(args.seed)]
        if args.postgres:
            command.append("--postgres")
        run = subprocess.run(command, capture_output=True, text=True, check=False)
        print(run.stdout, end="")
        if not summary_path.exists():
            print(run.stderr[-4000:], file=sys.stderr)
            return 2
        s = json.loads(summary_path.read_text())
    load_after = os.getloadavg()
    if run.returncode != 0:
        print(run.stderr[-4000:], file=sys.stderr)
        print("the soak failed: nothing recorded", file=sys.stderr)
        return 1
    points = "\n".join(f"| `{name}` | {n} |" for name, n in s["points_hit"].items())
    total_points = len(s["points_hit"]) + len(s["points_missed"])
    outside = s["external_agent_kills"] + s["external_central_kills"]
    pg = s["database"] == "postgresql"
    db = "PostgreSQL" if pg else "SQLite"
    central_checks = (
        "ledger hash chains and balances verify, dedupe records match their effects"
        + ("; amcheck on every index at each heal" if pg else ", `PRAGMA integrity_check`")
    )
    body = f"""
`bench/sync_kill_soak.py` running `tests/sync/kill_rig.py` (seed {s["seed"]}): one pre-imported
parent forks central (uvicorn on the loyalty app, {db}) and, per cycle, a room's sync
(agent store, real sync engine over HTTP); each dies by SIGKILL at a named fault point, at a
random point, or from outside after a random delay; central is restarted at once. After
every central kill: central's integrity ({central_checks}); after every cycle: `PRAGMA
integrity_check` of the room's database and the invariants; every {args.heal_every} cycles
and at the end the link heals and both sides must be equal. Load average
{load_before[0]:.1f} before, {load_after[0]:.1f} after.

| measure | result |
|---|---|
| SIGKILLs | **{s["kills"]:,}** ({s["agent_kills"]:,} agent, {s["central_kills"]:,} central) |
| of them from outside at a random moment | {outside:,} ({s["external_agent_kills"]:,} agent, \
{s["external_central_kills"]:,} central) |
| named points hit (killed at) | {len(s["points_hit"])} of {total_points} |
| cycles / invariant checks / heals | {s["cycles"]:,} / {s["checks"]:,} / {s["heals"]:,} |
| events written by the room / purchases / points earned | {s["events"]:,} / \
{s["purchases"]:,} / {s["points"]:,} |
| events lost | **{s["lost"]}** |
| purchases counted twice | **{s["doubled"]}** |
| duration | {s["duration_s"]:.0f} s ({s["kills"] / s["duration_s"]:.1f} kills/s) |

| fault point | kills there |
|---|---|
{points}
"""
    print(body)
    record("sync-kill-soak", "Sync: kill soak", body)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
