"""`smartroom rig`: start the simulators a room file names and play a scenario.

    smartroom rig --room examples/rooms/room-1201.toml \\
                  --scenario examples/rooms/evening-arrival.toml --write-room /tmp/rig-room.toml

`register(app)` adds the command to the `smartroom` Typer app (smartroom_cli/cli.py mounts it).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from pathlib import Path
from typing import Annotated

import typer

from smartroom.log import configure_logging
from smartroom.settings import ConfigError


def register(app: typer.Typer) -> None:
    app.command(name="rig")(rig)


def rig(
    room: Annotated[
        Path, typer.Option(help="The room file: TOML with room, mqtt and devices tables.")
    ],
    scenario: Annotated[
        Path | None, typer.Option(help="A scenario file to play (timeline of events).")
    ] = None,
    duration: Annotated[
        float | None,
        typer.Option(help="Real seconds to run; default: until the scenario ends, or Ctrl-C."),
    ] = None,
    speed: Annotated[
        float, typer.Option(help="Simulated seconds per real second for the room climate.")
    ] = 60.0,
    real: Annotated[
        list[str] | None,
        typer.Option(help="A device left pointing at real hardware (repeatable)."),
    ] = None,
    write_room: Annotated[
        Path | None,
        typer.Option(help="Write the room file rewritten to the simulators' addresses here."),
    ] = None,
    emulate_baud: Annotated[
        bool, typer.Option(help="Delay Modbus replies by their time on a real line.")
    ] = False,
    only: Annotated[
        list[str] | None,
        typer.Option(
            help="Simulate only this device (repeatable); the others keep the room file's "
            "addresses (another rig, or hardware). Restart it alone by restarting this rig."
        ),
    ] = None,
    serial_dir: Annotated[
        Path | None,
        typer.Option(
            help="Give each thermostat port a stable symlink here (DIR/ttyUSB0 for "
            "/dev/ttyUSB0) that survives rig restarts, as udev's names do."
        ),
    ] = None,
    z2m_bridge: Annotated[
        bool | None,
        typer.Option(
            "--z2m-bridge/--no-z2m-bridge",
            help="Run a Zigbee2MQTT bridge (bridge/state, info, devices). Default: only on "
            "a broker the rig starts itself.",
        ),
    ] = None,
    log_level: Annotated[str, typer.Option(help="debug, info, warning, error")] = "warning",
) -> None:
    """Start simulators for every device ROOM names, print where each listens, play SCENARIO."""
    configure_logging(log_level)
    try:
        code = asyncio.run(
            _run(
                room,
                scenario,
                duration,
                speed,
                real or [],
                write_room,
                emulate_baud,
                only or [],
                serial_dir,
                z2m_bridge,
            )
        )
    except ConfigError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None
    raise typer.Exit(code)


async def _run(
    room_path: Path,
    scenario_path: Path | None,
    duration: float | None,
    speed: float,
    real: list[str],
    write_room: Path | None,
    emulate_baud: bool,
    only: list[str],
    serial_dir: Path | None,
    z2m_bridge: bool | None,
) -> int:
    from firmware_mocks.rig import Rig
    from firmware_mocks.scenario import load_scenario

    plan = load_scenario(scenario_path) if scenario_path is not None else None
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    async with Rig(
        room_path,
        speed=speed,
        real=real,
        emulate_line_timing=emulate_baud,
        only=only,
        serial_dir=serial_dir,
        z2m_bridge=z2m_bridge,
    ) as rig:
        if plan is not None:
            rig.check(plan)
        typer.echo(f"rig for room {rig.room.room.property_id}/{rig.room.room.room_id}:")
        for line in rig.describe():
            typer.echo(f"  {line}")
        if write_room is not None:
            await asyncio.to_thread(write_room.write_text, rig.room_toml(), encoding="utf-8")
            typer.echo(f"  room file for the agent: {write_room}")
        play: asyncio.Task[object] | None = None
        if plan is not None:
            typer.echo(f"playing {plan.scenario.name!r} at {plan.scenario.speed:g}x")
            play = asyncio.create_task(rig.play(plan, echo=typer.echo))
        # --duration wins (the room keeps running after the scenario, or cuts it short);
        # else the scenario's end; else Ctrl-C.
        ender: asyncio.Task[object]
        if duration is not None:
            ender = asyncio.create_task(asyncio.sleep(duration))
        elif play is not None:
            ender = play
        else:
            typer.echo("running; Ctrl-C to stop")
            ender = asyncio.create_task(stop.wait())
        interrupted = asyncio.create_task(stop.wait())
        await asyncio.wait({ender, interrupted}, return_when=asyncio.FIRST_COMPLETED)
        for task in (ender, interrupted, play):
            if task is not None and not task.done():
                task.cancel()
        if play is not None and play.done() and not play.cancelled():
            play.result()  # a failure while playing is reported, not swallowed
        for name, reading in rig.thermostat_readings().items():
            summary = ", ".join(f"{k}={v}" for k, v in reading.items())
            typer.echo(f"{name}: {summary}")
    return 0
