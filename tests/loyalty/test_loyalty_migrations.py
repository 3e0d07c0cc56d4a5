"""Foundation (issue 3): the Alembic migrations build exactly the declared schema on a fresh
SQLite file and on PostgreSQL, and survive a downgrade/upgrade round trip (also one step
back: 0002 adds and drops only the comfort-model table)."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from loyalty.db import downgrade, make_engine, upgrade
from loyalty.db.tables import metadata

EXPECTED = {t.name for t in metadata.sorted_tables}
# 0004_economics: experiments and the webhook outbox (issue 20)
ECONOMICS = {
    "experiments",
    "experiment_exposures",
    "webhook_endpoints",
    "webhook_secrets",
    "webhook_events",
    "webhook_deliveries",
    "webhook_attempts",
}
# 0006_benefits: entitlements, fulfilments, lifecycle offers (issue 18)
BENEFITS = {"entitlements", "fulfilments", "offers"}
# 0007_sync: the sync tables (issue 16)
SYNC_TABLES = {
    "sync_dead_letters",
    "sync_changes",
    "sync_rooms",
    "sync_alerts",
    "stay_presence",
    "room_spends",
    "folio_lines",  # 0008_sync_semantics
    "stay_moves",  # 0009_stay_moves
}
MODEL_COLUMNS = {
    "name",
    "version",
    "sha256",
    "size_bytes",
    "signature_b64",
    "blob",
    "published_at",
    "withdrawn_at",
}


def _check(url: str) -> None:
    engine = make_engine(url)
    try:
        upgrade(engine)
        names = set(inspect(engine).get_table_names())
        assert names >= EXPECTED, EXPECTED - names
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), metadata)
        assert diff == [], diff
        columns = {c["name"] for c in inspect(engine).get_columns("transfers")}
        assert {"prev_hash", "hash", "chain_owner", "chain_seq", "pending_id"} <= columns
        models = {c["name"]: c for c in inspect(engine).get_columns("models")}
        assert set(models) == MODEL_COLUMNS
        assert models["withdrawn_at"]["nullable"] and not models["blob"]["nullable"]
        assert inspect(engine).get_pk_constraint("models")["constrained_columns"] == [
            "name",
            "version",
        ]
        downgrade(engine, "0006_benefits")  # 0007_sync drops only the sync tables
        assert set(inspect(engine).get_table_names()) & EXPECTED == EXPECTED - SYNC_TABLES
        below = EXPECTED - SYNC_TABLES
        board = {t for t in EXPECTED if t.startswith("board_")}  # 0003_board, after 0002
        downgrade(engine, "0005_presence")  # 0006_benefits drops its tables and columns
        assert set(inspect(engine).get_table_names()) & below == below - BENEFITS
        member_columns = {c["name"] for c in inspect(engine).get_columns("members")}
        assert not member_columns & {"birthday", "segments_json"}
        downgrade(engine, "0004_economics")  # 0005_presence drops only room_secrets
        assert set(inspect(engine).get_table_names()) & below == below - BENEFITS - {"room_secrets"}
        downgrade(engine, "0003_board")  # 0004_economics drops only its own tables
        assert set(inspect(engine).get_table_names()) & below == below - ECONOMICS - (
            BENEFITS | {"room_secrets"}
        )
        downgrade(engine, "0001")  # 0002 drops only the models table
        gone = {"models", "room_secrets"} | board | ECONOMICS | BENEFITS
        assert set(inspect(engine).get_table_names()) & below == below - gone
        upgrade(engine)
        assert "models" in inspect(engine).get_table_names()
        downgrade(engine, "base")
        assert set(inspect(engine).get_table_names()) & EXPECTED == set()
        upgrade(engine)
        assert set(inspect(engine).get_table_names()) >= EXPECTED
    finally:
        engine.dispose()


def test_migrations_on_fresh_sqlite_file(sqlite_url: str) -> None:
    _check(sqlite_url)


def test_migrations_on_postgresql(pg_fresh: str) -> None:
    _check(pg_fresh)


def test_commands_applied_starts_existing_rooms_at_their_high_water_mark(sqlite_url: str) -> None:
    """0010 must not replay old staff commands to rooms that already exist: they start at the
    last change queued for them (what the old code treated as delivered); new rooms at 0."""
    engine = make_engine(sqlite_url)
    try:
        upgrade(engine, "0009_stay_moves")
        with engine.begin() as conn:
            for room in ("1201", "1202"):
                conn.exec_driver_sql(
                    "INSERT INTO sync_rooms (property_id, room_id, epoch, config_version,"
                    " config_json, updated_at) VALUES ('SHA-01', ?, 'ep_x', 0, '{}',"
                    " '2026-12-06 10:00:00')",
                    (room,),
                )
            for seq in (3, 9):
                conn.exec_driver_sql(
                    "INSERT INTO sync_changes (seq, property_id, room_id, stream, op, key,"
                    " created_at) VALUES (?, 'SHA-01', '1201', 'commands', 'put', ?,"
                    " '2026-12-06 10:00:00')",
                    (seq, f"cmd_{seq}"),
                )
        upgrade(engine)
        with engine.connect() as conn:
            rows = conn.exec_driver_sql(
                "SELECT room_id, commands_applied FROM sync_rooms ORDER BY room_id"
            ).all()
        assert [tuple(r) for r in rows] == [("1201", 9), ("1202", 0)]
    finally:
        engine.dispose()
