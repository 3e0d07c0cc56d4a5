"""`smartroom-agent`: run a room, check its config, look at a running agent.

    smartroom-agent run --config /etc/smartroom/room.toml
    smartroom-agent check-config /etc/smartroom/room.toml
    smartroom-agent status [--config ROOM.toml | --url http://127.0.0.1:8780] [--json]

Exit codes: 0 fine, 2 invalid configuration, 3 agent not reachable.
"""

from __future__ import annotations

import asyncio
import faulthandler
import json
import signal
import sys
from pathlib import Path
from typing import Annotated

import httpx
import typer
from rich.console import Console
from rich.table import Table

from agent.config import RoomConfig, load_room_config
from smartroom.log import configure_logging
from smartroom.settings import ConfigError

app = typer.Typer(add_completion=False, no_args_is_help=True, help="The Smartroom room agent.")
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


def _load(path: Path) -> RoomConfig:
    try:
        return load_room_config(path)
    except ConfigError as exc:
        err.print(str(exc), markup=False, highlight=False)
        raise typer.Exit(2) from None


def _skip_pandas() -> None:
    """sqlite-utils imports pandas whenever it is installed (a dev or training install),
    for DataFrame conveniences the agent never uses: ~2.5 s of start-up and ~30 MB of RSS.
    The agent process never needs pandas, so it is marked absent before anything loads."""
    if "pandas" not in sys.modules:
        sys.modules["pandas"] = None  # type: ignore[assignment]


@app.command()
def run(
    config: Annotated[Path, typer.Option("--config", "-c", help="the room file")],
) -> None:
    """Run the agent until SIGTERM/SIGINT (systemd: Type=notify)."""
    room = _load(config)
    configure_logging(room.runtime.log_level)
    _skip_pandas()
    # `kill -USR1 <pid>` dumps every thread's stack to the journal: for a wedged agent.
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    from agent.app import Agent

    try:
        asyncio.run(Agent(room).run())
    except ConfigError as exc:
        err.print(str(exc), markup=False, highlight=False)
        raise typer.Exit(2) from None


@app.command("check-config")
def check_config(
    path: Annotated[Path, typer.Argument(help="the room file")],
) -> None:
    """Validate a room file (and its scenes) without starting anything."""
    room = _load(path)
    problems = []
    central = room.central
    if central.credential_file is not None and not central.credential_file.is_file():
        problems.append(f"central.credential_file {central.credential_file} does not exist yet")
    if room.api.token_file is not None and not room.api.token_file.is_file():
        problems.append(f"api.token_file {room.api.token_file} does not exist yet")
    out.print(
        f"{path}: OK — room {room.room.property_id}/{room.room.room_id}, "
        f"{len(room.devices)} devices ({', '.join(sorted(room.devices)) or 'none'}), "
        f"API {room.api.host}:{room.api.port}, store {room.store.path}",
        markup=False,
        highlight=False,
    )
    for problem in problems:
        out.print(f"  warning: {problem}", markup=False, highlight=False)


@app.command()
def status(
    config: Annotated[Path | None, typer.Option("--config", "-c")] = None,
    url: Annotated[str | None, typer.Option(help="the agent's API base URL")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the raw RoomStatus")] = False,
) -> None:
    """Show a running agent's room status (from its local API)."""
    if url is None:
        if config is not None:
            room = _load(config)
            url = f"http://{room.api.host}:{room.api.port}"
        else:
            url = "http://127.0.0.1:8780"
    try:
        response = httpx.get(f"{url.rstrip('/')}/status", timeout=3)
        response.raise_for_status()
    except httpx.HTTPError as exc:
        err.print(f"agent not reachable at {url}: {exc}", markup=False)
        raise typer.Exit(3) from None
    data = response.json()
    if as_json:
        out.print_json(json.dumps(data))
        return
    flags = [
        "rented" if data["rented"] else "not rented",
        "occupied" if data["occupied"] else "empty",
        "DND" if data["dnd"] else "",
        "MUR" if data["mur"] else "",
        "online" if data["online"] else "OFFLINE",
    ]
    out.print(
        f"room {data['property_id']}/{data['room_id']} — scene {data['scene']} — "
        + ", ".join(f for f in flags if f),
        markup=False,
    )
    table = Table("device", "capability", "availability", "state")
    for dev in data["devices"]:
        state = ", ".join(f"{k}={v}" for k, v in dev["state"].items())
        table.add_row(dev["device"], dev["capability"], dev["availability"], state)
    out.print(table)
    for alert in data["alerts"]:
        out.print(f"ALERT {alert['kind']}: {alert['detail']} (since {alert['since']})")


def main() -> None:
    app()
