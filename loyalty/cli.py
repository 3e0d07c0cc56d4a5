"""`loyalty`: run and operate the central service.

    loyalty migrate                                  # create/upgrade the schema
    loyalty serve [--workers 2]                      # migrate, then serve (SQLite by default)
    loyalty keys create --role staff                 # prints a new API key, once
    loyalty keys create --role agent --property sh01 --room 1208
    loyalty keys create --role member --member m_...
    loyalty keys revoke KEY_ID
    loyalty ledger verify                            # exit 1 and name the first bad entry
    loyalty jobs expiry --as-of 2026-12-01 [--dry-run]   # not after today
    loyalty jobs tiers --as-of 2026-01-01 [--dry-run]    # the year before that date
    loyalty models publish --manifest comfort-1.2.0.json --file comfort.tflite
    loyalty models list                              # every version, withdrawn ones too
    loyalty models withdraw 1.2.0                    # agents no longer see it
    loyalty analytics kpis --start 2026-01-01 --end 2027-01-01   # programme KPIs (JSON/CSV)
    loyalty webhooks add|rotate|scan|run|log|replay  # signed webhooks (loyalty.cli_economics)
    loyalty board import FILE | staff-add | staff      # housekeeping board (loyalty.board.cli)

Settings come from LOYALTY_* environment variables (LOYALTY_DATABASE_URL, ...) or --database.
"""

from __future__ import annotations

import json
import os
import re
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer

from loyalty.settings import LoyaltySettings, load_settings
from smartroom.log import configure_logging
from smartroom.settings import ConfigError

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from sync.wire import ModelManifest

app = typer.Typer(help="The Smartroom central loyalty service.", no_args_is_help=True)
keys = typer.Typer(help="API keys.", no_args_is_help=True)
ledger = typer.Typer(help="The points ledger.", no_args_is_help=True)
jobs = typer.Typer(help="As-of jobs (idempotent).", no_args_is_help=True)
models = typer.Typer(help="Comfort-model versions offered to room agents.", no_args_is_help=True)
app.add_typer(keys, name="keys")
app.add_typer(ledger, name="ledger")
app.add_typer(jobs, name="jobs")
app.add_typer(models, name="models")


def _economics() -> None:
    from loyalty.cli_economics import analytics, webhooks

    app.add_typer(analytics, name="analytics")
    app.add_typer(webhooks, name="webhooks")


_economics()


def _board() -> None:
    from loyalty.board.cli import board

    app.add_typer(board, name="board")


_board()


def _benefits() -> None:
    from loyalty.cli_benefits import benefits, programme

    app.add_typer(programme, name="programme")
    app.add_typer(benefits, name="benefits")


_benefits()

Database = Annotated[
    str | None, typer.Option("--database", help="SQLAlchemy URL (default LOYALTY_DATABASE_URL)")
]


def _settings(database: str | None, **extra: object) -> LoyaltySettings:
    try:
        overrides = {k: v for k, v in extra.items() if v is not None}
        if database:
            overrides["database_url"] = database
        return load_settings(**overrides)
    except ConfigError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None


@app.command()
def migrate(database: Database = None) -> None:
    """Create or upgrade the database schema (Alembic migrations shipped in the package)."""
    from loyalty.db.migrate import upgrade

    settings = _settings(database)
    upgrade(settings.database_url)
    typer.echo(f"schema is current on {settings.database_url.split('@')[-1]}")


@app.command()
def serve(
    database: Database = None,
    host: Annotated[str | None, typer.Option(help="bind address")] = None,
    port: Annotated[int | None, typer.Option(help="port")] = None,
    workers: Annotated[int, typer.Option(help="uvicorn worker processes")] = 1,
) -> None:
    """Migrate, then serve the API with uvicorn."""
    from loyalty.db.migrate import upgrade
    from loyalty.serving import serve as serve_workers

    settings = _settings(database, host=host, port=port)
    configure_logging(settings.log_level)
    upgrade(settings.database_url)
    os.environ["LOYALTY_DATABASE_URL"] = settings.database_url
    # One SO_REUSEPORT socket per worker (not uvicorn's --workers): see loyalty.serving.serve.
    serve_workers(
        host=settings.host, port=settings.port, workers=workers, log_level=settings.log_level
    )


