"""IPSO 3311 JSON bodies in both dialects: property-based, malformed input gives a clear
error, never a crash or a wrong command."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.base import LightCommand
from drivers.coap_codec import (
    CoapPayloadError,
    confirms,
    decode_light,
    dimmer_from_level,
    encode_fields,
    encode_put,
    level_from_dimmer,
    put_fields,
)

dialects = st.sampled_from([100, 254])


def error_of(fn: Callable[[], object], kind: type[Exception] = CoapPayloadError) -> str | None:
    try:
        fn()
    except kind as exc:
        return str(exc)
    return None


@given(st.integers(0, 100), dialects)
def test_level_round_trips_through_the_dimmer(level: int, dimmer_max: int) -> None:
    dimmer = dimmer_from_level(level, dimmer_max)
    assert 0 <= dimmer <= dimmer_max
    assert level_from_dimmer(dimmer, dimmer_max) == level


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**40), 2**40)
    | st.floats(allow_nan=False)
    | st.text(max_size=8),
    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=6), c, max_size=3),
    max_leaves=10,
)
ipso_docs = st.dictionaries(
    st.sampled_from(["5850", "5851", "5711", "5706", "5852", "5805", "9999"]), json_values
)


@settings(max_examples=400)
@given(ipso_docs | json_values, dialects, st.booleans())
def test_random_bodies_decode_in_range_or_raise(doc: object, dimmer_max: int, wrap: bool) -> None:
    body = {"3311": [doc]} if wrap else doc
    try:
        payload = json.dumps(body).encode()
    except ValueError:
        return
    message = error_of(lambda: decode_light(payload, dimmer_max))
    if message is not None:
        assert message
        return
    report = decode_light(payload, dimmer_max)
    assert 0 <= report.dimmer <= dimmer_max
    assert 0 <= report.to_state(dimmer_max).level_pct <= 100


@given(st.binary(max_size=120), dialects)
def test_random_bytes_never_crash(raw: bytes, dimmer_max: int) -> None:
    message = error_of(lambda: decode_light(raw, dimmer_max))
    assert message is None or message


commands = st.builds(
    LightCommand,
    on=st.none() | st.booleans(),
    level_pct=st.none() | st.integers(-10, 110),
    colour_temp_k=st.none() | st.integers(1000, 8000),
    transition_s=st.none() | st.floats(-1, 5000),
)


@settings(max_examples=300)
@given(commands, dialects)
def test_commands_are_rejected_or_written_exactly(command: LightCommand, dimmer_max: int) -> None:
    message = error_of(lambda: put_fields(command, dimmer_max), ValueError)
    if message is not None:
        assert message
        return
    fields = put_fields(command, dimmer_max)
    if command.on is False or command.level_pct == 0:
        assert fields["5850"] is False and "5851" not in fields
    if command.level_pct and command.on is not False:
        assert fields["5850"] is True
        assert level_from_dimmer(fields["5851"], dimmer_max) == command.level_pct
    if "5711" in fields:
        assert 150 <= fields["5711"] <= 500
    # a device that stored the write reads back a body that confirms it
    stored = {"5850": False, "5851": 0, **{k: v for k, v in fields.items() if k != "5712"}}
    report = decode_light(encode_fields(stored, dimmer_max), dimmer_max)
    assert confirms(fields, report)


def test_dialect_shapes() -> None:
    assert encode_put(LightCommand(on=True, level_pct=40), 254) == (
        b'{"3311":[{"5850":1,"5851":102}]}'
    )
    assert json.loads(encode_put(LightCommand(on=True, level_pct=40, transition_s=1.5), 100)) == {
        "5850": True,
        "5851": 40,
        "5712": 1.5,
    }
    tradfri = decode_light(b'{"3311":[{"5850":1,"5851":254,"5706":"f1e0b5"}]}', 254)
    assert tradfri.to_state(254).colour_temp_k == 2700 and tradfri.to_state(254).level_pct == 100


@pytest.mark.parametrize(
    ("body", "dimmer_max", "match"),
    [
        (b'{"5850": true, "5851": 101}', 100, "5851"),
        (b'{"5850": "on", "5851": 1}', 100, "5850"),
        (b'{"5850": true}', 100, "5851"),
        (b'{"5850": true, "5851": 3, "5706": "zzz"}', 100, "5706"),
        (b'{"5850": true, "5851": 3, "5805": -1}', 100, "5805"),
        (b'{"5850": 1, "5851": 100}', 254, "3311"),
        (b"[]", 100, "list"),
    ],
)
def test_malformed_bodies_name_the_resource(body: bytes, dimmer_max: int, match: str) -> None:
    with pytest.raises(CoapPayloadError, match=match):
        decode_light(body, dimmer_max)


def test_unknown_dialect_is_refused() -> None:
    with pytest.raises(ValueError, match="dimmer_max"):
        put_fields(LightCommand(on=True), 255)
