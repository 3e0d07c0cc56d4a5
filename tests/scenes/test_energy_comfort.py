"""The room's own occupied-comfort record and the pre-conditioning quantile it moves
(scenes.energy_comfort): pure functions, tables of cases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from agent.config_sections import EnergySection
from scenes.energy import EnergyPolicy
from scenes.energy_comfort import WINDOW_DAYS, ComfortLedger, feedback_quantile

T0 = datetime(2026, 1, 12, 8, 0, tzinfo=UTC)
# (minutes after T0, guest in, within the band) at each step, in order
Steps = list[tuple[int, bool, bool]]


def ledger_after(steps: Steps) -> ComfortLedger:
    ledger = ComfortLedger()
    for minute, occupied, in_band in steps:
        ledger = ledger.observe(T0 + timedelta(minutes=minute), occupied=occupied, in_band=in_band)
    return ledger


@pytest.mark.parametrize(
    ("case", "steps", "at_min", "expected_s"),
    [
        ("nothing seen", [], 0, (0, 0)),
        ("a first step credits nothing", [(0, True, True)], 0, (0, 0)),
        ("in band for 10 min", [(0, True, True), (10, True, False)], 10, (600, 600)),
        ("out of band for 10 min", [(0, True, False), (10, True, True)], 10, (600, 0)),
        ("nobody in: not counted", [(0, False, True), (10, True, True)], 10, (0, 0)),
        ("in band but nobody in: not counted", [(0, False, True), (30, False, False)], 30, (0, 0)),
        (
            "the state since the last step is what counts",
            [(0, True, True), (5, True, False), (8, False, False), (20, True, True)],
            20,
            (480, 300),
        ),
        ("a long silence: 15 min of it", [(0, True, True), (120, True, True)], 120, (900, 900)),
        ("a step back in time: nothing", [(10, True, True), (5, True, True)], 10, (0, 0)),
        (
            "days out of the window are dropped (today: the capped silence)",
            [(0, True, False), (10, True, True), (WINDOW_DAYS * 1440, True, True)],
            WINDOW_DAYS * 1440,
            (900, 900),
        ),
        (
            "the window's last day still counts",
            [(0, True, False), (10, True, True), ((WINDOW_DAYS - 1) * 1440, True, True)],
            (WINDOW_DAYS - 1) * 1440,
            (600 + 900, 900),
        ),
    ],
)
def test_the_ledger_counts_occupied_seconds_and_those_within_the_band(
    case: str, steps: Steps, at_min: int, expected_s: tuple[int, int]
) -> None:
    ledger = ledger_after(steps)
    assert ledger.share(T0 + timedelta(minutes=at_min)) == expected_s, case
    assert len(ledger.days) <= WINDOW_DAYS


def test_the_ledger_stays_bounded_and_survives_json() -> None:
    ledger = ComfortLedger()
    for minute in range(0, 30 * 1440, 10):
        ledger = ledger.observe(
            T0 + timedelta(minutes=minute), occupied=True, in_band=minute % 7 != 0
        )
    assert len(ledger.days) == WINDOW_DAYS
    assert ComfortLedger.from_json(ledger.to_json()) == ledger
    assert ComfortLedger.from_json(None) == ComfortLedger()


POLICY = EnergyPolicy()  # learned_quantile 0.35, target 96 %, 0.05 per point, 0.3-0.5, 12 h


def ledger_with(share: float, hours: float = 24) -> ComfortLedger:
    occupied = int(hours * 3600)
    return ComfortLedger(days=((T0.toordinal(), occupied, round(share * occupied)),))


@pytest.mark.parametrize(
    ("case", "ledger", "policy", "expected"),
    [
        ("nothing measured: the quantile as set", ComfortLedger(), POLICY, 0.35),
        ("on target: unmoved", ledger_with(0.96), POLICY, 0.35),
        ("a point to spare: later", ledger_with(0.97), POLICY, 0.40),
        ("half a point short: earlier", ledger_with(0.955), POLICY, 0.325),
        ("far above: no later than the max", ledger_with(1.0), POLICY, 0.5),
        ("far below: no earlier than the min", ledger_with(0.80), POLICY, 0.3),
        ("under 12 h occupied: unmoved", ledger_with(0.5, hours=11.9), POLICY, 0.35),
        (
            "no target: fixed",
            ledger_with(1.0),
            EnergyPolicy(comfort_target=None),
            0.35,
        ),
        (
            "gain 0: fixed",
            ledger_with(0.9),
            EnergyPolicy(comfort_gain=0.0),
            0.35,
        ),
    ],
)
def test_occupied_comfort_moves_the_quantile_within_its_bounds(
    case: str, ledger: ComfortLedger, policy: EnergyPolicy, expected: float
) -> None:
    assert feedback_quantile(ledger, T0, policy) == pytest.approx(expected), case


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"learned_quantile_min": 0.6, "learned_quantile_max": 0.5}, "learned_quantile_min"),
        ({"learned_quantile": 0.25}, "within learned_quantile_min/max"),
        ({"learned_quantile": 0.6}, "within learned_quantile_min/max"),
        ({"comfort_target": 0.0}, "comfort_target"),
        ({"comfort_target": 1.2}, "comfort_target"),
        ({"comfort_band_c": 0.0}, "comfort_band_c"),
        ({"comfort_gain": -1.0}, "comfort_gain"),
        ({"comfort_min_occupied": timedelta(minutes=-1)}, "comfort_min_occupied"),
    ],
)
def test_incoherent_feedback_settings_are_refused(
    settings: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        EnergyPolicy(**settings)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"learned_quantile": 0.2}, "learned_quantile must lie within"),
        ({"learned_quantile_max": 0.3}, "learned_quantile must lie within"),
        ({"comfort_target_pct": 120}, "comfort_target_pct"),
        ({"comfort_gain": -0.1}, "comfort_gain"),
        ({"comfort_band_c": 0}, "comfort_band_c"),
    ],
)
def test_the_rooms_energy_section_refuses_them_naming_the_setting(
    settings: dict[str, object], message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        EnergySection.model_validate(settings)


def test_the_rooms_energy_section_sets_the_feedback() -> None:
    policy = EnergySection.model_validate(
        {"comfort_target_pct": 97, "comfort_gain": 0.02, "comfort_min_occupied_h": 24}
    ).policy()
    assert policy.comfort_target == pytest.approx(0.97)
    assert policy.comfort_gain == pytest.approx(2.0)  # per unit share: 0.02 per point
    assert policy.comfort_min_occupied == timedelta(hours=24)
    assert (
        EnergySection.model_validate({"comfort_target_pct": None}).policy().comfort_target is None
    )
