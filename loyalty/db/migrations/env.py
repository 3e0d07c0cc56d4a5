"""Alembic environment: the engine comes from `loyalty.db.migrate` (never from an ini)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Engine

from loyalty.db.tables import metadata

engine = context.config.attributes.get("engine")
if not isinstance(engine, Engine):
    raise RuntimeError("run migrations through loyalty.db.migrate (or `loyalty migrate`)")

with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
