"""Reading a programme file: TOML → validated `Programme`, or a `ProgrammeError` whose every
line names the file, the line, the setting, the bad value and the fix::

    >>> programme = load_programme(Path("loyalty/rules/default_programme.toml"))
    >>> programme.tier("gold").earn_multiplier
    Decimal('1.2')

    ProgrammeError: gold.toml: invalid configuration
      - line 14: tiers[1].earn_multiplier = Decimal('0.8') -- Input should be greater than or
        equal to 1 (fix: a decimal factor of at least 1, e.g. 1.2)

Two passes: pydantic checks each value's type and range; `semantic_problems` then checks
what spans keys (tier order, names that must exist, ranges that must be ordered).
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from loyalty.rules.benefits import catalogue_problems
from loyalty.rules.numbers import valid_month_day
from loyalty.rules.programme import Criteria, Programme
from loyalty.rules.toml_lines import Path as KeyPath
from loyalty.rules.toml_lines import key_lines, line_of
from smartroom.settings import ConfigError

MAX_FILE_BYTES = 1_000_000

# What to write instead, by setting name (the last part of its path).
FIXES: dict[str, str] = {
    "name": "a lower-case name: letters, digits and _ (e.g. gold)",
    "kind": "a lower-case name such as peak or off_peak",
    "currency": "a three-letter ISO code such as CNY",
    "earn_multiplier": "a decimal factor of at least 1, e.g. 1.2",
    "factor": "a decimal factor, e.g. 1.2 (earn multipliers are at least 1)",
    "spend": "an amount of money per qualification year, e.g. 30000",
    "nights": "a whole number of nights, e.g. 25",
    "stays": "a whole number of stays, e.g. 4",
    "match": 'either "any" (OR) or "all" (AND)',
    "start": 'a date (2026-02-14) or a recurring day "MM-DD" ("10-01")',
    "end": 'a date (2026-02-22) or a recurring day "MM-DD" ("10-07")',
    "year_starts": 'the first day of the qualification year as "MM-DD", e.g. "01-01"',
    "points_per_unit": "points per currency unit, e.g. 1 or 0.5 (0 means none)",
    "fixed_points": "a whole number of points per event, e.g. 500",
    "period": 'one of "day", "week", "month", "year", "qualification_year", "lifetime"',
    "point_value": "the cash value of one point, e.g. 0.01",
    "minimum_points": "a whole number of points, e.g. 5000",
    "up_to": "an occupancy share between 0 and 1, e.g. 0.7",
    "policy": 'one of "fixed" (N months after earning), "inactivity", "never"',
    "source": 'either "fixed" (use factor) or "tier" (use the member tier\'s earn_multiplier)',
    "applies_to": 'either "running" (compound) or "base" (share of base points)',
}


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a programme file."""

    line: int | None
    where: str
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}" if self.line else self.message


class ProgrammeError(ConfigError):
    """A programme file that cannot be used. `problems` holds one human line per issue
    (each starting with "line N:" when the key is in the file); `details` the structured
    form for the API."""

    def __init__(self, source: str, details: list[Problem]) -> None:
        self.details = details
        super().__init__(source, [str(p) for p in details])


def where_text(loc: KeyPath) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _fix_for(loc: KeyPath, error_type: str) -> str | None:
    names = [part for part in loc if isinstance(part, str)]
    if names and names[-1] in FIXES:
        return FIXES[names[-1]]
    if error_type == "missing":
        return "add this setting"
    if error_type == "extra_forbidden":
        return "remove it, or check its spelling against docs/programme.md"
    return None


def _shown(value: Any) -> str:
    shown = repr(value)
    return shown if len(shown) <= 60 else shown[:57] + "..."


def _structural(error: ValidationError, index: dict[KeyPath, int]) -> list[Problem]:
    out: list[Problem] = []
    for item in error.errors(include_url=False):
        loc = tuple(item["loc"])
        where = where_text(loc)
        shown = "(missing)" if item["type"] == "missing" else _shown(item.get("input"))
        message = f"{where} = {shown} -- {item['msg']}"
        fix = _fix_for(loc, item["type"])
        if fix:
            message += f" (fix: {fix})"
        out.append(Problem(line_of(index, loc), where, message))
    return out


# --- checks that span keys -------------------------------------------------------------------

Issue = tuple[KeyPath, str]


def _criteria_zero(criteria: Criteria) -> bool:
    values = [criteria.spend, criteria.nights, criteria.stays]
    return all(not v for v in values) and all(_criteria_zero(g) for g in criteria.groups)