def app_from_env() -> object:
    """The uvicorn factory used by `serve` (each worker builds its own app)."""
    from loyalty.app import create_app

    settings = load_settings()
    configure_logging(settings.log_level)
    return create_app(settings)


@keys.command("create")
def keys_create(
    role: Annotated[str, typer.Option(help="admin, staff, agent, member or loyalty")],
    property_id: Annotated[str | None, typer.Option("--property", help="agent's property")] = None,
    room: Annotated[str | None, typer.Option(help="agent's room")] = None,
    member: Annotated[str | None, typer.Option(help="member's id")] = None,
    label: Annotated[str | None, typer.Option(help="a note for humans")] = None,
    database: Database = None,
) -> None:
    """Print a new API key (shown once; only its hash is stored)."""
    from loyalty.auth import create_key
    from loyalty.db.engine import make_engine
    from loyalty.db.migrate import upgrade
    from smartroom.clock import SystemClock

    settings = _settings(database)
    upgrade(settings.database_url)
    engine = make_engine(settings.database_url)
    try:
        with engine.begin() as conn:
            _key_id, plaintext = create_key(
                conn,
                role=role,  # type: ignore[arg-type]
                property_id=property_id,
                room_id=room,
                member_id=member,
                label=label,
                now=SystemClock().now(),
            )
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    finally:
        engine.dispose()
    typer.echo(plaintext)


@keys.command("revoke")
def keys_revoke(key_id: str, database: Database = None) -> None:
    """Revoke a key by its id (the part after `lk.`); effective within the key cache TTL."""
    from loyalty.auth import revoke_key
    from loyalty.db.engine import make_engine
    from smartroom.clock import SystemClock

    engine = make_engine(_settings(database).database_url)
    with engine.begin() as conn:
        done = revoke_key(conn, key_id, SystemClock().now())
    engine.dispose()
    typer.echo("revoked" if done else "no such active key")
    if not done:
        raise typer.Exit(1)


@ledger.command("verify")
def ledger_verify(database: Database = None) -> None:
    """Recompute every hash chain and balance; exit 1 naming the first bad entry."""
    from loyalty.db.engine import make_engine
    from loyalty.routers.admin import ledger_totals, verify_result

    engine = make_engine(_settings(database).database_url)
    with engine.begin() as conn:
        result = verify_result(conn)
        totals = ledger_totals(conn)
    engine.dispose()
    out = result.model_dump(mode="json")
    out["totals"] = [t.model_dump(mode="json") for t in totals]
    typer.echo(json.dumps(out, indent=2))
    if not result.ok or not all(t.balanced for t in totals):
        typer.echo(f"LEDGER BROKEN: {'; '.join(result.problems) or 'unbalanced'}", err=True)
        raise typer.Exit(1)


def _job(name: str, as_of: str, database: str | None, dry_run: bool) -> None:
    from loyalty.app import create_app
    from loyalty.errors import ApiError
    from loyalty.services import jobs as svc

    if not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", as_of):
        _fail(f"--as-of {as_of!r} is not a date (fix: YYYY-MM-DD)")
    try:
        day = date.fromisoformat(as_of)
    except ValueError:
        _fail(f"--as-of {as_of!r} is not a date (fix: YYYY-MM-DD)")
    settings = _settings(database)
    ctx = create_app(settings).state.ctx
    run = svc.expire_points if name == "expiry" else svc.evaluate_tiers
    try:
        again, result = run(ctx.engine, ctx, day, dry_run=dry_run)
    except ApiError as exc:  # the API's own rule (no future dates), with the API's message
        _fail(f"--as-of: {exc.message}")
    finally:
        ctx.engine.dispose()
    out = {"job": name, "as_of": as_of, "already_ran": again, "dry_run": dry_run, **result}
    typer.echo(json.dumps(out))


DryRun = Annotated[
    bool, typer.Option("--dry-run", help="print what would change (per member); change nothing")
]


@jobs.command("expiry")
def jobs_expiry(
    as_of: Annotated[str, typer.Option(help="YYYY-MM-DD, not after today")],
    dry_run: DryRun = False,
    database: Database = None,
) -> None:
    """Expire points as of a date, not after today (idempotent per date)."""
    _job("expiry", as_of, database, dry_run)


