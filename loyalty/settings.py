"""The central service's settings, from the environment (`LOYALTY_*`) or arguments.

settings = LoyaltySettings()                       # LOYALTY_DATABASE_URL etc.
settings = LoyaltySettings(database_url="postgresql+psycopg://u@127.0.0.1/loyalty")
settings = load_settings()                         # same, but a ConfigError says what to fix
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from smartroom.settings import ConfigError, explain

FIXES = {
    "database_url": (
        'a SQLAlchemy URL such as "sqlite:///loyalty.db" or '
        '"postgresql+psycopg://user@127.0.0.1:5432/loyalty"'
    ),
    "programme_file": "the path of a programme TOML/YAML file, or leave unset for the default",
    "hold_timeout_s": "seconds an award booking holds points, between 60 and 86400",
    "log_level": "one of debug, info, warning, error",
    "timezone": "an IANA time zone such as Asia/Shanghai",
    "sync_lock_wait_ms": "milliseconds an upload waits for its room's row, between 50 and 60000",
    "sync_retry_after_s": "whole seconds a busy room is told to wait, between 1 and 60",
}


class LoyaltySettings(BaseSettings):
    """Everything the service needs to start; validated once, then injected."""

    model_config = SettingsConfigDict(env_prefix="LOYALTY_", extra="forbid")

    database_url: str = "sqlite:///loyalty.db"
    programme_file: Path | None = None
    hold_timeout_s: Annotated[int, Field(ge=60, le=86_400)] = 900
    # API keys are looked up once and cached this long: a revoked key stops working within it.
    key_cache_s: Annotated[float, Field(ge=0, le=300)] = 10.0
    max_body_bytes: Annotated[int, Field(ge=1024, le=4_194_304)] = 262_144
    db_pool_size: Annotated[int, Field(ge=1, le=200)] = 10
    log_level: str = "info"
    # The group's time zone: a property's "today" (award check-in dates) unless its board
    # setup names its own.
    timezone: str = "Asia/Shanghai"
    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=1, le=65535)] = 8400
    # PostgreSQL: how long a room's upload waits for the room's row (held by another copy
    # of the same batch still being applied) before it answers 503 room_busy, and the
    # Retry-After it sends then (loyalty/services/sync_accept.py).
    sync_lock_wait_ms: Annotated[int, Field(ge=50, le=60_000)] = 1000
    sync_retry_after_s: Annotated[int, Field(ge=1, le=60)] = 1

    @field_validator("database_url")
    @classmethod
    def _known_backend(cls, value: str) -> str:
        if not (value.startswith("sqlite") or value.startswith("postgresql")):
            raise ValueError("only SQLite and PostgreSQL are supported")
        return value

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{value!r} is not an IANA time zone") from None
        return value

    @field_validator("log_level")
    @classmethod
    def _level(cls, value: str) -> str:
        if value.lower() not in {"debug", "info", "warning", "error"}:
            raise ValueError("unknown log level")
        return value.lower()

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


def load_settings(**overrides: Any) -> LoyaltySettings:
    """Settings from the environment plus `overrides`; a ConfigError names each bad setting."""
    try:
        return LoyaltySettings(**overrides)
    except ValidationError as exc:
        source = "loyalty settings (LOYALTY_* environment)"
        raise ConfigError(source, explain(exc, fixes=FIXES)) from None
