"""The programme file: shipped files load, and every kind of mistake names its line."""

from __future__ import annotations

import tomllib
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loyalty.rules import (
    Programme,
    ProgrammeError,
    default_programme,
    example_programme,
    load_programme,
    parse_programme,
)
from loyalty.rules.toml_lines import key_lines, line_of
from smartroom.settings import ConfigError

DEFAULT_FILE = Path(__file__).parents[3] / "loyalty" / "rules" / "default_programme.toml"

MINIMAL = """\
name = "Tiny"

[[tiers]]
name = "basic"

[[tiers]]
name = "elite"
earn_multiplier = 1.5
qualify = { spend = 1000 }
"""


def line_number(text: str, needle: str) -> int:
    """1-based line of the first line containing `needle`."""
    for number, line in enumerate(text.splitlines(), start=1):
        if needle in line:
            return number
    raise AssertionError(f"{needle!r} not in text")


def problems_of(text: str) -> list[str]:
    with pytest.raises(ProgrammeError) as caught:
        parse_programme(text, source="test.toml")
    assert isinstance(caught.value, ConfigError)
    return caught.value.problems


def test_default_programme_is_the_product_owners() -> None:
    programme = default_programme()
    assert programme.currency == "CNY"
    assert programme.tier_names == ["silver", "gold", "platinum", "diamond"]
    spend = [tier.qualify.spend for tier in programme.tiers]
    assert spend == [Decimal(0), Decimal(30000), Decimal(100000), Decimal(300000)]
    earn = [tier.earn_multiplier for tier in programme.tiers]
    assert earn == [Decimal("1.0"), Decimal("1.2"), Decimal("1.5"), Decimal("2.0")]
    factors = {m.name: m.factor for m in programme.earn.multipliers if m.source == "fixed"}
    assert factors == {
        "off_peak": Decimal("1.2"),
        "direct_booking": Decimal("1.2"),
        "premium_room": Decimal("1.5"),
    }
    assert programme.earn.base_points_per_unit == 1
    assert programme.redemption.point_value == Decimal("0.01")
    assert programme.redemption.minimum_points == 5000
    assert programme.redemption.season_factors == {"peak": Decimal("1.2")}
    assert programme.expiry.policy == "fixed"
    assert programme.expiry.months_after_earning == 36
    assert programme.expiry.inactivity_months == 24
    assert programme.qualification.downgrade_after_years_below == 2
    assert programme.partners["airline_miles"].points == 3
    assert set(programme.earn.activities) == {
        "fnb",
        "spa",
        "partner",
        "profile_completion",
        "survey",
    }
    # the shipped file on disk and the packaged resource are the same programme
    assert load_programme(DEFAULT_FILE) == programme


def test_toml_floats_become_exact_decimals() -> None:
    programme = parse_programme(MINIMAL + "\n[redemption]\npoint_value = 0.1\n")
    assert programme.redemption.point_value == Decimal("0.1")
    assert isinstance(programme.tiers[1].earn_multiplier, Decimal)


def test_python_floats_are_refused() -> None:
    data = tomllib.loads(MINIMAL)
    data["tiers"][1]["earn_multiplier"] = 1.5
    with pytest.raises(ValueError, match="is a float"):
        Programme.model_validate(data)


def test_examples_load() -> None:
    assert example_programme("marriott_like").tier_names[-1] == "ambassador"
    assert example_programme("hilton_like").tier_names[-1] == "diamond_reserve"


def test_bad_value_names_the_line_and_fix() -> None:
    text = MINIMAL.replace("earn_multiplier = 1.5", "earn_multiplier = 0.8")
    (problem,) = problems_of(text)
    assert problem.startswith(f"line {line_number(text, 'earn_multiplier')}: ")
    assert "tiers[1].earn_multiplier = Decimal('0.8')" in problem
    assert "greater than or equal to 1" in problem
    assert "fix: a decimal factor of at least 1" in problem


def test_inline_table_value_names_its_line() -> None:
    text = MINIMAL.replace("qualify = { spend = 1000 }", "qualify = { spend = -5 }")
    (problem,) = problems_of(text)
    assert problem.startswith(f"line {line_number(text, 'spend = -5')}: tiers[1].qualify.spend")


def test_typo_names_the_line() -> None:
    text = MINIMAL + "\n[redemption]\nminimum_point = 5000\n"
    (problem,) = problems_of(text)
    assert problem.startswith(f"line {line_number(text, 'minimum_point')}: ")
    assert "redemption.minimum_point" in problem
    assert "check its spelling" in problem


def test_missing_key_names_the_enclosing_table() -> None:
    text = MINIMAL + "\n[partners.airline]\nunits = 1\n"
    (problem,) = problems_of(text)
    assert problem.startswith(f"line {line_number(text, '[partners.airline]')}: ")
    assert "partners.airline.points = (missing)" in problem
    assert "fix: add this setting" in problem