@jobs.command("tiers")
def jobs_tiers(
    as_of: Annotated[
        str, typer.Option(help="YYYY-MM-DD, not after today: evaluates the year before it")
    ],
    dry_run: DryRun = False,
    database: Database = None,
) -> None:
    """Evaluate tiers for the qualification year that ended before --as-of (not after today;
    idempotent per date)."""
    _job("tiers", as_of, database, dry_run)


def _fail(message: str, code: int = 2) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def _models_engine(database: str | None) -> Engine:
    """The engine for `models list|withdraw`, once its database has the models table."""
    from sqlalchemy import inspect

    from loyalty.db.engine import make_engine

    engine = make_engine(_settings(database).database_url)
    if "models" not in inspect(engine).get_table_names():
        where = engine.url.render_as_string(hide_password=True)
        engine.dispose()
        _fail(f"{where} has no models table (fix: run `loyalty migrate`)")
    return engine


def _read_manifest(path: Path) -> ModelManifest:
    from pydantic import ValidationError

    from sync.wire import ModelManifest

    try:
        return ModelManifest.model_validate_json(path.read_bytes())
    except OSError as exc:
        _fail(f"--manifest {path}: {exc.strerror or exc}")
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'manifest'}: {e['msg']}"
            for e in exc.errors()[:5]
        )
        _fail(f"--manifest {path} is not a ModelManifest: {problems}")


def _read_model(path: Path) -> bytes:
    from loyalty.schemas import MODEL_MAX_BYTES

    try:
        size = path.stat().st_size
        if size > MODEL_MAX_BYTES:
            _fail(f"--file {path} is {size} bytes; a comfort model is at most {MODEL_MAX_BYTES}")
        return path.read_bytes()
    except OSError as exc:
        _fail(f"--file {path}: {exc.strerror or exc}")


@models.command("publish")
def models_publish(
    manifest: Annotated[Path, typer.Option(help="the ModelManifest JSON the ML team signed")],
    file: Annotated[Path, typer.Option(help="the .tflite file it describes")],
    database: Database = None,
) -> None:
    """Store a version signed offline by the ML team (same checks as POST /v1/admin/models:
    size and sha256 must match; a version cannot change content). Prints the stored manifest."""
    from loyalty.db.engine import make_engine
    from loyalty.db.migrate import upgrade
    from loyalty.errors import ApiError
    from loyalty.services import models as svc
    from smartroom.clock import SystemClock

    document = _read_manifest(manifest)
    blob = _read_model(file)
    settings = _settings(database)
    upgrade(settings.database_url)
    engine = make_engine(settings.database_url)
    try:
        with engine.begin() as conn:
            out = svc.publish(conn, document, blob, SystemClock().now(), source="--file")
    except ApiError as exc:
        _fail(f"{exc.message} (field {exc.field}); nothing stored")
    finally:
        engine.dispose()
    typer.echo(out.manifest.model_dump_json(indent=2))
    verb = "published" if out.created else "already published (same content)"
    typer.echo(f"{verb}: comfort {out.manifest.version}", err=True)


@models.command("list")
def models_list(database: Database = None) -> None:
    """Every stored version, newest first, withdrawn ones flagged (JSON)."""
    from loyalty.services import models as svc

    engine = _models_engine(database)
    try:
        with engine.begin() as conn:
            versions = svc.all_versions(conn)
    finally:
        engine.dispose()
    typer.echo(json.dumps([v.model_dump(mode="json") for v in versions], indent=2))


@models.command("withdraw")
def models_withdraw(version: str, database: Database = None) -> None:
    """Stop offering a version to agents (idempotent); exit 1 if there is no such version."""
    import re

    from loyalty.errors import ApiError
    from loyalty.services import models as svc
    from smartroom.clock import SystemClock

    if not re.fullmatch(r"[0-9]+\.[0-9]+\.[0-9]+", version) or len(version) > svc.VERSION_MAX:
        _fail(f"VERSION {version!r} must be MAJOR.MINOR.PATCH, e.g. 1.2.0")
    engine = _models_engine(database)
    try:
        with engine.begin() as conn:
            out = svc.withdraw(conn, version, SystemClock().now())
    except ApiError as exc:
        _fail(exc.message, 1)
    finally:
        engine.dispose()
    typer.echo(out.model_dump_json(indent=2))
    typer.echo(f"withdrawn: comfort {version} (agents no longer see it)", err=True)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
