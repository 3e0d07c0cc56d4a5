"""`smartroom-agent`: run a room, check its config, look at a running agent.

    smartroom-agent run --config /etc/smartroom/room.toml
    smartroom-agent check-config /etc/smartroom/room.toml
    smartroom-agent status [--config ROOM.toml | --url http://127.0.0.1:8780] [--json]

Exit codes: 0 fine, 2 invalid configuration, 3 agent not reachable.

`run` is the daemon that lives for months on a small box: it is dispatched here with
argparse, before typer, rich or anything optional is imported (resident memory, see
docs/agent.md); the other commands are the typer app in `agent.commands`.
"""

from __future__ import annotations

import argparse
import asyncio
import faulthandler
import os
import signal
import sys
from datetime import datetime
from pathlib import Path

# Optional conveniences of libraries the agent uses, which those libraries import whenever
# they are installed (a dev or training install has them all): pandas (~2.5 s of start-up
# and ~30 MB, for DataFrame helpers), httpx's command-line client (click, rich and
# pygments, ~5 MB), structlog's pretty tracebacks (rich) and structlog's greenlet-local
# context (greenlet, which SQLAlchemy brings into the environment for central: 1 MB with the
# C++ runtime it loads; the agent runs no greenlets). The agent process uses none of them,
# so `run` marks them absent before anything loads; each library falls back cleanly.
OPTIONAL_EXTRAS = ("pandas", "rich", "pygments", "click", "greenlet")


def _skip_optional() -> None:
    for name in OPTIONAL_EXTRAS:
        if name not in sys.modules:
            sys.modules[name] = None  # type: ignore[assignment]


def run_agent(
    config_path: Path,
    *,
    clock_speed: float = 1.0,
    clock_start: datetime | None = None,
    clock_anchor: float | None = None,
) -> int:
    """Run the agent until SIGTERM/SIGINT (systemd: Type=notify); the exit code.
    `clock_speed` > 1 runs the room on a scaled clock, `clock_start` sets its wall time (a
    Pi whose clock is wrong), for rig runs and tests only (see _run_main)."""
    _skip_optional()
    from agent.config import load_room_config
    from smartroom.log import configure_logging
    from smartroom.settings import ConfigError
    from sync.client import SyncError, read_agent_key

    try:
        room = load_room_config(config_path)
        # The key is checked before anything starts: a world-readable or missing file is
        # a configuration mistake, said in one line, not a traceback from inside start-up.
        if room.central.credential_file is not None:
            read_agent_key(room.central.credential_file)
    except (ConfigError, SyncError) as exc:
        print(str(exc), file=sys.stderr, flush=True)
        return 2
    configure_logging(room.runtime.log_level)
    # `kill -USR1 <pid>` dumps every thread's stack to the journal: for a wedged agent.
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    # The comfort model first: its self-test leaves ~7 MB of scratch heap behind, handed
    # back before the rest of the agent loads, so the process's peak stays near its
    # steady state.
    from agent.memory import trim_heap
    from agent.preferences import PreferenceResolver

    resolver = PreferenceResolver.create(room)
    trim_heap()
    from agent.app import Agent
    from smartroom.clock import Clock, ScaledClock, SystemClock

    clock: Clock = SystemClock()
    if clock_speed != 1.0 or clock_start is not None:
        clock = ScaledClock(clock_speed, clock_start, anchor=clock_anchor)
    try:
        asyncio.run(Agent(room, resolver=resolver, clock=clock).run())
    except (ConfigError, SyncError) as exc:  # e.g. the key file changed since the check
        print(str(exc), file=sys.stderr, flush=True)
        return 2
    return 0


def _run_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="smartroom-agent run",
        description="Run the agent until SIGTERM/SIGINT (systemd: Type=notify).",
    )
    parser.add_argument("--config", "-c", type=Path, required=True, help="the room file")
    parser.add_argument(
        "--clock-speed",
        type=float,
        default=1.0,
        metavar="N",
        help="rig runs only: simulated seconds per real second (as `smartroom rig --speed`); "
        "refused under systemd",
    )
    parser.add_argument(
        "--clock-start",
        type=_aware,
        default=None,
        metavar="ISO",
        help="rig runs and tests only: the room's wall time at start (or at --clock-anchor), "
        "e.g. a day behind; refused under systemd",
    )
    parser.add_argument(
        "--clock-anchor",
        type=float,
        default=None,
        metavar="UNIX_S",
        help="with --clock-start: the real Unix time at which the room's clock read it, so "
        "several processes share one scaled time",
    )
    args = parser.parse_args(argv)
    if not 1.0 <= args.clock_speed <= 86400:
        print(f"--clock-speed {args.clock_speed:g}: give 1..86400", file=sys.stderr)
        return 2
    if args.clock_anchor is not None and args.clock_start is None:
        print("--clock-anchor needs --clock-start", file=sys.stderr)
        return 2
    rig_clock = args.clock_speed != 1.0 or args.clock_start is not None
    if rig_clock and os.environ.get("NOTIFY_SOCKET"):
        # A room in service runs on real time: timers, setbacks and the watchdog mean it.
        print(
            "--clock-speed/--clock-start are for rig runs, not under systemd "
            "(NOTIFY_SOCKET is set)",
            file=sys.stderr,
        )
        return 2
    return run_agent(
        args.config,
        clock_speed=args.clock_speed,
        clock_start=args.clock_start,
        clock_anchor=args.clock_anchor,
    )


def _aware(text: str) -> datetime:
    when = datetime.fromisoformat(text)
    if when.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{text!r}: give a UTC offset (e.g. +00:00)")
    return when


def main() -> None:
    argv = sys.argv[1:]
    if argv[:1] == ["run"]:
        raise SystemExit(_run_main(argv[1:]))
    from agent.commands import app

    app()
