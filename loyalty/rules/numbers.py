"""Exact arithmetic and calendar helpers shared by the rules (pure, no I/O).

Points are computed exactly with `fractions.Fraction` (built from Decimal, never from a
float) and rounded once, at the end, by the caller's documented rule. Money is Decimal.

    >>> to_fraction(Decimal("1.2")) * 3500
    Fraction(4200, 1)
    >>> add_months(date(2024, 2, 29), 36)
    datetime.date(2027, 2, 28)
    >>> money_text(Decimal("12000"), "CNY")
    '12,000 CNY'
"""

from __future__ import annotations

import calendar
import math
from datetime import date
from decimal import ROUND_HALF_EVEN, Decimal
from fractions import Fraction
from typing import Any

CENT = Decimal("0.01")


def reject_float(value: Any) -> Any:
    """Pydantic before-validator: floats are refused so no binary rounding ever creeps in."""
    if isinstance(value, float):
        raise ValueError(
            f'{value!r} is a float; write it as a decimal string (e.g. "{value}") '
            "or load the file with Decimal parsing"
        )
    return value


def to_fraction(value: Decimal | int) -> Fraction:
    """Exact conversion (Decimal → Fraction is exact; floats are refused)."""
    if isinstance(value, float):  # defence in depth: typed callers never get here
        raise TypeError("floats are not accepted in points arithmetic")
    return Fraction(value)


def floor_points(value: Fraction) -> int:
    """Round points down to an int (the programme's rounding rule: floor once, at the end)."""
    return math.floor(value)


def ceil_to_step(value: Fraction, step: int) -> int:
    """Round up to a whole multiple of `step` (award prices are quoted in steps)."""
    return math.ceil(value / step) * step


def display(value: Fraction, places: int = 2) -> Decimal:
    """A Fraction shown as a Decimal with `places` decimals (for explanations only)."""
    quantum = Decimal(1).scaleb(-places)
    exact = Decimal(value.numerator) / Decimal(value.denominator)
    return exact.quantize(quantum, rounding=ROUND_HALF_EVEN)


def money_up(value: Fraction) -> Decimal:
    """Cash owed by a member, rounded up to the cent (in the programme's favour)."""
    cents = math.ceil(value * 100)
    return (Decimal(cents) * CENT).quantize(CENT)


def int_text(value: int) -> str:
    return f"{value:,}"


def decimal_text(value: Decimal | Fraction) -> str:
    """`12000` → "12,000"; `1234.5` → "1,234.50"; fractions shown to 2 places."""
    dec = display(value) if isinstance(value, Fraction) else value
    if dec == dec.to_integral_value():
        return f"{int(dec):,}"
    return f"{dec.quantize(CENT, rounding=ROUND_HALF_EVEN):,}"


def money_text(value: Decimal | Fraction, currency: str) -> str:
    return f"{decimal_text(value)} {currency}"


def factor_text(value: Decimal | Fraction) -> str:
    """`Decimal("1.20")` → "1.2"."""
    dec = display(value, 4) if isinstance(value, Fraction) else value
    text = f"{dec.normalize():f}"
    return text


def plural(count: int, word: str) -> str:
    return f"{count:,} {word}" if count == 1 else f"{count:,} {word}s"


def add_months(day: date, months: int) -> date:
    """Same day `months` later, clamped to the month's end (29 Feb + 12 → 28 Feb)."""
    index = day.year * 12 + (day.month - 1) + months
    year, month = divmod(index, 12)
    last = calendar.monthrange(year, month + 1)[1]
    return date(year, month + 1, min(day.day, last))


def month_day(value: str) -> tuple[int, int]:
    """Parse "MM-DD" (already pattern-checked) into (month, day)."""
    month, day = value.split("-")
    return int(month), int(day)


def valid_month_day(value: str, *, allow_leap_day: bool = True) -> bool:
    month, day = month_day(value)
    if not 1 <= month <= 12:
        return False
    last = 29 if month == 2 and allow_leap_day else calendar.monthrange(2025, month)[1]
    return 1 <= day <= last
