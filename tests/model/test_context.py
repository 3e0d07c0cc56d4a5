"""ComfortContext validation and the encoder, property-based."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from agent.comfort import ComfortAdvisor, ComfortContext
from agent.comfort.features import N_FEATURES, FeatureSpec, Imputation, RawFeatures, encode

SPEC = FeatureSpec(impute=Imputation(rh_pct=46, outdoor_c=22.7, running_mean_c=23.6, cooling=0.5))
KOPPEN = ["Af", "Am", "Aw", "BWh", "BSk", "Cfa", "Cfb", "Csa", "Cwb", "Dfb", "Dwa", "ET"]
AT = datetime(2026, 7, 1, 15, tzinfo=UTC)


def opt(s: st.SearchStrategy[float]) -> st.SearchStrategy[float | None]:
    return st.none() | s


contexts = st.builds(
    ComfortContext,
    indoor_c=st.floats(0, 50),
    humidity_pct=opt(st.floats(0, 100)),
    outdoor_c=opt(st.floats(-60, 60)),
    outdoor_running_mean_c=opt(st.floats(-50, 50)),
    at=st.datetimes(
        min_value=datetime(2000, 1, 1),  # noqa: DTZ001 - hypothesis bounds are naive
        max_value=datetime(2100, 1, 1),  # noqa: DTZ001
        timezones=st.just(UTC),
    ),
    climate=st.none() | st.sampled_from(KOPPEN),
    air_conditioned=st.none() | st.booleans(),
    age_band=st.none() | st.sampled_from(["<30", "30-50", ">50"]),
    gender=st.none() | st.sampled_from(["female", "male"]),
    hemisphere=st.sampled_from(["north", "south"]),
)


@settings(max_examples=60, deadline=None)
@given(ctx=contexts)
def test_any_valid_context_encodes_to_finite_features(ctx: ComfortContext) -> None:
    raw = RawFeatures.broadcast(
        3,
        indoor_c=np.array([ctx.indoor_c, 20.0, 26.0]),
        humidity_pct=ctx.humidity_pct,
        outdoor_c=ctx.outdoor_c,
        running_mean_c=ctx.outdoor_running_mean_c,
        season=ctx.season,
        koppen=ctx.climate,
        cooling=ctx.cooling,
        age_band=ctx.age_band,
        gender=ctx.gender,
    )
    x = encode(raw, SPEC)
    assert x.shape == (3, N_FEATURES)
    assert np.all(np.isfinite(x))
    assert ctx.season in (-1.0, 0.0, 1.0)
    # one-hots are one-hot (or all zero when absent / not consented)
    assert x[:, 22:25].sum(axis=1).max() == (0 if ctx.age_band is None else 1)
    assert x[:, 25:27].sum(axis=1).max() == (0 if ctx.gender is None else 1)


bad_values = st.sampled_from(
    [
        ("indoor_c", math.nan),
        ("indoor_c", math.inf),
        ("indoor_c", -1.0),
        ("indoor_c", 51.0),
        ("humidity_pct", 101.0),
        ("humidity_pct", -0.1),
        ("outdoor_c", math.nan),
        ("outdoor_c", 61.0),
        ("outdoor_running_mean_c", -51.0),
        ("climate", "Hot"),
        ("climate", "cfa"),
        ("climate", "X"),
        ("age_band", "40"),
        ("gender", "other"),
        ("at", datetime(2026, 7, 1, 15)),  # noqa: DTZ001 - naive on purpose
        ("hemisphere", "east"),
        ("surprise", 1),
    ]
)


@settings(max_examples=40, deadline=None)
@given(bad=bad_values, indoor=st.floats(10, 35))
def test_invalid_context_is_rejected_naming_the_field(
    bad: tuple[str, object], indoor: float
) -> None:
    field, value = bad
    kwargs: dict[str, object] = {"indoor_c": indoor, "at": AT, field: value}
    with pytest.raises(ValidationError) as err:
        ComfortContext(**kwargs)
    assert field in str(err.value)


def test_season_follows_month_and_hemisphere() -> None:
    def season(month: int, hemisphere: str) -> float:
        at = datetime(2026, month, 10, tzinfo=timezone(timedelta(hours=8)))
        return ComfortContext(indoor_c=22, at=at, hemisphere=hemisphere).season

    assert season(7, "north") == 1.0 and season(7, "south") == -1.0
    assert season(1, "north") == -1.0 and season(1, "south") == 1.0
    assert season(4, "north") == 0.0 == season(10, "south")


def test_missing_running_mean_is_guessed_from_outdoor_and_flagged() -> None:
    raw = RawFeatures.broadcast(
        1,
        indoor_c=22.0,
        humidity_pct=None,
        outdoor_c=30.0,
        running_mean_c=None,
        season=None,
        koppen=None,
        cooling=None,
        age_band=None,
        gender=None,
    )
    x = encode(raw, SPEC)[0]
    assert x[3] == 30.0 and x[20] == 1.0  # running mean = outdoor, flagged
    assert x[1] == 46.0 and x[18] == 1.0  # humidity imputed, flagged


def test_context_status_names_what_is_missing_and_its_measured_cost() -> None:
    from agent.comfort import context_status

    scores = {
        "given": (0.53, 0.29),
        "climate unknown": (0.51, 0.27),
        "cooling unknown": (0.52, 0.28),
        "both unknown": (0.50, 0.26),
        "PMV rule": (0.45, 0.17),
    }
    full = context_status(scores, climate="Cfa", air_conditioned=True)
    assert full["missing"] == [] and full["setting"] == "given"
    none = context_status(scores, climate=None, air_conditioned=None)
    assert none["missing"] == ["climate", "cooling type"]
    assert (none["macro_f1"], none["kappa"]) == (0.50, 0.26)
    assert "0.500 / 0.260" in none["cost"] and "PMV rule 0.450 / 0.170" in none["cost"]
    old = context_status({}, climate=None, air_conditioned=True)
    assert old["missing"] == ["climate"] and old["cost"] == "not measured for this model version"


def test_the_agent_says_at_start_which_context_is_missing_and_what_it_costs(
    tmp_path: Path, advisor: ComfortAdvisor
) -> None:
    """The room's resolver, with the shipped model: it logs the missing context with the
    model's own measured cost, and `context_info` (what /health shows) says the same."""
    from structlog.testing import capture_logs

    from agent.config import parse_room_config
    from agent.preferences import PreferenceResolver

    def config(**room: object) -> Any:
        return parse_room_config(
            {
                "room": {"property_id": "SHA-01", "room_id": "1201", **room},
                "devices": {"hvac": {"driver": "modbus_hvac", "port": "/dev/null"}},
                "store": {"path": str(tmp_path / "agent.db")},
            },
            source="test",
        )

    with capture_logs() as logs:
        resolver = PreferenceResolver(config(), advisor)
    info = resolver.context_info()
    assert info is not None and info["missing"] == ["climate", "cooling type"]
    measured = advisor.model.spec.context_scores["both unknown"]  # type: ignore[union-attr]
    assert (info["macro_f1"], info["kappa"]) == tuple(measured)
    warned = [e for e in logs if e["event"] == "comfort_context_missing"]
    assert warned and warned[0]["missing"] == ["climate", "cooling type"]
    assert f"{measured[0]:.3f}" in warned[0]["cost"] and "PMV rule" in warned[0]["cost"]
    with capture_logs() as logs:
        complete = PreferenceResolver(config(climate="Cfa", air_conditioned=True), advisor)
    assert complete.context_info()["missing"] == []  # type: ignore[index]
    assert [e["event"] for e in logs] == ["comfort_context_complete"]
