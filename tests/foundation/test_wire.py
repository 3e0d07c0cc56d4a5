"""The wire contract: round trips, strict rejection of bad input, schemas current."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from smartroom_cli import schemas
from sync import wire

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=20,
)


def _event(**over: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "event_id": wire.new_id("ev_"),
        "seq": 1,
        "hlc": "1772366400000:0",
        "property_id": "SHA-01",
        "room_id": "1201",
        "kind": "manual_change",
        "at": NOW.isoformat(),
        "payload": {"setpoint_c": 23.5},
    }
    base.update(over)
    return base


def test_new_ids_are_unguessable_and_valid() -> None:
    ids = {wire.new_id() for _ in range(1000)}
    assert len(ids) == 1000
    for value in list(ids)[:10]:
        assert len(value) >= 22
        wire.SyncEvent.model_validate(_event(event_id=value))


@given(
    setpoint=st.floats(min_value=16, max_value=30, allow_nan=False),
    level=st.integers(0, 100),
    minutes=st.integers(0, 10**6),
)
def test_preferences_round_trip_through_json(setpoint: float, level: int, minutes: int) -> None:
    at = NOW + timedelta(minutes=minutes)
    prefs = wire.MemberPreferences(
        member_id="m_" + "a" * 20,
        climate=wire.ClimatePrefs(setpoint_c=wire.Stamped[float](value=setpoint, updated_at=at)),
        lighting=wire.LightingPrefs(level_pct=wire.Stamped[int](value=level, updated_at=at)),
    )
    again = wire.MemberPreferences.model_validate_json(prefs.model_dump_json())
    assert again == prefs
    assert again.schema_version == 1


@settings(max_examples=300)
@given(st.dictionaries(st.text(max_size=12), json_values, max_size=8))
def test_arbitrary_json_is_rejected_with_a_validation_error_only(doc: dict[str, Any]) -> None:
    for model in wire.WIRE_DOCUMENTS:
        try:
            model.model_validate(doc)
        except ValidationError:
            continue


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        ({"seq": 0}, "seq"),
        ({"hlc": "yesterday"}, "hlc"),
        ({"at": "2026-03-01T12:00:00"}, "timezone"),
        ({"kind": "teleport"}, "kind"),
        ({"event_id": "1"}, "event_id"),
        ({"room_id": "../../etc"}, "room_id"),
        ({"sneaky": True}, "sneaky"),
        ({"schema_version": 2}, "schema_version"),
    ],
)
def test_bad_events_name_the_field(change: dict[str, Any], needle: str) -> None:
    with pytest.raises(ValidationError) as caught:
        wire.SyncEvent.model_validate(_event(**change))
    assert needle in str(caught.value)


def test_oversized_batches_are_refused() -> None:
    events = [_event(seq=i + 1) for i in range(501)]
    with pytest.raises(ValidationError, match="at most 500"):
        wire.SyncUpload.model_validate(
            {"agent_id": "agent_" + "x" * 10, "hlc": "1772366400000:0", "events": events}
        )


def test_models_are_immutable() -> None:
    event = wire.SyncEvent.model_validate(_event())
    with pytest.raises(ValidationError):
        event.seq = 2  # type: ignore[misc]


def test_exported_schemas_are_current() -> None:
    assert schemas.stale() == [], "run ./dev smartroom schemas"


def test_stale_detection_names_files(tmp_path: Path) -> None:
    schemas.write(tmp_path)
    assert schemas.stale(tmp_path) == []
    (tmp_path / "RoomStatus.json").write_text("{}")
    (tmp_path / "Old.json").write_text("{}")
    assert schemas.stale(tmp_path) == ["Old.json", "RoomStatus.json"]
    loaded = json.loads((tmp_path / "SyncEvent.json").read_text())
    assert loaded["additionalProperties"] is False