def semantic_problems(programme: Programme) -> Iterator[Issue]:
    """Yield (key path, message with fix) for every cross-key inconsistency."""
    names = programme.tier_names
    for i, tier in enumerate(programme.tiers):
        if tier.name in names[:i]:
            yield ("tiers", i, "name"), f"tier {tier.name!r} is defined twice (fix: rename one)"
    if not _criteria_zero(programme.tiers[0].qualify):
        yield (
            ("tiers", 0, "qualify"),
            f"the first tier ({names[0]}) is where every member starts, so it cannot have "
            "thresholds (fix: remove its qualify, or set its thresholds to 0)",
        )
    for i in range(1, len(programme.tiers)):
        low, high = programme.tiers[i - 1], programme.tiers[i]
        if high.earn_multiplier < low.earn_multiplier:
            yield (
                ("tiers", i, "earn_multiplier"),
                f"{high.name} earns {high.earn_multiplier}x, less than {low.name} below it "
                f"({low.earn_multiplier}x) (fix: list tiers lowest first, or raise it)",
            )
        for metric in ("spend", "nights", "stays"):
            a, b = getattr(low.qualify, metric), getattr(high.qualify, metric)
            if (
                a is not None
                and b is not None
                and b < a
                and low.qualify.match == "any" == high.qualify.match
            ):
                yield (
                    ("tiers", i, "qualify", metric),
                    f"{high.name} needs {metric} {b}, less than {low.name} below it ({a}) "
                    "(fix: list tiers lowest first, thresholds rising)",
                )

    season_names = {s.name for s in programme.seasons} | {s.kind for s in programme.seasons}
    for i, season in enumerate(programme.seasons):
        if isinstance(season.start, str) != isinstance(season.end, str):
            yield (
                ("seasons", i, "end"),
                f'season {season.name!r} mixes a date and a recurring "MM-DD" day '
                '(fix: use two dates, or two "MM-DD" days)',
            )
        elif (
            not isinstance(season.start, str)
            and not isinstance(season.end, str)
            and season.end < season.start
        ):
            yield (
                ("seasons", i, "end"),
                f"season {season.name!r} ends ({season.end}) before it starts "
                f"({season.start}) (fix: swap start and end)",
            )

    if not valid_month_day(programme.qualification.year_starts, allow_leap_day=False):
        yield (
            ("qualification", "year_starts"),
            f"{programme.qualification.year_starts!r} is not a day every year has "
            '(fix: use a real day such as "01-01"; not "02-29")',
        )

    earn = programme.earn
    kinds = {"stay"} | set(earn.activities)
    seen: set[str] = set()
    tier_sources = 0
    for i, mult in enumerate(earn.multipliers):
        at: KeyPath = ("earn", "multipliers", i)
        if mult.name in seen:
            yield (*at, "name"), f"multiplier {mult.name!r} is defined twice (fix: rename one)"
        seen.add(mult.name)
        if mult.source == "tier":
            tier_sources += 1
            if mult.factor is not None:
                yield (
                    (*at, "factor"),
                    f"multiplier {mult.name!r} takes its factor from the member's tier "
                    '(fix: remove factor, or set source = "fixed")',
                )
        elif mult.factor is None:
            yield (
                (*at, "factor"),
                f"multiplier {mult.name!r} has no factor (fix: add factor = 1.2, or set "
                'source = "tier")',
            )
        for kind in mult.when.kinds:
            if kind not in kinds:
                yield (
                    (*at, "when", "kinds"),
                    f"multiplier {mult.name!r} applies to kind {kind!r}, which is neither "
                    f'"stay" nor an activity (fix: one of {", ".join(sorted(kinds))})',
                )
        for wanted in mult.when.seasons or []:
            if wanted not in season_names:
                yield (
                    (*at, "when", "seasons"),
                    f"multiplier {mult.name!r} names season {wanted!r}, which no [[seasons]] "
                    f"entry has as name or kind (fix: add that season or correct the name)",
                )
        for category in mult.when.categories or []:
            earning = [c for c, w in programme.earn.stay_categories.items() if w > 0]
            if category not in earning:
                yield (
                    (*at, "when", "categories"),
                    f"multiplier {mult.name!r} names folio category {category!r}, which does "
                    f"not earn (fix: one of {', '.join(sorted(earning))}, from "
                    "earn.stay_categories)",
                )
        for tier_name in mult.when.tiers or []:
            if tier_name not in names:
                yield (
                    (*at, "when", "tiers"),
                    f"multiplier {mult.name!r} names unknown tier {tier_name!r} "
                    f"(fix: one of {', '.join(names)})",
                )
        if mult.when.start and mult.when.end and mult.when.end < mult.when.start:
            yield (
                (*at, "when", "end"),
                f"multiplier {mult.name!r} ends before it starts (fix: swap start and end)",
            )
    if tier_sources > 1:
        yield (
            ("earn", "multipliers"),
            'more than one multiplier has source = "tier" (fix: keep one)',
        )
    for category in earn.qualifying_categories or []:
        if category not in earn.stay_categories:
            yield (
                ("earn", "qualifying_categories"),
                f"qualifying category {category!r} is not in earn.stay_categories "
                "(fix: add it there or remove it here)",
            )
    for name, activity in earn.activities.items():
        if name == "stay":
            yield (
                ("earn", "activities", name),
                '"stay" is the stay earn kind (fix: rename this activity)',
            )
        if activity.points_per_unit == 0 and activity.fixed_points == 0:
            yield (
                ("earn", "activities", name),
                f"activity {name!r} earns nothing (fix: set points_per_unit or fixed_points)",
            )

    redemption = programme.redemption
    bands = redemption.inventory_bands
    for i in range(1, len(bands)):
        if bands[i].up_to <= bands[i - 1].up_to:
            yield (
                ("redemption", "inventory_bands", i, "up_to"),
                "inventory bands must be listed with rising up_to (fix: sort them)",
            )
    if bands[-1].up_to != Decimal(1):
        yield (
            ("redemption", "inventory_bands", len(bands) - 1, "up_to"),
            "the last inventory band must cover occupancy up to 1 (fix: set up_to = 1.0)",
        )
    for key in redemption.season_factors:
        if key not in season_names:
            yield (
                ("redemption", "season_factors", key),
                f"season factor for {key!r}, which no [[seasons]] entry has as name or kind "
                "(fix: add that season or correct the name)",
            )

    yield from catalogue_problems(programme.benefits, names)


