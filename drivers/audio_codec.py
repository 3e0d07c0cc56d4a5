"""The in-room speaker's MQTT dialect: topics and JSON schema (pydantic), pure functions.

Topics for a speaker with id `<id>`:

| topic                              | direction      | retained | body                 |
|------------------------------------|----------------|----------|----------------------|
| `smartroom/audio/<id>/set`         | agent → device | no       | `SpeakerSet`         |
| `smartroom/audio/<id>/state`       | device → agent | yes      | `SpeakerStateDoc`    |
| `smartroom/audio/<id>/availability`| device → agent | yes      | `online` / `offline` |

    >>> encode_set(MediaCommand(power=True, volume_pct=15, source="playlist:jazz"))
    b'{"power":true,"volume":15,"source":"playlist:jazz"}'

A `/set` carries only the fields to change; the speaker answers with its full state. An
empty `/get`-style request is a `/set` of `{}`: the speaker republishes its state.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, ValidationError

from drivers.base import MediaCommand, MediaState

TOPIC_ROOT = "smartroom/audio"
MAX_PAYLOAD = 4096
SPEAKER_ID = r"^[A-Za-z0-9_-]{1,64}$"
# `playlist:<name>`, `radio:<name>`, `line_in`, `bluetooth`... no spaces or control bytes.
SOURCE = r"^[A-Za-z0-9_.:/-]{1,64}$"

Source = Annotated[str, Field(pattern=SOURCE)]
Volume = Annotated[StrictInt, Field(ge=0, le=100)]


class AudioPayloadError(ValueError):
    """A speaker payload outside the documented schema."""


class SpeakerStateDoc(BaseModel):
    """What the speaker publishes (retained) on `.../state` after every change."""

    model_config = ConfigDict(extra="ignore", frozen=True)
    power: StrictBool
    volume: Volume
    source: Source | None = None
    playing: StrictBool = False


class SpeakerSet(BaseModel):
    """What the agent publishes on `.../set`: only the fields to change."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    power: StrictBool | None = None
    volume: Volume | None = None
    source: Source | None = None
    playing: StrictBool | None = None


def topics(speaker_id: str) -> tuple[str, str, str]:
    """(set, state, availability) topics of a speaker."""
    base = f"{TOPIC_ROOT}/{speaker_id}"
    return f"{base}/set", f"{base}/state", f"{base}/availability"


def _explain(exc: ValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "body"
    return f"{where}: {first['msg']} (got {first.get('input')!r})"


def encode_set(command: MediaCommand) -> bytes:
    """The `/set` body for a media command; ValueError (nothing sent) when out of range."""
    try:
        body = SpeakerSet(
            power=command.power,
            volume=command.volume_pct,
            source=command.source,
            playing=command.playing,
        )
    except ValidationError as exc:
        raise ValueError(_explain(exc)) from None
    if body == SpeakerSet():
        raise ValueError("the command changes nothing")
    return body.model_dump_json(exclude_none=True).encode()


def decode_set(payload: bytes) -> SpeakerSet:
    if len(payload) > MAX_PAYLOAD:
        raise AudioPayloadError(f"payload of {len(payload)} bytes exceeds {MAX_PAYLOAD}")
    try:
        return SpeakerSet.model_validate_json(payload)
    except ValidationError as exc:
        raise AudioPayloadError(_explain(exc)) from None


def decode_state(payload: bytes) -> MediaState:
    if len(payload) > MAX_PAYLOAD:
        raise AudioPayloadError(f"payload of {len(payload)} bytes exceeds {MAX_PAYLOAD}")
    try:
        doc = SpeakerStateDoc.model_validate_json(payload)
    except ValidationError as exc:
        raise AudioPayloadError(_explain(exc)) from None
    return MediaState(
        power=doc.power, volume_pct=doc.volume, source=doc.source, playing=doc.playing
    )


def encode_state(state: MediaState) -> bytes:
    doc = SpeakerStateDoc(
        power=state.power, volume=state.volume_pct, source=state.source, playing=state.playing
    )
    return doc.model_dump_json().encode()


def confirms(body: SpeakerSet, state: MediaState) -> bool:
    return (
        (body.power is None or state.power == body.power)
        and (body.volume is None or state.volume_pct == body.volume)
        and (body.source is None or state.source == body.source)
        and (body.playing is None or state.playing == body.playing)
    )


def decode_online(payload: bytes) -> bool:
    if payload in (b"online", b"offline"):
        return payload == b"online"
    raise AudioPayloadError(f"availability {payload[:32]!r} is not 'online' or 'offline'")
