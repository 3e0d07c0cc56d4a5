"""Zigbee2MQTT payloads: random and malformed input gives a clear error, never a crash or a
wrong command."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.base import CoverCommand, LightCommand, SensorEventKind
from drivers.z2m_codec import (
    KELVIN_MAX,
    KELVIN_MIN,
    Z2mPayloadError,
    brightness_from_level,
    contact_is_window,
    cover_set_payload,
    decode_object,
    decode_online,
    kelvin_from_mireds,
    level_from_brightness,
    light_confirms,
    light_set_payload,
    mireds_from_kelvin,
    parse_action,
    parse_cover,
    parse_light,
    parse_sensor,
)

AT = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)


def error_of(fn: Callable[[], object], kind: type[Exception] = Z2mPayloadError) -> str | None:
    """The message of the expected error, None if `fn` succeeded (any other error fails)."""
    try:
        fn()
    except kind as exc:
        return str(exc)
    return None


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**40), 2**40)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
z2m_keys = st.sampled_from(
    [
        "state",
        "brightness",
        "color_temp",
        "position",
        "moving",
        "occupancy",
        "contact",
        "temperature",
        "humidity",
        "battery",
        "action",
        "action_source_name",
        "linkquality",
    ]
)
z2m_objects = st.dictionaries(z2m_keys, json_values, max_size=6)


@given(st.integers(0, 100))
def test_level_survives_the_round_trip_through_brightness(level: int) -> None:
    brightness = brightness_from_level(level)
    assert 0 <= brightness <= 254
    assert level_from_brightness(brightness) == level


@given(st.integers(0, 254))
def test_any_brightness_maps_to_a_level_and_lit_is_never_zero(brightness: int) -> None:
    level = level_from_brightness(brightness)
    assert 0 <= level <= 100
    assert (level > 0) == (brightness > 0)


@given(st.integers(KELVIN_MIN, KELVIN_MAX))
def test_kelvin_we_asked_for_reads_back_unchanged(kelvin: int) -> None:
    mireds = mireds_from_kelvin(kelvin)
    assert 150 <= mireds <= 500
    assert kelvin_from_mireds(mireds, kelvin) == kelvin
    assert abs(kelvin_from_mireds(mireds) - kelvin) <= kelvin * kelvin / 1e6


@settings(max_examples=300)
@given(st.binary(max_size=200))
def test_random_bytes_decode_to_an_object_or_a_clear_error(raw: bytes) -> None:
    message = error_of(lambda: decode_object(raw))
    assert message is None or message


@settings(max_examples=400)
@given(z2m_objects)
def test_random_objects_parse_or_raise_payload_error(obj: dict[str, Any]) -> None:
    for parse in (
        lambda: parse_light(obj),
        lambda: parse_cover(obj, None),
        lambda: parse_sensor(obj, None, contact_is_window=False),
        lambda: parse_action(obj, AT),
    ):
        message = error_of(parse)
        assert message is None or message


@given(z2m_objects)
def test_parsed_light_fields_are_always_in_range(obj: dict[str, Any]) -> None:
    try:
        report = parse_light(obj)
    except Z2mPayloadError:
        return
    state = report.merge(None)
    assert 0 <= state.level_pct <= 100
    assert report.brightness is None or 0 <= report.brightness <= 254


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"state": "ON", "brightness": 255}, "brightness"),
        ({"state": "ON", "brightness": -1}, "brightness"),
        ({"state": "ON", "brightness": True}, "brightness"),
        ({"state": "ON", "brightness": 12.5}, "brightness"),
        ({"state": "MAYBE"}, "state"),
        ({"state": "ON", "color_temp": 5000}, "color_temp"),
    ],
)
def test_out_of_range_light_values_name_the_field(body: dict[str, Any], field: str) -> None:
    with pytest.raises(Z2mPayloadError, match=field):
        parse_light(body)


def test_sensor_values_out_of_range_are_rejected() -> None:
    with pytest.raises(Z2mPayloadError, match="humidity"):
        parse_sensor({"humidity": 140}, None, contact_is_window=False)
    with pytest.raises(Z2mPayloadError, match="contact"):
        parse_sensor({"contact": "open"}, None, contact_is_window=False)
    with pytest.raises(Z2mPayloadError, match="battery"):
        parse_sensor({"battery": 101}, None, contact_is_window=False)


def test_contact_true_means_closed_for_doors_and_windows() -> None:
    door = parse_sensor({"contact": False}, None, contact_is_window=False)
    assert door.door_open is True and door.window_open is None
    window = parse_sensor({"contact": True}, None, contact_is_window=True)
    assert window.window_open is False and window.door_open is None
    assert contact_is_window("room101_Window_left") and not contact_is_window("room101_door")


def test_sensor_fields_merge_with_what_was_known() -> None:
    first = parse_sensor({"temperature": 21.5, "occupancy": True}, None, contact_is_window=False)
    second = parse_sensor({"humidity": 40, "battery": 90}, first, contact_is_window=False)
    assert (second.temperature_c, second.occupancy, second.humidity_pct, second.battery_pct) == (
        21.5,
        True,
        40.0,
        90,
    )


@pytest.mark.parametrize(
    ("obj", "kind", "actor"),
    [
        ({"action": "rfid_unlock"}, SensorEventKind.DOOR_UNLOCKED, "keycard"),
        ({"action": "rf_unlock"}, SensorEventKind.DOOR_UNLOCKED, "app"),
        ({"action": "staff_unlock"}, SensorEventKind.DOOR_UNLOCKED, "staff"),
        (
            {"action": "unlock", "action_source_name": "keypad"},
            SensorEventKind.DOOR_UNLOCKED,
            "keypad",
        ),
        ({"action": "unlock"}, SensorEventKind.DOOR_UNLOCKED, None),
        ({"action": "lock"}, SensorEventKind.DOOR_LOCKED, None),
        ({"action": "weird_unlock"}, SensorEventKind.DOOR_UNLOCKED, "unknown"),
        ({"action": "dnd"}, SensorEventKind.BUTTON_DND, None),
        ({"action": "mur_on"}, SensorEventKind.BUTTON_MUR, None),
        ({"action": "clear"}, SensorEventKind.BUTTON_CLEAR, None),
    ],
)
def test_lock_and_button_actions(
    obj: dict[str, Any], kind: SensorEventKind, actor: str | None
) -> None:
    event = parse_action(obj, AT)
    assert event is not None
    assert (event.kind, event.actor, event.at) == (kind, actor, AT)


def test_empty_or_unknown_actions_are_no_event() -> None:
    assert parse_action({"action": ""}, AT) is None
    assert parse_action({"action": "single"}, AT) is None
    assert parse_action({"battery": 50}, AT) is None
    with pytest.raises(Z2mPayloadError, match="action"):
        parse_action({"action": 3}, AT)


def test_availability_in_both_forms() -> None:
    assert decode_online(b'{"state":"online"}') is True
    assert decode_online(b"offline") is False
    with pytest.raises(Z2mPayloadError, match="availability"):
        decode_online(b'{"state":"sleepy"}')
    with pytest.raises(Z2mPayloadError):
        decode_online(b"\xff")


light_commands = st.builds(
    LightCommand,
    on=st.none() | st.booleans(),
    level_pct=st.none() | st.integers(-50, 150),
    colour_temp_k=st.none() | st.integers(0, 10_000),
    transition_s=st.none()
    | st.floats(allow_nan=True, allow_infinity=True, min_value=None, max_value=None),
)


@settings(max_examples=400)
@given(light_commands)
def test_light_commands_are_either_rejected_or_exactly_what_was_asked(
    command: LightCommand,
) -> None:
    message = error_of(lambda: light_set_payload(command), ValueError)
    if message is not None:
        assert message
        return
    body = light_set_payload(command)
    assert set(body) <= {"state", "brightness", "color_temp", "transition"}
    assert body.get("state") in (None, "ON", "OFF")
    if command.on is False or command.level_pct == 0:
        assert body["state"] == "OFF" and "brightness" not in body
    if command.level_pct and command.on is not False:
        assert body["brightness"] == brightness_from_level(command.level_pct)
        assert 1 <= body["brightness"] <= 254
        assert body["state"] == "ON"
    if command.colour_temp_k is not None:
        assert 150 <= body["color_temp"] <= 500
    if "transition" in body:
        assert 0 <= body["transition"] <= 3600
    echoed = parse_light(body)  # a device echoing the command confirms it
    assert light_confirms(body, echoed)


def test_contradictions_and_empty_commands_are_rejected() -> None:
    with pytest.raises(ValueError, match="contradictory"):
        light_set_payload(LightCommand(on=True, level_pct=0))
    with pytest.raises(ValueError, match="changes nothing"):
        light_set_payload(LightCommand(transition_s=1))
    with pytest.raises(ValueError, match="colour_temp_k"):
        light_set_payload(LightCommand(colour_temp_k=9000))


@given(st.integers(-10, 110))
def test_cover_positions(position: int) -> None:
    if 0 <= position <= 100:
        assert cover_set_payload(CoverCommand(position)) == {"position": position}
    else:
        with pytest.raises(ValueError, match="position_pct"):
            cover_set_payload(CoverCommand(position))


def test_cover_reports() -> None:
    moving = parse_cover({"position": 40, "moving": "UP"}, None)
    assert moving.position_pct == 40 and moving.moving
    assert not parse_cover({"moving": "STOP"}, moving).moving
    with pytest.raises(Z2mPayloadError, match="position"):
        parse_cover({"state": "OPEN"}, None)
    assert json.loads(json.dumps(cover_set_payload(CoverCommand(0)))) == {"position": 0}