def test_bad_choice_in_a_multiline_array_names_its_line() -> None:
    text = MINIMAL + (
        "\n[redemption]\ninventory_bands = [\n  { up_to = 0.5, factor = 0.9 },\n"
        "  { up_to = 1.0, factor = 0 },\n]\n"
    )
    (problem,) = problems_of(text)
    assert problem.startswith(f"line {line_number(text, 'factor = 0 }')}: ")
    assert "redemption.inventory_bands[1].factor" in problem


def test_syntax_error_names_the_line() -> None:
    text = MINIMAL + "\n[earn\nbase_points_per_unit = 1\n"
    (problem,) = problems_of(text)
    assert "not valid TOML" in problem
    assert f"line {line_number(text, '[earn')}" in problem


@pytest.mark.parametrize(
    ("addition", "needle", "message"),
    [
        (
            '\n[[tiers]]\nname = "top"\nearn_multiplier = 1.2\nqualify = { spend = 2000 }\n',
            "earn_multiplier = 1.2",
            "earns 1.2x, less than elite",
        ),
        (
            '\n[[tiers]]\nname = "top"\nearn_multiplier = 2\nqualify = { spend = 500 }\n',
            "spend = 500",
            "needs spend 500, less than elite",
        ),
        (
            '\n[[tiers]]\nname = "elite"\nearn_multiplier = 2\n',
            'name = "elite"',
            "defined twice",
        ),
        (
            '\n[[earn.multipliers]]\nname = "promo"\nfactor = 2\n'
            'when = { seasons = ["monsoon"] }\n',
            "monsoon",
            "names season 'monsoon'",
        ),
        (
            '\n[[earn.multipliers]]\nname = "promo"\nwhen = { kinds = ["stay"] }\n',
            "[[earn.multipliers]]",
            "has no factor",
        ),
        (
            '\n[[seasons]]\nname = "x"\nkind = "peak"\nstart = 2026-03-01\nend = 2026-02-01\n',
            "end = 2026-02-01",
            "ends (2026-02-01) before it starts",
        ),
        (
            '\n[[seasons]]\nname = "x"\nkind = "peak"\nstart = 2026-03-01\nend = "03-05"\n',
            'end = "03-05"',
            "mixes a date and a recurring",
        ),
        (
            "\n[redemption]\ninventory_bands = [{ up_to = 0.5, factor = 1 }]\n",
            "inventory_bands",
            "must cover occupancy up to 1",
        ),
        (
            "\n[redemption]\nseason_factors = { peak = 1.2 }\n",
            "season_factors",
            "season factor for 'peak'",
        ),
        (
            '\n[earn.activities.survey]\nlimit = { points = 5, period = "year" }\n',
            "[earn.activities.survey]",
            "earns nothing",
        ),
        (
            '\n[qualification]\nyear_starts = "02-29"\n',
            "year_starts",
            "not a day every year has",
        ),
    ],
)
def test_cross_key_mistakes_name_the_line(addition: str, needle: str, message: str) -> None:
    text = MINIMAL + addition
    problems = problems_of(text)
    assert len(problems) == 1, problems
    (problem,) = problems
    added = addition.splitlines()
    expected = (
        len(MINIMAL.splitlines()) + 1 + next(i for i, line in enumerate(added) if needle in line)
    )
    assert problem.startswith(f"line {expected}: "), (problem, expected)
    assert message in problem
    assert "(fix: " in problem


def test_first_tier_cannot_have_thresholds() -> None:
    text = MINIMAL.replace('name = "basic"', 'name = "basic"\nqualify = { nights = 3 }')
    (problem,) = problems_of(text)
    assert problem.startswith(f"line {line_number(text, 'nights = 3')}: ")
    assert "every member starts" in problem


def test_every_problem_is_reported_at_once() -> None:
    text = MINIMAL.replace("earn_multiplier = 1.5", "earn_multiplier = -1").replace(
        "spend = 1000", 'spend = "lots"'
    )
    problems = problems_of(text)
    assert len(problems) == 2
    assert {p.split(":")[0] for p in problems} == {
        f"line {line_number(text, 'earn_multiplier')}",
        f"line {line_number(text, 'lots')}",
    }


def test_unreadable_and_oversized_files(tmp_path: Path) -> None:
    with pytest.raises(ProgrammeError, match="cannot read"):
        load_programme(tmp_path / "absent.toml")
    binary = tmp_path / "binary.toml"
    binary.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(ProgrammeError, match="not UTF-8"):
        load_programme(binary)
    with pytest.raises(ProgrammeError, match="larger than"):
        parse_programme("# " + "x" * 1_000_001)


# --- the line scanner is a parser: property-test it ------------------------------------------

keys = st.from_regex(r"[a-z][a-z0-9_]{0,6}", fullmatch=True)
scalars = st.one_of(
    st.integers(-1000, 1000).map(str),
    st.sampled_from(["true", "false", "1.5", "2026-02-14"]),
    st.text(
        st.characters(min_codepoint=32, max_codepoint=126, exclude_characters='"\\\\'),
        max_size=8,
    ).map(lambda s: f'"{s}"'),
    st.text(st.sampled_from("ab #[]{}=,"), max_size=6).map(lambda s: f"'{s}'"),
)


