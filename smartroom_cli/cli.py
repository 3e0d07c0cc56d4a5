"""`smartroom`: the demo, the hardware-in-the-loop rig, wire schemas and benchmarks."""

from __future__ import annotations

import importlib
import pkgutil
import sys
from typing import Annotated

import httpx
import typer

from firmware_mocks import cli as rig_cli
from firmware_mocks.phone import PROFILES as PHONE_PROFILES
from smartroom_cli import schemas as wire_schemas

app = typer.Typer(
    help="Smartroom: demo, rig, wire schemas and benchmarks.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)


@app.command()
def demo(
    duration: Annotated[
        float, typer.Option(help="Seconds of simulated activity before a clean exit.", min=15)
    ] = 60.0,
    rooms: Annotated[int, typer.Option(help="How many simulated rooms.", min=1, max=20)] = 2,
    speed: Annotated[
        float, typer.Option(help="Simulated seconds per real second for the room climate.", min=1)
    ] = 120.0,
    log_level: Annotated[str, typer.Option(help="debug, info, warning, error")] = "warning",
) -> None:
    """Run central + rooms + simulated devices and guests on embedded defaults."""
    from smartroom_cli.demo import run_demo

    raise typer.Exit(run_demo(duration=duration, rooms=rooms, speed=speed, log_level=log_level))


@app.command()
def schemas(
    check: Annotated[
        bool, typer.Option("--check", help="Only check docs/schemas/ is current; exit 1 if not.")
    ] = False,
) -> None:
    """Export the wire models' JSON Schemas to docs/schemas/."""
    if check:
        problems = wire_schemas.stale()
        if problems:
            typer.echo(
                "docs/schemas/ is out of date with sync/wire.py: "
                + ", ".join(problems)
                + "\nfix: run `./dev smartroom schemas` and commit docs/schemas/",
                err=True,
            )
            raise typer.Exit(1)
        typer.echo(f"docs/schemas/ is current ({len(wire_schemas.render())} schemas)")
        return
    for name in wire_schemas.write():
        typer.echo(f"wrote docs/schemas/{name}")


def _bench_modules() -> list[str]:
    import bench

    # A benchmark is a module with a main(); helpers (the recorder, load generators) are not.
    return sorted(
        m.name
        for m in pkgutil.iter_modules(bench.__path__)
        if not m.name.startswith("_")
        and callable(getattr(importlib.import_module(f"bench.{m.name}"), "main", None))
    )


@app.command()
def bench(
    name: Annotated[str | None, typer.Argument(help="Benchmark module in bench/.")] = None,
    args: Annotated[list[str] | None, typer.Argument(help="Arguments for the benchmark.")] = None,
) -> None:
    """List the benchmarks, or run one (its figures go to docs/benchmarks.md)."""
    available = _bench_modules()
    if name is None:
        typer.echo("benchmarks: " + ", ".join(available))
        return
    if name not in available:
        typer.echo(f"no benchmark {name!r}; choose one of: {', '.join(available)}", err=True)
        raise typer.Exit(2)
    module = importlib.import_module(f"bench.{name}")
    main = getattr(module, "main", None)
    if main is None:
        typer.echo(f"bench/{name}.py has no main()", err=True)
        raise typer.Exit(2)
    sys.argv = [f"bench/{name}.py", *(args or [])]
    result = main()
    raise typer.Exit(int(result or 0))


@app.command()
def phone(
    member: Annotated[str, typer.Option(help="The member id (the app's signed-in member).")],
    central: Annotated[str, typer.Option(help="Central's base URL.")] = "http://127.0.0.1:8000",
    room: Annotated[str, typer.Option(help="The room agent's local API.")] = (
        "http://127.0.0.1:8780"
    ),
    ble_proxy: Annotated[
        str, typer.Option(help="The room's BLE proxy (host:port, [presence] ble_proxy_port).")
    ] = "127.0.0.1:8790",
    profile: Annotated[
        str, typer.Option(help="Phone radio profile: " + ", ".join(sorted(PHONE_PROFILES)))
    ] = "android-low-latency",
    stay: Annotated[str | None, typer.Option(help="Which stay (default: the latest).")] = None,
    no_key: Annotated[
        bool, typer.Option("--no-key", help="Walk in over BLE only; do not present the key.")
    ] = False,
) -> None:
    """Play a member's hotel app: fetch the room key, walk in over BLE, present the key.

    The member's API key is read from the SMARTROOM_MEMBER_KEY environment variable (never
    a command-line argument: other users can read those)."""
    import asyncio
    import os

    from smartroom_cli.phone import AppError, MemberApp

    key = os.environ.get("SMARTROOM_MEMBER_KEY", "").strip()
    if not key:
        typer.echo(
            "set SMARTROOM_MEMBER_KEY to the member's API key (loyalty keys create)", err=True
        )
        raise typer.Exit(2)
    if profile not in PHONE_PROFILES:
        typer.echo(f"no profile {profile!r}; choose one of {', '.join(PHONE_PROFILES)}", err=True)
        raise typer.Exit(2)
    host, _, port = ble_proxy.rpartition(":")
    if not host or not port.isdigit():
        typer.echo(f"--ble-proxy {ble_proxy!r} is not host:port", err=True)
        raise typer.Exit(2)
    app_ = MemberApp(central, key, member)
    try:
        credential = app_.credential(stay)
        room_key = credential.room_key
        typer.echo(
            f"room key {room_key.key_id} for room {room_key.room_id} "
            f"(valid until {room_key.not_after.isoformat()})"
        )
        sent = asyncio.run(
            app_.walk_in(credential, host, int(port), profile=PHONE_PROFILES[profile])
        )
        typer.echo(f"walked in: {sent} BLE adverts ({profile})")
        if not no_key:
            answer = app_.present(credential, room)
            typer.echo(f"room key accepted (provisional stay: {answer['provisional']})")
        status = app_.room_status(room)
        typer.echo(
            f"room {status['room_id']}: member_present={status['member_present']} "
            f"occupied={status['occupied']} scene={status.get('scene')}"
        )
    except (AppError, OSError, httpx.HTTPError) as exc:
        typer.echo(f"phone: {exc}", err=True)
        raise typer.Exit(1) from None


# The rig lives with the simulators and adds its own `rig` command.
rig_cli.register(app)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
