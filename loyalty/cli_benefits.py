"""`loyalty programme ...` and `loyalty benefits ...`: the loyalty team's commands for the
programme file and its benefit catalogue.

loyalty programme check my-programme.toml        # validate; print tiers and the catalogue
loyalty benefits costs --start 2026-01-01 --end 2027-01-01
loyalty benefits offers                          # the lifecycle-offers job, now
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from loyalty.cli_economics import Database, _day, _fail

programme = typer.Typer(
    help="The programme file (rules and benefit catalogue).", no_args_is_help=True
)
benefits = typer.Typer(help="Benefits: cost report and lifecycle offers.", no_args_is_help=True)


@programme.command("check")
def check(path: Annotated[Path, typer.Argument(help="programme TOML file")]) -> None:
    """Validate a programme file as the service would load it; exit 2 naming each problem."""
    from loyalty.rules.loader import ProgrammeError, load_programme

    try:
        loaded = load_programme(path)
    except ProgrammeError as exc:
        _fail(str(exc))
    except OSError as exc:
        _fail(f"cannot read {path}: {exc.strerror}")
    typer.echo(f"{loaded.name} version {loaded.version}: valid")
    typer.echo("tiers: " + ", ".join(loaded.tier_names))
    for b in loaded.benefits:
        who = ", ".join(b.eligible.tiers) or ", ".join(b.eligible.segments) or "anyone"
        price = f", {b.eligible.points_price:,} points" if b.eligible.points_price else ""
        typer.echo(
            f"  {b.code:<18} {b.fulfilment:<8} {who}{price}; {b.unit_cost} {loaded.currency}"
            f" each — {b.names.en} / {b.names.zh}"
        )


def _app(database: str | None):  # type: ignore[no-untyped-def]
    from loyalty.app import create_app
    from loyalty.cli import _settings
    from smartroom.settings import ConfigError

    try:
        return create_app(_settings(database))
    except ConfigError as exc:
        _fail(str(exc))


@benefits.command("costs")
def costs(
    start: Annotated[str, typer.Option(help="first day, YYYY-MM-DD")],
    end: Annotated[str, typer.Option(help="day after the last, YYYY-MM-DD")],
    database: Database = None,
) -> None:
    """Delivered benefit cost per tier and per benefit, against the members' revenue."""
    from loyalty.errors import ApiError
    from loyalty.services.benefits import costs as report

    ctx = _app(database).state.ctx
    try:
        with ctx.engine.begin() as conn:
            out = report(conn, ctx, _day("--start", start), _day("--end", end))
    except ApiError as exc:
        _fail(exc.message)
    finally:
        ctx.engine.dispose()
    typer.echo(json.dumps(out.model_dump(mode="json"), indent=2, ensure_ascii=False))


@benefits.command("offers")
def offers(database: Database = None) -> None:
    """Run the lifecycle-offers job now (idempotent: nothing is sent twice)."""
    from loyalty.services.offers import run_offers

    ctx = _app(database).state.ctx
    try:
        with ctx.engine.begin() as conn:
            counts = run_offers(conn, ctx, now=ctx.clock.now())
    finally:
        ctx.engine.dispose()
    typer.echo(json.dumps(counts))
