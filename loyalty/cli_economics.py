"""`loyalty analytics ...` and `loyalty webhooks ...`: the programme-economics commands.

loyalty analytics kpis --start 2026-01-01 --end 2027-01-01 [--tier gold] [--csv --lang zh]
loyalty webhooks add --url https://crm.example/hooks --event points.posted --event tier.changed
loyalty webhooks rotate ENDPOINT_ID --overlap-s 86400
loyalty webhooks scan --as-of 2026-12-01 [--notice-days 30] [--inactive-days 90]
loyalty webhooks run [--once]                     # the delivery worker
loyalty webhooks log [--event-id evt_...]
loyalty webhooks replay DELIVERY_ID
"""

from __future__ import annotations

import json
import signal
import threading
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

if TYPE_CHECKING:
    from sqlalchemy import Engine

analytics = typer.Typer(help="Programme KPIs computed from the ledger.", no_args_is_help=True)
webhooks = typer.Typer(help="Signed webhooks (outbox, delivery, replay).", no_args_is_help=True)

Database = Annotated[
    str | None, typer.Option("--database", help="SQLAlchemy URL (default LOYALTY_DATABASE_URL)")
]


def _fail(message: str, code: int = 2) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def _day(name: str, text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        _fail(f"{name} {text!r} is not a date (fix: YYYY-MM-DD)")


def _money(name: str, text: str | None) -> Decimal | None:
    if text is None:
        return None
    try:
        value = Decimal(text)
    except InvalidOperation:
        _fail(f"{name} {text!r} is not a number")
    if not value.is_finite() or value < 0:
        _fail(f"{name} must be a number of zero or more")
    return value


def _engine(database: str | None) -> tuple[Engine, Any]:
    """The migrated database's engine and the programme in force."""
    from loyalty.app import load_programme_for
    from loyalty.cli import _settings
    from loyalty.db.engine import make_engine
    from loyalty.db.migrate import upgrade

    settings = _settings(database)
    upgrade(settings.database_url)
    return make_engine(settings.database_url), load_programme_for(settings)


@analytics.command("kpis")
def kpis(
    start: Annotated[str, typer.Option(help="first day, YYYY-MM-DD")],
    end: Annotated[str, typer.Option(help="day after the period, YYYY-MM-DD")],
    property_id: Annotated[str | None, typer.Option("--property")] = None,
    tier: Annotated[str | None, typer.Option()] = None,
    segment: Annotated[str | None, typer.Option(help="age_band=30-50, marketing=yes, ...")] = None,
    high_value_line: Annotated[str | None, typer.Option(help="yearly spend line")] = None,
    cost_per_point: Annotated[str | None, typer.Option(help="default: the point value")] = None,
    expected_redemption_rate: Annotated[
        str | None, typer.Option(help="finance's assumption (0-1) instead of the history's")
    ] = None,
    csv: Annotated[bool, typer.Option("--csv", help="CSV instead of JSON")] = False,
    lang: Annotated[str, typer.Option(help="en or zh (CSV labels)")] = "en",
    database: Database = None,
) -> None:
    """Every figure for [start, end) with its definition (JSON, or CSV with --csv)."""
    from loyalty.analytics.export import report_csv, report_json
    from loyalty.analytics.service import QueryError, kpi_report, make_query

    if lang not in ("en", "zh"):
        _fail("--lang must be en or zh")
    engine, programme = _engine(database)
    try:
        query = make_query(
            programme,
            start=_day("--start", start),
            end=_day("--end", end),
            property_id=property_id,
            tier=tier,
            segment=segment,
            high_value_line=_money("--high-value-line", high_value_line),
            cost_per_point=_money("--cost-per-point", cost_per_point),
            expected_redemption_rate=_money("--expected-redemption-rate", expected_redemption_rate),
        )
        r = kpi_report(engine, programme, query)
    except QueryError as exc:
        _fail(f"--{exc.field.replace('_', '-')}: {exc}")
    finally:
        engine.dispose()
    typer.echo(
        report_csv(r, lang) if csv else json.dumps(report_json(r), indent=2, ensure_ascii=False)
    )


@webhooks.command("add")
def add(
    url: Annotated[str, typer.Option(help="where to POST events")],
    event: Annotated[list[str], typer.Option(help="an event type (repeatable)")],
    database: Database = None,
) -> None:
    """Subscribe a URL; prints the endpoint and its signing secret (shown once)."""
    from loyalty.webhooks.outbox import WebhookError, create_endpoint
    from smartroom.clock import SystemClock

    engine, _ = _engine(database)
    try:
        with engine.begin() as conn:
            made = create_endpoint(conn, url, event, now=SystemClock().now())
    except WebhookError as exc:
        _fail(str(exc))
    finally:
        engine.dispose()
    typer.echo(
        json.dumps(
            {"id": made.id, "url": made.url, "events": made.events, "secret": made.secret}, indent=2
        )
    )


@webhooks.command("rotate")
def rotate(
    endpoint_id: str,
    overlap_s: Annotated[int, typer.Option(help="seconds the old secret keeps signing")] = 86400,
    database: Database = None,
) -> None:
    """A new secret for an endpoint (printed once); the old one signs for the overlap."""
    from loyalty.webhooks.outbox import WebhookError, rotate_secret
    from smartroom.clock import SystemClock

    engine, _ = _engine(database)
    try:
        with engine.begin() as conn:
            secret = rotate_secret(
                conn, endpoint_id, now=SystemClock().now(), overlap=timedelta(seconds=overlap_s)
            )
    except WebhookError as exc:
        _fail(str(exc), 1)
    finally:
        engine.dispose()
    typer.echo(secret)


@webhooks.command("scan")
def scan(
    as_of: Annotated[str, typer.Option(help="YYYY-MM-DD")],
    notice_days: Annotated[int, typer.Option(help="points.will_expire notice")] = 30,
    inactive_days: Annotated[int, typer.Option(help="member.inactive after")] = 90,
    database: Database = None,
) -> None:
    """Emit points.will_expire and member.inactive as of a date (idempotent)."""
    from loyalty.webhooks.scan import scan_expiring, scan_inactive
    from smartroom.clock import SystemClock

    day = _day("--as-of", as_of)
    engine, programme = _engine(database)
    now = SystemClock().now()
    try:
        with engine.begin() as conn:
            expiring = scan_expiring(conn, programme, as_of=day, days_ahead=notice_days, now=now)
            inactive = scan_inactive(conn, as_of=day, days=inactive_days, now=now)
    except ValueError as exc:
        _fail(str(exc))
    finally:
        engine.dispose()
    typer.echo(json.dumps({"points_will_expire": expiring, "member_inactive": inactive}))


@webhooks.command("run")
def run(
    once: Annotated[bool, typer.Option("--once", help="one pass, then exit")] = False,
    interval: Annotated[float, typer.Option(help="seconds between passes")] = 2.0,
    database: Database = None,
) -> None:
    """Deliver due webhooks until SIGTERM/SIGINT (finishes the pass it is in)."""
    import httpx

    from loyalty.webhooks.delivery import deliver_due
    from smartroom.clock import SystemClock

    engine, _ = _engine(database)
    stopping = threading.Event()
    if not once:
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stopping.set())
    total = 0
    try:
        with httpx.Client() as client:
            while True:
                total += deliver_due(engine, SystemClock(), client)
                if once or stopping.wait(interval):
                    break
    finally:
        engine.dispose()
    typer.echo(json.dumps({"attempted": total}))


