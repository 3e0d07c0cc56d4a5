"""Storage: one schema (SQLAlchemy Core tables) for SQLite and PostgreSQL, Alembic migrations
shipped in the package, and the engine factory that sets each backend up for a ledger."""

from loyalty.db.engine import Database, make_engine
from loyalty.db.migrate import downgrade, upgrade

__all__ = ["Database", "downgrade", "make_engine", "upgrade"]
