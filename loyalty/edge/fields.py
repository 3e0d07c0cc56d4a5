"""Strict scalar types for request models and query parameters: one format each,
documented in the OpenAPI schema, with ASCII digits only.

* Points (and every other count in a body): a JSON integer. Not "1000", not 1000.0, not true.
* Share (a forecast occupancy): a JSON string "0" to "1", at most four decimals.
* Money: a JSON string of ASCII digits with at most two decimals, "380" or "380.00"; not
  a JSON number (binary floats cannot hold 0.1), not "3.8e2", not "１００", not " 1".
* Day: "YYYY-MM-DD"; Moment: RFC 3339 "YYYY-MM-DDTHH:MM:SS[.ffffff](Z|±HH:MM)" — never a
  bare number (pydantic would read "0.5" as a Unix time).
* QueryInt / QueryBool: a query string's "10" / "true" | "false", nothing looser.

    class Thing(Request):
        points: Points
        amount: Money
        night: Day
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import AwareDatetime, BeforeValidator, Field, Strict, WithJsonSchema

MONEY_PATTERN = r"^((0|[1-9][0-9]{0,6})(\.[0-9]{1,2})?|10000000(\.0{1,2})?)$"
DAY_PATTERN = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
MOMENT_PATTERN = (
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,6})?"
    r"(Z|[+-][0-9]{2}:[0-9]{2})$"
)
SHARE_PATTERN = r"^(0(\.[0-9]{1,4})?|1(\.0{1,4})?)$"
_MONEY = re.compile(MONEY_PATTERN)
_SHARE = re.compile(SHARE_PATTERN)
_DAY = re.compile(DAY_PATTERN)
_MOMENT = re.compile(MOMENT_PATTERN)
_INT = re.compile(r"^(0|-?[1-9][0-9]{0,17})$")


def _decimal(pattern: re.Pattern[str], what: str) -> Any:
    def check(value: Any) -> Any:
        if isinstance(value, Decimal):  # built in code, not parsed from a request
            return value
        if not isinstance(value, str):
            raise ValueError(f"{what}, as a JSON string (not a number)")
        if not pattern.match(value):
            raise ValueError(what)
        return value

    return check


def _formatted(pattern: re.Pattern[str], what: str, example: str) -> Any:
    def check(value: Any) -> Any:
        if isinstance(value, date):  # built in code
            return value
        if not isinstance(value, str) or not pattern.match(value):
            raise ValueError(f"{what} is a string such as {example!r}")
        return value

    return check


def _query_int(value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if not isinstance(value, str) or not _INT.match(value):
        raise ValueError("an integer of ASCII digits, such as 100")
    return value


def _query_bool(value: Any) -> Any:
    if isinstance(value, bool):
        return value
    if value not in ("true", "false"):
        raise ValueError('"true" or "false"')
    return value == "true"


Money = Annotated[
    Decimal,
    BeforeValidator(_decimal(_MONEY, 'money is ASCII digits, at most two decimals: "380.00"')),
    Field(ge=0, le=Decimal("10000000"), max_digits=12, decimal_places=2),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": MONEY_PATTERN,
            "examples": ["380.00"],
            "description": "money: ASCII digits, at most two decimals, as a JSON string",
        }
    ),
]
Share = Annotated[
    Decimal,
    BeforeValidator(_decimal(_SHARE, 'a share is 0 to 1, at most four decimals: "0.85"')),
    Field(ge=0, le=1, max_digits=5, decimal_places=4),
    WithJsonSchema({"type": "string", "pattern": SHARE_PATTERN, "examples": ["0.85"]}),
]
Points = Annotated[int, Strict(), Field(ge=1, le=100_000_000)]
Day = Annotated[
    date,
    BeforeValidator(_formatted(_DAY, "a day", "2026-05-01")),
    Field(ge=date(2000, 1, 1), le=date(2200, 12, 31), json_schema_extra={"pattern": DAY_PATTERN}),
]
Moment = Annotated[
    AwareDatetime,
    BeforeValidator(_formatted(_MOMENT, "a moment", "2026-03-02T14:00:00Z")),
    Field(
        ge=datetime(2000, 1, 1, tzinfo=UTC),
        le=datetime(2200, 12, 31, tzinfo=UTC),
        json_schema_extra={"pattern": MOMENT_PATTERN},
    ),
]
Switch = Annotated[bool, Strict()]
QueryInt = Annotated[int, BeforeValidator(_query_int)]
QueryBool = Annotated[bool, BeforeValidator(_query_bool)]