def parse_programme(text: str, *, source: str = "<programme>") -> Programme:
    """Validate programme TOML text; raise `ProgrammeError` naming line and fix."""
    if len(text.encode("utf-8")) > MAX_FILE_BYTES:
        raise ProgrammeError(
            source, [Problem(None, "", f"file larger than {MAX_FILE_BYTES:,} bytes")]
        )
    try:
        data = tomllib.loads(text, parse_float=Decimal)
    except tomllib.TOMLDecodeError as exc:
        raise ProgrammeError(source, [Problem(None, "", f"not valid TOML: {exc}")]) from None
    # The line index is a second pass over the text as long as the parse itself, and only
    # a refusal needs it: scan for lines only once there is a problem to name.
    try:
        programme = Programme.model_validate(data)
    except ValidationError as exc:
        locs = [tuple(item["loc"]) for item in exc.errors(include_url=False)]
        index = key_lines(text, wanted=locs)
        raise ProgrammeError(source, _structural(exc, index)) from None
    found = list(semantic_problems(programme))
    if found:
        index = key_lines(text, wanted=[path for path, _ in found])
        raise ProgrammeError(
            source,
            [
                Problem(line_of(index, path), where_text(path), f"{where_text(path)}: {message}")
                for path, message in found
            ],
        )
    return programme


def load_programme(path: Path | str) -> Programme:
    """Read and validate a programme file (see docs/programme.md for every key)."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ProgrammeError(
            str(path), [Problem(None, "", f"cannot read: {exc.strerror}")]
        ) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ProgrammeError(str(path), [Problem(None, "", "not UTF-8 text")]) from None
    return parse_programme(text, source=str(path))


def default_programme() -> Programme:
    """The product owner's programme, shipped as `loyalty/rules/default_programme.toml`."""
    ref = resources.files("loyalty.rules").joinpath("default_programme.toml")
    return parse_programme(ref.read_text(encoding="utf-8"), source="default_programme.toml")


def example_programme(name: str) -> Programme:
    """A shipped example (`"marriott_like"`, `"hilton_like"`) from loyalty/rules/examples/."""
    ref = resources.files("loyalty.rules").joinpath("examples", f"{name}.toml")
    return parse_programme(ref.read_text(encoding="utf-8"), source=f"examples/{name}.toml")
