"""Pricing an award stay in points, with points + cash options.

    >>> quote = quote_redemption(programme, Decimal("800"),
    ...     [date(2026, 10, 2), date(2026, 10, 3)], Decimal("0.5"))
    >>> [night.points for night in quote.nights], quote.total_points
    ([96000, 96000], 192000)

Per night: `cash_rate / point_value` points, times the largest season factor among the
seasons covering that night (peak +20%), times the inventory factor of the occupancy
forecast's band; rounded UP to `round_up_to` points. With `free_night_every = N`, the
cheapest night of each full run of N nights is free. Points + cash: pay `p` points
(from the minimum, in `step_points` steps) and the rest in cash at `cash_per_point`,
rounded up to the cent.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from decimal import Decimal
from fractions import Fraction

from loyalty.rules.earn import RulesModel
from loyalty.rules.errors import RedemptionError
from loyalty.rules.numbers import (
    ceil_to_step,
    factor_text,
    int_text,
    money_text,
    money_up,
    to_fraction,
)
from loyalty.rules.programme import Programme
from loyalty.rules.seasons import tags_on


class NightPrice(RulesModel):
    night: date
    cash_rate: Decimal
    base_points: int
    season_factor: Decimal
    seasons: list[str]
    occupancy_forecast: Decimal
    inventory_factor: Decimal
    points: int
    free: bool = False
    explanation: str


class PointsAndCashOption(RulesModel):
    points: int
    cash: Decimal


class RedemptionQuote(RulesModel):
    nights: list[NightPrice]
    total_points: int
    minimum_points: int
    cash_value: Decimal
    currency: str
    options: list[PointsAndCashOption]
    affordable: bool | None = None
    explanation: str


def _inventory_factor(programme: Programme, occupancy: Decimal) -> Decimal:
    for band in programme.redemption.inventory_bands:
        if occupancy <= band.up_to:
            return band.factor
    return programme.redemption.inventory_bands[-1].factor


def _occupancy(forecast: Decimal | Mapping[date, Decimal], night: date) -> Decimal:
    if isinstance(forecast, Mapping):
        if night not in forecast:
            raise RedemptionError(
                "missing_forecast", f"no occupancy forecast for {night} (fix: give one per night)"
            )
        value = forecast[night]
    else:
        value = forecast
    if isinstance(value, float) or not Decimal(0) <= value <= Decimal(1):
        raise RedemptionError(
            "bad_forecast",
            f"occupancy forecast {value!r} for {night} must be a Decimal between 0 and 1",
        )
    return value


def _options(programme: Programme, total: int, balance: int | None) -> list[PointsAndCashOption]:
    config = programme.redemption.points_and_cash
    minimum = programme.redemption.minimum_points
    if config is None:
        candidates = [total]
    else:
        step = config.step_points
        first = ceil_to_step(Fraction(max(minimum, 1)), step)
        count = max(0, (total - first) // step + 1) if first <= total else 0
        if count + 1 > config.max_options:  # thin out to a bounded list; keep the ends
            step *= -(-count // (config.max_options - 1))
        candidates = list(range(first, total, step)) if first < total else []
        candidates.append(total)
    cash_per_point = to_fraction(
        (config.cash_per_point if config and config.cash_per_point else None)
        or programme.redemption.point_value
    )
    out = [
        PointsAndCashOption(points=p, cash=money_up((total - p) * cash_per_point))
        for p in candidates
        if balance is None or p <= balance
    ]
    return out


def quote_redemption(
    programme: Programme,
    cash_rate: Decimal,
    nights: Sequence[date],
    occupancy_forecast: Decimal | Mapping[date, Decimal],
    *,
    balance: int | None = None,
) -> RedemptionQuote:
    """Quote an award stay. `cash_rate` is the room's cash price per night (Decimal, in
    the programme currency); `occupancy_forecast` one share for all nights or one per
    night. With `balance`, options are limited to what the member can pay.

    Raises `RedemptionError` with code `no_nights`, `duplicate_night`, `too_many_nights`,
    `bad_cash_rate`, `bad_forecast`, `missing_forecast`, `below_minimum` or
    `insufficient_points`.
    """
    redemption = programme.redemption
    currency = programme.currency
    if not nights:
        raise RedemptionError("no_nights", "an award needs at least one night")
    if len(set(nights)) != len(nights):
        raise RedemptionError("duplicate_night", "a night is listed twice (fix: list each once)")
    if len(nights) > redemption.max_nights:
        raise RedemptionError(
            "too_many_nights",
            f"{len(nights)} nights exceed the programme's {redemption.max_nights}-night maximum "
            "per award",
        )
    if isinstance(cash_rate, float) or not Decimal(0) < cash_rate <= redemption.max_cash_rate:
        raise RedemptionError(
            "bad_cash_rate",
            f"cash rate {cash_rate!r} must be a Decimal above 0 and at most "
            f"{money_text(redemption.max_cash_rate, currency)}",
        )
    ordered = sorted(nights)
    value = to_fraction(redemption.point_value)
    prices: list[NightPrice] = []
    for night in ordered:
        occupancy = _occupancy(occupancy_forecast, night)
        tags = tags_on(programme, night)
        season_factor, seasons = Decimal(1), sorted(tags & set(redemption.season_factors))
        for tag in seasons:
            season_factor = max(season_factor, redemption.season_factors[tag])
        inventory = _inventory_factor(programme, occupancy)
        base = to_fraction(cash_rate) / value
        exact = base * to_fraction(season_factor) * to_fraction(inventory)
        points = ceil_to_step(exact, redemption.round_up_to)
        notes = [f"{money_text(cash_rate, currency)} / {redemption.point_value} per point"]
        if season_factor != 1:
            notes.append(f"x{factor_text(season_factor)} ({', '.join(seasons)})")
        if inventory != 1:
            notes.append(f"x{factor_text(inventory)} (occupancy forecast {occupancy})")
        notes.append(f"rounded up to {int_text(redemption.round_up_to)}")
        prices.append(
            NightPrice(
                night=night,
                cash_rate=cash_rate,
                base_points=ceil_to_step(base, 1),
                season_factor=season_factor,
                seasons=seasons,
                occupancy_forecast=occupancy,
                inventory_factor=inventory,
                points=points,
                explanation=f"{night}: {' '.join(notes)} = {int_text(points)} points",
            )
        )
    every = redemption.free_night_every
    if every:
        for start in range(0, len(prices) - every + 1, every):
            run = prices[start : start + every]
            cheapest = min(range(len(run)), key=lambda i: (run[i].points, i))
            free = run[cheapest]
            prices[start + cheapest] = free.model_copy(
                update={
                    "points": 0,
                    "free": True,
                    "explanation": f"{free.night}: free (one night in every {every})",
                }
            )
    total = sum(p.points for p in prices)
    if total < redemption.minimum_points:
        raise RedemptionError(
            "below_minimum",
            f"this award costs {int_text(total)} points, below the minimum redemption of "
            f"{int_text(redemption.minimum_points)} points (fix: add nights or choose another "
            "room)",
        )
    if balance is not None and balance < redemption.minimum_points:
        raise RedemptionError(
            "insufficient_points",
            f"a balance of {int_text(balance)} points is below the minimum redemption of "
            f"{int_text(redemption.minimum_points)} points",
        )
    options = _options(programme, total, balance)
    if balance is not None and not options:
        raise RedemptionError(
            "insufficient_points",
            f"a balance of {int_text(balance)} points cannot pay any option for this award "
            f"(it costs {int_text(total)} points)",
        )
    cash_value = sum((p.cash_rate for p in prices), Decimal(0))
    lines = [p.explanation for p in prices]
    lines.append(f"total {int_text(total)} points (cash value {money_text(cash_value, currency)})")
    return RedemptionQuote(
        nights=prices,
        total_points=total,
        minimum_points=redemption.minimum_points,
        cash_value=cash_value,
        currency=currency,
        options=options,
        affordable=None if balance is None else balance >= total,
        explanation="\n".join(lines),
    )
