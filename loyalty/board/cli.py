"""`loyalty board ...`: set a property's housekeeping board up and give staff their keys.

loyalty board import examples/board/SHA-01.toml          # rooms, credits, rules (re-runnable)
loyalty board staff-add --property SHA-01 --name "Li Na" --role attendant   # prints the key
loyalty board staff                                       # who may sign in, by property
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer
from pydantic import ValidationError

if TYPE_CHECKING:
    from sqlalchemy import Engine

board = typer.Typer(help="The housekeeping board (rooms, credits, staff).", no_args_is_help=True)

Database = Annotated[
    str | None, typer.Option("--database", help="SQLAlchemy URL (default LOYALTY_DATABASE_URL)")
]


def _fail(message: str) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(2)


def _engine(database: str | None) -> Engine:
    from loyalty.db.engine import make_engine
    from loyalty.db.migrate import upgrade
    from loyalty.settings import load_settings
    from smartroom.settings import ConfigError

    try:
        settings = load_settings(**({"database_url": database} if database else {}))
    except ConfigError as exc:
        _fail(str(exc))
    upgrade(settings.database_url)
    return make_engine(settings.database_url)


@board.command("import")
def import_file(
    path: Annotated[Path, typer.Argument(help="the property's board file (TOML)")],
    database: Database = None,
) -> None:
    """Create or update a property's board from its file; rooms keep their state."""
    from loyalty.board.setup import PropertySetup, import_property
    from smartroom.clock import SystemClock

    try:
        setup = PropertySetup.model_validate(tomllib.loads(path.read_text(encoding="utf-8")))
    except OSError as exc:
        _fail(f"cannot read {path}: {exc.strerror}")
    except tomllib.TOMLDecodeError as exc:
        _fail(f"{path}: not TOML: {exc}")
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'file'}: {e['msg']}" for e in exc.errors()
        )
        _fail(f"{path}: {problems}")
    engine = _engine(database)
    try:
        with engine.begin() as conn:
            count = import_property(conn, setup, SystemClock().now())
    finally:
        engine.dispose()
    typer.echo(f"board {setup.property_id}: {count} rooms, {len(setup.credits)} room types")


@board.command("staff-add")
def staff_add(
    property_id: Annotated[str, typer.Option("--property", help="the staff member's property")],
    name: Annotated[str, typer.Option(help="shown on the board")],
    role: Annotated[str, typer.Option(help="attendant, supervisor or front_desk")],
    database: Database = None,
) -> None:
    """Print a new staff key with a board profile (shown once; only its hash is stored)."""
    from loyalty.board.model import STAFF_ROLES
    from loyalty.board.setup import add_staff
    from loyalty.errors import ApiError
    from smartroom.clock import SystemClock

    if role not in STAFF_ROLES:
        _fail(f"--role must be one of {', '.join(STAFF_ROLES)}, not {role!r}")
    engine = _engine(database)
    try:
        with engine.begin() as conn:
            _key_id, key = add_staff(
                conn,
                property_id=property_id,
                name=name,
                role=role,
                now=SystemClock().now(),
            )
    except ApiError as exc:
        _fail(exc.message)
    finally:
        engine.dispose()
    typer.echo(key)


@board.command("staff")
def staff_list(database: Database = None) -> None:
    """Everyone with a board profile: key id, property, role, name."""
    from sqlalchemy import select

    from loyalty.db.board_tables import board_staff

    engine = _engine(database)
    try:
        with engine.connect() as conn:
            s = board_staff.c
            rows = conn.execute(select(board_staff).order_by(s.property_id, s.role, s.name)).all()
    finally:
        engine.dispose()
    for r in rows:
        typer.echo(f"{r.id}  {r.property_id}  {r.role:<10}  {r.name}")
