"""The `smartroom-agent` commands other than the daemon itself (typer + rich):

    smartroom-agent check-config /etc/smartroom/room.toml
    smartroom-agent status [--config ROOM.toml | --url http://127.0.0.1:8780] [--json]
    smartroom-agent run --help

`smartroom-agent run` itself is dispatched by `agent.cli.main` before this module loads, so
the long-running process never imports typer or rich.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from agent.config import RoomConfig, load_room_config
from smartroom.settings import ConfigError

if TYPE_CHECKING:
    from rich.console import Console

# Plain tracebacks: the agent logs to journald, and `run` keeps rich out of its process.
app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="The Smartroom room agent.",
)


# rich (tables, colour) is imported only by `status`: the long-running `run` process never
# loads it (see agent.cli).
def _console(*, stderr: bool = False) -> Console:
    from rich.console import Console

    return Console(stderr=stderr, soft_wrap=True)


def _say(text: str, *, stderr: bool = False) -> None:
    print(text, file=sys.stderr if stderr else sys.stdout, flush=True)


def _load(path: Path) -> RoomConfig:
    try:
        return load_room_config(path)
    except ConfigError as exc:
        _say(str(exc), stderr=True)
        raise typer.Exit(2) from None


@app.command()
def run(
    config: Annotated[Path, typer.Option("--config", "-c", help="the room file")],
) -> None:
    """Run the agent until SIGTERM/SIGINT (systemd: Type=notify)."""
    from agent.cli import run_agent

    raise typer.Exit(run_agent(config))


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
    _say(
        f"{path}: OK — room {room.room.property_id}/{room.room.room_id}, "
        f"{len(room.devices)} devices ({', '.join(sorted(room.devices)) or 'none'}), "
        f"API {room.api.host}:{room.api.port}, store {room.store.path}"
    )
    for problem in problems:
        _say(f"  warning: {problem}")


@app.command()
def status(
    config: Annotated[Path | None, typer.Option("--config", "-c")] = None,
    url: Annotated[str | None, typer.Option(help="the agent's API base URL")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the raw RoomStatus")] = False,
) -> None:
    """Show a running agent's room status (from its local API)."""
    import httpx
    from rich.table import Table

    out, err = _console(), _console(stderr=True)
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


@app.command("unpin-signing-key")
def unpin_signing_key(
    config: Annotated[Path, typer.Option("--config", "-c", help="the room file")],
) -> None:
    """Forget the pinned room-signing key: the next sync pins the one central offers.

    Only after the service key was rotated on purpose (docs/presence.md). Stop the agent
    first: it holds the store open."""
    from agent.presence.vault import CredentialVault
    from agent.store import AgentStore
    from smartroom.clock import SystemClock

    room = _load(config)
    store = AgentStore(
        room.store.path,
        clock=SystemClock(),
        property_id=room.room.property_id,
        room_id=room.room.room_id,
    )
    try:
        removed = CredentialVault(store).unpin_signing_key()
    finally:
        store.close()
    _say("unpinned: the next sync pins central's key" if removed else "no key was pinned")