@webhooks.command("log")
def log(
    event_id: Annotated[str | None, typer.Option()] = None,
    limit: Annotated[int, typer.Option()] = 50,
    database: Database = None,
) -> None:
    """The delivery log (newest first) with every attempt."""
    from loyalty.webhooks.outbox import delivery_log

    engine, _ = _engine(database)
    try:
        with engine.begin() as conn:
            rows = delivery_log(conn, event_id=event_id, limit=limit)
    finally:
        engine.dispose()
    typer.echo(json.dumps(rows, indent=2))


@webhooks.command("replay")
def replay(delivery_id: str, database: Database = None) -> None:
    """Queue a delivery again (same event id)."""
    from loyalty.webhooks.outbox import WebhookError
    from loyalty.webhooks.outbox import replay as replay_delivery
    from smartroom.clock import SystemClock

    engine, _ = _engine(database)
    try:
        with engine.begin() as conn:
            replay_delivery(conn, delivery_id, now=SystemClock().now())
    except WebhookError as exc:
        _fail(str(exc), 1)
    finally:
        engine.dispose()
    typer.echo("queued")


@analytics.command("whatif")
def whatif(
    members: Annotated[int, typer.Option(help="synthetic members")] = 100_000,
    seed: Annotated[int, typer.Option(help="names the population")] = 20,
    year: Annotated[int, typer.Option(help="the year simulated")] = 2027,
    programme_file: Annotated[
        str | None, typer.Option("--programme", help="programme file (default: in force)")
    ] = None,
    multiplier: Annotated[
        list[str] | None, typer.Option(help="NAME=FACTOR, e.g. off_peak=1.5 (repeatable)")
    ] = None,
    expiry_months: Annotated[int | None, typer.Option(help="proposed expiry period")] = None,
    point_value: Annotated[
        str | None, typer.Option(help="proposed CNY per point (higher: cheaper awards)")
    ] = None,
    workers: Annotated[int, typer.Option(help="processes")] = 2,
    as_json: Annotated[bool, typer.Option("--json", help="JSON instead of a table")] = False,
) -> None:
    """A synthetic population's year through the real rules engine, current programme vs a
    proposed change, side by side. Reads only the programme file; no database at all."""
    import time

    from loyalty.analytics.population import generate
    from loyalty.analytics.whatif import simulate
    from loyalty.analytics.whatif_report import markdown, propose, side_by_side
    from loyalty.rules.loader import ProgrammeError, default_programme, load_programme

    try:
        current = load_programme(programme_file) if programme_file else default_programme()
    except ProgrammeError as exc:
        _fail(str(exc))
    changes: dict[str, str] = {}
    for item in multiplier or []:
        name, sep, factor = item.partition("=")
        if not sep:
            _fail(f"--multiplier {item!r} must be NAME=FACTOR")
        changes[name] = factor
    if not (changes or expiry_months or point_value):
        _fail("propose something: --multiplier, --expiry-months or --point-value")
    try:
        proposed = propose(
            current, multipliers=changes, expiry_months=expiry_months, point_value=point_value
        )
        pop = generate(members, seed=seed, year=year)
    except (ValueError, InvalidOperation) as exc:
        _fail(str(exc).splitlines()[0])
    started = time.perf_counter()  # a progress figure for people, not a benchmark
    a, b = simulate(pop, [current, proposed], workers=workers)
    took = time.perf_counter() - started
    rows = side_by_side(pop, current, proposed, a, b)
    if as_json:
        typer.echo(json.dumps(rows, default=str, indent=2))
    else:
        typer.echo(markdown(rows))
    typer.echo(f"{members:,} members, {year}, seed {seed}: {took:.1f} s for both", err=True)
