"""Network chaos soak for sync (issue 16): the stage of tests/sync/test_sync_chaos.py —
rooms running the agent's sync worker as processes, central as `loyalty serve` on
PostgreSQL, the chaos proxy between them — run until at least `--faults` network faults
were injected, then healed and checked: central holds exactly the rooms' events, every
purchase earned once, the winning setpoint on both sides, cursors at central's watermark.

    ./dev python -m bench.sync_chaos_soak                    # 10,000 faults, recorded
    ./dev python -m bench.sync_chaos_soak --faults 500 --no-record  # a quick look

The counts per fault kind, the time and the machine's load go to docs/benchmarks.md
(section sync-chaos-soak). Exits non-zero if an invariant fails.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.record import record
from smartroom.services import TemporaryPostgres
from sync.chaos_proxy import KINDS, Plan

# The stage and the room process live with the test that runs them in CI.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "sync"))
from chaos_stage import CENTRAL_TIMING, ChaosStage, summary_line


def _load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def _markdown(args: argparse.Namespace, report: dict[str, Any], loads: tuple[str, str]) -> str:
    counts = report["faults"]
    rows = "\n".join(f"| `{kind}` | {counts.get(kind, 0):,} |" for kind in KINDS)
    rooms = report["rooms"].values()
    spends = sum(r["spends"] for r in rooms)
    prefs = sum(r["preference_changes"] for r in rooms)
    presses = sum(r["status_presses"] for r in rooms)
    failed = sum(r["uploads_failed"] + r["pulls_failed"] for r in rooms)
    dups = sum(r["duplicates"] for r in rooms)
    timing = ", ".join(f"`{k} = {v}`" for k, v in CENTRAL_TIMING.items())
    return (
        f"`bench/sync_chaos_soak.py --faults {args.faults} --rooms {args.rooms} "
        f"--fault-rate {args.fault_rate} --seed {args.seed}`: {args.rooms} rooms (each a process "
        "running the agent's sync worker on its SQLite store) and central (`loyalty serve`, "
        "PostgreSQL) with the chaos proxy (`sync/chaos_proxy.py`) between them; the guests buy "
        "from the minibar, change the setpoint and press DND/MUR, central checks guests in, "
        "pushes config and takes setpoint changes from the app. Room timing: "
        f"{timing}.\n\n"
        f"| fault kind | injected |\n|---|---|\n{rows}\n"
        f"| **total** | **{report['total_faults']:,}** |\n\n"
        f"* {report['requests']:,} requests reached the proxy in {report['chaos_s']} s of chaos "
        f"({report['forwarded']:,} forwarded to central, duplicates counted twice); the rooms "
        f"saw {failed:,} failed uploads and pulls and {dups:,} events answered `duplicate`.\n"
        f"* In the rooms: {spends:,} minibar purchases, {prefs:,} setpoint changes, "
        f"{presses:,} DND/MUR presses; at central {report['central_steps']} staff/app "
        "actions (check-ins, config pushes, app setpoint changes).\n"
        f"* After healing: converged in {report['converge_s']} s; **no event lost, none "
        "counted twice** (central's events = the rooms' events, no dead letters, central's "
        "in-room purchases = the rooms' purchases, each member's balance = their points), the "
        "winning setpoint by HLC on both sides, every cursor at central's watermark, the "
        f"rooms' stamps rising, `Retry-After` honoured ({len(report['retry_after_early'])} "
        "early retries).\n"
        f"* 5xx answers and 30 s timeouts central gave the staff/app calls (retried): "
        f"{len(report['central_5xx_to_staff'])}.\n"
        f"* Load average (1/5/15 min): {loads[0]} at the start, {loads[1]} at the end "
        "(2 cores shared with other engineers' builds and tests).\n"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--faults", type=int, default=10_000)
    parser.add_argument("--rooms", type=int, default=3)
    parser.add_argument("--fault-rate", type=float, default=0.8)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--max-s", type=float, default=3600.0)
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args()
    start_load = _load()
    pg = TemporaryPostgres(prefix="smartroom_soak").start()
    started = time.monotonic()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            plan = Plan(fault_rate=args.fault_rate)
            with ChaosStage(
                Path(tmp), pg.url, rooms=args.rooms, plan=plan, seed=args.seed, prefix="S"
            ) as stage:
                stage.run(
                    min_faults=args.faults,
                    min_s=30,
                    max_s=args.max_s,
                    converge_s=180,
                    progress=lambda line: print(line, flush=True),
                )
                report = stage.report
                print("sync chaos soak:", summary_line(report), flush=True)
                if report["total_faults"] < args.faults:
                    print(f"only {report['total_faults']} faults in {args.max_s:.0f} s")
                    return 1
                stage.check()
    finally:
        pg.close()
    wall = time.monotonic() - started
    print(f"all invariants hold; {wall:.0f} s in all")
    if not args.no_record:
        body = _markdown(args, report, (start_load, _load()))
        record("sync-chaos-soak", "Sync network chaos soak", body)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    raise SystemExit(main())