@st.composite
def documents(draw: st.DrawFn) -> tuple[str, dict[tuple[str | int, ...], int]]:
    """A random TOML document and the line where each key path starts."""
    lines: list[str] = []
    expected: dict[tuple[str | int, ...], int] = {}

    def emit(text: str) -> int:
        lines.append(text)
        return len(lines)

    def pairs(prefix: tuple[str | int, ...]) -> None:
        for key in draw(st.lists(keys, max_size=4, unique=True)):
            shape = draw(st.sampled_from(["scalar", "inline", "array", "multiline"]))
            if shape == "scalar":
                expected[(*prefix, key)] = emit(f"{key} = {draw(scalars)}  # note")
            elif shape == "inline":
                inner = draw(st.lists(keys, max_size=3, unique=True))
                body = ", ".join(f"{k} = {draw(scalars)}" for k in inner)
                line = emit(f"{key} = {{ {body} }}")
                expected[(*prefix, key)] = line
                for k in inner:
                    expected[(*prefix, key, k)] = line
            elif shape == "array":
                items = draw(st.lists(scalars, max_size=3))
                line = emit(f"{key} = [{', '.join(items)}]")
                expected[(*prefix, key)] = line
                for i in range(len(items)):
                    expected[(*prefix, key, i)] = line
            else:
                expected[(*prefix, key)] = emit(f"{key} = [")
                for i in range(draw(st.integers(0, 3))):
                    inner_key = draw(keys)
                    line = emit(f"  {{ {inner_key} = {draw(scalars)} }},  # item")
                    expected[(*prefix, key, i)] = line
                    expected[(*prefix, key, i, inner_key)] = line
                emit("]")

    pairs(())
    used: set[str] = {k for (k, *_) in expected if isinstance(k, str)}
    for name in draw(st.lists(keys.filter(lambda k: k not in used), max_size=3, unique=True)):
        if draw(st.booleans()):
            expected[(name,)] = emit(f"[{name}]")
            pairs((name,))
        else:
            for i in range(draw(st.integers(1, 3))):
                line = emit(f"[[{name}]]")
                expected.setdefault((name,), line)
                expected[(name, i)] = line
                pairs((name, i))
        emit("")
    return "\n".join(lines) + "\n", expected


@settings(max_examples=150, deadline=None)
@given(documents())
def test_key_lines_finds_every_key(doc: tuple[str, dict[tuple[str | int, ...], int]]) -> None:
    text, expected = doc
    tomllib.loads(text)  # the generator writes valid TOML
    found = key_lines(text)
    for path, line in expected.items():
        assert found.get(path) == line, (path, text)
    for path, line in expected.items():
        assert line_of(found, (*path, "absent", 3)) == line


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=300))
def test_key_lines_never_crashes_on_any_text(text: str) -> None:
    result = key_lines(text)
    assert all(isinstance(line, int) and line >= 1 for line in result.values())


# --- fuzz: any single bad value in the shipped file gives a located ProgrammeError -----------

DEFAULT_TEXT = DEFAULT_FILE.read_text(encoding="utf-8")
ASSIGNMENTS = [
    number
    for number, line in enumerate(DEFAULT_TEXT.splitlines(), start=1)
    if "=" in line and not line.lstrip().startswith("#")
]
BAD_VALUES = [
    "-1",
    "0",
    "1e30",
    "99999999999999999999",
    "inf",
    "nan",
    "0.0000001",
    "1.5",
    '"x"',
    '""',
    '"12-45"',
    '"02-30"',
    '"05-01"',
    '"stay"',
    "true",
    "2026-01-01",
    "1979-05-27T07:32:00Z",
    "1979-05-27T07:32:00",
    "07:32:00",
    "[]",
    "[1, 2]",
    '["nonexistent"]',
    "[{ a = 1 }]",
    "{}",
    "{ spend = -1 }",
    '{ match = "maybe" }',
]


def test_a_bad_value_anywhere_is_refused_with_its_line_or_accepted() -> None:
    """Every value of the shipped file replaced by every bad value (about 2,900 files):
    the loader never crashes, and a value the models refuse is reported at its own line
    (cross-key problems may name the related key, e.g. the tier above)."""
    lines = DEFAULT_TEXT.splitlines()
    refused = 0
    for number in ASSIGNMENTS:
        key = lines[number - 1].split("=", 1)[0]
        for value in BAD_VALUES:
            mutated = [*lines[: number - 1], f"{key}= {value}", *lines[number:]]
            try:
                parse_programme("\n".join(mutated) + "\n", source="fuzz.toml")
            except ProgrammeError as exc:
                problems = exc.problems
            else:
                continue  # some replacements are legal (1.5 as a factor, 0 as a limit)
            refused += 1
            assert problems, (number, value)
            for problem in problems:
                if problem.startswith("not valid TOML"):
                    assert f"(at line {number}," in problem, problem
                    continue
                at = int(problem.split(":")[0].removeprefix("line "))
                assert 1 <= at <= len(lines), problem
                if " -- " in problem:  # a value the models refuse: its own line
                    assert at == number, (problem, number, value)
                assert "(fix: " in problem or " -- " in problem, problem
    assert refused > len(ASSIGNMENTS) * len(BAD_VALUES) // 2
