"""The MQTT speaker: its schema (property-based) and the driver against the simulator."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator

import pytest
import structlog.testing
from hypothesis import given, settings
from hypothesis import strategies as st
from polling import eventually

from drivers.audio_codec import (
    AudioPayloadError,
    decode_online,
    decode_set,
    decode_state,
    encode_set,
    encode_state,
    topics,
)
from drivers.base import (
    CommandNotConfirmed,
    DeviceUnavailable,
    DeviceUpdate,
    InvalidCommand,
    MediaCommand,
    MediaState,
)
from drivers.config import MqttAudioConfig, MqttConfig
from drivers.mqtt import MqttConnection
from drivers.mqtt_audio import MqttSpeaker, create
from firmware_mocks.base import Fault
from firmware_mocks.speaker import SpeakerSim, from_config
from smartroom.services import MosquittoBroker
from sync.wire import Availability

sources = st.none() | st.text(max_size=70) | st.sampled_from(["playlist:jazz", "radio:fip"])
commands = st.builds(
    MediaCommand,
    power=st.none() | st.booleans(),
    volume_pct=st.none() | st.integers(-20, 120),
    source=sources,
    playing=st.none() | st.booleans(),
)


@settings(max_examples=300)
@given(commands)
def test_commands_are_rejected_or_round_trip_exactly(command: MediaCommand) -> None:
    try:
        payload = encode_set(command)
    except ValueError as exc:
        message = str(exc)
        assert message
        return
    body = decode_set(payload)
    assert (body.power, body.volume, body.source, body.playing) == (
        command.power,
        command.volume_pct,
        command.source,
        command.playing,
    )
    assert body.volume is None or 0 <= body.volume <= 100


@given(st.builds(MediaState, st.booleans(), st.integers(0, 100), st.none(), st.booleans()))
def test_states_round_trip(state: MediaState) -> None:
    assert decode_state(encode_state(state)) == state


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=8), c, max_size=3),
    max_leaves=10,
)


@settings(max_examples=300)
@given(
    st.dictionaries(st.sampled_from(["power", "volume", "source", "playing"]), json_values)
    | json_values
)
def test_random_state_documents_decode_or_raise_a_clear_error(doc: object) -> None:
    try:
        payload = json.dumps(doc).encode()
    except ValueError:
        return
    try:
        state = decode_state(payload)
    except AudioPayloadError as exc:
        message = str(exc)
        assert message
        return
    assert 0 <= state.volume_pct <= 100 and isinstance(state.power, bool)


@given(st.binary(max_size=100))
def test_random_bytes_never_crash(raw: bytes) -> None:
    for decode in (decode_state, decode_set, decode_online):
        with contextlib.suppress(AudioPayloadError):
            decode(raw)


def test_schema_rejections_name_the_field() -> None:
    with pytest.raises(AudioPayloadError, match="volume"):
        decode_state(b'{"power": true, "volume": 101}')
    with pytest.raises(AudioPayloadError, match="power"):
        decode_state(b'{"power": "yes", "volume": 10}')
    with pytest.raises(AudioPayloadError, match="exceeds"):
        decode_state(b" " * 5000)
    with pytest.raises(ValueError, match="source"):
        encode_set(MediaCommand(source="rm -rf /; echo"))
    with pytest.raises(ValueError, match="changes nothing"):
        encode_set(MediaCommand())
    assert topics("r101") == (
        "smartroom/audio/r101/set",
        "smartroom/audio/r101/state",
        "smartroom/audio/r101/availability",
    )


# --- the driver against the simulator ----------------------------------------------------


@pytest.fixture
async def pair(mqtt_broker: MosquittoBroker) -> AsyncIterator[tuple[SpeakerSim, MqttSpeaker]]:
    mqtt = MqttConfig(host=mqtt_broker.host, port=mqtt_broker.port)
    speaker_id = f"spk{time.monotonic_ns()}"
    config = MqttAudioConfig(driver="mqtt_audio", speaker_id=speaker_id, timeout_s=0.5)
    sim = from_config("speaker", config, mqtt)
    conn = MqttConnection(mqtt, client_id=f"audio-{speaker_id}")
    driver = create("speaker", config, conn)
    await conn.start()
    await sim.start()
    await driver.start()
    await eventually(lambda: driver.availability.available and driver.state is not None)
    yield sim, driver
    await driver.stop()
    await sim.stop()
    await conn.stop()


async def test_commands_are_confirmed_by_state(pair: tuple[SpeakerSim, MqttSpeaker]) -> None:
    sim, speaker = pair
    state = await speaker.apply(MediaCommand(power=True, volume_pct=15, source="playlist:jazz"))
    assert state == MediaState(power=True, volume_pct=15, source="playlist:jazz", playing=False)
    assert (await speaker.apply(MediaCommand(playing=True))).playing
    assert sim.state.playing and sim.state.volume_pct == 15
    with pytest.raises(InvalidCommand):
        await speaker.apply(MediaCommand(volume_pct=300))


async def test_knob_turn_is_a_manual_update(pair: tuple[SpeakerSim, MqttSpeaker]) -> None:
    sim, speaker = pair
    updates: list[DeviceUpdate] = []
    speaker.subscribe(updates.append)
    await sim.turn_knob(42)
    await eventually(lambda: any(u.manual for u in updates))
    assert speaker.state is not None and speaker.state.volume_pct == 42


async def test_silent_speaker_unavailable_then_found_again_logging_once(
    pair: tuple[SpeakerSim, MqttSpeaker],
) -> None:
    sim, speaker = pair
    with structlog.testing.capture_logs() as logs:
        sim.inject(Fault.SILENT)
        for _ in range(2):
            with pytest.raises(CommandNotConfirmed, match="no matching state"):
                await speaker.apply(MediaCommand(volume_pct=5))
        assert speaker.availability.status is Availability.UNAVAILABLE
        sim.inject(Fault.NONE)
        await eventually(lambda: speaker.availability.available)  # found by the probe
    events = [e["event"] for e in logs if e.get("device") == "speaker"]
    assert events.count("device_unavailable") == 1 and events.count("device_recovered") == 1


async def test_speaker_offline_and_corrupt_state(pair: tuple[SpeakerSim, MqttSpeaker]) -> None:
    sim, speaker = pair
    with structlog.testing.capture_logs() as logs:
        sim.inject(Fault.CORRUPT)
        await sim.turn_knob(80)
        await sim.turn_knob(81)
        await asyncio.sleep(0.3)
    assert [e["event"] for e in logs if e["log_level"] == "warning"] == [
        "malformed_payload_ignored"
    ]
    assert speaker.availability.available
    sim.inject(Fault.NONE)
    await sim.stop()
    await eventually(lambda: speaker.availability.reason == "speaker reports offline")
    with pytest.raises(DeviceUnavailable, match="offline"):
        await speaker.apply(MediaCommand(power=False))
    await sim.start()
    await eventually(lambda: speaker.availability.available)
    assert not (await speaker.apply(MediaCommand(power=False))).power
